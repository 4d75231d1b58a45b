"""Terminal presentation of per-field extraction metrics (``evalkit show``, the end of ``evalkit run``)."""

from __future__ import annotations

from rich.table import Table

from evalkit.analysis.field_metrics import FieldMetrics, SlotCounts
from evalkit.cli.console import out


def figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def print_field_metrics(metrics: FieldMetrics, *, limit: int | None = None) -> None:
    """Slot counts and P/R/F1 per field, worst F1 first (the ``limit`` worst), then micro and macro."""
    if not metrics.fields:
        return
    micro = metrics.micro
    out.print(
        f"Fields (json_fields, {micro.slots:,} slots): micro P {figure(micro.precision)} "
        f"R {figure(micro.recall)} F1 {figure(micro.f1)} · macro P {figure(metrics.macro_precision)} "
        f"R {figure(metrics.macro_recall)} F1 {figure(metrics.macro_f1)}",
        markup=False,
    )
    rows = metrics.worst_first()
    shown = rows if limit is None else rows[:limit]
    table = Table(show_edge=False, pad_edge=False, box=None)
    for col in ("field", "NN", "NV", "VN", "VC", "VW", "precision", "recall", "F1"):
        table.add_column(col, justify="left" if col == "field" else "right")
    for c in [*shown, micro]:
        table.add_row(*_cells(c))
    out.print(table)
    if len(shown) < len(rows):
        out.print(f"  ({len(rows) - len(shown)} more fields; `evalkit export RUN` writes field_metrics)")


def _cells(c: SlotCounts) -> list[str]:
    return [
        c.field,
        str(c.nn),
        str(c.nv),
        str(c.vn),
        str(c.vc),
        str(c.vw),
        figure(c.precision),
        figure(c.recall),
        figure(c.f1),
    ]

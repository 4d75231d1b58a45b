"""Terminal presentation of per-field extraction metrics (``evalkit show``, the end of ``evalkit run``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from evalkit.analysis.field_metrics import FieldMetrics, SlotCounts, field_metrics_of_counts
from evalkit.cli.console import out


def figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def scorer_title(scorer_ids: list[str], config: dict[str, Any] | None) -> str:
    """The scorers field figures come from, as the run's config names them: ``fields: json_fields``,
    ``table: markdown_table``, ``fields: tagged json_fields`` (the id alone when it is the name)."""
    specs = {str(s.get("id") or s.get("name")): s for s in (config or {}).get("scorers") or []}
    parts = []
    for scorer_id in scorer_ids:
        spec = specs.get(scorer_id)
        if spec is None:
            parts.append(scorer_id)
            continue
        name = str(spec.get("name"))
        inner = (spec.get("args") or {}).get("inner")
        if name == "tagged" and isinstance(inner, dict) and inner.get("name"):
            name = f"tagged {inner['name']}"
        parts.append(scorer_id if name == scorer_id else f"{scorer_id}: {name}")
    return ", ".join(parts) or "fields"


def print_field_metrics(
    metrics: FieldMetrics, *, limit: int | None = None, config: dict[str, Any] | None = None
) -> None:
    """Slot counts and P/R/F1 per field, worst F1 first (the ``limit`` worst), then micro and macro.

    ``config`` (the run's stored suite config) names the scorers the fields come from."""
    if not metrics.fields:
        return
    micro = metrics.micro
    out.print(
        f"Fields ({scorer_title(metrics.scorers, config)}, {micro.slots:,} slot{'' if micro.slots == 1 else 's'}): micro P {figure(micro.precision)} "
        f"R {figure(micro.recall)} F1 {figure(micro.f1)} · macro P {figure(metrics.macro_precision)} "
        f"R {figure(metrics.macro_recall)} F1 {figure(metrics.macro_f1)}",
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


def print_field_figures(store: Any, run_a: Any, run_b: Any, comparison: Any) -> None:
    """`evalkit compare`: both runs' micro and macro P/R/F1 side by side (descriptive, not tested),
    on the cases both scored, as every other figure of the comparison."""
    every_case = not (comparison.only_a or comparison.only_b or comparison.errored)
    a, b = (
        field_metrics_of_counts(
            store.field_slot_counts(r.run_id)  # counted by the database
            if every_case
            else _slot_counts(store.field_rows(r.run_id, list(comparison.paired_ids), frame=False))
        )
        for r in (run_a, run_b)
    )
    if not (a.fields and b.fields):
        return
    titles = [scorer_title(m.scorers, r.config) for m, r in ((a, run_a), (b, run_b))]
    source = titles[0] if titles[0] == titles[1] else f"A {titles[0]}; B {titles[1]}"
    title = f"Fields ({source}): P/R/F1 on the {comparison.paired} paired cases"
    table = Table(show_edge=False, pad_edge=False, box=None, title=title)
    for col in ("", "micro P", "micro R", "micro F1", "macro P", "macro R", "macro F1"):
        table.add_column(col, justify="left" if not col else "right")
    for name, m in (("A", a), ("B", b)):
        micro = m.micro
        table.add_row(
            name,
            *(figure(v) for v in (micro.precision, micro.recall, micro.f1)),
            *(figure(v) for v in (m.macro_precision, m.macro_recall, m.macro_f1)),
        )
    out.print(table)


def _slot_counts(rows: Any) -> list[tuple[str, str, str | None, str, int]]:
    """``(scorer, field, slot, status, n)`` counted from field rows (some cases of a run)."""
    counted: dict[tuple[str, str, str | None, str], int] = {}
    for key in zip(*rows.columns(("scorer", "field", "slot", "status")), strict=True):
        counted[key] = counted.get(key, 0) + 1
    return [(*key, n) for key, n in counted.items()]

"""matplotlib charts for the HTML report, returned as inline ``data:image/png;base64`` URIs (no external files)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

COLORS = ("#4c72b0", "#dd8452")  # run A, run B
DPI = 80
FIELDS_SHOWN = 25  # the per-field chart shows the worst fields; the table below it lists every one


@dataclass
class RunSeries:
    """What the charts show of one run."""

    label: str
    scorer_pass_rates: dict[str, float] = field(default_factory=dict)
    field_accuracy: dict[str, float] = field(default_factory=dict)
    case_scores: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    cost_usd: float = 0.0
    cost_known: bool = True  # False: the run called a model without a price (counted as $0)
    cost_at_least: bool = False  # the run's calls are not all in its figures: its cost is a lower bound
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class Chart:
    """One rendered chart."""

    key: str
    title: str
    data_uri: str


def render_charts(runs: Sequence[RunSeries]) -> list[Chart]:
    """Pass rate per scorer, per-field accuracy, score distribution, latency histogram, cost and tokens."""
    charts = [
        Chart("scorers", "Pass rate per scorer", _png(_bars, runs, "scorer_pass_rates", "pass rate")),
        Chart("scores", "Case score distribution", _png(_histogram, runs, "case_scores", "case score")),
        Chart("latency", "Latency (uncached calls)", _png(_histogram, runs, "latencies_ms", "latency (ms)")),
        Chart("cost", "Cost and tokens", _png(_usage, runs)),
    ]
    if any(r.field_accuracy for r in runs):
        names = _worst_fields(runs)
        total = len({n for r in runs for n in r.field_accuracy})
        title = "Accuracy per field" + (
            f" (the {len(names)} worst of {total})" if len(names) < total else ", worst first"
        )
        height = max(3.4, 0.6 + 0.22 * len(names) * max(1, len(runs)) ** 0.5)
        # margins in inches, so the labels and the legend keep their room however tall the chart is
        margins = {"left": 0.36, "bottom": 0.55 / height, "top": 1 - 0.4 / height}
        chart = _png(_field_bars, runs, names, size=(6.4, height), margins=margins)
        charts.insert(1, Chart("fields", title, chart))
    return charts


def _png(
    draw: Any,
    runs: Sequence[RunSeries],
    *args: Any,
    size: tuple[float, float] = (6.4, 3.4),
    margins: dict[str, float] | None = None,
) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI)
    FigureCanvasAgg(fig)
    # fixed margins: a layout engine costs more than the drawing (~0.4 s a chart on 2 cores)
    spacing = {"left": 0.12, "right": 0.97, "top": 0.93, "bottom": 0.3, "wspace": 0.3}
    fig.subplots_adjust(**(spacing | (margins or {})))
    draw(fig, runs, *args)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bars(fig: Any, runs: Sequence[RunSeries], attribute: str, ylabel: str) -> None:
    ax = fig.subplots()
    names: list[str] = []
    for run in runs:
        names += [n for n in getattr(run, attribute) if n not in names]
    if not names:
        _empty(ax, "nothing scored")
        return
    width = 0.8 / len(runs)
    for i, run in enumerate(runs):
        values = [getattr(run, attribute).get(n, 0.0) for n in names]
        xs = [j + (i - (len(runs) - 1) / 2) * width for j in range(len(names))]
        ax.bar(xs, values, width=width, color=COLORS[i % 2], label=run.label)
    ax.set_xticks(
        range(len(names)), [n if len(n) <= 18 else n[:17] + "…" for n in names], rotation=30, ha="right"
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    if len(runs) > 1:
        ax.legend(fontsize="small")


def _worst_fields(runs: Sequence[RunSeries]) -> list[str]:
    """Up to ``FIELDS_SHOWN`` fields, lowest accuracy (in any run) first."""
    names: dict[str, float] = {}
    for run in runs:
        for name, value in run.field_accuracy.items():
            names[name] = min(value, names.get(name, 1.0))
    return sorted(names, key=lambda n: (names[n], n))[:FIELDS_SHOWN]


def _field_bars(fig: Any, runs: Sequence[RunSeries], names: list[str]) -> None:
    """Horizontal bars, one row per field (labels never overlap), worst at the top."""
    ax = fig.subplots()
    height = 0.8 / len(runs)
    for i, run in enumerate(runs):
        ys = [j + (i - (len(runs) - 1) / 2) * height for j in range(len(names))]
        values = [run.field_accuracy.get(n, 0.0) for n in names]
        ax.barh(ys, values, height=height, color=COLORS[i % 2], label=run.label)
    ax.set_yticks(range(len(names)), [n if len(n) <= 32 else n[:31] + "…" for n in names], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("accuracy")
    if len(runs) > 1:
        ax.legend(fontsize="small", loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False)


def _histogram(fig: Any, runs: Sequence[RunSeries], attribute: str, xlabel: str) -> None:
    ax = fig.subplots()
    data = [getattr(run, attribute) for run in runs]
    if not any(data):
        _empty(ax, "no data")
        return
    low = min(min(d) for d in data if d)
    high = max(max(d) for d in data if d)
    bins = 20 if high > low else 1
    for i, (run, values) in enumerate(zip(runs, data, strict=True)):
        if values:
            ax.hist(
                values,
                bins=bins,
                range=(low, high if high > low else low + 1),
                alpha=0.6,
                color=COLORS[i % 2],
                label=run.label,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("cases")
    if len(runs) > 1:
        ax.legend(fontsize="small")


def _usage(fig: Any, runs: Sequence[RunSeries]) -> None:
    cost_ax, token_ax = fig.subplots(1, 2)
    labels = [r.label if len(r.label) <= 24 else r.label[:23] + "…" for r in runs]
    colors = [COLORS[i % 2] for i in range(len(runs))]
    known = [r.cost_usd if r.cost_known else 0.0 for r in runs]
    # numeric positions: on a categorical axis two runs with one label (a run and its cached
    # re-run) would share a single bar
    xs = range(len(runs))
    cost_ax.bar(list(xs), known, color=colors)
    top = max([*known, 1e-6]) * 1.15
    cost_ax.set_ylim(bottom=0, top=top)
    for x, run in zip(xs, runs, strict=True):
        if not run.cost_known:  # no bar that reads as "free"
            cost_ax.text(x, top / 20, "no price", ha="center", fontsize="small", color="#8c2d04")
        elif run.cost_at_least:  # a bar that does not read as the whole spend
            cost_ax.text(
                x, run.cost_usd, "at least", ha="center", va="bottom", fontsize="small", color="#8c2d04"
            )
    cost_ax.set_xticks(list(xs), labels, rotation=20)
    cost_ax.set_title("cost (USD)", fontsize="medium")
    token_ax.bar(
        [x - 0.2 for x in xs], [r.prompt_tokens for r in runs], width=0.4, color="#8c8c8c", label="in"
    )
    token_ax.bar(
        [x + 0.2 for x in xs], [r.completion_tokens for r in runs], width=0.4, color="#55a868", label="out"
    )
    token_ax.set_xticks(list(xs), labels, rotation=20)
    token_ax.set_title("tokens", fontsize="medium")
    token_ax.legend(fontsize="small")


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()

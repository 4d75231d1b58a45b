"""The trend page: one self-contained HTML file (charts inlined as PNG data URIs, no scripts, no links).

Every value from the store (suite, scorer and field names, cluster labels mined from logs) goes
through jinja2's autoescaping. Charts are drawn with matplotlib's Agg canvas, without pyplot state.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from evalkit.analysis.trend import TrendReport

DPI = 80
MAX_LINES = 8  # scorers / fields / clusters per chart; the CSV holds them all
REGRESSION_COLOR = "#c0392b"


@dataclass(frozen=True)
class TrendChart:
    key: str
    title: str
    data_uri: str


def _png(draw: Callable[[Any], None]) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 3.2), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.09, right=0.72, top=0.92, bottom=0.26)  # room for the legend on the right
    draw(fig.subplots())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _labels(weeks: Sequence[date]) -> list[str]:
    return [w.strftime("%d %b") for w in weeks]


def _mark_regressions(ax: Any, report: TrendReport) -> None:
    for i, week in enumerate(report.weeks):
        if report.regressed(week):
            ax.axvspan(i - 0.45, i + 0.45, color=REGRESSION_COLOR, alpha=0.15, lw=0)


def _rate_lines(
    report: TrendReport, lines: dict[str, list[float | None]], title: str, ylabel: str = "pass rate %"
) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        x = range(len(report.weeks))
        for name, values in list(lines.items())[:MAX_LINES]:
            ax.plot(
                x, [float("nan") if v is None else v * 100 for v in values], marker="o", ms=3, label=name[:32]
            )
        _mark_regressions(ax, report)
        ax.set_ylim(-2, 102)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(list(x), _labels(report.weeks), rotation=45, fontsize=7)
        if lines:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    return draw


def _usage(report: TrendReport) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        x = list(range(len(report.weeks)))
        bars = ax.bar(
            x, [v or 0.0 for v in report.suite_metrics["cost_usd"]], color="#9fb4d6", label="cost (USD)"
        )
        for pos in report.at_least_weeks:  # a lower bound: the week's calls cost at least this
            bars[pos].set_hatch("//")
            bars[pos].set_label("cost, at least (USD)" if pos == min(report.at_least_weeks) else "_")
        ax.set_ylabel("cost (USD)")
        ax.set_xticks(x, _labels(report.weeks), rotation=45, fontsize=7)
        latency = ax.twinx()
        for metric, style in (("latency_p50_ms", "-"), ("latency_p95_ms", "--")):
            values = [float("nan") if v is None else v for v in report.suite_metrics[metric]]
            latency.plot(x, values, style, color="#dd8452", marker="o", ms=3, label=metric[8:] + " latency")
        latency.set_ylabel("latency (ms)")
        ax.set_title("Cost and latency per week", fontsize=10)
        handles = ax.get_legend_handles_labels()[0] + latency.get_legend_handles_labels()[0]
        ax.legend(
            handles,
            [str(h.get_label()) for h in handles],
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.12, 1.0),
            frameon=False,
        )

    return draw


def _clusters(report: TrendReport) -> Callable[[Any], None]:
    def draw(ax: Any) -> None:
        x = list(range(len(report.weeks)))
        bottom = [0] * len(x)
        top = sorted(report.clusters.items(), key=lambda kv: -sum(kv[1]))[:MAX_LINES]
        for name, counts in top:
            ax.bar(x, counts, bottom=bottom, label=name[:32])
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        ax.set_ylabel("failures")
        ax.set_title("Mined production failures per cluster", fontsize=10)
        ax.set_xticks(x, _labels(report.weeks), rotation=45, fontsize=7)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)

    return draw


def trend_charts(report: TrendReport) -> list[TrendChart]:
    """The page's charts: suite, scorer and field pass rates; cost and latency; failure clusters."""
    charts = [
        TrendChart(
            "suite",
            "Pass rate",
            _png(_rate_lines(report, {report.suite: report.pass_rates}, "Suite pass rate")),
        ),
    ]
    if report.scorers:
        scorers = {k: s.values for k, s in report.scorers.items()}
        charts.append(
            TrendChart("scorers", "Pass rate per scorer", _png(_rate_lines(report, scorers, "Per scorer")))
        )
    if report.fields:
        worst = sorted(
            report.fields.items(), key=lambda kv: min((v for v in kv[1].values if v is not None), default=1)
        )
        fields = {k: s.values for k, s in worst[:MAX_LINES]}
        charts.append(
            TrendChart(
                "fields", "Pass rate per field", _png(_rate_lines(report, fields, "Per field (worst first)"))
            )
        )
    if report.field_micro_f1:
        by_f1 = sorted(
            (kv for kv in report.fields.items() if kv[1].f1),
            key=lambda kv: min((v for v in kv[1].f1 if v is not None), default=1),
        )
        f1_lines = {"micro F1 (all fields)": report.field_micro_f1}
        f1_lines |= {k: s.f1 for k, s in by_f1[: MAX_LINES - 1]}
        charts.append(
            TrendChart(
                "field_f1",
                "Field F1",
                _png(_rate_lines(report, f1_lines, "Micro F1 and worst fields", "F1 %")),
            )
        )
    charts.append(TrendChart("usage", "Cost and latency", _png(_usage(report))))
    if report.clusters:
        charts.append(TrendChart("clusters", "Failures per cluster", _png(_clusters(report))))
    return charts


def render_trend_html(report: TrendReport) -> str:
    """The page as a string."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("trend.html.j2")
    return template.render(
        report=report, charts=trend_charts(report), pct=_pct, num=_num, pts=_points, ms=_ms
    )


def write_trend_html(report: TrendReport, path: Path) -> Path:
    """Write the page to ``path`` (creating its directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_trend_html(report), encoding="utf-8")
    return path


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _points(value: float) -> str:
    """A difference of two rates, in percentage points (a 0.05 drop is 5.0 points, not 5%)."""
    return f"{value * 100:.1f} pts"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f} ms"


def write_csv(report: TrendReport, path: Path) -> Path:
    """The tidy CSV of a trend report; every row names the series (prompt version, model) it belongs to.

    Rows of kind ``pooled`` count the runs each week rests on (by run kind), rows of kind
    ``left_out`` the complete runs of the suite that week that were not pooled (by reason).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    series = report.series
    prompt = (series.prompt_version or "") if series else ""
    model = series.model if series else ""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", "model", "week", "kind", "name", "metric", "value"])
        for week, kind, name, metric, value in report.rows():
            writer.writerow([prompt, model, week, kind, name, metric, "" if value is None else value])
    return path


def write_trend(report: TrendReport, out_dir: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.html`` (default ``trend-<suite>``) under ``out_dir``."""
    stem = stem or f"trend-{report.suite}"
    csv_path = write_csv(report, out_dir / f"{stem}.csv")
    html_path = write_trend_html(report, out_dir / f"{stem}.html")
    return csv_path, html_path


def write_trends(reports: Sequence[TrendReport], out_dir: Path) -> list[tuple[Path, Path]]:
    """One CSV and page per series: ``trend-<suite>`` alone, ``trend-<suite>-<prompt>-<model>`` for
    several (``-<scoring digest>`` added where series differ only in how they were scored)."""
    if len(reports) == 1:
        return [write_trend(reports[0], out_dir)]
    written = []
    for report in reports:
        series = report.series
        assert series is not None  # several reports: one per series found
        scored = f"-{series.scoring}" if series.scorers else ""  # series told apart by scoring alone
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{series.prompt_version or 'none'}-{series.model}{scored}")
        written.append(write_trend(report, out_dir, f"trend-{report.suite}-{slug}"))
    return written

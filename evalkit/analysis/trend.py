"""Trends over a suite's stored runs: ``evalkit trend SUITE --weeks 12``.

Per week (Monday to Sunday, UTC) over the suite's complete runs: the pass rate of the suite, of
each scorer and of each field; each field's F1 and the micro F1 of all fields (slot counts of
:mod:`evalkit.analysis.field_metrics`); mined production failures per cluster; cost, tokens and latency.
A week is flagged as a **regression** when its pass rate falls at least ``min_drop`` (suite) or
twice that (a scorer or field, which have fewer samples) below the median of the up to four weeks
with data before it. The same numbers go to a tidy CSV (``week,kind,name,metric,value``) and to a
self-contained HTML page (:mod:`evalkit.report.trend`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from evalkit.analysis.field_metrics import SlotCounts
from evalkit.store import Store
from evalkit.store.growth import GrowthStore
from evalkit.store.trends import TrendStore

BASELINE_WEEKS = 4
MIN_BASELINE_WEEKS = 2
SUITE_METRICS = (
    "runs",
    "passed",
    "failed",
    "errors",
    "pass_rate",
    "cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "latency_p50_ms",
    "latency_p95_ms",
)


@dataclass(frozen=True)
class Regression:
    """A week whose pass rate fell clearly below the weeks before it."""

    week: date
    kind: str  # suite | scorer | field
    name: str
    baseline: float
    value: float

    @property
    def drop(self) -> float:
        return self.baseline - self.value


@dataclass
class Series:
    """One pass-rate line: a value (or None: no data) per week, and how many results each rests on."""

    values: list[float | None]
    counts: list[int]
    f1: list[float | None] = field(default_factory=list)  # fields only: F1 of the week's slots


@dataclass
class TrendReport:
    """Everything ``evalkit trend`` shows, aligned on ``weeks``."""

    suite: str
    weeks: list[date]
    generated_at: datetime
    suite_metrics: dict[str, list[float | None]]  # metric -> value per week
    scorers: dict[str, Series] = field(default_factory=dict)
    fields: dict[str, Series] = field(default_factory=dict)  # "scorer/field" -> series
    clusters: dict[str, list[int]] = field(default_factory=dict)  # "label (id)" -> failures per week
    regressions: list[Regression] = field(default_factory=list)
    min_drop: float = 0.05
    field_micro_f1: list[float | None] = field(default_factory=list)  # all fields' slots pooled, per week

    @property
    def pass_rates(self) -> list[float | None]:
        return self.suite_metrics["pass_rate"]

    def regressed(self, week: date, kind: str = "suite") -> list[Regression]:
        return [r for r in self.regressions if r.week == week and r.kind == kind]

    def rows(self) -> list[tuple[str, str, str, str, Any]]:
        """The tidy CSV rows: (week, kind, name, metric, value); empty cells for weeks without data."""
        out: list[tuple[str, str, str, str, Any]] = []
        flagged = {(r.week, r.kind, r.name) for r in self.regressions}
        for i, week in enumerate(self.weeks):
            w = week.isoformat()
            for metric in SUITE_METRICS:
                out.append((w, "suite", self.suite, metric, self.suite_metrics[metric][i]))
            out.append((w, "suite", self.suite, "regression", int((week, "suite", self.suite) in flagged)))
            if self.field_micro_f1:
                out.append((w, "suite", self.suite, "field_micro_f1", self.field_micro_f1[i]))
            for kind, lines in (("scorer", self.scorers), ("field", self.fields)):
                for name, series in lines.items():
                    out.append((w, kind, name, "results", series.counts[i]))
                    out.append((w, kind, name, "pass_rate", series.values[i]))
                    if series.f1:
                        out.append((w, kind, name, "f1", series.f1[i]))
                    out.append((w, kind, name, "regression", int((week, kind, name) in flagged)))
            for name, counts in self.clusters.items():
                out.append((w, "cluster", name, "failures", counts[i]))
        return out


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def find_regressions(
    weeks: Sequence[date], values: Sequence[float | None], min_drop: float
) -> list[tuple[date, float, float]]:
    """(week, baseline, value) where the value is ``min_drop`` or more below the median of the previous weeks."""
    found = []
    seen: list[float] = []
    for week, value in zip(weeks, values, strict=True):
        if value is None:
            continue
        recent = seen[-BASELINE_WEEKS:]
        if len(recent) >= MIN_BASELINE_WEEKS:
            baseline = statistics.median(recent)
            if baseline - value >= min_drop - 1e-12:
                found.append((week, baseline, value))
        seen.append(value)
    return found


def _index(frame: Any, weeks: Sequence[date]) -> list[int | None]:
    positions = {w: i for i, w in enumerate(weeks)}
    return [positions.get(_as_date(v)) for v in frame["week"]] if len(frame) else []


def _as_date(value: Any) -> date:
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a week start: {value!r}")


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN: no data


def build_trend(
    store: Store, suite_name: str, *, weeks: int = 12, min_drop: float = 0.05, now: datetime | None = None
) -> TrendReport:
    """Aggregate the last ``weeks`` weeks (the current one included) of a suite's runs."""
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    first = week_start(now.date()) - timedelta(weeks=weeks - 1)
    week_list = [first + timedelta(weeks=i) for i in range(weeks)]
    since = datetime.combine(first, datetime.min.time())
    trends = TrendStore(store)
    with store.session():
        suite_frame = trends.weekly_suite(suite_name, since)
        scorer_frame = trends.weekly_scorers(suite_name, since)
        field_frame = trends.weekly_fields(suite_name, since)
        cluster_frame = GrowthStore(store).failure_clusters_by_week(suite_name, since)

    metrics: dict[str, list[float | None]] = {m: [None] * weeks for m in SUITE_METRICS}
    for pos, row in zip(_index(suite_frame, week_list), suite_frame.to_dict("records"), strict=False):
        if pos is None:
            continue
        for m in SUITE_METRICS:
            if m != "pass_rate":
                metrics[m][pos] = _number(row[m])
        scored = (row["passed"] or 0) + (row["failed"] or 0)
        metrics["pass_rate"][pos] = row["passed"] / scored if scored else None
    for m in ("runs", "passed", "failed", "errors", "prompt_tokens", "completion_tokens"):
        metrics[m] = [0 if v is None else int(v) for v in metrics[m]]

    report = TrendReport(suite_name, week_list, now, metrics, min_drop=min_drop)
    pooled = [[0] * 5 for _ in range(weeks)]  # nn, nv, vn, vc, vw per week, over every field
    for frame, target, key in (
        (scorer_frame, report.scorers, "scorer"),
        (field_frame, report.fields, "field"),
    ):
        count_col = "scored" if key == "scorer" else "compared"
        for pos, row in zip(_index(frame, week_list), frame.to_dict("records"), strict=False):
            if pos is None:
                continue
            name = row["scorer"] if key == "scorer" else f"{row['scorer']}/{row['field']}"
            series = target.setdefault(name, Series([None] * weeks, [0] * weeks))
            n = int(row[count_col])
            series.counts[pos] = n
            series.values[pos] = int(row["passed"]) / n if n else None
            if key == "field":
                slots = SlotCounts(name, *(int(row[s]) for s in ("nn", "nv", "vn", "vc", "vw")))
                series.f1 = series.f1 or [None] * weeks
                series.f1[pos] = slots.f1
                pooled[pos] = [a + b for a, b in zip(pooled[pos], slots.as_tuple(), strict=True)]
    report.field_micro_f1 = (
        [SlotCounts("*", *week).f1 if any(week) else None for week in pooled] if len(field_frame) else []
    )
    for pos, row in zip(_index(cluster_frame, week_list), cluster_frame.to_dict("records"), strict=False):
        if pos is None:
            continue
        name = f"{row['cluster_label']} ({row['cluster_id']})"
        report.clusters.setdefault(name, [0] * weeks)[pos] += int(row["failures"])

    for week, base, value in find_regressions(week_list, report.pass_rates, min_drop):
        report.regressions.append(Regression(week, "suite", suite_name, base, value))
    for kind, lines in (("scorer", report.scorers), ("field", report.fields)):
        for name, series in lines.items():
            for week, base, value in find_regressions(week_list, series.values, 2 * min_drop):
                report.regressions.append(Regression(week, kind, name, base, value))
    return report

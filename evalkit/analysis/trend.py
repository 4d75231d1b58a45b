"""Trends over a suite's stored runs: ``evalkit trend SUITE --weeks 12``.

A trend is one **series**: the complete runs of one (suite, prompt version, model), of the kinds
asked for (by default ``full`` and ``merged`` runs: every case of the suite; rescores, subsets such
as ``pytest -k``, shards, repeats and partial merges are counted as left out, never pooled).
Per week (Monday to Sunday, UTC) over the series' runs: the pass rate of the suite (without the
cases a run's gate kept out as awaiting an expected output: a pass on the other scorers alone is no
pass), of each scorer and of each field; each field's F1 and the micro F1 of all fields (slot counts of
:mod:`evalkit.analysis.field_metrics`); mined production failures per cluster; cost, tokens and latency
(cost and tokens as the runs' own summaries count them: their stored results and what they spent on
answers none of them holds).
A week is flagged as a **regression** when its pass rate falls at least ``min_drop`` (suite) or
twice that (a scorer or field, which have fewer samples) below the median of the up to four weeks
with data before it. The same numbers go to a tidy CSV (``week,kind,name,metric,value``) and to a
self-contained HTML page (:mod:`evalkit.report.trend`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from evalkit.analysis.field_metrics import SlotCounts
from evalkit.analysis.trend_runs import (
    DEFAULT_KINDS,
    TrendSeries,
    as_week,
    awaiting_cases,
    changes_between,
    pooled_summaries,
    pooling,
    scoring_of,
    unknown_spend,
    unstored_spend,
)
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
    "awaiting_expected",  # results of cases awaiting an expected output: in none of the three above
    "pass_rate",
    "cost_usd",  # target + judge
    "judge_cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "latency_p50_ms",
    "latency_p95_ms",
)


@dataclass(frozen=True)
class Regression:
    """A week whose pass rate fell clearly below the weeks before it, and what changed under it
    (``case files changed``, ``prompt text changed``: the drop may be theirs, not the model's)."""

    week: date
    kind: str  # suite | scorer | field
    name: str
    baseline: float
    value: float
    changes: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        return f" ({'; '.join(self.changes)})" if self.changes else ""

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
    """Everything ``evalkit trend`` shows, aligned on ``weeks``.

    ``pooled`` counts, per run kind, the runs each week's numbers rest on; ``left_out`` the suite's
    other complete runs of those weeks and why they were not pooled (``kind rescore``, or another
    series' label).
    """

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
    series: TrendSeries | None = None  # None: no run of the suite matched
    pooled: dict[str, list[int]] = field(default_factory=dict)  # run kind -> runs per week
    left_out: dict[str, list[int]] = field(default_factory=dict)  # reason -> runs per week
    # models without a price in the pooled runs: the weeks holding such a run have no cost figure
    unpriced_models: list[str] = field(default_factory=list)
    # python:/http: targets whose own model calls evalkit does not see: their weeks have no cost either
    unmetered_targets: list[str] = field(default_factory=list)
    # models called outside the run's call path (semantic_similarity's embeddings): no cost either
    uncounted_models: list[str] = field(default_factory=list)
    # pooled runs whose calls are not all in their figures (RunSummary.cost_at_least), and the
    # positions of their weeks, whose cost and tokens are then lower bounds (shown as "at least")
    partial_runs: int = 0
    at_least_weeks: set[int] = field(default_factory=set)

    @property
    def partial_note(self) -> str | None:
        """Why the cost and tokens of the weeks holding runs whose figures are lower bounds read "at least"."""
        if not self.partial_runs:
            return None
        return (
            f"{self.partial_runs} run(s) made calls whose cost is in none of their figures (attempts that "
            "timed out, requests in flight at a stop, a part killed, a Ray shard that never reported): "
            "their cost and tokens are lower bounds, so weeks with them show at least (≥) that cost"
        )

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
            out.append((w, "suite", self.suite, "cost_at_least", int(i in self.at_least_weeks)))
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
            for kind, lines_ in (("pooled", self.pooled), ("left_out", self.left_out)):
                for name, counts in lines_.items():
                    out.append((w, kind, name, "runs", counts[i]))
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
    return [positions.get(as_week(v)) for v in frame["week"]] if len(frame) else []


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN: no data


@dataclass(frozen=True)
class TrendQuery:
    """What ``evalkit trend`` was asked for: the window, and filters on prompt, model and run kind."""

    weeks: int = 12
    min_drop: float = 0.05
    prompt: str | None = None
    model: str | None = None
    kinds: tuple[str, ...] = DEFAULT_KINDS
    now: datetime | None = None

    def window(self) -> list[date]:
        now = self.now or datetime.now(timezone.utc).replace(tzinfo=None)
        first = week_start(now.date()) - timedelta(weeks=self.weeks - 1)
        return [first + timedelta(weeks=i) for i in range(self.weeks)]

    def matches(self, run: dict[str, Any]) -> bool:
        return (
            run["kind"] in self.kinds
            and (self.prompt is None or run["prompt_version"] == self.prompt)
            and (self.model is None or run["model"] == self.model)
        )


def _complete_runs(store: Store, suite_name: str, since: datetime) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = TrendStore(store).complete_runs(suite_name, since).to_dict("records")
    for run in runs:  # a NULL prompt version (or hash) may come back as NaN
        for key in ("prompt_version", "prompt_hash", "case_set_hash"):
            run[key] = run[key] if isinstance(run[key], str) else None
        run["scoring"], run["scorers"] = scoring_of(run["config_json"])
    return runs


def trend_series(store: Store, suite_name: str, query: TrendQuery) -> list[TrendSeries]:
    """The series the query matches, the one with the most recent run first."""
    since = datetime.combine(query.window()[0], datetime.min.time())
    runs = [r for r in _complete_runs(store, suite_name, since) if query.matches(r)]
    found = list(
        dict.fromkeys(TrendSeries(r["prompt_version"], r["model"], query.kinds, r["scoring"]) for r in runs)
    )
    scorers = {r["scoring"]: r["scorers"] for r in runs}
    shared = [(s.prompt_version, s.model) for s in found]
    return [  # name the scoring where it is all that tells two series apart
        replace(s, scorers=scorers[s.scoring]) if shared.count((s.prompt_version, s.model)) > 1 else s
        for s in found
    ]


def build_trends(store: Store, suite_name: str, query: TrendQuery | None = None) -> list[TrendReport]:
    """One report per series the query matches (one empty report when none does)."""
    query = query or TrendQuery()
    found = trend_series(store, suite_name, query)
    return [build_trend(store, suite_name, query, series=s) for s in found] or [
        build_trend(store, suite_name, query)
    ]


def _stored_judge(store: Store, run_ids: list[str], suite_name: str, since: datetime) -> dict[str, float]:
    """What the judge's calls of these runs' stored results cost, per run."""
    if not run_ids:
        return {}
    frame = TrendStore(store, run_ids).stored_judge_cost(suite_name, since)
    return {str(r["run_id"]): _number(r["judge_cost_usd"]) or 0.0 for r in frame.to_dict("records")}


def _with_changes(
    regressions: list[Regression], runs: list[dict[str, Any]], chosen: list[str], weeks: list[date]
) -> list[Regression]:
    """Each regression with what changed between its week's pooled runs and those of the (up to
    ``BASELINE_WEEKS``) weeks with runs before it, which its baseline was taken from."""
    pooled = set(chosen)
    by_week: dict[date, list[dict[str, Any]]] = {}
    for run in runs:
        if run["run_id"] in pooled:
            by_week.setdefault(as_week(run["week"]), []).append(run)
    out = []
    for r in regressions:
        earlier = [w for w in weeks if w < r.week and w in by_week][-BASELINE_WEEKS:]
        before = [run for w in earlier for run in by_week[w]]
        out.append(replace(r, changes=changes_between(by_week.get(r.week, []), before)))
    return out


def build_trend(
    store: Store, suite_name: str, query: TrendQuery | None = None, *, series: TrendSeries | None = None
) -> TrendReport:
    """Aggregate the last ``query.weeks`` weeks (the current one included) of one series of runs.

    Without ``series``: the matching series with the most recent run.
    """
    query = query or TrendQuery()
    now = query.now or datetime.now(timezone.utc).replace(tzinfo=None)
    week_list = query.window()
    weeks, min_drop = query.weeks, query.min_drop
    since = datetime.combine(week_list[0], datetime.min.time())
    with store.session():
        if series is None:
            series = next(iter(trend_series(store, suite_name, query)), None)
        runs = _complete_runs(store, suite_name, since)
        pooled, left_out, chosen = pooling(runs, series, week_list)
        trends = TrendStore(store, chosen)
        suite_frame = trends.weekly_suite(suite_name, since)
        summaries = pooled_summaries(runs, chosen, week_list)
        awaiting = awaiting_cases(summaries)
        kept_frame = trends.weekly_kept_out(suite_name, since, awaiting)
        scorer_frame = trends.weekly_scorers(suite_name, since)
        field_frame = trends.weekly_fields(suite_name, since)
        cluster_frame = GrowthStore(store).failure_clusters_by_week(suite_name, since)
        unstored = unstored_spend(summaries)
        stored_judge = _stored_judge(store, [s.run_id for s in unstored], suite_name, since)

    metrics: dict[str, list[float | None]] = {m: [None] * weeks for m in SUITE_METRICS}
    for pos, row in zip(_index(suite_frame, week_list), suite_frame.to_dict("records"), strict=False):
        if pos is None:
            continue
        for m in SUITE_METRICS:
            if m not in ("pass_rate", "awaiting_expected"):
                metrics[m][pos] = _number(row[m])
    counts = ("runs", "passed", "failed", "errors", "awaiting_expected", "prompt_tokens", "completion_tokens")
    for m in counts:
        metrics[m] = [0 if v is None else int(v) for v in metrics[m]]
    # as the runs' gates did: a pass on the other scorers alone is no pass of the case
    for at, row in zip(_index(kept_frame, week_list), kept_frame.to_dict("records"), strict=False):
        if at is None:
            continue
        for m in ("passed", "failed", "errors"):
            metrics[m][at] = int(metrics[m][at] or 0) - int(row[m] or 0)
            metrics["awaiting_expected"][at] = int(metrics["awaiting_expected"][at] or 0) + int(row[m] or 0)
    for pos in range(weeks):
        scored = int(metrics["passed"][pos] or 0) + int(metrics["failed"][pos] or 0)
        metrics["pass_rate"][pos] = int(metrics["passed"][pos] or 0) / scored if scored else None
    for spend in unstored:  # the stored results leave it out; the run's own summary counts it
        pos = spend.position
        judge = spend.judge_beyond(stored_judge.get(spend.run_id, 0.0))
        metrics["cost_usd"][pos] = (metrics["cost_usd"][pos] or 0.0) + spend.cost_usd
        metrics["judge_cost_usd"][pos] = (metrics["judge_cost_usd"][pos] or 0.0) + judge
        metrics["prompt_tokens"][pos] = (metrics["prompt_tokens"][pos] or 0) + spend.prompt_tokens
        metrics["completion_tokens"][pos] = (metrics["completion_tokens"][pos] or 0) + spend.completion_tokens
    unknown = unknown_spend(summaries)
    for pos in unknown.weeks:  # calls counted at $0, or not at all: the week's spend is unknown
        metrics["cost_usd"][pos] = metrics["judge_cost_usd"][pos] = None
    report = TrendReport(
        suite_name,
        week_list,
        now,
        metrics,
        min_drop=min_drop,
        series=series,
        pooled=pooled,
        left_out=left_out,
        unpriced_models=sorted(unknown.models),
        unmetered_targets=sorted(unknown.targets),
        uncounted_models=sorted(unknown.uncounted),
        partial_runs=unknown.partial_runs,
        at_least_weeks=unknown.partial,  # calls in no figure: the week's cost and tokens are lower bounds
    )
    slot_totals = [[0] * 5 for _ in range(weeks)]  # nn, nv, vn, vc, vw per week, over every field
    for frame, target, key in (
        (scorer_frame, report.scorers, "scorer"),
        (field_frame, report.fields, "field"),
    ):
        count_col = "scored" if key == "scorer" else "compared"
        for pos, row in zip(_index(frame, week_list), frame.to_dict("records"), strict=False):
            if pos is None:
                continue
            name = row["scorer"] if key == "scorer" else f"{row['scorer']}/{row['field']}"
            line = target.setdefault(name, Series([None] * weeks, [0] * weeks))
            n = int(row[count_col])
            line.counts[pos] = n
            line.values[pos] = int(row["passed"]) / n if n else None
            if key == "field":
                slots = SlotCounts(name, *(int(row[s]) for s in ("nn", "nv", "vn", "vc", "vw")))
                line.f1 = line.f1 or [None] * weeks
                line.f1[pos] = slots.f1
                slot_totals[pos] = [a + b for a, b in zip(slot_totals[pos], slots.as_tuple(), strict=True)]
    report.field_micro_f1 = (
        [SlotCounts("*", *week).f1 if any(week) else None for week in slot_totals] if len(field_frame) else []
    )
    for pos, row in zip(_index(cluster_frame, week_list), cluster_frame.to_dict("records"), strict=False):
        if pos is None:
            continue
        name = f"{row['cluster_label']} ({row['cluster_id']})"
        report.clusters.setdefault(name, [0] * weeks)[pos] += int(row["failures"])

    for week, base, value in find_regressions(week_list, report.pass_rates, min_drop):
        report.regressions.append(Regression(week, "suite", suite_name, base, value))
    for kind, lines in (("scorer", report.scorers), ("field", report.fields)):
        for name, line in lines.items():
            for week, base, value in find_regressions(week_list, line.values, 2 * min_drop):
                report.regressions.append(Regression(week, kind, name, base, value))
    report.regressions = _with_changes(report.regressions, runs, chosen, week_list)
    return report

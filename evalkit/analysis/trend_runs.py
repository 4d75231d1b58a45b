"""Which runs a trend may pool, and what changed under a flagged week.

A week-to-week pass rate means something only on one ruler: runs scored by other scorers (their
arguments, weights, thresholds) or another case rule form their own series, even when the suite and
prompt version share a name (two suites called ``loop`` writing to one shared store). What may change
within a series (the case files, as mining adds cases each week; the text of a prompt version edited
in place) is stated next to each regression it could explain, not hidden in the average.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from evalkit.errors import StoreError
from evalkit.results import RunSummary

_CASE_RULE = ("case_pass", "case_threshold")
DEFAULT_KINDS: tuple[str, ...] = ("full", "merged")  # runs over every case: comparable week to week


@dataclass(frozen=True)
class TrendSeries:
    """Which runs a trend pools: one prompt version and model of the suite scored one way
    (:func:`~evalkit.analysis.trend_runs.scoring_of`), runs of these kinds."""

    prompt_version: str | None
    model: str
    kinds: tuple[str, ...] = DEFAULT_KINDS
    scoring: str = ""  # digest of the scorers and case rule; "" matches any (a series' runs share one)
    # the scorers' names, set where series of one prompt version and model differ only in scoring
    scorers: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        scored = f" · scored by {self.scorers} [{self.scoring}]" if self.scorers else ""
        return f"prompt {self.prompt_version or '-'} · model {self.model}{scored}"

    def pools(self, run: dict[str, Any]) -> bool:
        """Whether ``run`` (a row of :meth:`TrendStore.complete_runs`) belongs to this series."""
        return (run["prompt_version"], run["model"]) == (self.prompt_version, self.model) and (
            not self.scoring or run["scoring"] == self.scoring
        )


def scoring_of(config_json: Any) -> tuple[str, str]:
    """A run's scoring as (a short digest, its scorers' names) from its stored config snapshot."""
    config = json.loads(config_json) if isinstance(config_json, str) else {}
    scorers = config.get("scorers") or []
    gate = config.get("gate") or {}
    rule = {key: gate[key] for key in _CASE_RULE if key in gate}
    text = json.dumps({"scorers": scorers, "rule": rule}, sort_keys=True, default=str)
    names = ", ".join(str(s.get("id") or s.get("name")) for s in scorers if isinstance(s, dict))
    return hashlib.sha256(text.encode()).hexdigest()[:8], names or "-"


def changes_between(
    week_runs: Iterable[dict[str, Any]], before_runs: Iterable[dict[str, Any]]
) -> tuple[str, ...]:
    """What differs between a week's pooled runs and the runs of the weeks it is measured against."""
    week, before = list(week_runs), list(before_runs)
    out = []
    for key, what in (("case_set_hash", "case files changed"), ("prompt_hash", "prompt text changed")):
        now = {r.get(key) for r in week}
        then = {r.get(key) for r in before}
        if now != then:
            out.append(what)
    return tuple(out)


def pooling(
    runs: list[dict[str, Any]], series: TrendSeries | None, weeks: list[date]
) -> tuple[dict[str, list[int]], dict[str, list[int]], list[str]]:
    """Runs per week pooled (by kind) and left out (by reason), and the ids of the pooled runs."""
    pooled: dict[str, list[int]] = {}
    left_out: dict[str, list[int]] = {}
    chosen: list[str] = []
    positions = {w: i for i, w in enumerate(weeks)}
    for run in runs:
        pos = positions.get(as_week(run["week"]))
        if pos is None:
            continue
        same = series is not None and series.pools(run)
        if same and series is not None and run["kind"] in series.kinds:
            chosen.append(run["run_id"])
            pooled.setdefault(run["kind"], [0] * len(weeks))[pos] += 1
            continue
        other = TrendSeries(run["prompt_version"], run["model"]).label
        if series is not None and other == TrendSeries(series.prompt_version, series.model).label:
            other += f" scored otherwise (by {run['scorers']} [{run['scoring']}])"
        reason = f"kind {run['kind']}" if same else f"{other}, kind {run['kind']}"
        left_out.setdefault(reason, [0] * len(weeks))[pos] += 1
    return pooled, left_out, chosen


@dataclass(frozen=True)
class PooledRun:
    """A pooled run's summary, read once, and the position of its week in the trend."""

    run_id: str
    position: int
    summary: RunSummary


def pooled_summaries(runs: list[dict[str, Any]], chosen: list[str], weeks: list[date]) -> list[PooledRun]:
    """The summaries of the pooled runs (``chosen``) that have one; a corrupt one is a StoreError."""
    positions = {w: i for i, w in enumerate(weeks)}
    pooled = set(chosen)
    out = []
    for run in runs:
        summary = run.get("summary_json")
        pos = positions.get(as_week(run["week"]))
        data = json.loads(summary) if isinstance(summary, str) else None
        if run["run_id"] not in pooled or pos is None or not data:
            continue
        try:
            out.append(PooledRun(run["run_id"], pos, RunSummary.model_validate(data)))
        except ValueError as exc:
            raise StoreError(f"run {run['run_id']!r} has a corrupt summary: {exc}") from None
    return out


def awaiting_cases(pooled: list[PooledRun]) -> dict[str, list[str]]:
    """The pooled runs' cases awaiting an expected output that their gates kept out (each run's
    summary's ``awaiting_expected``), by run id: their pass on the other scorers alone is no pass."""
    return {
        run.run_id: list(run.summary.awaiting_expected) for run in pooled if run.summary.awaiting_expected
    }


@dataclass
class UnknownSpend:
    """Why some weeks of a trend have no cost: what the pooled runs' summaries say their cost leaves
    out, and the positions of the weeks those runs are in (``weeks``: no cost; ``partial``: cost and
    tokens that are lower bounds)."""

    models: set[str] = field(default_factory=set)  # called without a price (RunSummary.unpriced_models)
    targets: set[str] = field(default_factory=set)  # whose own calls are not counted (unmetered_target)
    uncounted: set[str] = field(default_factory=set)  # called outside the call path (uncounted_models)
    partial_runs: int = 0  # whose calls are not all in their figures (RunSummary.cost_at_least)
    weeks: set[int] = field(default_factory=set)
    partial: set[int] = field(default_factory=set)


def unknown_spend(pooled: list[PooledRun]) -> UnknownSpend:
    """What the pooled runs' cost figures leave out, and in which weeks."""
    out = UnknownSpend()
    for run in pooled:
        stored, pos = run.summary, run.position
        out.models.update(stored.unpriced_models)
        out.uncounted.update(stored.uncounted_models)
        if stored.unmetered_target:
            out.targets.add(stored.unmetered_target)
        if not stored.cost_known or stored.unmetered_target:
            out.weeks.add(pos)
        if stored.cost_at_least:
            out.partial_runs += 1
            out.partial.add(pos)
    return out


@dataclass(frozen=True)
class UnstoredSpend:
    """What a pooled run's calls spent on answers no stored result of it holds (its summary's
    ``unstored_*``: a part of the run stopped and resumed, a case asked again), which the stored
    results a trend sums leave out; and the judge's cost its summary gives, stored and unstored."""

    run_id: str
    position: int  # of the run's week in the trend
    cost_usd: float  # target and judge
    prompt_tokens: int
    completion_tokens: int
    judge_cost_usd: float  # the run's whole judge cost, as its summary says

    def judge_beyond(self, stored_judge_usd: float) -> float:
        """The judge's share of ``cost_usd``, given what the judge's calls of the stored results cost."""
        return min(self.cost_usd, max(0.0, self.judge_cost_usd - stored_judge_usd))


def unstored_spend(pooled: list[PooledRun]) -> list[UnstoredSpend]:
    """The unstored spend of the pooled runs that have some (``RunSummary.unstored_cost_usd``)."""
    return [
        UnstoredSpend(
            run.run_id,
            run.position,
            run.summary.unstored_cost_usd,
            run.summary.unstored_prompt_tokens or 0,
            run.summary.unstored_completion_tokens or 0,
            run.summary.judge_cost_usd or 0.0,
        )
        for run in pooled
        if run.summary.unstored_cost_usd is not None
    ]


def as_week(value: Any) -> date:
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a week start: {value!r}")

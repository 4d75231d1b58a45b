"""Result records: what a run produces for each case, and the run itself. These cross into the store."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit import __version__
from evalkit.cases import Case
from evalkit.scorers.base import FieldScore

Verdict = Literal["pass", "fail", "error"]
RunStatus = Literal["running", "complete", "incomplete"]
# What a run's numbers stand for (see docs/store.md): trends pool only runs of one kind.
RunKind = Literal["full", "subset", "shard", "repeat", "rescore", "merged", "partial"]

# Version of the shape of ``runs.summary_json`` (RunSummary). 1: the keys evalkit stored before the
# summary had a model (which is why rows without a version are read as 1). Bump it when a key changes meaning.
# 2: ``cost_usd`` counts the judge's calls too (``target_cost_usd`` + ``judge_cost_usd``); in version 1
# it was the target's alone, and the judge's spend was not recorded.
SUMMARY_SCHEMA_VERSION = 2
# CallCounts' counters of calls that are in no figure: any above 0 makes tokens and cost lower bounds
UNCOUNTED = ("unreported_shards", "timed_out", "in_flight_at_stop", "killed_parts")


class OutputRecord(BaseModel):
    """The target's output for one case (or the error that replaced it)."""

    status: Literal["ok", "error"]
    text: str | None = None
    parsed: Any = None
    extraction: str = "none"
    error: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    cached: bool = False
    cached_prompt_tokens: int = 0  # read from the provider's prompt cache (counted in prompt_tokens)
    cache_write_tokens: int = 0  # written to it (Anthropic)
    prompt_cache_saved_usd: float = 0.0  # the cached tokens at the full input price minus what they cost


class ScoreRow(BaseModel):
    """One scorer's result for one case, as stored."""

    scorer: str
    score: float
    passed: bool
    weight: float = 1.0
    reason: str = ""
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    fields: list[FieldScore] = Field(default_factory=lambda: [])


class CaseResult(BaseModel):
    """Everything a run learned about one case in one epoch."""

    case: Case
    epoch: int = 0
    output: OutputRecord
    scores: list[ScoreRow] = Field(default_factory=lambda: [])
    verdict: Verdict
    score: float | None = None  # weighted score of the case; None when nothing could be scored
    judge_cost_usd: float = 0.0  # what the scorers' model calls (the judge) cost for this result
    saved_cost_usd: float = 0.0  # what its answers served from the response cache cost when first made
    # the provider's prompt cache on the scorers' calls, as OutputRecord holds it for the target's
    judge_cached_prompt_tokens: int = 0
    judge_cache_write_tokens: int = 0
    judge_prompt_cache_saved_usd: float = 0.0


class GateDecision(BaseModel):
    """Whether a run passed, the exit code that says so, and the numbers behind it."""

    passed: bool
    exit_code: int
    reasons: list[str] = Field(default_factory=lambda: [])
    warnings: list[str] = Field(default_factory=lambda: [])  # printed loudly; they do not change the verdict
    # judges the suite requires calibrated (`calibration: fail`) that are not: they fail the run
    # with a baseline too, whose comparison leans on the same judges
    judge_failures: list[str] = Field(default_factory=lambda: [])


class VerdictCounts(BaseModel):
    """How many results of a run passed, failed and ended in errors, and its pass rate."""

    results: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    pass_rate: float | None = None  # passed / (passed + failed); None when nothing could be scored


class ScorerSummary(BaseModel):
    """One scorer over a run: how many results it scored and passed, and its errors."""

    scored: int = 0
    passed: int = 0
    pass_rate: float | None = None
    mean_score: float | None = None
    errors: int = 0


class CallCounts(BaseModel):
    """What a run's model calls did (a merged run sums its sources' counters)."""

    requests: int = 0
    retries: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    failed_calls: int = 0
    concurrency_limit_end: float | None = None  # the adaptive limit when the run ended; a merge has none
    rate_limit_backoffs: int = 0  # rounds in which 429s shrank the adaptive limit
    rate_limited: int = 0  # answers that were HTTP 429
    judge_calls: int = 0  # the scorers' calls (the judge), cached ones included
    timed_out: int = 0  # attempts evalkit stopped waiting for: a provider may finish and bill them
    # What the calls spent (target and judge; the judge's apart) and the target's tokens of the
    # answers they got (sent, or another run's from the cache), results stored or not: a stopped run
    # spent them on answers it has not stored yet. An answer reused from the cache by a later part
    # of the same run counts in the part that paid for it. 0 in counters stored before they were.
    spent_usd: float = 0.0
    judge_spent_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Ray shard tasks that ended before reporting their last calls (their worker died, or the run
    # stopped them): a shard reports its calls with each batch of results, so what it did after its
    # last batch is in none of these figures, which are then lower bounds. 0: every call is counted
    unreported_shards: int = 0
    # requests sent and unanswered when a part of the run stopped (cancelled by a signal, or left running
    # by a --budget stop): in `requests`, but a provider may bill them, and tokens and cost miss them
    in_flight_at_stop: int = 0
    # parts of the run that ended without a clean stop (kill -9, OOM, a second signal): counted up to
    # their last commit only, so what each did after it is in no figure
    killed_parts: int = 0

    def uncounted(self) -> dict[str, int]:
        """The counters of calls in no figure (:data:`UNCOUNTED`) that are above 0, in that order."""
        return {name: getattr(self, name) for name in UNCOUNTED if getattr(self, name)}


class RayShards(BaseModel):
    """How a run on Ray was split: shards dispatched, and shards resubmitted after a worker died."""

    shards: int = 0
    shard_retries: int = 0
    calls_on_driver: int = 0  # calls the driver made itself while the workers were still warming up


class RecordedBaselineCheck(BaseModel):
    """The regression-gate decision recorded with a run gated on a baseline, stored as
    ``evalkit.gate.regression.RegressionDecision`` dumps it (figures not named here kept as they are)."""

    model_config = ConfigDict(extra="allow")

    passed: bool
    exit_code: int
    baseline_run_id: str | None = None
    reasons: list[str] = Field(default_factory=lambda: [])


class RunSummary(VerdictCounts):
    """A finished run's aggregates and gate decision, stored as JSON in ``runs.summary_json``.

    The verdict counts are of every result; ``gate_counts`` leaves the quarantined cases out (what the
    gate judged). Keys a summary does not have (older rows; a re-scored run has no ``calls``) read as
    their defaults, and :meth:`stored` writes back only the keys the summary was built or loaded with,
    so stored rows keep their shape. Keys this version does not know are kept too.
    """

    model_config = ConfigDict(extra="allow")

    prompt_tokens: int = 0  # the target's
    completion_tokens: int = 0
    cost_usd: float = 0.0  # spent on this run's calls: the target's and the judge's (version 1: the target's)
    target_cost_usd: float | None = None  # None in summaries stored before the split (version 1)
    judge_cost_usd: float | None = None  # the scorers' calls: graded judges, panels, repeats, pairwise
    saved_cost_usd: float | None = None  # what the answers served from the response cache first cost
    # of the tokens and cost above, those of answers the run got and no stored result holds (a run
    # stopped while cases were scored; see evalkit.run.summary.with_unstored_spend); None: there were none
    unstored_cost_usd: float | None = None
    unstored_prompt_tokens: int | None = None
    unstored_completion_tokens: int | None = None
    # models the run called (target, judges) that litellm's price map has no price for: their calls
    # count as $0 in the costs above (empty in summaries stored before it was recorded)
    unpriced_models: list[str] = Field(default_factory=lambda: [])
    # a python: or http: target: the model calls it makes itself are not evalkit's to see or count
    unmetered_target: str | None = None
    # models the scorers called outside the run's call path (semantic_similarity's litellm
    # embeddings): what they cost is in no figure above (empty in summaries stored before it was)
    uncounted_models: list[str] = Field(default_factory=lambda: [])
    # The provider's own prompt cache (None in summaries stored before it was recorded): prompt tokens
    # it reported as read from its cache, their share of the prompt tokens sent (answers from the
    # response cache left out), tokens written to it, and what the cached ones saved at the full input price.
    cached_prompt_tokens: int | None = None
    cached_share: float | None = None
    cache_write_tokens: int | None = None
    prompt_cache_saved_usd: float | None = None
    # the same on the scorers' calls (the judge), apart: their prompts are not the target's (None in
    # summaries stored before it was recorded)
    judge_cached_prompt_tokens: int | None = None
    judge_cache_write_tokens: int | None = None
    judge_prompt_cache_saved_usd: float | None = None
    latency_p50_ms: float | None = None  # of uncached outputs
    latency_p95_ms: float | None = None
    cached: int = 0  # outputs answered from the response cache
    scorers: dict[str, ScorerSummary] = Field(default_factory=dict)
    calls: CallCounts | None = None
    repeat: int = 1  # epochs
    flaky: list[str] = Field(default_factory=lambda: [])  # cases that both passed and failed across epochs
    quarantined: list[str] = Field(default_factory=lambda: [])  # cases kept out of the gate
    # of them, the cases awaiting an expected output a scorer of the suite compares with (unverified
    # mined or generated candidates) that no other scorer failed: their passes are not the case's
    awaiting_expected: list[str] = Field(default_factory=lambda: [])
    gate_counts: VerdictCounts | None = None
    ray: RayShards | None = None
    gate: GateDecision | None = None
    rescored_from: str | None = None  # the run whose outputs a re-scored run scored
    target_calls: int | None = None  # a re-scored run made none
    baseline: RecordedBaselineCheck | None = None  # set by `evalkit run --baseline`
    schema_version: int = SUMMARY_SCHEMA_VERSION

    @property
    def judged(self) -> bool:
        """Whether the run's scorers called a model (a judge): its tokens and unprefixed prompt-cache
        figures are then the target's alone (the judge's are the ``judge_*`` ones), its cost both."""
        return bool(self.judge_cost_usd) or bool(self.calls is not None and self.calls.judge_calls)

    @property
    def cost_known(self) -> bool:
        """Whether every call the run's scorers and target made through evalkit is priced: none to a
        model without a price (counted as $0), none outside the call path (``uncounted_models``).
        A total that misses calls is a lower bound (:attr:`cost_at_least`), each result's cost known."""
        return not (self.unpriced_models or self.uncounted_models)

    @property
    def cost_at_least(self) -> bool:
        """Whether the tokens and cost miss calls (:meth:`CallCounts.uncounted`): lower bounds."""
        return self.calls is not None and bool(self.calls.uncounted())

    @property
    def exit_code(self) -> int | None:
        """The code the run exited with: the suite gate's, or, gated on a baseline, the baseline
        check's where it decided (a run that could not be judged keeps its own code)."""
        if self.gate is None:
            return None
        if self.baseline is None:
            return int(self.gate.exit_code)
        return exit_code_with_baseline(self.gate, self.baseline.exit_code)

    def stored(self) -> dict[str, Any]:
        """The JSON object for ``runs.summary_json``: the keys given, and the schema version."""
        data = self.model_dump(mode="json", include=self.model_fields_set | {"schema_version"})
        if "calls" in data and self.calls is not None:
            data["calls"] = self.calls.model_dump(mode="json", exclude_unset=True)
        return data


def exit_code_with_baseline(gate: GateDecision, baseline_exit_code: int) -> int:
    """The exit code of a run gated on a baseline: the baseline check's (it replaces the pass-rate
    floor), except that a run that could not be judged keeps its own code (3, 4, 130, 143), and a
    judge the suite requires calibrated that is not fails the run (1) whatever the baseline says."""
    code = int(gate.exit_code)
    if code not in (0, 1):
        return code
    if gate.judge_failures:
        return 1
    return int(baseline_exit_code)


def run_costs(target_usd: float, judge_usd: float, saved_usd: float | None) -> dict[str, Any]:
    """A summary's cost fields from what the target and the judge spent, and what the cache saved."""
    return {
        "cost_usd": target_usd + judge_usd,
        "target_cost_usd": target_usd,
        "judge_cost_usd": judge_usd,
        "saved_cost_usd": saved_usd,
    }


def prompt_cache_fields(
    cached_tokens: Any, sent_prompt_tokens: Any, write_tokens: Any, saved_usd: Any
) -> dict[str, Any]:
    """A summary's prompt-cache fields from the sums over a run's outputs (NULL sums: not recorded)."""
    if cached_tokens is None:
        return {}
    cached, sent = int(cached_tokens), int(sent_prompt_tokens or 0)
    return {
        "cached_prompt_tokens": cached,
        "cached_share": cached / sent if sent else None,
        "cache_write_tokens": int(write_tokens or 0),
        "prompt_cache_saved_usd": float(saved_usd or 0.0),
    }


def judge_prompt_cache_fields(cached_tokens: Any, write_tokens: Any, saved_usd: Any) -> dict[str, Any]:
    """A summary's fields for the prompt cache on the scorers' calls (NULL sums: not recorded)."""
    if cached_tokens is None:
        return {}
    return {
        "judge_cached_prompt_tokens": int(cached_tokens),
        "judge_cache_write_tokens": int(write_tokens or 0),
        "judge_prompt_cache_saved_usd": float(saved_usd or 0.0),
    }


def new_run_id(suite_name: str) -> str:
    """Readable, sortable and unique: ``listings-20261127-101500-3fa2``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{suite_name}-{stamp}-{uuid.uuid4().hex[:4]}"


class RunRecord(BaseModel):
    """One run of a suite against one prompt version and model."""

    run_id: str
    suite_name: str
    suite_path: str = ""
    suite_hash: str = ""
    prompt_version: str | None = None
    prompt_hash: str | None = None
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    git_commit: str | None = None
    evalkit_version: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = "running"
    n_cases: int = 0
    config: dict[str, Any] = Field(default_factory=dict)  # suite config snapshot (scorers, gate, target)
    summary: RunSummary | None = None  # set when the run finishes
    group_id: str | None = None  # runs of one prompts x models matrix share it
    parent_run_id: str | None = None  # the run this one was derived from (rescore, merge)
    kind: RunKind = "full"
    shard: str | None = None  # "I/N" of a --shard run
    case_set_hash: str | None = None  # of the case files the run started on (--resume checks it)
    heartbeat_at: datetime | None = None  # refreshed while a process runs it
    heartbeat_by: str | None = None  # that process: "host:pid"

    @property
    def settled_summary(self) -> RunSummary | None:
        """The summary, unless the run is in progress: a run being resumed (or killed while it was)
        still holds the summary of the part that stopped earlier, which no longer describes it."""
        return None if self.status == "running" else self.summary

    @classmethod
    def new(
        cls,
        *,
        suite_name: str,
        suite_path: str,
        suite_hash: str,
        prompt_version: str | None,
        prompt_hash: str | None,
        model: str,
        params: dict[str, Any],
        git_commit: str | None,
        n_cases: int,
        config: dict[str, Any],
        started_at: datetime | None = None,
        evalkit_version: str = __version__,
        group_id: str | None = None,
        parent_run_id: str | None = None,
        kind: RunKind = "full",
        shard: str | None = None,
        case_set_hash: str | None = None,
    ) -> RunRecord:
        """A run about to be stored, ``running`` and without a summary, under a new id.

        It starts now (naive UTC, as the store keeps times) unless ``started_at`` is given, and is
        recorded by this evalkit unless ``evalkit_version`` says otherwise (a merge keeps its sources').
        """
        return cls(
            run_id=new_run_id(suite_name),
            suite_name=suite_name,
            suite_path=suite_path,
            suite_hash=suite_hash,
            prompt_version=prompt_version,
            prompt_hash=prompt_hash,
            model=model,
            params=params,
            git_commit=git_commit,
            evalkit_version=evalkit_version,
            started_at=started_at or datetime.now(timezone.utc).replace(tzinfo=None),
            status="running",
            n_cases=n_cases,
            config=config,
            group_id=group_id,
            parent_run_id=parent_run_id,
            kind=kind,
            shard=shard,
            case_set_hash=case_set_hash,
        )

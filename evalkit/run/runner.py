"""Running a suite: cases stream through render → model → parse → score, results stream to the store.

- Cases are read lazily in chunks and calls in flight are bounded: memory follows concurrency, not suite size.
- Every call goes through :class:`evalkit.providers.calls.ModelCaller` (cache, adaptive concurrency, retries).
- Results are committed in small atomic batches as they arrive. A run killed at any point keeps
  every committed result, and ``--resume`` finishes it: each (case, epoch) is stored exactly once.
- ``--repeat N`` samples every case N times (epochs); ``--budget USD`` is a hard cap: a case is
  dispatched only while its worst-case cost (target and judges) still fits, and a run it stops is
  left incomplete and resumable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from signal import Signals
from typing import Any

from evalkit.cases import Case
from evalkit.errors import DatabaseFileError, UsageError
from evalkit.gate.cells import BaselineCheck, RunVerdict, check_baseline, resolve_baseline
from evalkit.gate.suite import GateDecision
from evalkit.providers.calls import ModelCaller, RetryPolicy
from evalkit.providers.concurrency import ADAPTIVE_MAX, ADAPTIVE_START, ConcurrencyLimit
from evalkit.results import CallCounts, CaseResult, RunRecord, RunSummary, new_run_id
from evalkit.run.batches import BatchWriter
from evalkit.run.budget import CaseModels, budget_stop_reason, require_capped_gate
from evalkit.run.call_counts import earlier_calls, process_calls, summed_calls
from evalkit.run.call_plan import unmetered
from evalkit.run.evaluate import Target, prepare_target
from evalkit.run.git_head import git_commit
from evalkit.run.local_loop import Progress, evaluate_all, work_items
from evalkit.run.shape import (
    case_file_digests,
    case_set_hash,
    check_case_set,
    keep_alive,
    recorded_options,
    run_kind,
    suite_changes,
)
from evalkit.run.sharding import resumed_options
from evalkit.run.signals import StopSignals, db_argument, interrupted, resume_command, stopped_decision
from evalkit.run.summary import judged_summary, with_unstored_spend
from evalkit.store import Store
from evalkit.store.leases import RunLeases, fresh_heartbeat
from evalkit.suite.loading import Suite


@dataclass
class RunOptions:
    """How to run a suite (what the flags of ``evalkit run`` set)."""

    prompt: str | None = None  # prompt version; default: the suite's
    model: str | None = None  # overrides the suite's target model
    concurrency: int | None = None  # fixed number of calls in flight; None: adaptive
    repeat: int = 1  # epochs: samples per case
    use_cache: bool = True
    resume: str | None = None  # id (or prefix, or "latest") of an unfinished run to finish
    budget_usd: float | None = None  # stop dispatching once this much has been spent
    timeout: float | None = None  # seconds per request (default: the suite's params.timeout or 60)
    max_attempts: int = 4  # per call, retries included
    case_filter: Callable[[Case], bool] | None = None  # run only the cases it accepts (shards, pytest -k)
    shard: str | None = None  # "I/N" when case_filter is a --shard (the run's kind is then "shard")
    group_id: str | None = None  # shared by the runs of one prompts x models matrix
    ray: str | None = None  # run shards on Ray: "local" (or "") for a local session, or a cluster address
    ray_num_gpus: float = 0.0  # GPUs each shard task asks Ray for (local-model targets)
    # the baseline run_matrix gates the run on and its --allow-* flags: only recorded with the run
    baseline_gate: dict[str, Any] | None = None


@dataclass
class RunOutcome:
    """What a finished (or stopped) run produced: its record, aggregates and the gate decision.

    ``decision`` is the suite gate's; gated on a baseline (``run_suite(..., baseline=...)``),
    ``baseline`` holds the comparison that replaces it, and :attr:`verdict` combines the two.
    """

    run: RunRecord
    summary: RunSummary
    decision: GateDecision
    baseline: BaselineCheck | None = None

    @property
    def verdict(self) -> RunVerdict:
        """Whether the run passes, as ``evalkit run`` prints it and exits with."""
        return RunVerdict(run=self.run, gate=self.decision, baseline=self.baseline)

    @property
    def exit_code(self) -> int:
        return self.verdict.exit_code


ResultCallback = Callable[[CaseResult], None]
StartCallback = Callable[[RunRecord, int, int], None]


def make_caller(suite: Suite, store: Store | None, options: RunOptions) -> ModelCaller:
    """The call path of a run: cache in the store, adaptive or fixed concurrency, bounded retries
    (with ``use_cache=False`` the cache is not read, but new responses are still written to it)."""
    fixed, n = options.concurrency is not None, options.concurrency
    limit = ConcurrencyLimit(n or ADAPTIVE_START, maximum=n or ADAPTIVE_MAX, adaptive=not fixed)
    retry = RetryPolicy(max_attempts=max(1, options.max_attempts))
    return ModelCaller(suite.base_dir, limit=limit, retry=retry, cache=store)


def _resume_record(suite: Suite, store: Store, ref: str) -> RunRecord:
    """The unfinished run ``ref`` of this suite, checked to be resumable."""
    if ref == "latest":
        unfinished = [r for r in store.list_runs(suite=suite.name, limit=50) if r.status != "complete"]
        if not unfinished:
            raise UsageError(f"no unfinished run of suite {suite.name!r} to resume")
        run = unfinished[0]
    else:
        run = store.get_run(ref)
    if run.suite_name != suite.name:
        raise UsageError(f"run {run.run_id} is of suite {run.suite_name!r}, not {suite.name!r}")
    if run.status == "complete":
        raise UsageError(f"run {run.run_id} is already complete")
    check_case_set(run, suite)
    if run.suite_hash != suite.source_hash:
        raise UsageError(
            f"suite {suite.name!r} changed since run {run.run_id} started ({suite_changes(run, suite)}; "
            f"hash {run.suite_hash} -> {suite.source_hash}); start a new run instead of resuming"
        )
    return run


async def execute_run(
    suite: Suite,
    store: Store,
    options: RunOptions | None = None,
    on_result: ResultCallback | None = None,
    on_start: StartCallback | None = None,
) -> RunOutcome:
    """Run ``suite`` (or finish an unfinished run) and store everything; returns the gate decision.

    ``on_start(run, total, done)`` sees the run record once stored, the number of results the run
    will hold (cases x epochs) and how many are already stored (on resume); ``on_result`` sees
    each new result as it completes.
    """
    started: list[tuple[RunRecord, int]] = []

    def starting(run: RunRecord, total: int, done: int) -> None:
        started.append((run, total))
        if on_start is not None:
            on_start(run, total, done)

    # one open database for the whole run (yielded to other processes that ask); SIGINT and
    # SIGTERM stop it as --budget does: what is stored is kept, the run is left incomplete
    with store.hold(), StopSignals().installed() as stop:
        try:
            return await _execute(suite, store, options or RunOptions(), on_result, starting, stop)
        except asyncio.CancelledError:
            if stop.received is None:
                raise
            run, total = started[-1] if started else (None, 0)
            kept = len(await asyncio.to_thread(store.completed_keys, run.run_id)) if run else 0
            raise interrupted(stop.received, run, kept, total, db_argument(store)) from None
        except DatabaseFileError as exc:
            raise _first_database_failure(exc) from None


def _first_database_failure(exc: DatabaseFileError) -> DatabaseFileError:
    """The failure that stopped the run (a full disk), not the failed summary write after it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _StoppedRun):
            return cause
        cause = cause.__context__
    return exc


class _StoppedRun(DatabaseFileError):
    """The database failed during a run: the message says how to resume it."""


async def _execute(
    suite: Suite,
    store: Store,
    options: RunOptions,
    on_result: ResultCallback | None,
    on_start: StartCallback | None,
    stop: StopSignals,
) -> RunOutcome:
    if options.resume:
        run = await asyncio.to_thread(_resume_record, suite, store, options.resume)
        options = resumed_options(run, options)
        repeat = int(run.config.get("run", {}).get("repeat", 1))
        target = prepare_target(suite, run.model, run.prompt_version, options.timeout)
        models = CaseModels(options.budget_usd, target.model, [s.spec for s in suite.scorers])
        warming = _prewarm_ray(suite, target, options)
        if (
            run.prompt_version is not None
            and target.prompt is not None
            and target.prompt.hash != run.prompt_hash
        ):
            raise UsageError(
                f"prompt {run.prompt_version!r} changed since run {run.run_id} started; start a new run"
            )
        n_cases = suite.check_cases(target.prompt, options.case_filter, each=models.check)
        caller = _load_caller(suite, store, options, target)
        done = await asyncio.to_thread(store.completed_keys, run.run_id)
        # the earlier parts' calls as their last commit or stop wrote them (a killed part left no
        # summary, and its last calls are in no figure: said, with the run's status before the claim)
        earlier = await asyncio.to_thread(RunLeases(store).recorded_calls, run.run_id)
        earlier = earlier_calls(run, earlier)
        await asyncio.to_thread(RunLeases(store).claim, run.run_id)  # refused while another process runs it
        record = None
    else:
        target = prepare_target(suite, options.model, options.prompt, options.timeout)
        models = CaseModels(options.budget_usd, target.model, [s.spec for s in suite.scorers])
        warming = _prewarm_ray(suite, target, options)  # while the cases are validated and read
        n_cases = suite.check_cases(target.prompt, options.case_filter, each=models.check)
        caller = _load_caller(suite, store, options, target)  # before the run row: no phantom run
        done, earlier = set(), None
        repeat = max(1, options.repeat)
        config = suite.config.model_dump(mode="json", exclude={"name", "description"})
        config["run"] = recorded_options(options, repeat)  # what a command running it again repeats
        config["run"].update(target.run_labels)  # e.g. a replay's baseline label
        digests = case_file_digests(suite)
        config["case_files"] = digests  # next to the suite's own `cases` (the file list)
        run = RunRecord.new(
            suite_name=suite.name,
            suite_path=str(suite.path),
            suite_hash=suite.source_hash,
            prompt_version=target.prompt.name if target.prompt else None,
            prompt_hash=target.prompt.hash if target.prompt else None,
            model=target.model,
            params=target.params,
            git_commit=git_commit(suite.base_dir),
            n_cases=n_cases,
            config=config,
            group_id=options.group_id,
            kind=run_kind(options.shard, options.case_filter is not None, repeat),
            shard=options.shard,
            case_set_hash=case_set_hash(digests),
        ).model_copy(update=fresh_heartbeat())
        # stored (its database created, if new) by the first commit, while the first calls fly;
        # first when Ray's shards store into its row, or when the file opened read-only (its one-line
        # error then comes before any call)
        if options.ray is not None or getattr(store.backend, "read_only", False):
            await asyncio.to_thread(store.create_run, run)
            record = None
        else:
            record = run
    caller.run_id = run.run_id  # its own earlier answers, found in the cache on resume, are its cost
    if on_start is not None:
        on_start(run, n_cases * repeat, len(done))
    # a new run with one epoch per case stores each case's row once (a resumed run or epochs may
    # meet rows stored by an earlier batch)
    writer = BatchWriter(
        store, run.run_id, caller, new_cases=not options.resume and repeat == 1, record=record
    )
    writer.calls = lambda: summed_calls([earlier, process_calls(caller)])  # stored with each commit
    status = "incomplete"
    progress = Progress()
    heartbeat = asyncio.create_task(keep_alive(store, run.run_id))
    try:
        items = work_items(suite, options, repeat, done)
        if options.ray is not None:
            from evalkit.run.ray_executor import evaluate_on_ray

            await evaluate_on_ray(  # fills in progress, also when a signal stops the run
                suite, target, caller, items, writer, options, on_result, progress, warming
            )
        else:
            progress = await evaluate_all(suite, target, caller, items, writer, options, on_result)
        status = "incomplete" if progress.stopped_by_budget else "complete"
    except DatabaseFileError as exc:  # disk full or the like: say how to finish what was kept
        if not writer.recorded:
            raise  # the run was never stored: nothing to resume
        raise _StoppedRun(
            f"{exc.message}; resume with: {resume_command(run, db_argument(store))}", path=exc.path
        ) from None
    finally:
        stop.finishing = True  # from here a signal no longer cuts the run's end short
        heartbeat.cancel()
        await writer.settled()  # a run row still being created (a signal at launch) is recorded first
        await caller.aclose()
        if writer.recorded:  # else its database could not be opened: that error is the outcome
            summary, decision = await _finish(
                suite, store, run, caller, options, progress, status, repeat, stop.received, earlier, models
            )
    run = run.model_copy(update={"status": status, "summary": summary})
    return RunOutcome(run=run, summary=summary, decision=decision)


async def _finish(
    suite: Suite,
    store: Store,
    run: RunRecord,
    caller: ModelCaller,
    options: RunOptions,
    progress: Progress,
    status: str,
    repeat: int,
    signal: Signals | None,
    earlier: CallCounts | None,
    models: CaseModels,
) -> tuple[RunSummary, GateDecision]:
    """The run's summary and gate decision, stored with its final status; ``earlier``: the calls of
    a resumed run's earlier parts; ``models``: what its cases' own scorers call, as checked."""
    this_process = process_calls(caller, ended=True)  # a stop's requests still unanswered: abandoned
    summary, decision, _ = await asyncio.to_thread(
        judged_summary,
        store,
        run.run_id,
        suite.config.gate,
        [s.model_dump() for s in suite.config.scorers],
        repeat,
        calls=summed_calls([earlier, this_process], concurrency_limit_end=round(caller.limit.limit, 1)),
        unpriced_models=models.unpriced_models(run.model),
        uncounted_models=models.uncounted_models(),
        unmetered_target=unmetered(run.model),
        **({"ray": progress.ray} if progress.ray is not None else {}),
    )
    summary = with_unstored_spend(summary)  # answers paid for and not stored: a stop's, or ones asked again
    if status != "complete":  # stopped by --budget, a signal or an error: part of the cases ran
        resume = resume_command(run, db_argument(store))
        spent = progress.stopped_by_budget and options.budget_usd is not None
        cap = options.budget_usd or 0.0
        in_all = summary if earlier is not None else None  # a resumption's budget is its own
        reason = (
            budget_stop_reason(cap, caller, resume, share=progress.share_spent, run_spent=in_all)
            if spent
            else None
        )
        decision = stopped_decision(run, summary, resume, budget_reason=reason, signum=signal)
    summary = summary.model_copy(update={"gate": decision})
    await asyncio.to_thread(store.finish_run, run.run_id, status=status, summary=summary)
    return summary, decision


def _load_caller(suite: Suite, store: Store, options: RunOptions, target: Target) -> ModelCaller:
    """The run's call path, with the target's provider loaded: a missing local model or a bad
    ``python:`` target fails here, before a run row is written or resumed; so does a target that
    checks a request it would send (``check_request``: an ``http:`` template, a replay's key) on
    the first case."""
    caller = make_caller(suite, store, options)
    check = getattr(caller.provider_for(target.model), "check_request", None)
    accepts = options.case_filter or (lambda _: True)
    first = next((case for case in suite.iter_cases() if accepts(case)), None) if check else None
    if check is not None and first is not None:
        check(target.request(first))
    return caller


def _prewarm_ray(suite: Suite, target: Target, options: RunOptions) -> list[Any]:
    if options.ray is None:
        return []
    from evalkit.run.ray_warmup import prewarm

    return prewarm(suite, target, options)


def run_suite(
    suite: Suite,
    store: Store,
    options: RunOptions | None = None,
    on_result: ResultCallback | None = None,
    on_start: StartCallback | None = None,
    *,
    baseline: RunRecord | str | None = None,
    allow_scoring_change: bool = False,
    allow_removed_critical: Collection[str] = (),
) -> RunOutcome:
    """Run ``suite`` and store everything (synchronous :func:`execute_run`); returns the verdict.

    With ``baseline`` (a run record, or a baseline name / run id / prefix of the suite, resolved
    before anything runs), the run is gated on it exactly as ``evalkit run --baseline`` is: the
    outcome's ``baseline`` holds the comparison and ``outcome.exit_code`` the combined verdict
    (``allow_*``: that command's ``--allow-scoring-change`` and ``--allow-removed-critical`` ids).
    """
    reference = resolve_baseline(store, suite.name, baseline) if baseline is not None else None
    if reference is not None:  # its pairwise judge's calls come after the run: refused before it
        require_capped_gate(suite.config.gate, (options or RunOptions()).budget_usd)
    outcome = asyncio.run(execute_run(suite, store, options, on_result, on_start))
    allow = {"allow_scoring_change": allow_scoring_change, "allow_removed_critical": allow_removed_critical}
    return gate_outcome(suite, store, outcome, reference, **allow)


def gate_outcome(
    suite: Suite, store: Store, outcome: RunOutcome, baseline: RunRecord | None, **options: Any
) -> RunOutcome:
    """The outcome gated on ``baseline`` (unchanged without one); the check is stored with the run.
    ``options``: those of :func:`~evalkit.gate.cells.check_baseline` (``allow_scoring_change``,
    ``allow_removed_critical``)."""
    if baseline is None:
        return outcome
    check = check_baseline(
        store, suite.config.gate, baseline, outcome.run, base_dir=suite.base_dir, **options
    )
    return replace(outcome, baseline=check)


__all__ = ["RunOptions", "RunOutcome", "execute_run", "new_run_id", "run_suite"]

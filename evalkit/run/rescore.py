"""Re-scoring: apply a suite's current scorers to the outputs a run already stored.

The target is never called: outputs come from the store, their text parsed again by evalkit's
current parser, as a new run over the same answers would parse it. Scorers that call a model (the
judge) go through their own call path. The results form a new run whose ``parent_run_id`` is the run
re-scored, so the two can be compared and the original is never touched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from evalkit.cases import Case
from evalkit.errors import UsageError
from evalkit.gate.judges import JudgeCheck
from evalkit.gate.suite import GateDecision
from evalkit.outputs import parse_output
from evalkit.providers.calls import ModelCaller
from evalkit.providers.prices import call_cost
from evalkit.results import CaseResult, OutputRecord, RunRecord, RunSummary
from evalkit.run.call_plan import uncounted_models, unmetered, unpriced_models
from evalkit.run.evaluate import scored_result
from evalkit.run.summary import judged_summary
from evalkit.store import Store
from evalkit.store.opening import database_file
from evalkit.suite.loading import Suite, load_suite
from evalkit.suite.recorded import locate_run_suite
from evalkit.suite.spec import ScorerSpec

BATCH = 200


@dataclass
class RescoreOutcome:
    """The new run, its summary and gate decision, and the run it was derived from.

    ``reparsed`` counts the outputs whose text evalkit's current parser reads otherwise than the
    parsed JSON the parent run stored (a parser fix since): their scores may differ for that alone.
    """

    run: RunRecord
    parent: RunRecord
    summary: RunSummary
    decision: GateDecision
    judge_checks: list[JudgeCheck]
    reparsed: int = 0

    @property
    def reparsed_line(self) -> str:
        """Why a rescored output's scores may differ from the parent run's with the same scorers."""
        outputs = "output" if self.reparsed == 1 else "outputs"
        return (
            f"{self.reparsed} {outputs} parsed differently from run {self.parent.run_id} "
            "(evalkit's parser changed): their scores may differ for that alone"
        )


class StoredResult(NamedTuple):
    """One stored output of a run, ready to be scored again."""

    case: Case
    epoch: int
    output: OutputRecord
    first_cost: float  # what the target's answer cost when it was made
    reparsed: bool  # its text parses otherwise now than the parsed JSON the run stored


def stored_results(
    store: Store, run: RunRecord, case_checks: dict[str, list[ScorerSpec]] | None = None
) -> Iterator[StoredResult]:
    """Each stored (case, epoch, output) of a run, as a new run would produce them from the same
    answers, with what the target's answer cost when it was made: a re-scored output is served from
    the stored run as a cached answer is from the cache, so it counts at its first cost (compare's
    cost per case).

    The stored text is parsed again with evalkit's current parser (what a run does with a cached
    answer), not read from the row's parsed JSON, which an older parser may have got wrong; an output
    stored without its text (an error) keeps what the row holds.

    ``case_checks`` (case id -> scorer specs) gives cases back the checks they carry in the case
    files, which the store does not keep.
    """
    frame = store.case_results(run.run_id)
    checks = case_checks or {}
    for row in frame.itertuples(index=False):
        case = Case(
            id=row.case_id,
            input=json.loads(row.input_json),
            expected=json.loads(row.expected_json) if isinstance(row.expected_json, str) else None,
            tags=json.loads(row.tags_json),
            source=row.source,
            verified=bool(row.verified),
            provenance=json.loads(row.provenance_json),
            scorers=checks.get(row.case_id, []),
        )
        found = isinstance(row.parsed_json, str)
        stored_value = json.loads(row.parsed_json) if found else None
        stored_extraction = row.extraction if found else "none"
        text = row.raw_text if isinstance(row.raw_text, str) else None
        parsed, extraction = stored_value, stored_extraction
        if text is not None:
            current = parse_output(text)
            parsed, extraction = current.value, current.extraction
        # compared as JSON text: 1 and true are equal in Python, not in a field diff
        reparsed = extraction != stored_extraction or json.dumps(parsed) != json.dumps(stored_value)
        output = OutputRecord(
            status=row.status,
            text=text,
            parsed=parsed,
            extraction=extraction,
            error=row.error if isinstance(row.error, str) else None,
            latency_ms=float(row.latency_ms),
            prompt_tokens=int(row.prompt_tokens),
            completion_tokens=int(row.completion_tokens),
            cost_usd=0.0,  # nothing was spent on the target this time
            attempts=int(row.attempts),
            cached=True,  # no request was made for this output
        )
        # an answer the stored run got from the cache: its tokens at the model's price (the row's
        # saved cost may hold the judge's cached answers too)
        if bool(row.cached):
            first_cost = call_cost(run.model, output.prompt_tokens, output.completion_tokens)
        else:
            first_cost = float(row.cost_usd)
        yield StoredResult(case, int(row.epoch), output, first_cost, reparsed)


async def execute_rescore(
    store: Store,
    run_ref: str,
    suite_path: Path | str | None = None,
    *,
    concurrency: int = 4,
    use_cache: bool = True,
    on_start: Callable[[RunRecord], None] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> RescoreOutcome:
    """Score the stored outputs of ``run_ref`` with the scorers of ``suite_path`` (default: the suite
    file the run came from, refused unless it is as it was for that run: :func:`locate_run_suite`)
    and store the results as a new, linked run. The judges' answers come from the response cache as
    a run's do (``use_cache=False``: asked again)."""
    parent = await asyncio.to_thread(store.get_run, run_ref)
    if suite_path:
        suite, recorded = load_suite(suite_path), None
    else:  # the run's own suite, unchanged: another file of that path, or the suite edited, is refused
        suite = locate_run_suite(parent, database_file(store), instead="pass --suite PATH")
        recorded = parent.suite_path
    carried = {c.id: c.scorers for c in suite.iter_cases() if c.scorers}
    results = await asyncio.to_thread(lambda: list(stored_results(store, parent, carried)))
    if not results:
        raise UsageError(f"run {parent.run_id} has no stored outputs to re-score")
    run = RunRecord.new(
        suite_name=suite.name,
        suite_path=recorded or str(suite.path),  # as the parent recorded it: the same file
        suite_hash=suite.source_hash,
        prompt_version=parent.prompt_version,
        prompt_hash=parent.prompt_hash,
        model=parent.model,
        params=parent.params,
        git_commit=parent.git_commit,
        n_cases=len({r.case.id for r in results}),
        config=suite.config.model_dump(mode="json", exclude={"name", "description"}),
        parent_run_id=parent.run_id,
        kind="rescore",
    )
    await asyncio.to_thread(store.create_run, run)
    if on_start is not None:
        on_start(run)
    caller = ModelCaller(suite.base_dir, cache=store)
    status = "incomplete"
    try:
        await _score_all(suite, store, run.run_id, results, caller, concurrency, use_cache, on_result)
        status = "complete"
    finally:
        await caller.aclose()
        summary, decision, checks = await asyncio.to_thread(
            judged_summary,
            store,
            run.run_id,
            suite.config.gate,
            [s.model_dump() for s in suite.config.scorers],
            1 + max(r.epoch for r in results),  # the epochs of the outputs it scores
            rescored_from=parent.run_id,
            target_calls=0,
            # the judges' only (the suite's and the rescored cases' own): the target is not called again
            unpriced_models=unpriced_models(
                None, [s.spec for s in suite.scorers] + [s for r in results for s in r.case.scorers]
            ),
            uncounted_models=uncounted_models(
                [s.spec for s in suite.scorers] + [s for r in results for s in r.case.scorers]
            ),
            unmetered_target=unmetered(parent.model),
        )
        summary = summary.model_copy(update={"gate": decision})
        await asyncio.to_thread(store.finish_run, run.run_id, status=status, summary=summary)
    run = run.model_copy(update={"status": status, "summary": summary})
    return RescoreOutcome(
        run=run,
        parent=parent,
        summary=summary,
        decision=decision,
        judge_checks=checks,
        reparsed=sum(r.reparsed for r in results),
    )


async def _score_all(
    suite: Suite,
    store: Store,
    run_id: str,
    results: list[StoredResult],
    caller: ModelCaller,
    concurrency: int,
    use_cache: bool,
    on_result: Callable[[CaseResult], None] | None,
) -> None:
    slots = asyncio.Semaphore(max(1, concurrency))
    batch: list[CaseResult] = []

    async def one(stored: StoredResult) -> CaseResult:
        case, epoch, output = stored.case, stored.epoch, stored.output
        if output.status != "ok":  # a provider error stays an error: there is nothing to score
            return CaseResult(case=case, epoch=epoch, output=output, verdict="error")
        async with slots:
            return await scored_result(
                suite, case, epoch, output, caller, use_cache=use_cache, saved_cost_usd=stored.first_cost
            )

    for next_result in asyncio.as_completed([one(result) for result in results]):
        result = await next_result
        batch.append(result)
        if on_result is not None:
            on_result(result)
        if len(batch) >= BATCH:
            await asyncio.to_thread(store.add_results, run_id, batch, caller.drain_cache_rows())
            batch = []
    if batch:
        await asyncio.to_thread(store.add_results, run_id, batch, caller.drain_cache_rows())


def rescore(
    store: Store, run_ref: str, suite_path: Path | str | None = None, **kwargs: Any
) -> RescoreOutcome:
    """Synchronous wrapper of :func:`execute_rescore`."""
    return asyncio.run(execute_rescore(store, run_ref, suite_path, **kwargs))

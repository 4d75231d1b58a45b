"""Running a suite: cases stream through render → model → parse → score, and results stream to the store.

Concurrency is bounded, so memory depends on the number of calls in flight, not on suite size.
Results are committed in small batches as they arrive; an interrupted run keeps everything already
committed.
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from evalkit import __version__
from evalkit.calls import ModelCaller
from evalkit.cases import Case
from evalkit.errors import ProviderError
from evalkit.gate import GateDecision, case_verdict, decide
from evalkit.outputs import parse_output
from evalkit.prompts import PromptVersion
from evalkit.providers.base import Completion, CompletionRequest
from evalkit.results import CaseResult, OutputRecord, RunRecord, ScoreRow
from evalkit.scorers.base import Score, ScoreContext
from evalkit.store import Store
from evalkit.suite import Suite

FLUSH_EVERY = 200  # results per store transaction, at most
FLUSH_SECONDS = 1.0  # ... and at least this often while results arrive


@dataclass
class RunOptions:
    """How to run a suite (what the CLI flags of ``evalkit run`` set)."""

    prompt: str | None = None  # prompt version; default: the suite's
    model: str | None = None  # overrides the suite's target model
    concurrency: int = 4
    case_filter: Callable[[Case], bool] | None = None  # run only the cases it accepts (shards, pytest -k)
    group_id: str | None = None  # shared by the runs of one prompts x models matrix


@dataclass
class RunOutcome:
    """What a finished run produced: its record, aggregates and the gate decision."""

    run: RunRecord
    summary: dict[str, Any]
    decision: GateDecision


ResultCallback = Callable[[CaseResult], None]


@dataclass
class _Target:
    """Everything needed to turn one case into a request."""

    model: str
    prompt: PromptVersion | None
    caller: ModelCaller
    params: dict[str, Any]
    response_schema: dict[str, Any] | None
    api_base: str | None
    timeout: float | None = None
    stats: dict[str, int] = field(default_factory=dict)

    def request(self, case: Case, output_schema: dict[str, Any] | None) -> CompletionRequest:
        messages = self.prompt.render(case.input, output_schema=output_schema) if self.prompt else []
        return CompletionRequest(
            model=self.model,
            messages=messages,
            params=self.params,
            response_schema=self.response_schema,
            api_base=self.api_base,
            variables=case.input,
            timeout=self.timeout,
        )


def new_run_id(suite_name: str) -> str:
    """Readable, sortable and unique: ``listings-20261127-101500-3fa2``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{suite_name}-{stamp}-{uuid.uuid4().hex[:4]}"


def git_commit(cwd: Any) -> str | None:
    """HEAD of the git checkout holding the suite, if any (recorded with each run)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def prepare_target(suite: Suite, options: RunOptions) -> _Target:
    """Resolve model, prompt version and provider; config problems surface here, before any call."""
    spec = suite.config.target
    model = options.model or spec.model
    prompt = None if model.startswith("python:") else suite.prompt(options.prompt)
    params = spec.params.model_dump(exclude_none=True, exclude={"timeout"})
    caller = ModelCaller(suite.base_dir)
    caller.provider_for(model)  # a missing local model or bad python target fails here, before the run
    return _Target(
        model=model,
        prompt=prompt,
        caller=caller,
        params=params,
        response_schema=suite.output_schema,
        api_base=spec.api_base,
        timeout=spec.params.timeout,
    )


async def score_case(
    suite: Suite, case: Case, output: OutputRecord, caller: ModelCaller | None = None
) -> list[ScoreRow]:
    """Run every applicable scorer on one output. A scorer that raises is recorded as a scorer error.

    ``caller`` gives model-calling scorers (the judge) the same call path as the target.
    """
    caller = caller or ModelCaller()
    ctx = ScoreContext(
        case=case,
        output=output.text or "",
        parsed=output.parsed,
        extraction=output.extraction,
        output_schema=suite.output_schema,
        complete=caller.complete,
    )
    rows = []
    for configured in suite.scorers:
        spec = configured.spec
        if spec.verified_only and not case.verified:
            continue
        try:
            result = configured.fn(ctx)
            score: Score = await result if inspect.isawaitable(result) else result
        except Exception as exc:  # a bug in a (user) scorer must not abort the run
            score = Score(value=0.0, passed=False, error=f"scorer raised {type(exc).__name__}: {exc}")
        passed = score.passed if spec.threshold is None else score.value >= spec.threshold
        rows.append(
            ScoreRow(
                scorer=configured.label,
                score=score.value,
                passed=passed and score.error is None,
                weight=spec.weight,
                reason=score.reason,
                error=score.error,
                details=score.details,
                fields=score.fields,
            )
        )
    return rows


async def evaluate_case(suite: Suite, target: _Target, case: Case, epoch: int = 0) -> CaseResult:
    """Render, call, parse and score one case. Provider errors become an ``error`` verdict."""
    request = target.request(case, suite.output_schema)
    try:
        completion: Completion = await target.caller.complete(request)
    except ProviderError as exc:
        output = OutputRecord(status="error", error=exc.message)
        return CaseResult(case=case, epoch=epoch, output=output, verdict="error")
    parsed = parse_output(completion.text)
    output = OutputRecord(
        status="ok",
        text=completion.text,
        parsed=parsed.value,
        extraction=parsed.extraction,
        latency_ms=completion.latency_ms,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=completion.cost_usd,
    )
    scores = await score_case(suite, case, output, target.caller)
    verdict, score = case_verdict(scores, suite.config.gate)
    return CaseResult(case=case, epoch=epoch, output=output, scores=scores, verdict=verdict, score=score)


class _BatchWriter:
    """Buffers results and commits them to the store in small transactions, off the event loop."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.buffer: list[CaseResult] = []
        self.last_flush = time.monotonic()

    async def add(self, result: CaseResult) -> None:
        self.buffer.append(result)
        if len(self.buffer) >= FLUSH_EVERY or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            await self.flush()

    async def flush(self) -> None:
        batch, self.buffer = self.buffer, []
        self.last_flush = time.monotonic()
        if batch:
            await asyncio.to_thread(self.store.add_results, self.run_id, batch)


async def _evaluate_all(
    suite: Suite,
    target: _Target,
    cases: Iterator[Case],
    writer: _BatchWriter,
    concurrency: int,
    on_result: ResultCallback | None,
) -> None:
    """Evaluate cases with at most ``concurrency`` in flight, committing results as they complete."""
    slots = asyncio.Semaphore(max(1, concurrency))
    pending: set[asyncio.Task[CaseResult]] = set()

    async def one(case: Case) -> CaseResult:
        try:
            return await evaluate_case(suite, target, case)
        finally:
            slots.release()

    async def drain(done: set[asyncio.Task[CaseResult]]) -> None:
        for task in done:
            result = task.result()
            await writer.add(result)
            if on_result is not None:
                on_result(result)

    try:
        for case in cases:
            await slots.acquire()
            pending.add(asyncio.create_task(one(case)))
            done = {t for t in pending if t.done()}
            pending -= done
            await drain(done)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            await drain(done)
    finally:
        for task in pending:
            task.cancel()
        await writer.flush()


async def execute_run(
    suite: Suite,
    store: Store,
    options: RunOptions | None = None,
    on_result: ResultCallback | None = None,
    on_start: Callable[[RunRecord], None] | None = None,
) -> RunOutcome:
    """Run ``suite`` and store everything; returns the outcome with the gate decision.

    ``on_start`` sees the run record once it is stored (its ``n_cases`` sizes a progress bar);
    ``on_result`` sees each case result as it completes.
    """
    options = options or RunOptions()
    target = prepare_target(suite, options)
    accept = options.case_filter
    n_cases = suite.check_cases(target.prompt, accept)
    run = RunRecord(
        run_id=new_run_id(suite.name),
        suite_name=suite.name,
        suite_path=str(suite.path),
        suite_hash=suite.source_hash,
        prompt_version=target.prompt.name if target.prompt else None,
        prompt_hash=target.prompt.hash if target.prompt else None,
        model=target.model,
        params=target.params,
        git_commit=git_commit(suite.base_dir),
        evalkit_version=__version__,
        started_at=datetime.now(timezone.utc).replace(tzinfo=None),
        n_cases=n_cases,
        config=suite.config.model_dump(mode="json", exclude={"name", "description"}),
        group_id=options.group_id,
    )
    await asyncio.to_thread(store.create_run, run)
    if on_start is not None:
        on_start(run)
    writer = _BatchWriter(store, run.run_id)
    status = "incomplete"
    try:
        cases = (c for c in suite.iter_cases() if accept is None or accept(c))
        await _evaluate_all(suite, target, cases, writer, options.concurrency, on_result)
        status = "complete"
    finally:
        summary = await asyncio.to_thread(store.summarize, run.run_id)
        decision = decide(summary, suite.config.gate)
        summary["gate"] = decision.model_dump()
        await asyncio.to_thread(store.finish_run, run.run_id, status=status, summary=summary)
    run = run.model_copy(update={"status": status, "summary": summary})
    return RunOutcome(run=run, summary=summary, decision=decision)


def run_suite(
    suite: Suite,
    store: Store,
    options: RunOptions | None = None,
    on_result: ResultCallback | None = None,
    on_start: Callable[[RunRecord], None] | None = None,
) -> RunOutcome:
    """Synchronous wrapper of :func:`execute_run`."""
    return asyncio.run(execute_run(suite, store, options, on_result, on_start))


__all__ = ["RunOptions", "RunOutcome", "evaluate_case", "execute_run", "run_suite"]

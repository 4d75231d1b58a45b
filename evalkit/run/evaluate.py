"""One case through the target: render the prompt, call the model, parse the output, score it.

The runner's local loop, the Ray shards, ``rescore``, ``estimate`` and the pytest plugin all evaluate
cases through these functions, so a case is judged the same way on every path.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evalkit.cases import Case
from evalkit.errors import ConfigError, ProviderError
from evalkit.gate.suite import case_verdict
from evalkit.outputs import parse_output
from evalkit.providers.base import Completion, CompletionRequest, needs_prompt, target_hash
from evalkit.providers.calls import ModelCaller
from evalkit.providers.file_inputs import (
    has_file_refs,
    resolve_file_inputs,
    textless_pdf_problem,
    with_content_parts,
)
from evalkit.providers.vendors import unknown_model_problem
from evalkit.results import CaseResult, OutputRecord, ScoreRow
from evalkit.run.budget import JudgesOverBudget
from evalkit.run.call_plan import PLANNED_SCORERS
from evalkit.scorers.base import Score, ScoreContext, needs_expected
from evalkit.suite.loading import Suite
from evalkit.suite.prompts import PromptVersion

CHUNK = 256  # cases rendered and looked up in the cache together
# Sees each scorer call the case's cost model does not know (a custom scorer's) before it is sent:
# ``--budget`` reserves it there, raising JudgesOverBudget when it no longer fits.
CallCheck = Callable[[CompletionRequest], Awaitable[None]]


@dataclass
class Target:
    """Everything needed to turn one case into a request: model, prompt version, params, schema."""

    model: str
    prompt: PromptVersion | None
    params: dict[str, Any]
    response_schema: dict[str, Any] | None  # the decoding constraint sent to the provider
    api_base: str | None
    timeout: float | None = None
    target_hash: str | None = None
    tools: list[dict[str, Any]] | None = None
    file_root: Path | None = None  # what case file paths are relative to (the suite's directory)
    run_labels: dict[str, str] = field(default_factory=dict)  # stored in the run's config.run
    api_key_env: str | None = None  # the variable holding the key (the key itself is never kept)
    prompt_schema: dict[str, Any] | None = None  # what templates see as output_schema (set: not a constraint)
    cache_prefix: bool = False  # mark the stable prefix for the provider's prompt cache (Anthropic)
    # a promptless target's reason not to send a case's request (an http: body carrying a scan's
    # empty text layer), asked of the case's freshly loaded files
    unsent_check: Callable[[dict[str, Any]], str | None] | None = None

    def request(self, case: Case) -> CompletionRequest:
        variables, attachments = case.input, None
        if has_file_refs(variables):
            variables, attachments = resolve_file_inputs(variables, self.file_root or Path.cwd())
        schema = self.prompt_schema if self.prompt_schema is not None else self.response_schema
        messages = self.prompt.render(variables, output_schema=schema) if self.prompt else []
        unsent = None
        if attachments:
            # asked before anything else reads the files (a cache key would read their text)
            if self.prompt:
                unsent = textless_pdf_problem(variables)
            elif self.unsent_check is not None:
                unsent = self.unsent_check(variables)
            messages = with_content_parts(messages, variables)
        return CompletionRequest(
            model=self.model,
            messages=messages,
            params=self.params,
            response_schema=self.response_schema,
            api_base=self.api_base,
            variables=variables,
            timeout=self.timeout,
            target_hash=self.target_hash,
            case_id=case.id,
            tools=self.tools,
            attachments=attachments,
            api_key_env=self.api_key_env,
            cache_prefix=self.cache_prefix,
            unsent=unsent,
        )


def prepare_target(
    suite: Suite, model: str | None, prompt: str | None, timeout: float | None = None
) -> Target:
    """Resolve model, prompt version and params; config problems surface here, before any call."""
    spec = suite.config.target
    problem = unknown_model_problem(model or spec.model, spec.api_base)
    if problem is not None:
        if model:  # from the command line
            raise ConfigError(f"--model: {problem}", path=suite.path)
        raise ConfigError(
            f"target.model: {problem}", path=suite.path, line=suite.line_of(("target", "model"))
        )
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        raise ConfigError(
            f"target.api_key_env: environment variable {spec.api_key_env} is not set: export it with the API key",
            path=suite.path,
            line=suite.line_of(("target", "api_key_env")),
        )
    model = model or spec.model
    version = suite.prompt(prompt) if needs_prompt(model) else None
    params = spec.params.model_dump(exclude_none=True, exclude={"timeout"})
    return Target(
        model=model,
        prompt=version,
        params=params,
        response_schema=suite.output_schema if spec.schema_constraint else None,
        prompt_schema=suite.output_schema,
        api_base=spec.api_base,
        timeout=timeout or spec.params.timeout,
        target_hash=target_hash(model, suite.base_dir),
        tools=suite.tools,
        file_root=suite.base_dir,
        run_labels=_run_labels(model, suite),
        api_key_env=spec.api_key_env,
        cache_prefix=spec.cache_prefix,
        unsent_check=_unsent_check(model, suite),
    )


def _unsent_check(model: str, suite: Suite) -> Callable[[dict[str, Any]], str | None] | None:
    """For an ``http:`` target, its request template's check; loading it refuses a broken file of
    the target this run uses (the suite's, or one --model names) before any call."""
    if not model.startswith("http:"):
        return None
    from evalkit.providers.http_target import HttpRequestTemplate

    return HttpRequestTemplate.load(model, suite.base_dir).unsent_problem


def _run_labels(model: str, suite: Suite) -> dict[str, str]:
    if not model.startswith("replay:"):
        return {}
    from evalkit.providers.replay import baseline_label

    label = baseline_label(model, suite.base_dir)  # recordings marked as a baseline (human moderators)
    return {"baseline_label": label} if label is not None else {}


@dataclass
class ScorerSpend:
    """What one result's scorers (the judge) spent on model calls, and what their cached answers saved."""

    cost_usd: float = 0.0
    saved_cost_usd: float = 0.0
    cached_prompt_tokens: int = 0  # the provider's prompt cache on these calls
    cache_write_tokens: int = 0
    prompt_cache_saved_usd: float = 0.0


def judge_call_path(
    caller: ModelCaller, use_cache: bool, spend: ScorerSpend, before_call: CallCheck | None = None
) -> Any:
    """``ScoreContext.complete`` for one result: the caller's path, counted as judge calls, honouring
    ``use_cache`` (``--no-cache``), adding each call's cost to ``spend``; ``before_call`` sees each
    request first."""

    async def complete(request: CompletionRequest, *, use_cache: bool = use_cache) -> Completion:
        if before_call is not None:
            await before_call(request)
        completion = await caller.complete(request, use_cache=use_cache, judge=True)
        spend.cost_usd += completion.cost_usd
        spend.saved_cost_usd += completion.saved_cost_usd
        spend.cached_prompt_tokens += completion.cached_prompt_tokens
        spend.cache_write_tokens += completion.cache_write_tokens
        spend.prompt_cache_saved_usd += completion.prompt_cache_saved_usd
        return completion

    return complete


async def score_case(
    suite: Suite,
    case: Case,
    output: OutputRecord,
    caller: ModelCaller | None = None,
    *,
    use_cache: bool = True,
    spend: ScorerSpend | None = None,
    before_call: CallCheck | None = None,
) -> list[ScoreRow]:
    """Run every applicable scorer on one output. A scorer that raises is recorded as a scorer error.

    ``caller`` gives model-calling scorers (the judge) the same call path as the target; their calls
    read the response cache unless ``use_cache`` is False, and add what they cost to ``spend``.
    ``before_call`` sees each call of a scorer other than the suite's own judges (the case's cost
    model plans those) before it is sent; when
    it raised JudgesOverBudget, so does this (once every scorer ran), whatever the scorer made of it.
    """
    caller = caller or ModelCaller(suite.base_dir)
    spend = spend if spend is not None else ScorerSpend()
    ctx = ScoreContext(
        case=case,
        output=output.text or "",
        parsed=output.parsed,
        extraction=output.extraction,
        output_schema=suite.output_schema,
        complete=judge_call_path(caller, use_cache, spend),
    )
    over_budget: list[JudgesOverBudget] = []

    async def checked(request: CompletionRequest) -> None:
        assert before_call is not None
        try:
            await before_call(request)
        except JudgesOverBudget as exc:
            over_budget.append(exc)
            raise

    unplanned = (
        ctx
        if before_call is None
        else replace(ctx, complete=judge_call_path(caller, use_cache, spend, checked))
    )
    rows = []
    # the suite's judges are in the case's cost model (reserved before the case is dispatched); a
    # case's own scorers, judges included, are not: each of their calls reserves its own worst case
    planned = {id(c) for c in suite.scorers if c.spec.name in PLANNED_SCORERS}
    for configured in [*suite.scorers, *suite.case_scorers(case)]:
        spec = configured.spec
        if spec.verified_only and not case.verified:
            continue
        if case.expected is None and not case.verified and needs_expected(spec.name, spec.args):
            # a candidate awaiting its expected output (mined, generated): nothing to compare with;
            # a verified case without one (refused at load, but `rescore` reads stored cases) is
            # the scorer's error, as before, never a silent pass on the other scorers
            continue
        try:
            result = configured.fn(ctx if id(configured) in planned else unplanned)
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
    if over_budget:  # the case is left unscored, for --resume to score within a budget
        raise over_budget[0]
    return rows


def output_from(completion: Completion) -> OutputRecord:
    """The stored form of a completion: text, the JSON found in it, usage."""
    parsed = parse_output(completion.text)
    return OutputRecord(
        status="ok",
        text=completion.text,
        parsed=parsed.value,
        extraction=parsed.extraction,
        latency_ms=completion.latency_ms,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=completion.cost_usd,
        attempts=completion.attempts,
        cached=completion.cached,
        cached_prompt_tokens=completion.cached_prompt_tokens,
        cache_write_tokens=completion.cache_write_tokens,
        prompt_cache_saved_usd=completion.prompt_cache_saved_usd,
    )


async def evaluate_case(
    suite: Suite,
    target: Target,
    caller: ModelCaller,
    case: Case,
    epoch: int = 0,
    request: CompletionRequest | None = None,
    use_cache: bool = True,
    before_scoring: Callable[[OutputRecord], Awaitable[None]] | None = None,
    before_call: CallCheck | None = None,
) -> CaseResult:
    """Render, call, parse and score one case. A failed call becomes an ``error`` verdict, and so,
    without a call, does a request evalkit will not send (``request.unsent``: a scanned PDF that the
    prompt, or an ``http:`` request without the file's bytes, places as its empty text layer).

    ``use_cache=False`` (``--no-cache``) skips the response cache for the target and the judge alike.
    ``before_scoring`` sees the target's output before any scorer runs (``--budget`` reserves the
    judges' calls on it there); an exception it raises ends the case unscored. ``before_call`` sees
    each call of a scorer the cost model does not plan for (:func:`score_case`).
    """
    request = request or target.request(case)
    if request.unsent is not None:  # nothing the model could read: the case's error, not a call
        output = OutputRecord(status="error", error=request.unsent, attempts=0)
        return CaseResult(case=case, epoch=epoch, output=output, verdict="error")
    try:
        completion = await caller.complete(request, epoch=epoch, use_cache=use_cache)
    except ProviderError as exc:
        output = OutputRecord(status="error", error=exc.message, attempts=exc.attempts)
        return CaseResult(case=case, epoch=epoch, output=output, verdict="error")
    output = output_from(completion)
    if before_scoring is not None:
        await before_scoring(output)
    return await scored_result(
        suite,
        case,
        epoch,
        output,
        caller,
        use_cache=use_cache,
        saved_cost_usd=completion.saved_cost_usd,
        before_call=before_call,
    )


async def scored_result(
    suite: Suite,
    case: Case,
    epoch: int,
    output: OutputRecord,
    caller: ModelCaller | None,
    *,
    use_cache: bool = True,
    saved_cost_usd: float = 0.0,
    before_call: CallCheck | None = None,
) -> CaseResult:
    """One output scored and judged: its verdict, with what the scorers' calls cost and saved.

    ``saved_cost_usd`` is what the target's own answer saved (served from the cache); the run and
    ``rescore`` both build their results here."""
    spend = ScorerSpend()
    scores = await score_case(
        suite, case, output, caller, use_cache=use_cache, spend=spend, before_call=before_call
    )
    verdict, score = case_verdict(scores, suite.config.gate)
    if (
        verdict != "error"
        and case.verified
        and suite.needing_expected(case)
        and not (verdict == "fail" and suite.config.gate.case_pass == "all")
    ):
        # a verified case without the expected output a scorer compares with (refused at load, but
        # `rescore` reads stored cases): that scorer's error leaves the case unjudged, as a pass (or
        # a weighted mean) on the other scorers alone is no verdict; a failure under case_pass: all
        # stands
        verdict, score = "error", None
    return CaseResult(
        case=case,
        epoch=epoch,
        output=output,
        scores=scores,
        verdict=verdict,
        score=score,
        judge_cost_usd=spend.cost_usd,
        saved_cost_usd=saved_cost_usd + spend.saved_cost_usd,
        judge_cached_prompt_tokens=spend.cached_prompt_tokens,
        judge_cache_write_tokens=spend.cache_write_tokens,
        judge_prompt_cache_saved_usd=spend.prompt_cache_saved_usd,
    )

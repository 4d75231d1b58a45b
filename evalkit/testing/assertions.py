"""Eval tests written by hand: ``assert_case`` scores one case the way a run would, and fails with the
scorer reasons.

::

    from evalkit.testing import assert_case

    def test_prices_keep_their_currency():
        # call the suite's model on a case written here, score it with the suite's scorers
        assert_case("suites/listings", input={"listing": "Kettle 2L, now 19,99 EUR (was 25)"},
                    expected={...})

    def test_my_pipeline():
        # score an output you produced yourself; no model call
        assert_case(output=my_pipeline(listing), expected={"title": "Kettle"},
                    scorers=[{"name": "json_fields", "args": {"fields": {"title": {"match": "fuzzy"}}}}])

Scoring goes through the runner's own path (``evaluate_case`` / ``score_case``), so a case passes
here exactly when it would pass in ``evalkit run``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import UsageError

if TYPE_CHECKING:
    from evalkit.analysis.failures import CaseExplanation
    from evalkit.cases import Case
    from evalkit.results import CaseResult
    from evalkit.suite.loading import Suite

ScorerArg = str | Mapping[str, Any]


class CaseFailure(AssertionError):
    """A case did not pass; the message holds each failing scorer's reason, the output and the expected."""

    def __init__(self, result: CaseResult, *, run_id: str | None = None, limit: int | None = 500) -> None:
        from evalkit.analysis.failures import explain_result

        self.result = result
        self.explanation = explain_result(result)
        super().__init__(failure_text(self.explanation, run_id=run_id, limit=limit))


def _clip(value: Any, limit: int | None) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def failure_text(case: CaseExplanation, *, run_id: str | None = None, limit: int | None = 500) -> str:
    """Why a case did not pass, in a few lines: the reasons, then output against expected."""
    score = "" if case.score is None else f", score {case.score:.2f}"
    what = "errored (an infrastructure error, not a quality failure)" if case.verdict == "error" else "failed"
    lines = [f"case {case.name} {what}{score}" + (f" in run {run_id}" if run_id else "")]
    lines += [f"  {reason}" for reason in case.reasons]
    if case.verdict != "error":
        lines.append(f"  output:   {_clip(case.output or '', limit)}")
        lines.append(f"  expected: {_clip(case.expected, limit)}")
    return "\n".join(lines)


async def assert_case_async(
    suite: Suite | str | Path | None = None,
    *,
    case: str | Case | None = None,
    input: Mapping[str, Any] | None = None,
    expected: Any = None,
    output: Any = None,
    scorers: Sequence[ScorerArg] | None = None,
    model: str | None = None,
    prompt: str | None = None,
) -> CaseResult:
    """:func:`assert_case` for code already inside an event loop."""
    result = await evaluate(
        suite,
        case=case,
        input=input,
        expected=expected,
        output=output,
        scorers=scorers,
        model=model,
        prompt=prompt,
    )
    if result.verdict != "pass":
        raise CaseFailure(result)
    return result


def assert_case(
    suite: Suite | str | Path | None = None,
    *,
    case: str | Case | None = None,
    input: Mapping[str, Any] | None = None,
    expected: Any = None,
    output: Any = None,
    scorers: Sequence[ScorerArg] | None = None,
    model: str | None = None,
    prompt: str | None = None,
) -> CaseResult:
    """Evaluate one case and raise :class:`CaseFailure` (an ``AssertionError``) unless it passes.

    - ``suite``: a suite file or directory (or a loaded :class:`~evalkit.suite.loading.Suite`) whose target,
      scorers and case rule (``gate.case_pass``) apply. Without one, ``scorers`` are required and a
      case passes when every scorer passes.
    - The case: ``case`` names one of the suite's cases by id (or is a :class:`~evalkit.cases.Case`),
      or ``input`` / ``expected`` describe one here.
    - ``output``: score this output (text, or a value serialised as JSON) without calling a model.
      Without it, the suite's target (or ``model`` / ``prompt``) is called through the usual call path.
    - ``scorers``: scorer names or ``{"name": ..., "args": ..., "weight": ...}`` specs, replacing the
      suite's.

    Returns the :class:`~evalkit.results.CaseResult` of a passing case.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise UsageError(
            "assert_case was called inside a running event loop; use `await assert_case_async(...)`"
        )
    return asyncio.run(
        assert_case_async(
            suite,
            case=case,
            input=input,
            expected=expected,
            output=output,
            scorers=scorers,
            model=model,
            prompt=prompt,
        )
    )


async def evaluate(
    suite: Suite | str | Path | None = None,
    *,
    case: str | Case | None = None,
    input: Mapping[str, Any] | None = None,
    expected: Any = None,
    output: Any = None,
    scorers: Sequence[ScorerArg] | None = None,
    model: str | None = None,
    prompt: str | None = None,
) -> CaseResult:
    """Score one case like a run would and return its result, whatever the verdict."""
    from evalkit.gate.suite import case_verdict
    from evalkit.providers.base import Completion
    from evalkit.results import CaseResult
    from evalkit.run.evaluate import evaluate_case, output_from, prepare_target, score_case
    from evalkit.run.runner import RunOptions, make_caller

    loaded = _suite(suite, scorers)
    the_case = _case(loaded if suite is not None else None, case, input, expected)
    caller = make_caller(loaded, None, RunOptions())
    try:
        if output is not None:
            text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
            record = output_from(Completion(text=text))
            scores = await score_case(loaded, the_case, record, caller)
            verdict, score = case_verdict(scores, loaded.config.gate)
            return CaseResult(case=the_case, output=record, scores=scores, verdict=verdict, score=score)
        if suite is None:
            raise UsageError("assert_case needs a suite to call a model, or an `output` to score")
        target = prepare_target(loaded, model, prompt)
        if target.prompt is not None:
            missing = sorted(target.prompt.variables - the_case.input.keys())
            if missing:
                raise UsageError(
                    f"case {the_case.id!r} lacks input variable {missing[0]!r} used by prompt {target.prompt.name!r}"
                )
        return await evaluate_case(loaded, target, caller, the_case)
    finally:
        await caller.aclose()


def _suite(suite: Suite | str | Path | None, scorers: Sequence[ScorerArg] | None) -> Suite:
    from evalkit.suite.loading import Suite, load_suite
    from evalkit.suite.spec import GateSpec, SuiteFile, TargetSpec

    if suite is None:
        if not scorers:
            raise UsageError("assert_case needs a suite, or `scorers` to score with")
        base = Path.cwd()
        specs = _scorer_specs(scorers)
        config = SuiteFile(
            name="assert_case",
            target=TargetSpec(),
            cases=["(written in code)"],
            scorers=specs,
            gate=GateSpec(case_pass="all"),
        )
        return Suite(
            path=base / "assert_case",
            config=config,
            prompts={},
            output_schema=None,
            scorers=_configured(specs, base),
            case_files=[],
            source_hash="",
        )
    loaded = suite if isinstance(suite, Suite) else load_suite(suite)
    if scorers:
        specs = _scorer_specs(scorers)
        loaded = replace(loaded, scorers=_configured(specs, loaded.base_dir))
    return loaded


def _scorer_specs(scorers: Sequence[ScorerArg]) -> list[Any]:
    from pydantic import ValidationError

    from evalkit.cases import describe_validation_error
    from evalkit.suite.spec import ScorerSpec

    specs = []
    for i, item in enumerate(scorers):
        try:
            specs.append(
                ScorerSpec(name=item) if isinstance(item, str) else ScorerSpec.model_validate(dict(item))
            )
        except ValidationError as exc:
            raise UsageError(f"scorers[{i}]: {describe_validation_error(exc)}") from None
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise UsageError("scorers: duplicate scorer id; give one an `id`")
    return specs


def _configured(specs: Sequence[Any], base: Path) -> list[Any]:
    from evalkit.scorers.base import ScorerArgumentError, build_scorer
    from evalkit.suite.loading import ConfiguredScorer

    configured = []
    for i, spec in enumerate(specs):
        try:
            configured.append(
                ConfiguredScorer(spec=spec, fn=build_scorer(spec.name, spec.args, base_dir=base))
            )
        except ScorerArgumentError as exc:
            raise UsageError(f"scorers[{i}]: {exc}") from None
    return configured


def _case(
    suite: Suite | None, case: str | Case | None, input: Mapping[str, Any] | None, expected: Any
) -> Case:
    from pydantic import ValidationError

    from evalkit.cases import Case, describe_validation_error

    if isinstance(case, Case):
        return case
    if isinstance(case, str) and input is None:
        if suite is None:
            raise UsageError(f"case {case!r}: name a suite to look the case up in, or give `input`")
        for candidate in suite.iter_cases():
            if candidate.id == case:
                return candidate if expected is None else candidate.model_copy(update={"expected": expected})
        raise UsageError(f"suite {suite.name!r} has no case {case!r}", path=suite.path)
    try:
        return Case(id=case or "", input=dict(input or {}), expected=expected)
    except ValidationError as exc:
        raise UsageError(f"case: {describe_validation_error(exc)}") from None

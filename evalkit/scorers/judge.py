"""The ``llm_judge`` scorer: a thin adapter over the graded judge core in :mod:`evalkit.judges.graded`.

The rubric, the fenced prompts, the bounded re-asks of malformed replies and the vote aggregation
live there; this module turns a case into the judge's messages and the votes into a ``Score``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from evalkit.judges.graded import (
    DEFAULT_JUDGE_PARAMS,
    VERDICT_SCHEMA,
    Aggregate,
    JudgeConfig,
    JudgeReply,
    Verdict,
    aggregate_votes,
    ask_judge,
    grading_messages,
)
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, scorer


@scorer("llm_judge")
def llm_judge(
    rubric: str,
    model: str | list[str],
    reference: bool = True,
    include_input: bool = True,
    repeats: int = 1,
    aggregate: Aggregate = "majority",
    pass_score: float = 0.5,
    params: dict[str, Any] | None = None,
    api_base: str | None = None,
    parse_retries: int = 2,
    min_kappa: float | None = None,
    calibration: Literal["warn", "fail"] = "warn",
    timeout: float | None = None,
) -> ScoreFn:
    """Grades the output against ``rubric`` with one or more judge models; the verdict explains itself.

    ``model``: a judge model string, or a list for a panel of judges (any litellm model, or
    ``local/...``). ``reference``: show the case's expected output as a reference answer, when it has
    one. ``include_input``: show the case's input. ``repeats``: ask each judge this many times
    (distinct seeds) to measure the judge's own noise. ``aggregate``: ``majority`` of pass votes (a
    tie falls back to the mean score) or ``mean`` score >= ``pass_score``. ``params``: the judge's
    sampling parameters (default temperature 0, max_tokens 600). ``parse_retries``: how often a
    malformed reply is sent back before the vote counts as a judge error. ``min_kappa``: the Cohen's
    kappa against human labels (``evalkit calibrate``) this judge must have reached; the gate warns
    when it has not, or fails with ``calibration: fail``. ``timeout``: seconds per judge request
    (an embedded judge shares one model, so its calls also wait for their turn).

    Score = mean judge score / 10; details hold ``reasoning``, ``confidence``, ``score`` and every vote.
    A scorer whose every vote failed is an error, never a fail.
    """
    if not rubric.strip():
        raise ValueError("rubric must not be empty")
    models = [model] if isinstance(model, str) else list(model)
    if not models or any(not m.strip() for m in models):
        raise ValueError("model: name at least one judge model")
    if not 0.0 <= pass_score <= 1.0:
        raise ValueError("pass_score must be between 0 and 1")
    if min_kappa is not None and not -1.0 <= min_kappa <= 1.0:
        raise ValueError("min_kappa must be between -1 and 1")
    config = JudgeConfig(
        rubric=rubric,
        models=models,
        params={**DEFAULT_JUDGE_PARAMS, **(params or {})},
        api_base=api_base,
        parse_retries=parse_retries,
        repeats=repeats,
        timeout=timeout,
    )

    async def score(ctx: ScoreContext) -> Score:
        if ctx.complete is None:
            return Score(value=0.0, passed=False, error="no model access here: the judge needs a call path")
        complete = ctx.complete
        messages = grading_messages(
            config.rubric,
            ctx.output,
            input=ctx.case.input if include_input and ctx.case.input else None,
            reference=ctx.expected if reference else None,
        )
        replies = await asyncio.gather(
            *(
                ask_judge(complete, req, Verdict, config.parse_retries)
                for req in config.requests(messages, VERDICT_SCHEMA)
            )
        )
        return verdict_score(replies, config, aggregate, pass_score)

    return score


def verdict_score(
    replies: Sequence[JudgeReply[Verdict]], config: JudgeConfig, method: Aggregate, pass_score: float
) -> Score:
    """The Score of a set of judge replies: aggregated votes, or an error when no vote came back."""
    votes = [
        {
            "judge": r.judge,
            "pass": r.verdict.passed if r.verdict else None,
            "score": r.verdict.score if r.verdict else None,
            "confidence": r.verdict.confidence if r.verdict else None,
            "reasoning": r.verdict.reasoning if r.verdict else None,
            "error": r.error,
            "attempts": r.attempts,
        }
        for r in replies
    ]
    details: dict[str, Any] = {
        "judge": {"models": config.models, "rubric_hash": config.rubric_hash},
        "votes": votes,
        "judge_cost_usd": sum(r.cost_usd for r in replies),
    }
    verdicts = [r.verdict for r in replies if r.verdict is not None]
    if not verdicts:
        first = next((r.error for r in replies if r.error), "no judge reply")
        details["raw_replies"] = [text[:2000] for r in replies for text in r.replies]
        return Score(value=0.0, passed=False, error=first, details=details)
    agg = aggregate_votes(verdicts, method, pass_score)
    failed = len(replies) - len(verdicts)
    if failed and method == "majority" and agg.pass_votes * 2 == agg.votes:
        # the votes that came back split evenly: the panel's tie-breaker was among the errors
        details["raw_replies"] = [text[:2000] for r in replies for text in r.replies]
        error = (
            f"no majority: {agg.pass_votes}/{agg.votes} votes pass and {failed} judge vote(s) errored "
            f"({next((r.error for r in replies if r.error), 'no reply')})"
        )
        return Score(value=0.0, passed=False, error=error, details=details)
    # explain with a vote that agrees with the outcome (a tie decided by the mean may have none)
    lead = next((v for v in verdicts if v.passed == agg.passed), verdicts[0])
    verdict_word = "pass" if agg.passed else "fail"
    if agg.votes == 1:
        reason = f"judge: {verdict_word} (score {agg.mean_score:g}/10, confidence {agg.mean_confidence:.2f})"
        details["reasoning"] = lead.reasoning
    else:
        reason = (
            f"judges: {verdict_word}, {agg.pass_votes}/{agg.votes} votes pass "
            f"(mean score {agg.mean_score:.1f}/10, stdev {agg.score_stdev or 0:.1f})"
        )
        details["reasoning"] = f"[{agg.pass_votes}/{agg.votes} pass] {lead.reasoning}"
    if failed:
        reason += f"; {failed} judge vote(s) errored"
    details.update(
        confidence=round(agg.mean_confidence, 4),
        score=agg.mean_score,
        pass_votes=agg.pass_votes,
        n_votes=agg.votes,
        score_stdev=agg.score_stdev,
        vote_agreement=agg.agreement,
        split=agg.split,
    )
    return Score(value=min(max(agg.value, 0.0), 1.0), passed=agg.passed, reason=reason, details=details)

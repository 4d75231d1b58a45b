"""``pairwise_judge``: is the output at least as good as the case's reference, judged in both orders?"""

from __future__ import annotations

import json
from typing import Any, Literal

from evalkit.judges.pairwise import (
    DEFAULT_PAIRWISE_RUBRIC,
    PairwiseJudge,
    PairwiseJudging,
    VerdictMethod,
    request_text,
)
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, scorer

_VALUE = {"b": 1.0, "tie": 0.5, "a": 0.0}  # b: the output under test, a: the reference


@scorer("pairwise_judge", needs_expected=True)
def pairwise_judge(
    model: str,
    rubric: str = DEFAULT_PAIRWISE_RUBRIC,
    verdict: VerdictMethod = "auto",
    reasoning: bool = True,
    pass_on: Literal["win", "not_loss"] = "not_loss",
    params: dict[str, Any] | None = None,
    api_base: str | None = None,
    parse_retries: int = 2,
    timeout: float | None = None,
    tie_margin: float = 0.0,
    min_kappa: float | None = None,
    calibration: Literal["warn", "fail"] = "warn",
) -> ScoreFn:
    """Compares the output with the case's expected output (the reference) through a pairwise judge,
    once with the reference shown first and once with the output first (:mod:`evalkit.judges.pairwise`).

    ``model``: the judge (any litellm model, ``local/...``). ``verdict``: ``auto`` reads the answer
    token's log-probabilities where the provider returns them and a written verdict otherwise;
    ``logprobs`` or ``text`` force one. ``reasoning``: with log-probability verdicts, also ask for the
    written verdict, for its explanation. ``pass_on``: ``not_loss`` passes a win or a tie, ``win`` only
    a win. Orders that disagree are a tie unless log-probabilities decide; a judge that chose the
    same slot in both orders (the position, not the output) gave no verdict. Score: 1 win, 0.5 tie,
    0 loss; details hold both orders' verdicts, margins and reasoning. No reference, no verdict in
    some order, or a verdict that followed the slot, is a scorer error, never a pass or a fail.
    ``min_kappa`` and ``calibration``: as ``llm_judge``'s, against ``evalkit calibrate --orders both``
    of this model and rubric (the gate warns, or fails with ``calibration: fail``).
    """
    if min_kappa is not None and not -1.0 <= min_kappa <= 1.0:
        raise ValueError("min_kappa must be between -1 and 1")
    if not model.strip():
        raise ValueError("model: name the judge model")
    judge = PairwiseJudge(
        model=model,
        rubric=rubric,
        verdict=verdict,
        reasoning=reasoning,
        params=params or {},
        api_base=api_base,
        parse_retries=parse_retries,
        timeout=timeout,
        tie_margin=tie_margin,
    )
    judging: PairwiseJudging | None = None

    async def score(ctx: ScoreContext) -> Score:
        nonlocal judging
        if ctx.complete is None:
            return Score(value=0.0, passed=False, error="no model access here: the judge needs a call path")
        if ctx.expected is None:
            return Score(value=0.0, passed=False, error="the case has no expected output to compare with")
        if judging is None:  # one per scorer: it remembers a provider that returns no log-probabilities
            judging = PairwiseJudging(judge, ctx.complete)
        reference = (
            ctx.expected if isinstance(ctx.expected, str) else json.dumps(ctx.expected, ensure_ascii=False)
        )
        # through this case's call path: the judge's spend is recorded with this case
        pair = await judging.through(ctx.complete).judge_pair(
            request_text(ctx.case.input or None), reference, ctx.output
        )
        details: dict[str, Any] = {
            "judge": {"model": judge.model, "prompt_hash": judge.prompt_hash, "verdict": judge.verdict},
            "pairwise": pair.model_dump(mode="json"),
            "judge_cost_usd": pair.ab.cost_usd + pair.ba.cost_usd,
        }
        if pair.winner is None:
            return Score(value=0.0, passed=False, error=pair.error, details=details)
        if pair.followed_the_slot:  # no verdict on the outputs: an error, never a tie that passes
            slot = pair.ab.slot
            error = (
                f"the judge chose the {slot} slot in both orders: it followed the position, not the outputs"
            )
            return Score(value=0.0, passed=False, error=error, details=details)
        reasons = [f"{o.order}: {o.reasoning}" for o in pair.orders if o.reasoning]
        details["reasoning"] = " | ".join(reasons) if reasons else pair.reason
        passed = pair.winner == "b" or (pass_on == "not_loss" and pair.winner == "tie")
        reason = pair.reason.replace("B's output", "the output").replace("A's output", "the reference")
        return Score(value=_VALUE[pair.winner], passed=passed, reason=reason, details=details)

    return score

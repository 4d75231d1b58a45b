"""Pairwise judging in both orders: which of two outputs is better, without the judge's position bias.

Small and mid-sized judges prefer whichever response they see first (or second) far more often than
the content warrants. So every pair is judged twice, output ``a`` in the first slot (order ``ab``)
and output ``b`` in the first slot (order ``ba``), and the two verdicts are combined:

- **Log-probability verdicts.** When the provider returns log-probabilities (llama.cpp, the embedded
  model, most OpenAI-compatible servers), the judge is asked for one letter, ``A`` or ``B``, and the
  verdict is read from the top log-probabilities of that answer token: one short forward pass, no
  parse failures, and a margin ``log P(a's slot) - log P(b's slot)``. The combined decision is the
  sign of the margin averaged over both orders, so a constant preference for one slot cancels out.
- **Text verdicts.** Otherwise the judge writes a JSON verdict with its reasoning (the ``llm_judge``
  pairwise prompt, schema and bounded re-asks of :mod:`evalkit.judges.graded`). When the two orders
  name different winners, the pair is a tie: the judge's answer followed the slot, not the content.

With ``reasoning`` on, a log-probability verdict is accompanied by the text verdict of the same order,
so the report can show why; the decision still comes from the log-probabilities.

Winners are named ``a``, ``b`` or ``tie`` (in :mod:`evalkit.analysis.compare` terms, A is the reference run and
B the candidate); slot answers ``first``, ``second`` or ``tie``.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.errors import ProviderError
from evalkit.judges.graded import (
    CALL_FAILED,
    DEFAULT_JUDGE_PARAMS,
    PAIRWISE_SCHEMA,
    PairwiseVerdict,
    ask_judge,
    pair_messages,
    pairwise_messages,
)
from evalkit.judges.letters import LetterLogprobs, read_letter_logprobs
from evalkit.providers.base import Completion, CompletionRequest

Winner = Literal["a", "b", "tie"]
SlotAnswer = Literal["first", "second", "tie"]
Order = Literal["ab", "ba"]
VerdictMethod = Literal["auto", "logprobs", "text"]
Complete = Callable[..., Awaitable[Completion]]

DEFAULT_PAIRWISE_RUBRIC = (
    "The better response follows the request's instruction precisely, is correct and helpful, and "
    "contains nothing harmful or made up. Length and style matter only when the request asks for them."
)
TOP_LOGPROBS = 20  # the most OpenAI-compatible servers return
LETTER_PARAMS: dict[str, Any] = {
    "temperature": 0.0,
    "max_tokens": 2,
    "logprobs": True,
    "top_logprobs": TOP_LOGPROBS,
}

LETTER_SYSTEM = """You are a careful evaluator. You compare two responses, A and B, to the same request.

{untrusted}

The rubric:
{rubric}

Answer with a single letter and nothing else: A if response A is better, B if response B is better."""


def letter_messages(rubric: str, request: str, first: str, second: str) -> list[dict[str, str]]:
    """Messages asking for one letter (A or B), whose log-probabilities give the verdict."""
    return pair_messages(
        LETTER_SYSTEM,
        "Which response follows the request better, according to the rubric?",
        "Answer with one letter, A or B.",
        rubric,
        request,
        first,
        second,
    )


class PairwiseJudge(BaseModel):
    """A pairwise judge configuration: model, rubric, how the verdict is read, and its parameters."""

    model_config = ConfigDict(extra="forbid")

    model: str
    rubric: str = DEFAULT_PAIRWISE_RUBRIC
    verdict: VerdictMethod = "auto"
    reasoning: bool = True  # with log-probability verdicts, also ask for the text verdict (its reasoning)
    params: dict[str, Any] = Field(default_factory=dict)  # merged into both kinds of request
    api_base: str | None = None
    parse_retries: int = Field(default=2, ge=0, le=5)
    timeout: float | None = Field(default=None, gt=0)
    tie_margin: float = Field(default=0.0, ge=0.0)  # |swap-averaged margin| <= this is a tie

    @property
    def prompt_hash(self) -> str:
        """Identity of what the judge is shown and how its answer is read (keys calibrations).

        ``auto`` and ``logprobs`` share it: both decide by log-probabilities where they are returned.
        """
        method = "text" if self.verdict == "text" else "logprobs"
        template = PAIRWISE_SYSTEM_TEXT if method == "text" else LETTER_SYSTEM
        material = "\0".join(["pairwise-both-orders", method, template, self.rubric.strip()])
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:12]

    def letter_request(self, request: str, first: str, second: str) -> CompletionRequest:
        params = {**LETTER_PARAMS, **_sampling(self.params), "logprobs": True}
        return CompletionRequest(
            model=self.model,
            messages=letter_messages(self.rubric, request, first, second),
            params=params,
            api_base=self.api_base,
            timeout=self.timeout,
        )

    def text_request(self, request: str, first: str, second: str) -> CompletionRequest:
        params = {**DEFAULT_JUDGE_PARAMS, **{k: v for k, v in self.params.items() if "logprobs" not in k}}
        return CompletionRequest(
            model=self.model,
            messages=pairwise_messages(self.rubric, request, first, second),
            params=params,
            response_schema=PAIRWISE_SCHEMA,
            api_base=self.api_base,
            timeout=self.timeout,
        )


def _sampling(params: dict[str, Any]) -> dict[str, Any]:
    # the letter pass is one short answer: a max_tokens meant for reasoning would only cost time
    return {k: v for k, v in params.items() if k != "max_tokens"}


PAIRWISE_SYSTEM_TEXT = pairwise_messages("{rubric}", "", "", "")[0]["content"]


# ---- one order, then both ----------------------------------------------------------------------


class OrderVerdict(BaseModel):
    """The judge's verdict with the outputs in one order."""

    order: Order
    method: Literal["logprobs", "text"] | None = None  # how ``winner`` was read; None: no verdict
    slot: SlotAnswer | None = None  # the answer, in slots
    winner: Winner | None = None  # the same answer, in outputs
    margin: float | None = None  # log P(a's slot) - log P(b's slot), from log-probabilities
    bounded: bool = False
    text_winner: Winner | None = None  # the text verdict (with reasoning), when one was asked for
    reasoning: str | None = None
    error: str | None = None
    calls: int = 0
    cost_usd: float = 0.0


class PairVerdict(BaseModel):
    """Both orders and their combination."""

    ab: OrderVerdict
    ba: OrderVerdict
    winner: Winner | None  # None: an order gave no verdict (a judge error, never a loss)
    decided_by: Literal["agreement", "disagreement", "logprobs", "error"]
    margin: float | None = None  # swap-averaged log P(a) - log P(b)
    consistent: bool | None = None  # both orders named the same winner
    error: str | None = None

    @property
    def orders(self) -> tuple[OrderVerdict, OrderVerdict]:
        return self.ab, self.ba

    @property
    def first_slot_answers(self) -> int:
        return sum(o.slot == "first" for o in self.orders)

    @property
    def followed_the_slot(self) -> bool:
        """A tie only because the judge named the same slot in both orders: it judged the position,
        not the outputs (a judge that always answers "A" gives this on every pair)."""
        first, second = self.ab.slot, self.ba.slot
        return self.winner == "tie" and first == second and first in ("first", "second")

    @property
    def reason(self) -> str:
        """One line: the decision and how it was reached."""
        if self.winner is None:
            return f"judge error: {self.error}"
        word = {"a": "A's output preferred", "b": "B's output preferred", "tie": "tie"}[self.winner]
        ab, ba = (o.winner or "-" for o in self.orders)
        if self.decided_by == "logprobs":
            return f"{word} (swap-averaged log-prob margin {self.margin:+.2f}; orders ab: {ab}, ba: {ba})"
        if self.decided_by == "disagreement":
            return f"tie: the orders disagree (ab: {ab}, ba: {ba}), the answer followed the slot"
        return f"{word} in both orders"


def _slot_to_winner(order: Order, slot: SlotAnswer) -> Winner:
    if slot == "tie":
        return "tie"
    first_is_a = order == "ab"
    return "a" if (slot == "first") == first_is_a else "b"


def combine(ab: OrderVerdict, ba: OrderVerdict, tie_margin: float = 0.0) -> PairVerdict:
    """Combine the two orders' verdicts. Pure.

    Both with log-probability margins: the sign of their mean decides (|mean| <= ``tie_margin`` is a
    tie). Otherwise the same winner in both orders wins, and different winners make a tie. An order
    without a verdict makes the pair a judge error.
    """
    missing = [o for o in (ab, ba) if o.winner is None]
    if missing:
        error = "; ".join(f"order {o.order}: {o.error or 'no verdict'}" for o in missing)
        return PairVerdict(ab=ab, ba=ba, winner=None, decided_by="error", error=error)
    consistent = ab.winner == ba.winner
    if ab.margin is not None and ba.margin is not None:
        margin = (ab.margin + ba.margin) / 2.0
        winner: Winner = "a" if margin > tie_margin else "b" if margin < -tie_margin else "tie"
        return PairVerdict(
            ab=ab, ba=ba, winner=winner, decided_by="logprobs", margin=margin, consistent=consistent
        )
    if consistent:
        return PairVerdict(ab=ab, ba=ba, winner=ab.winner, decided_by="agreement", consistent=True)
    return PairVerdict(ab=ab, ba=ba, winner="tie", decided_by="disagreement", consistent=False)


class PairwiseJudging:
    """Judges pairs in both orders through a call path; remembers models that return no logprobs."""

    def __init__(self, judge: PairwiseJudge, complete: Complete) -> None:
        self.judge = judge
        self.complete = complete
        # what is learnt of the judge's provider, shared with every call path (see `through`)
        self._learnt: dict[str, bool | None] = {"logprobs": None if judge.verdict != "text" else False}
        self._probe = asyncio.Lock()

    @property
    def logprobs_available(self) -> bool | None:
        """Whether the provider returns log-probabilities (None: not known yet)."""
        return self._learnt["logprobs"]

    @logprobs_available.setter
    def logprobs_available(self, value: bool | None) -> None:
        self._learnt["logprobs"] = value

    def through(self, complete: Complete) -> PairwiseJudging:
        """This judging through another call path (a case's own, which records the spend with that
        case), sharing what it knows of the provider and its first-answer probe."""
        other = copy.copy(self)
        other.complete = complete
        return other

    async def judge_pair(self, request: str, output_a: str, output_b: str) -> PairVerdict:
        """Both orders of one pair, concurrently, combined."""
        ab, ba = await asyncio.gather(
            self.judge_order("ab", request, output_a, output_b),
            self.judge_order("ba", request, output_b, output_a),
        )
        return combine(ab, ba, self.judge.tie_margin)

    async def judge_order(self, order: Order, request: str, first: str, second: str) -> OrderVerdict:
        """One order: the log-probability verdict where the provider returns them, else the text verdict."""
        verdict = OrderVerdict(order=order)
        if self.judge.verdict == "logprobs" or (
            self.judge.verdict == "auto" and self.logprobs_available is not False
        ):
            letters, asked = None, False
            if self.logprobs_available is None:
                # the first answer tells whether this provider returns log-probabilities; until it
                # is in, other calls wait rather than each ask in vain
                async with self._probe:
                    if self.logprobs_available is None or self.judge.verdict == "logprobs":
                        letters, asked = await self._letter_pass(verdict, request, first, second), True
            if not asked and (self.judge.verdict == "logprobs" or self.logprobs_available):
                letters, asked = await self._letter_pass(verdict, request, first, second), True
            if letters is not None:
                slot: SlotAnswer = (
                    "first" if letters.margin > 0 else "second" if letters.margin < 0 else "tie"
                )
                sign = 1.0 if order == "ab" else -1.0  # margin of a's slot over b's
                verdict = verdict.model_copy(
                    update={
                        "method": "logprobs",
                        "slot": slot,
                        "winner": _slot_to_winner(order, slot),
                        "margin": sign * letters.margin,
                        "bounded": letters.bounded,
                    }
                )
                if not self.judge.reasoning:
                    return verdict
            elif verdict.error is not None and self.judge.verdict == "logprobs":
                return verdict
            elif self.judge.verdict == "logprobs":
                return verdict.model_copy(
                    update={"error": "the provider returned no log-probabilities for the answer token"}
                )
        return await self._text_pass(verdict, order, request, first, second)

    async def _letter_pass(
        self, verdict: OrderVerdict, request: str, first: str, second: str
    ) -> LetterLogprobs | None:
        req = self.judge.letter_request(request, first, second)
        try:
            # the response cache keeps text only, never the log-probabilities this pass reads
            completion = await self.complete(req, use_cache=False)
        except ProviderError as exc:
            verdict.error = f"{CALL_FAILED}{exc.message}"
            verdict.calls += 1
            return None
        verdict.calls += 1
        verdict.cost_usd += completion.cost_usd
        # a provider that returns none is not asked again (in auto mode)
        self.logprobs_available = completion.logprobs is not None
        return read_letter_logprobs(completion.logprobs)

    async def _text_pass(
        self, verdict: OrderVerdict, order: Order, request: str, first: str, second: str
    ) -> OrderVerdict:
        reply = await ask_judge(
            self.complete,
            self.judge.text_request(request, first, second),
            PairwiseVerdict,
            self.judge.parse_retries,
        )
        update: dict[str, Any] = {
            "calls": verdict.calls + reply.attempts,
            "cost_usd": verdict.cost_usd + reply.cost_usd,
        }
        if reply.verdict is None:
            if verdict.method is None:
                update["error"] = reply.error
            return verdict.model_copy(update=update)
        slot: SlotAnswer = {"A": "first", "B": "second", "tie": "tie"}[reply.verdict.winner]  # type: ignore[assignment]
        text_winner = _slot_to_winner(order, slot)
        update.update(reasoning=reply.verdict.reasoning, text_winner=text_winner)
        if verdict.method is None:
            update.update(method="text", slot=slot, winner=text_winner, error=None)
        return verdict.model_copy(update=update)


def request_text(value: Any) -> str:
    """What the judge is told the outputs answer: the case input (a lone string value as itself)."""
    if value is None:
        return ""
    if isinstance(value, dict) and len(value) == 1 and isinstance(next(iter(value.values())), str):
        return str(next(iter(value.values())))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=1)

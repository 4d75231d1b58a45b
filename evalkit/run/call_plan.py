"""What the model calls of one case may cost: the target's and its judges', before they are made.

``--budget`` reserves each case's **worst case** before dispatching it (every call answered with
``max_tokens``, every judge re-ask used, prompts counted generously), so a run never spends more
than its cap. ``--dry-run`` uses the **expected** judge calls (one reply each) for its estimate.

The judge calls are read from the suite's ``llm_judge`` and ``pairwise_judge`` scorers (models,
repeats, parse retries, max_tokens); a custom scorer that calls a model is not known here: each of
its calls through the call path is reserved on its own before it is sent (:func:`call_worst`).
Models litellm's price map does not price (self-hosted, ``local/``, ``python:``) cost 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evalkit.cases import Case
from evalkit.providers.base import CompletionRequest
from evalkit.providers.embeddings import LOCAL_MINILM
from evalkit.providers.prices import call_cost as call_price
from evalkit.providers.prices import max_output_tokens, service_tier, unpriced
from evalkit.suite.spec import ScorerSpec

# Without max_tokens a reply is bounded by the model's own limit, or by this when unknown.
FALLBACK_MAX_TOKENS = 4096
# Judge prompts around the fenced content (instructions, markers), in tokens.
JUDGE_OVERHEAD_TOKENS = 400
# A re-ask of a malformed reply adds the reply and the correction to the prompt.
REASK_TOKENS = 60
# The scorers whose calls a case's cost model knows before the case is dispatched.
PLANNED_SCORERS = ("llm_judge", "pairwise_judge")


def token_bound(text: str) -> int:
    """A generous count of the tokens in ``text``: half its UTF-8 bytes (English runs ~4 per token)."""
    return len(text.encode("utf-8")) // 2 + 1


def token_guess(text: str) -> int:
    """The usual count: ~4 characters a token."""
    return len(text) // 4 + 1


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def reply_bound(model: str, params: dict[str, Any]) -> int:
    """The most tokens one reply may hold: ``max_tokens``, else the model's limit."""
    max_tokens = params.get("max_tokens")
    if max_tokens:
        return int(max_tokens)
    return max_output_tokens(model) or FALLBACK_MAX_TOKENS


@dataclass(frozen=True)
class JudgeCalls:
    """Calls one judge scorer makes per result, as its configuration tells.

    ``calls`` when every reply is usable; at worst, ``votes`` asks each re-asked ``reasks`` times
    (a re-ask's prompt holds the earlier reply too). Each reply holds at most ``max_tokens``; the
    prompt holds ``fixed`` text, the output under test, and the case's input and reference when
    ``shows_input`` / ``shows_reference``.
    """

    scorer: str
    model: str
    calls: int
    votes: int
    max_tokens: int
    fixed: str
    reasks: int = 0
    shows_input: bool = True
    shows_reference: bool = True
    verified_only: bool = False


def judge_calls(scorers: list[ScorerSpec]) -> list[JudgeCalls]:
    """The judge calls of a suite's ``llm_judge`` and ``pairwise_judge`` scorers."""
    out: list[JudgeCalls] = []
    for spec in scorers:
        args = spec.args
        if spec.name in PLANNED_SCORERS:  # the judges' modules, for a suite that has one
            from evalkit.judges.graded import DEFAULT_JUDGE_PARAMS, GRADING_SYSTEM
            from evalkit.judges.pairwise import DEFAULT_PAIRWISE_RUBRIC, LETTER_PARAMS
        if spec.name == "llm_judge":
            models = args.get("model")
            params = {**DEFAULT_JUDGE_PARAMS, **(args.get("params") or {})}
            repeats = int(args.get("repeats", 1))
            retries = int(args.get("parse_retries", 2))
            rubric = str(args.get("rubric", ""))
            for model in [models] if isinstance(models, str) else list(models or []):
                out.append(
                    JudgeCalls(
                        scorer=spec.label,
                        model=str(model),
                        calls=repeats,
                        votes=repeats,
                        max_tokens=reply_bound(str(model), params),
                        fixed=GRADING_SYSTEM + rubric,
                        shows_input=bool(args.get("include_input", True)),
                        shows_reference=bool(args.get("reference", True)),
                        verified_only=spec.verified_only,
                        reasks=retries,
                    )
                )
        elif spec.name == "pairwise_judge":
            model = str(args.get("model", ""))
            method = args.get("verdict", "auto")
            params = dict(args.get("params") or {})
            rubric = str(args.get("rubric", DEFAULT_PAIRWISE_RUBRIC))
            retries = int(args.get("parse_retries", 2))
            text_calls = 1 if method == "text" or args.get("reasoning", True) else 0
            text_params = {**DEFAULT_JUDGE_PARAMS, **{k: v for k, v in params.items() if "logprobs" not in k}}
            passes = [(2 * text_calls, 2, reply_bound(model, text_params), retries)]
            if method != "text":  # the letter pass: asked again when the cache kept no log-probabilities
                passes.insert(0, (2, 4, int(LETTER_PARAMS["max_tokens"]), 0))
            # at worst, auto falls back to the text pass when no log-probabilities come
            for calls, votes, max_tokens, reasks in passes:
                out.append(
                    JudgeCalls(
                        scorer=spec.label,
                        model=model,
                        calls=calls,
                        votes=votes,
                        max_tokens=max_tokens,
                        fixed=rubric,
                        reasks=reasks,
                        verified_only=spec.verified_only,
                    )
                )
    return out


@dataclass(frozen=True)
class CaseCostModel:
    """Prices one case's calls: the target's request and the suite's judge calls."""

    target_model: str
    target_max_tokens: int
    judges: list[JudgeCalls]
    target_tier: str | None = None  # the service tier the target's params ask for (priority, flex)

    def target_worst(self, request: CompletionRequest) -> float:
        prompt = _text(request.messages) if request.messages else _text(request.variables)
        return call_price(
            self.target_model, token_bound(prompt), self.target_max_tokens, tier=self.target_tier
        )

    def judge_worst(self, case: Case, output_tokens: int | None = None) -> float:
        """The most the case's judge calls can cost: every re-ask, every reply at max_tokens, on an
        output of ``output_tokens`` (default: the most the target may reply)."""
        total = 0.0
        shown_output = self.target_max_tokens if output_tokens is None else output_tokens
        for judge in self.judges:
            if judge.verified_only and not case.verified:
                continue
            prompt = JUDGE_OVERHEAD_TOKENS + token_bound(self._shown(judge, case)) + shown_output
            for attempt in range(1 + judge.reasks):
                tokens = prompt + attempt * (judge.max_tokens + REASK_TOKENS)
                total += judge.votes * call_price(judge.model, tokens, judge.max_tokens)
        return total

    def judge_more(self, case: Case, output: str) -> float:
        """What the case's judges may cost on ``output`` beyond :meth:`judge_worst` (0 when it is no
        longer than the target's reply bound; a ``python:``, ``http:`` or ``replay:`` target's
        output has no max_tokens)."""
        if not self.judges:
            return 0.0
        return max(0.0, self.judge_worst(case, token_bound(output)) - self.judge_worst(case))

    def judge_expected(self, case: Case, output_tokens: int) -> tuple[int, int, int, float | None]:
        """Expected judge calls of one case: (calls, prompt tokens, completion tokens, USD or None if unpriced)."""
        calls = prompt_total = completion_total = 0
        cost: float | None = 0.0
        for judge in self.judges:
            if judge.verified_only and not case.verified:
                continue
            prompt = JUDGE_OVERHEAD_TOKENS + token_guess(self._shown(judge, case)) + output_tokens
            calls += judge.calls
            prompt_total += judge.calls * prompt
            completion_total += judge.calls * judge.max_tokens
            if unpriced(judge.model):
                cost = None
            elif cost is not None:
                cost += judge.calls * call_price(judge.model, prompt, judge.max_tokens)
        return calls, prompt_total, completion_total, cost

    @staticmethod
    def _shown(judge: JudgeCalls, case: Case) -> str:
        parts = [judge.fixed]
        if judge.shows_input:
            parts.append(_text(case.input))
        if judge.shows_reference:
            parts.append(_text(case.expected))
        return "\n".join(parts)


def call_worst(request: CompletionRequest) -> float | None:
    """The most one call can cost (its prompt counted generously, its reply at ``max_tokens`` or the
    model's limit, at the service tier asked for); None when the price map has no price for it."""
    if unpriced(request.model):
        return None
    prompt = _text(request.messages) if request.messages else _text(request.variables)
    return call_price(
        request.model,
        token_bound(prompt),
        reply_bound(request.model, request.params),
        tier=service_tier(request.params.get("service_tier")),
    )


def unmetered(target_model: str) -> str | None:
    """The target, when its answers come from the user's code or service (``python:``, ``http:``):
    the model calls it makes are its own, and no figure of evalkit's includes them."""
    return target_model if target_model.startswith(("python:", "http:")) else None


def judge_models(scorers: list[ScorerSpec]) -> list[tuple[str, str]]:
    """(scorer label, model) of every judge the scorers call: the ``llm_judge`` and
    ``pairwise_judge`` scorers', and those nested in a ``tagged`` scorer's ``inner`` (under the
    ``tagged`` scorer's label, the one its results carry)."""
    out: list[tuple[str, str]] = []
    for spec in scorers:
        name, args = _unwrapped(spec)
        models = args.get("model") if name in PLANNED_SCORERS else None
        for model in [models] if isinstance(models, str) else list(models or []):
            if model:
                out.append((spec.label, str(model)))
    return out


def embedding_models(scorers: list[ScorerSpec]) -> list[tuple[str, str]]:
    """(scorer label, model) of every ``semantic_similarity`` scorer (nested in ``tagged`` too) whose
    embeddings come from a litellm model: those calls bypass the call path, so no cost of the run
    counts them and ``--budget`` cannot cap them (the offline ``local/`` model costs nothing)."""
    out: list[tuple[str, str]] = []
    for spec in scorers:
        name, args = _unwrapped(spec)
        model = str(args.get("model") or LOCAL_MINILM)
        if name == "semantic_similarity" and not model.startswith("local/"):
            out.append((spec.label, model))
    return out


def uncounted_models(scorers: list[ScorerSpec]) -> list[str]:
    """The models of :func:`embedding_models`: called, and in no cost of the run."""
    return sorted({model for _, model in embedding_models(scorers)})


def _unwrapped(spec: ScorerSpec) -> tuple[str, dict[str, Any]]:
    """The scorer a spec runs: itself, or what its ``tagged`` wrappers hold in ``inner``."""
    name, args = spec.name, spec.args
    while name == "tagged" and isinstance(args.get("inner"), dict):
        name, args = str(args["inner"].get("name")), args["inner"].get("args") or {}
    return name, args


def unpriced_callers(target_model: str | None, scorers: list[ScorerSpec]) -> dict[str, list[str]]:
    """The models a run calls (the target, unless None, and the judges) that the price map does
    not price, each with who calls it (``the target``, ``scorer 'tone'``)."""
    callers = [("the target", target_model or ""), *((f"scorer {s!r}", m) for s, m in judge_models(scorers))]
    out: dict[str, list[str]] = {}
    for caller, model in callers:
        if model and unpriced(model) and caller not in out.get(model, []):
            out.setdefault(model, []).append(caller)
    return dict(sorted(out.items()))


def unpriced_models(target_model: str | None, scorers: list[ScorerSpec]) -> list[str]:
    """The models a run calls (the target, unless None, and the judges, nested ones included) that
    the price map does not price: their calls count as $0 in its cost, and ``--budget`` cannot cap
    them."""
    return list(unpriced_callers(target_model, scorers))


def case_cost_model(
    target_model: str, target_params: dict[str, Any], scorers: list[ScorerSpec]
) -> CaseCostModel:
    """The cost model of a run's cases."""
    return CaseCostModel(
        target_model=target_model,
        target_max_tokens=reply_bound(target_model, target_params),
        judges=judge_calls(scorers),
        target_tier=service_tier(target_params.get("service_tier")),
    )

"""``--dry-run``: what a run would cost before anything is spent.

Renders every case, counts prompt tokens with litellm's tokenizer for the model, checks which calls
the response cache already holds, and prices the rest with litellm's offline price map. Completion
tokens are estimated from earlier outputs of the same model and prompt version when the store has
some, else bounded by ``max_tokens``.

The suite's judge calls (``llm_judge`` panels and repeats, ``pairwise_judge``) are counted too, one
reply per call at the judge's ``max_tokens``, as if none were cached (see :mod:`evalkit.run.call_plan`).
A case evalkit will not send (``CompletionRequest.unsent``: a scanned PDF whose empty text layer the
request places) is the run's error without a call: it is counted apart, with neither calls nor cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any

from evalkit.providers.base import needs_prompt
from evalkit.providers.calls import ModelCaller
from evalkit.providers.litellm import LOCAL_PREFIX, import_litellm
from evalkit.providers.prices import call_cost, service_tier, unpriced
from evalkit.run.call_plan import case_cost_model, unmetered
from evalkit.run.evaluate import CHUNK, prepare_target
from evalkit.run.runner import RunOptions
from evalkit.store import Store
from evalkit.suite.loading import Suite


@dataclass(frozen=True)
class RunEstimate:
    """Figures of a run that has not happened."""

    suite: str
    model: str
    prompt_version: str | None
    cases: int
    epochs: int
    calls: int  # requests needed (cache hits excluded)
    cached: int  # answers already in the response cache
    prompt_tokens: int  # of the calls needed
    completion_tokens: int
    completion_basis: str  # how completion tokens were estimated
    cost_usd: float | None  # the target's; None when litellm has no price for the model
    judge_calls: int = 0  # the scorers' calls (the judge), one reply each
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0  # bounded by the judges' max_tokens
    judge_cost_usd: float | None = 0.0  # None when a judge model has no price
    unsent: int = 0  # cases the run will not send (each its error, no call, no judge)
    unsent_reason: str | None = None  # the first such case's reason, as its result will give it
    unmetered: str | None = None  # a python:/http: target, whose own model calls evalkit cannot count

    @property
    def total_cost_usd(self) -> float | None:
        """Target and judge together; None when either is unpriced."""
        if self.cost_usd is None or self.judge_cost_usd is None:
            return None
        return self.cost_usd + self.judge_cost_usd


def estimate_run(suite: Suite, store: Store | None, options: RunOptions) -> RunEstimate:
    """Estimate calls, tokens and cost of running ``suite`` with ``options``; makes no model call."""
    target = prepare_target(suite, options.model, options.prompt, options.timeout)
    suite.check_cases(target.prompt, options.case_filter)  # what the run would refuse, it refuses too
    epochs = max(1, options.repeat)
    litellm = import_litellm() if needs_prompt(target.model) else None
    counter_model = "gpt-4o" if target.model.startswith(LOCAL_PREFIX) else target.model
    per_call, basis = _completion_tokens(
        store,
        target.model,
        target.prompt.hash if target.prompt else None,
        int(target.params.get("max_tokens") or 0),
    )
    if not needs_prompt(target.model):  # its answers have no tokens the run counts: it prints 0 too
        per_call, basis = 0, "none, the target is not a model"
    costs = case_cost_model(target.model, target.params, [s.spec for s in suite.scorers])
    keyer = ModelCaller(suite.base_dir, cache=store)  # cache keys as the run computes them; calls nothing
    cases = calls = cached = prompt_tokens = unsent = 0
    unsent_reason: str | None = None
    judge_calls = judge_prompt = judge_completion = 0
    judge_cost: float | None = 0.0
    cost = 0.0  # priced call by call: a long-context tier applies to a call's prompt, not the run's
    tier = service_tier(target.params.get("service_tier"))
    iterator = (c for c in suite.iter_cases() if options.case_filter is None or options.case_filter(c))
    while chunk := list(islice(iterator, CHUNK)):
        requests = [target.request(case) for case in chunk]
        keys = [keyer.key_for(r, e) for r in requests if r.unsent is None for e in range(epochs)]
        wanted = [k for k in keys if k is not None]
        hits = set(store.cached_responses(wanted)) if (store is not None and options.use_cache) else set()
        for case, request in zip(chunk, requests, strict=True):
            cases += 1
            if request.unsent is not None:  # the run's error without a call, its cache or judges
                unsent += 1
                unsent_reason = unsent_reason or request.unsent
                continue
            tokens = _count_tokens(litellm, counter_model, request.messages) if litellm else 0
            for epoch in range(epochs):
                if keyer.key_for(request, epoch) in hits:
                    cached += 1
                else:
                    calls += 1
                    prompt_tokens += tokens
                    cost += call_cost(target.model, tokens, per_call, tier=tier)
            n, judge_in, judge_out, usd = costs.judge_expected(case, per_call)
            judge_calls += n * epochs
            judge_prompt += judge_in * epochs
            judge_completion += judge_out * epochs
            judge_cost = None if judge_cost is None or usd is None else judge_cost + usd * epochs
    completion_tokens = per_call * calls
    return RunEstimate(
        suite=suite.name,
        model=target.model,
        prompt_version=target.prompt.name if target.prompt else None,
        cases=cases,
        epochs=epochs,
        calls=calls,
        cached=cached,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        completion_basis=basis,
        cost_usd=None if unpriced(target.model) else cost,
        judge_calls=judge_calls,
        judge_prompt_tokens=judge_prompt,
        judge_completion_tokens=judge_completion,
        judge_cost_usd=judge_cost,
        unsent=unsent,
        unsent_reason=unsent_reason,
        unmetered=unmetered(target.model),
    )


def _count_tokens(litellm: Any, model: str, messages: list[dict[str, str]]) -> int:
    try:
        return int(litellm.token_counter(model=model, messages=messages))
    except Exception:  # a model litellm cannot tokenize: ~4 characters a token
        return sum(len(m.get("content", "")) for m in messages) // 4


def _completion_tokens(
    store: Store | None, model: str, prompt_hash: str | None, max_tokens: int
) -> tuple[int, str]:
    if store is not None:
        mean, n = store.mean_completion_tokens(model, prompt_hash)
        if n and max_tokens and mean > max_tokens:  # earlier outputs were allowed more than this run
            return max_tokens, f"max_tokens (the mean of {n} earlier outputs, {mean:.0f}, is above it)"
        if n:
            return round(mean), f"mean of {n} earlier outputs of this model and prompt"
    if max_tokens:
        return max_tokens, "max_tokens (an upper bound; no earlier outputs)"
    return 0, "unknown (no max_tokens and no earlier outputs)"

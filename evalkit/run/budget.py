"""``--budget USD`` as a hard cap: a case is dispatched only when its worst case still fits.

Before a case is dispatched, the most its calls can cost (the target's and its judges', see
:mod:`evalkit.run.call_plan`) is reserved; a call the plan does not know (a custom scorer's, through
``ScoreContext.complete``) reserves its own worst case before it is sent. When the case completes,
the reservations are released and what it really cost is in the call path's spend. A case whose worst case does not fit waits for the
cases in flight to settle; when it still does not fit with nothing in flight, dispatching stops.
So the spend stays under the cap as long as the worst-case bounds hold, and past it by no more
than the calls already in flight when they do not (a model that ignores ``max_tokens``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from evalkit.cases import Case
from evalkit.errors import ProviderError, UsageError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ModelCaller
from evalkit.providers.embeddings import LOCAL_MINILM
from evalkit.results import OutputRecord, RunSummary
from evalkit.run.call_plan import (
    CaseCostModel,
    call_worst,
    embedding_models,
    uncounted_models,
    unpriced_callers,
)
from evalkit.suite.spec import GateSpec, ScorerSpec


@dataclass
class BudgetGuard:
    """The cap, what this process's calls have spent, and what the cases in flight have reserved."""

    cap_usd: float
    caller: ModelCaller
    reserved_usd: float = 0.0

    @property
    def spent_usd(self) -> float:
        return self.caller.stats.cost_usd

    def fits(self, worst_usd: float) -> bool:
        return self.spent_usd + self.reserved_usd + worst_usd <= self.cap_usd + 1e-12

    def reserve(self, worst_usd: float) -> bool:
        """Reserve a case's worst case; False (nothing reserved) when it would cross the cap."""
        if not self.fits(worst_usd):
            return False
        self.reserved_usd += worst_usd
        return True

    def release(self, worst_usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - worst_usd)


class JudgesOverBudget(Exception):
    """The judges' calls on a target's output could cost more than the budget has left: the case
    is left unscored and unstored, for ``--resume`` to judge (its answer is in the cache)."""


def unplanned_call_worst(request: CompletionRequest) -> float:
    """What a scorer call the case's cost model does not know (a custom scorer's) reserves: its
    worst case. A model without a price is refused, as ``--budget`` refuses a run that names one:
    its calls would count as $0 (the scorer records the error; nothing is sent)."""
    worst = call_worst(request)
    if worst is None:
        raise ProviderError(
            f"--budget cannot cap calls to {request.model}: the installed litellm's price map has no "
            "price for it, so the call would count as $0; run without --budget to make it"
        )
    return worst


@dataclass(frozen=True)
class TopUps:
    """What a dispatched case reserves beyond what it reserved to be dispatched, through ``top_up``:
    its loop's way to reserve more (waiting for the cases in flight, raising JudgesOverBudget when
    nothing in flight can free enough)."""

    case: Case
    costs: CaseCostModel | None
    top_up: Callable[[float], Awaitable[None]]

    async def judges(self, output: OutputRecord) -> None:
        """The judges' worst case on this output, where it is longer than the one reserved (a
        ``python:``, ``http:`` or ``replay:`` target's reply has no max_tokens)."""
        more = self.costs.judge_more(self.case, output.text or "") if self.costs is not None else 0.0
        if more > 0:
            await self.top_up(more)

    async def call(self, request: CompletionRequest) -> None:
        """A call the cost model does not know (a custom scorer's, a case's own judge): its own
        worst case."""
        await self.top_up(unplanned_call_worst(request))


def require_priced(target_model: str | None, scorers: list[ScorerSpec]) -> None:
    """Refuse ``--budget`` for a run that calls a model the price map does not price (the target,
    a judge, a judge nested in ``tagged``): its calls would count as $0, and no cap could hold on
    them. The message names each such model and who calls it. So is a ``semantic_similarity``
    scorer's litellm embedding model: its calls are not counted at all."""
    unknown = unpriced_callers(target_model, scorers)
    if unknown:
        named = ", ".join(f"{model} ({', '.join(callers)})" for model, callers in unknown.items())
        raise UsageError(
            f"--budget cannot cap calls to {named}: the installed litellm's price map has "
            f"no price for {'it' if len(unknown) == 1 else 'them'}, so the calls would count as $0; "
            "upgrade litellm for a newer model's price, or run without --budget"
        )
    embedded = embedding_models(scorers)
    if embedded:
        label, model = embedded[0]
        raise UsageError(
            f"--budget cannot cap scorer {label!r}'s embedding calls to {model}: semantic_similarity "
            "calls litellm's embeddings outside evalkit's call path, so no cost counts them; use "
            f"model {LOCAL_MINILM} (offline, free) or run without --budget"
        )


def require_capped_gate(gate: GateSpec, budget_usd: float | None) -> None:
    """Refuse ``--budget`` with ``--baseline`` when ``gate.pairwise`` names a billed judge: it judges
    every case in both orders after the run, on its own calls, and no cap holds on those."""
    judge = gate.pairwise.judge if gate.pairwise is not None else ""
    if budget_usd is not None and judge and not judge.startswith("local/"):
        raise UsageError(
            f"--budget cannot cap gate.pairwise's judge {judge}: with --baseline it judges every case "
            "against the baseline after the run, outside the budget; run without --budget, or without "
            f"--baseline and judge later with `evalkit compare BASELINE RUN --judge {judge}`"
        )


class CaseModels:
    """The models without a price that a run's cases call through their own ``scorers``, gathered
    as :meth:`Suite.check_cases` reads every case before the first call (``check``), so the run's
    summary can say their calls counted as $0 without a second pass over the case files.

    Under ``--budget`` (``budget_usd`` set) the target's and the suite's scorers' unpriced models are
    refused when this is made, and ``check`` refuses a case's own as the suite's are refused."""

    def __init__(self, budget_usd: float | None, target_model: str, scorers: list[ScorerSpec]) -> None:
        self.capped = budget_usd is not None
        self.scorers = scorers
        self.found: set[str] = set()
        self.uncounted: set[str] = set()  # the cases' own scorers' models no cost counts
        if self.capped:
            require_priced(target_model, scorers)

    def check(self, case: Case) -> None:
        if case.scorers:
            if self.capped:
                require_priced(None, case.scorers)
            self.found.update(unpriced_callers(None, case.scorers))
            self.uncounted.update(uncounted_models(case.scorers))

    def unpriced_models(self, target_model: str) -> list[str]:
        """The run's models without a price: the target's, the suite's judges' and the cases' own."""
        return sorted({*unpriced_callers(target_model, self.scorers), *self.found})

    def uncounted_models(self) -> list[str]:
        """The models the suite's and the cases' scorers call that no cost of the run counts."""
        return sorted({*uncounted_models(self.scorers), *self.uncounted})


def budget_stop_reason(
    cap_usd: float,
    caller: ModelCaller,
    resume_command: str,
    *,
    share: bool = False,
    run_spent: RunSummary | None = None,
) -> str:
    """The line ``evalkit run`` prints when the budget stopped a run: what was spent, how to go on.

    ``share``: a Ray shard's share of the budget stopped it (docs/distributed.md), so the budget as
    a whole may have more left than one case could cost; the line says how much. ``run_spent``:
    the summary of a resumed run, whose cost (all its parts) is said beside this invocation's
    spend, which is what the budget caps."""
    stats = caller.stats
    target = stats.cost_usd - stats.judge_cost_usd
    # a Ray shard that ended before reporting its last calls, or requests still unanswered (a judge
    # call of a case that no longer fit): their spend is in no figure
    lost = stats.unreported_shards or stats.unanswered
    least, most = ("at least ", "at most ") if lost else ("", "")
    left = (
        f"what was left of its shard's share of the budget "
        f"({most}{_usd(max(0.0, cap_usd - stats.cost_usd))} of {_usd(cap_usd)} left overall)"
        if share
        else "what is left"
    )
    in_all = (
        f" in this invocation, {'at least ' if run_spent.cost_at_least else ''}{_usd(run_spent.cost_usd)}"
        " by the run in all its parts"
        if run_spent is not None
        else ""
    )
    return (
        f"stopped at the budget of {_usd(cap_usd)}: spent {least}{_usd(stats.cost_usd)} "
        f"(target {_usd(target)}, judge {_usd(stats.judge_cost_usd)}){in_all}; the next case could "
        f"cost more than {left}; resume with `{resume_command}`"
    )


def _usd(value: float) -> str:
    """Dollars to 4 decimals, or to as many as it takes below a hundredth of a cent (a $0.00004 cap
    is not '$0.0000')."""
    return f"${value:.4f}" if value == 0 or abs(value) >= 0.0001 else f"${value:.8f}".rstrip("0")

"""Statistics of pairwise verdicts: win rate with evidence, position bias, agreement with gold labels.

Pure functions over plain labels, no IO. Two uses:

- **A comparison** (run B against run A, or outputs against references): wins, losses and ties of
  B; the win rate ``wins / (wins + losses)`` with a 95% Wilson interval; a two-sided sign test (exact
  binomial test of wins against losses, ties left out, ``scipy.stats.binomtest``); position
  agreement (share of items whose two orders named the same winner) and the share of per-order
  answers that named the first slot. A judge that always answers "the first one" has position
  agreement 0, a first-slot share of 1, and every item a tie.
- **A calibration** against gold labels (``1``/``2``: which output is better): accuracy of each
  order's verdict, their mean, accuracy of the combined decision, agreement between the orders,
  the share of items both orders got right, and Cohen's kappa of the combined decision against
  gold (:func:`evalkit.judges.agreement.cohen_kappa`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from evalkit.judges.agreement import cohen_kappa

Winner = Literal["a", "b", "tie"]


class WinRate(BaseModel):
    """B against A over judged items (``winner`` b = a win for B)."""

    n: int = Field(description="items with a verdict")
    wins: int
    losses: int
    ties: int
    errors: int = 0
    win_rate: float | None = Field(description="wins / (wins + losses); None without a decisive item")
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 0.95
    win_rate_ties_half: float | None = Field(default=None, description="(wins + ties / 2) / n")
    sign_test_p: float = Field(description="two-sided exact binomial test of wins vs losses; 1 without any")
    position_agreement: float | None = None
    first_slot_share: float | None = None
    inconsistent: list[str] = Field(default_factory=lambda: [], description="items whose orders disagreed")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (scipy's ``proportion_ci(method="wilson")``)."""
    from scipy.stats import binomtest

    if n == 0:
        raise ValueError("no trials")
    ci = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: under "no preference" wins ~ Binomial(wins + losses, 1/2)."""
    from scipy.stats import binomtest

    if wins + losses == 0:
        return 1.0
    return float(binomtest(wins, wins + losses, 0.5).pvalue)


def win_rate(
    winners: Sequence[Winner | None],
    *,
    consistent: Sequence[bool | None] | None = None,
    first_slot_answers: Sequence[int] | None = None,
    ids: Sequence[str] | None = None,
    confidence: float = 0.95,
) -> WinRate:
    """Win rate of B over A from per-item winners (None: a judge error, left out and counted).

    ``consistent`` (per item: did both orders name the same winner) gives position agreement and the
    list of inconsistent ``ids``; ``first_slot_answers`` (per item: 0, 1 or 2 of its two answers named
    the first slot) gives the first-slot share. Both are taken over items with a verdict.
    """
    kept = [i for i, w in enumerate(winners) if w is not None]
    wins = sum(winners[i] == "b" for i in kept)
    losses = sum(winners[i] == "a" for i in kept)
    ties = len(kept) - wins - losses
    decisive = wins + losses
    low = high = rate = None
    if decisive:
        rate = wins / decisive
        low, high = wilson_interval(wins, decisive, confidence)
    agreement = None
    inconsistent: list[str] = []
    if consistent is not None:
        flags = [consistent[i] for i in kept if consistent[i] is not None]
        agreement = sum(bool(f) for f in flags) / len(flags) if flags else None
        names = list(ids) if ids is not None else [str(i) for i in range(len(winners))]
        inconsistent = [names[i] for i in kept if consistent[i] is False]
    first_share = None
    if first_slot_answers is not None and kept:
        first_share = sum(first_slot_answers[i] for i in kept) / (2 * len(kept))
    return WinRate(
        n=len(kept),
        wins=wins,
        losses=losses,
        ties=ties,
        errors=len(winners) - len(kept),
        win_rate=rate,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        win_rate_ties_half=(wins + ties / 2) / len(kept) if kept else None,
        sign_test_p=sign_test(wins, losses),
        position_agreement=agreement,
        first_slot_share=first_share,
        inconsistent=inconsistent,
    )


class OrderCalibration(BaseModel):
    """A both-orders pairwise judge against gold labels."""

    n_items: int
    n_errors: int = Field(description="items without a verdict in some order (counted as wrong)")
    accuracy_first_order: float | None = Field(description="output_1 shown first")
    accuracy_second_order: float | None = Field(description="output_2 shown first")
    mean_accuracy: float | None
    combined_accuracy: float | None
    position_agreement: float | None = Field(description="share of items whose two orders agree")
    both_correct: float | None
    kappa: float | None = Field(description="Cohen's kappa, combined decision vs gold, items with a verdict")
    first_slot_share: float | None = None
    combined_counts: dict[str, int] = Field(default_factory=dict)


Label = Literal["1", "2", "tie"]


def order_calibration(
    gold: Sequence[str],
    first_order: Sequence[str | None],
    second_order: Sequence[str | None],
    combined: Sequence[str | None],
) -> OrderCalibration:
    """Agreement of a both-orders judge with gold labels. Labels name the better output: "1", "2" or
    "tie". ``first_order[i]`` is the verdict with output 1 shown first, ``second_order[i]`` with output
    2 shown first (both in output terms), ``combined[i]`` the combined decision; None is no verdict.

    Accuracies are over all items (no verdict counts as wrong); kappa over items with a combined verdict.
    """
    n = len(gold)
    if not (len(first_order) == len(second_order) == len(combined) == n):
        raise ValueError("gold and verdict sequences differ in length")
    if n == 0:
        return OrderCalibration(
            n_items=0,
            n_errors=0,
            accuracy_first_order=None,
            accuracy_second_order=None,
            mean_accuracy=None,
            combined_accuracy=None,
            position_agreement=None,
            both_correct=None,
            kappa=None,
        )

    def share(flags: Sequence[bool]) -> float:
        return sum(flags) / n

    acc1 = share([f == g for f, g in zip(first_order, gold, strict=True)])
    acc2 = share([s == g for s, g in zip(second_order, gold, strict=True)])
    judged = [(g, c) for g, c in zip(gold, combined, strict=True) if c is not None]
    # with output 1 first, answering "1" is the first slot; with output 2 first, answering "2" is
    first_slot = sum(f == "1" for f in first_order) + sum(s == "2" for s in second_order)
    answered = sum(f is not None for f in first_order) + sum(s is not None for s in second_order)
    counts: dict[str, int] = {}
    for c in combined:
        counts[c or "error"] = counts.get(c or "error", 0) + 1
    return OrderCalibration(
        n_items=n,
        n_errors=sum(f is None or s is None for f, s in zip(first_order, second_order, strict=True)),
        accuracy_first_order=acc1,
        accuracy_second_order=acc2,
        mean_accuracy=(acc1 + acc2) / 2,
        combined_accuracy=share([c == g for c, g in zip(combined, gold, strict=True)]),
        position_agreement=share(
            [f is not None and f == s for f, s in zip(first_order, second_order, strict=True)]
        ),
        both_correct=share(
            [f == g and s == g for f, s, g in zip(first_order, second_order, gold, strict=True)]
        ),
        kappa=cohen_kappa([g for g, _ in judged], [c for _, c in judged]) if judged else None,
        first_slot_share=first_slot / answered if answered else None,
        combined_counts=counts,
    )

"""Agreement and calibration statistics: pure functions, no IO.

Used to compare a judge with human labels (confusion matrix, observed agreement, Cohen's kappa,
true positive / true negative rates) and to check self-reported confidence against outcomes
(expected calibration error and its reliability table).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

from pydantic import BaseModel

L = TypeVar("L", bound=Hashable)


class ConfusionMatrix(BaseModel):
    """Counts of (reference label, predicted label) pairs; rows are the reference, columns the prediction."""

    labels: list[str]
    counts: list[list[int]]

    def count(self, reference: str, predicted: str) -> int:
        """How many items the reference labelled ``reference`` and the prediction ``predicted``."""
        return self.counts[self.labels.index(reference)][self.labels.index(predicted)]

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.counts)


class ReliabilityBin(BaseModel):
    """One confidence bin of a reliability table."""

    lower: float
    upper: float
    count: int
    mean_confidence: float | None
    accuracy: float | None  # share of the bin's items whose outcome was correct/positive


def _check_pairs(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"the two label sequences differ in length ({len(a)} vs {len(b)})")


def confusion_matrix(
    reference: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> ConfusionMatrix:
    """Confusion matrix of two label sequences. ``labels`` fixes the order (default: sorted union)."""
    _check_pairs(reference, predicted)
    names = list(labels) if labels is not None else sorted(set(reference) | set(predicted))
    index = {name: i for i, name in enumerate(names)}
    counts = [[0] * len(names) for _ in names]
    for r, p in zip(reference, predicted, strict=True):
        if r not in index or p not in index:
            raise ValueError(f"label {r if r not in index else p!r} is not among {names}")
        counts[index[r]][index[p]] += 1
    return ConfusionMatrix(labels=names, counts=counts)


def observed_agreement(a: Sequence[L], b: Sequence[L]) -> float | None:
    """Share of positions where the two sequences hold the same label; None when empty."""
    _check_pairs(a, b)
    if not a:
        return None
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cohen_kappa(a: Sequence[L], b: Sequence[L]) -> float | None:
    """Cohen's kappa of two raters: (p_o - p_e) / (1 - p_e).

    p_o is the observed agreement, p_e the agreement expected by chance from each rater's label
    frequencies. None when undefined: no items, or both raters used one and the same label only
    (p_e = 1).
    """
    _check_pairs(a, b)
    n = len(a)
    if n == 0:
        return None
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    freq_a: dict[L, int] = {}
    freq_b: dict[L, int] = {}
    for x in a:
        freq_a[x] = freq_a.get(x, 0) + 1
    for y in b:
        freq_b[y] = freq_b.get(y, 0) + 1
    p_e = sum(freq_a[label] * freq_b.get(label, 0) for label in freq_a) / (n * n)
    if p_e >= 1.0:
        return None
    return (p_o - p_e) / (1.0 - p_e)


def recall(reference: Sequence[L], predicted: Sequence[L], label: L) -> float | None:
    """Share of the items the reference labels ``label`` that the prediction also labels ``label``.

    With ``label`` = the positive class this is the true positive rate; with the negative class, the
    true negative rate. None when the reference never uses ``label``.
    """
    _check_pairs(reference, predicted)
    hits = [p == label for r, p in zip(reference, predicted, strict=True) if r == label]
    return sum(hits) / len(hits) if hits else None


def _bin_index(confidence: float, bins: int) -> int:
    # Bins are (lower, upper], except the first, which also holds 0.
    if confidence <= 0.0:
        return 0
    index = int(confidence * bins - 1e-12)
    return min(max(index, 0), bins - 1)


def _check_confidences(confidences: Sequence[float], outcomes: Sequence[bool], bins: int) -> None:
    _check_pairs(confidences, outcomes)
    if bins < 1:
        raise ValueError("bins must be at least 1")
    for c in confidences:
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"confidence {c} is outside [0, 1]")


def reliability_table(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = 10
) -> list[ReliabilityBin]:
    """Equal-width confidence bins over [0, 1] with, for each, its mean confidence and accuracy.

    ``outcomes[i]`` says whether item i turned out correct (or positive). A well-calibrated source's
    accuracy in each bin is close to the bin's mean confidence.
    """
    _check_confidences(confidences, outcomes, bins)
    members: list[list[int]] = [[] for _ in range(bins)]
    for i, c in enumerate(confidences):
        members[_bin_index(c, bins)].append(i)
    table = []
    for b, items in enumerate(members):
        table.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                count=len(items),
                mean_confidence=sum(confidences[i] for i in items) / len(items) if items else None,
                accuracy=sum(bool(outcomes[i]) for i in items) / len(items) if items else None,
            )
        )
    return table


def expected_calibration_error(
    confidences: Sequence[float], outcomes: Sequence[bool], bins: int = 10
) -> float | None:
    """ECE: the item-weighted mean over bins of |accuracy - mean confidence|; None when empty."""
    if not confidences:
        _check_pairs(confidences, outcomes)
        return None
    table = reliability_table(confidences, outcomes, bins)
    n = len(confidences)
    return sum(
        b.count / n * abs(b.accuracy - b.mean_confidence)
        for b in table
        if b.count and b.accuracy is not None and b.mean_confidence is not None
    )

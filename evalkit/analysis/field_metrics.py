"""Per-field slot counts and precision / recall / F1 of field-level results (pure functions).

The fields are those a scorer stores one score for: ``json_fields``' fields, ``tool_call``'s
arguments, ``markdown_table``'s cells (``ROW.COLUMN``), and theirs again inside ``tagged``.

The counts follow the WDC-PAVE paper (Baumann, Brinkmann, Bizer, ADBIS 2024): every compared
field of every case (and epoch) is one slot, classed NN, NV, VN, VC or VW (see
``evalkit.scorers.field_values``). Then

- precision = VC / (NV + VC + VW): of the values the model stated, the share that were right;
- recall = VC / (VN + VC + VW): of the slots with a value to find, the share found right;
- F1 = their harmonic mean.

*Micro* figures pool every slot of every field (the paper's headline); *macro* figures average the
per-field figures that are defined. A figure whose denominator is 0 is ``None``; F1 is ``None`` only
when both precision and recall are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from evalkit.scorers.field_values import SLOTS, Slot
from evalkit.store.case_reads import Rows

MICRO = "*"  # the `field` of the micro-average row
COLUMNS = ("field", "nn", "nv", "vn", "vc", "vw", "precision", "recall", "f1")

# Rows stored before slots were recorded carry only their status; this is what it implies when no
# absent values were declared (a missing key had a target value; an extra key had none).
_SLOT_OF_STATUS: dict[str, Slot] = {
    "match": "VC",
    "partial": "VC",
    "mismatch": "VW",
    "missing": "VN",
    "extra": "NV",
}


@dataclass(frozen=True)
class SlotCounts:
    """The slot counts of one field (or, with ``field`` = ``*``, of all fields pooled)."""

    field: str
    nn: int = 0
    nv: int = 0
    vn: int = 0
    vc: int = 0
    vw: int = 0

    @property
    def slots(self) -> int:
        return self.nn + self.nv + self.vn + self.vc + self.vw

    @property
    def precision(self) -> float | None:
        stated = self.nv + self.vc + self.vw
        return self.vc / stated if stated else None

    @property
    def recall(self) -> float | None:
        to_find = self.vn + self.vc + self.vw
        return self.vc / to_find if to_find else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None and r is None:
            return None
        p, r = p or 0.0, r or 0.0
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        """(nn, nv, vn, vc, vw)."""
        return self.nn, self.nv, self.vn, self.vc, self.vw

    def as_row(self) -> dict[str, Any]:
        """The export row: ``field, nn, nv, vn, vc, vw, precision, recall, f1``."""
        return {
            "field": self.field,
            "nn": self.nn,
            "nv": self.nv,
            "vn": self.vn,
            "vc": self.vc,
            "vw": self.vw,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass(frozen=True)
class FieldMetrics:
    """Slot counts and P/R/F1 per field, with the micro and macro averages."""

    fields: list[SlotCounts]  # by field name
    micro: SlotCounts
    macro_precision: float | None = None
    macro_recall: float | None = None
    macro_f1: float | None = None
    scorers: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        """One export row per field, then the micro row (``field`` = ``*``)."""
        return [c.as_row() for c in self.fields] + [self.micro.as_row()]

    def worst_first(self) -> list[SlotCounts]:
        """Fields by F1, lowest first (fields with no F1 last), then by name."""
        return sorted(self.fields, key=lambda c: (c.f1 is None, c.f1 or 0.0, c.field))


def slot_of(slot: str | None, status: str) -> Slot:
    """A stored row's slot class; rows from before slots were stored fall back on their status."""
    if slot in SLOTS:
        return slot
    return _SLOT_OF_STATUS[status]


def field_metrics(rows: Iterable[tuple[str, str, str | None, str]]) -> FieldMetrics:
    """Count slots and compute P/R/F1 from ``(scorer, field, slot, status)`` rows.

    With more than one scorer among the rows, fields are named ``scorer:field`` so they stay apart.
    """
    return field_metrics_of_counts(
        (scorer_id, name, slot, status, 1) for scorer_id, name, slot, status in rows
    )


def field_metrics_of_counts(rows: Iterable[tuple[str, str, str | None, str, int]]) -> FieldMetrics:
    """:func:`field_metrics` of rows already counted: ``(scorer, field, slot, status, n)``, as
    :meth:`Store.field_slot_counts <evalkit.store.case_reads.CaseReads.field_slot_counts>` reads them."""
    tallies: dict[tuple[str, str], dict[Slot, int]] = {}
    for scorer_id, name, slot, status, n in rows:
        counts = tallies.setdefault((scorer_id, name), dict.fromkeys(SLOTS, 0))
        counts[slot_of(slot, status)] += n
    scorer_ids = sorted({s for s, _ in tallies})
    qualify = len(scorer_ids) > 1
    per_field = [
        _counts(f"{s}:{name}" if qualify else name, counts) for (s, name), counts in sorted(tallies.items())
    ]
    pooled = dict.fromkeys(SLOTS, 0)
    for counts in tallies.values():
        for slot, n in counts.items():
            pooled[slot] += n
    return FieldMetrics(
        fields=per_field,
        micro=_counts(MICRO, pooled),
        macro_precision=_mean(c.precision for c in per_field),
        macro_recall=_mean(c.recall for c in per_field),
        macro_f1=_mean(c.f1 for c in per_field),
        scorers=scorer_ids,
    )


def field_metrics_of_frame(frame: Any) -> FieldMetrics:
    """``field_metrics`` of a run's ``field_scores``: a DataFrame (``load_run``, ``Store.field_rows``) or
    the store's plain :class:`~evalkit.store.case_reads.Rows` (``field_rows(..., frame=False)``)."""
    if frame is None or len(frame) == 0:
        return field_metrics([])
    if isinstance(frame, Rows):
        scorers, fields, statuses = frame.columns(("scorer", "field", "status"))
        slots = frame.columns(("slot",))[0] if "slot" in frame.names else [None] * len(frame)
    else:
        scorers, fields, statuses = frame["scorer"], frame["field"], frame["status"]
        slots = frame["slot"] if "slot" in frame.columns else [None] * len(frame)
    return field_metrics(
        (str(s), str(f), None if sl is None or sl != sl else str(sl), str(st))  # NaN != NaN
        for s, f, sl, st in zip(scorers, fields, slots, statuses, strict=True)
    )


def _counts(name: str, counts: dict[Slot, int]) -> SlotCounts:
    return SlotCounts(
        field=name, nn=counts["NN"], nv=counts["NV"], vn=counts["VN"], vc=counts["VC"], vw=counts["VW"]
    )


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None

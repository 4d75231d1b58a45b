"""Candidate cases: generated (awaiting review) or mined (added directly), with their provenance.

A candidate becomes a :class:`~evalkit.cases.Case` line in the suite's case file when accepted.
Mined records are the production-log rows a mining run looked at, kept so a window is mined once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalkit.cases import Case, CaseSource
from evalkit.results import CallCounts

CandidateStatus = Literal["pending", "accepted", "rejected"]


class Candidate(BaseModel):
    """A case that is not (yet) in the suite's case files."""

    suite_name: str
    candidate_id: str
    source: Literal["generated", "mined"]
    family: str  # generated: the edge-case family; mined: the failure reason
    input: dict[str, Any]
    expected: Any = None
    tags: list[str] = Field(default_factory=lambda: [])
    provenance: dict[str, Any] = Field(default_factory=dict)
    status: CandidateStatus = "pending"
    created_at: datetime
    decided_at: datetime | None = None

    def to_case(self, *, verified: bool = False, **provenance: Any) -> Case:
        """The case line written to the suite's case file (``provenance`` adds e.g. who accepted it)."""
        return Case(
            id=self.candidate_id,
            input=self.input,
            expected=self.expected,
            tags=self.tags,
            source=CaseSource(self.source),
            verified=verified,
            provenance={**self.provenance, **provenance},
        )


class MinedRecord(BaseModel):
    """One production-log record a mining run considered (failure or not)."""

    suite_name: str
    log_id: str
    log_source: str
    logged_at: datetime | None = None
    failure: str | None = None
    cluster_id: str | None = None
    cluster_label: str | None = None
    case_id: str | None = None
    mined_at: datetime


class Generation(BaseModel):
    """One ``evalkit generate``: what it asked for, what came of it, and what its calls cost.

    Its calls are paid whether or not a candidate comes of them, so this, not the candidates, is
    where their tokens and cost are kept. ``cost_usd`` counts the calls of a generator without a
    price (``unpriced``) as 0: then it is not what they cost.
    """

    generation_id: str
    suite_name: str
    model: str
    started_at: datetime
    finished_at: datetime
    wanted: int
    calls: int = 0  # generator calls made, answered or failed (each up to 3 requests)
    candidates: int = 0
    invalid: int = 0
    duplicates: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced: bool = False
    call_counts: CallCounts = Field(default_factory=CallCounts)

    @property
    def unpriced_models(self) -> list[str]:
        """The models called without a price (the shape run summaries give it, for their formatters)."""
        return [self.model] if self.unpriced else []

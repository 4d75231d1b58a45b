"""Result records: what a run produces for each case, and the run itself. These cross into the store."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalkit.cases import Case
from evalkit.scorers.base import FieldScore

Verdict = Literal["pass", "fail", "error"]
RunStatus = Literal["running", "complete", "incomplete"]


class OutputRecord(BaseModel):
    """The target's output for one case (or the error that replaced it)."""

    status: Literal["ok", "error"]
    text: str | None = None
    parsed: Any = None
    extraction: str = "none"
    error: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    cached: bool = False


class ScoreRow(BaseModel):
    """One scorer's result for one case, as stored."""

    scorer: str
    score: float
    passed: bool
    weight: float = 1.0
    reason: str = ""
    error: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    fields: list[FieldScore] = Field(default_factory=list)


class CaseResult(BaseModel):
    """Everything a run learned about one case in one epoch."""

    case: Case
    epoch: int = 0
    output: OutputRecord
    scores: list[ScoreRow] = Field(default_factory=list)
    verdict: Verdict
    score: float | None = None  # weighted score of the case; None when nothing could be scored


class RunRecord(BaseModel):
    """One run of a suite against one prompt version and model."""

    run_id: str
    suite_name: str
    suite_path: str = ""
    suite_hash: str = ""
    prompt_version: str | None = None
    prompt_hash: str | None = None
    model: str
    params: dict[str, Any] = Field(default_factory=dict)
    git_commit: str | None = None
    evalkit_version: str = ""
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus = "running"
    n_cases: int = 0
    config: dict[str, Any] = Field(default_factory=dict)  # suite config snapshot (scorers, gate, target)
    summary: dict[str, Any] = Field(default_factory=dict)  # filled when the run finishes
    group_id: str | None = None  # runs of one prompts x models matrix share it
    parent_run_id: str | None = None  # the run this one was derived from (rescore, merge)

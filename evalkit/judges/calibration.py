"""How far to trust a judge: its agreement with human labels.

``evalkit calibrate`` runs a judge configuration (judge model + rubric) over a human-labelled set,
or takes verdicts computed elsewhere, and reports observed agreement, Cohen's kappa, TPR/TNR, a
confusion matrix and the calibration of the judge's confidence. Reports are stored keyed by judge
model + rubric hash; a suite's ``llm_judge`` scorer with ``min_kappa`` is then checked against the
latest one by :func:`evalkit.gate.judges.judge_checks`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from evalkit.gate.judge_trust import TrustDecision, TrustFigures, TrustVerdict
from evalkit.judges.agreement import (
    ConfusionMatrix,
    ReliabilityBin,
    cohen_kappa,
    confusion_matrix,
    expected_calibration_error,
    observed_agreement,
    recall,
    reliability_table,
)
from evalkit.judges.graded import (
    PAIRWISE_SCHEMA,
    VERDICT_SCHEMA,
    Complete,
    JudgeConfig,
    PairwiseVerdict,
    Verdict,
    ask_judge,
    grading_messages,
    pairwise_messages,
)
from evalkit.judges.labelled import LabelledItem, LabelledSet

ERROR_LABEL = "error"


class JudgeVerdict(BaseModel):
    """A judge's label for one labelled item (None when the judge gave no usable verdict)."""

    label: str | None
    confidence: float | None = None
    error: str | None = None


class CalibrationReport(BaseModel):
    """A judge configuration against human labels."""

    calibration_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    judge_model: str
    rubric_hash: str
    mode: Literal["graded", "pairwise"]
    dataset: str
    n_items: int
    n_judged: int
    agreement: float | None  # on judged items
    agreement_all: float | None  # judge errors counted as disagreements
    kappa: float | None  # on judged items (n_judged of n_items)
    tpr: float | None  # graded: recall on pass; pairwise: recall on A
    tnr: float | None  # graded: recall on fail; pairwise: recall on B
    ece: float | None
    confusion: ConfusionMatrix  # rows: human label; columns: judge label, plus "error"
    human_counts: dict[str, int]
    judge_counts: dict[str, int]
    reliability: list[ReliabilityBin] = Field(default_factory=lambda: [])
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))
    accuracy: float | None = None  # = agreement_all: judge errors count as wrong
    both_orders_right: None = None  # one order: not measured
    position_agreement: None = None
    trust: TrustVerdict | None = None  # evalkit calibrate's verdict on the judge
    trust_detail: TrustDecision | None = None  # the figures and thresholds it applied

    @property
    def n_errors(self) -> int:
        return self.n_items - self.n_judged

    def trust_figures(self) -> TrustFigures:
        """What the trust verdict rests on: accuracy with errors counted wrong, and kappa (positional
        agreement is a pairwise judge's: a graded item has no order to swap)."""
        return TrustFigures(
            accuracy=self.agreement_all,
            kappa=self.kappa,
            agreement_applies=self.mode != "graded",
            n_items=self.n_items,
            n_judged=self.n_judged,
        )


def build_report(
    labelled: LabelledSet,
    verdicts: Mapping[str, JudgeVerdict],
    *,
    judge_model: str,
    rubric_hash: str,
) -> CalibrationReport:
    """Compare ``verdicts`` (by item id) with the human labels. Pure; items without a verdict count
    as judge errors."""
    labels = list(labelled.labels)
    human = [item.label for item in labelled.items]
    judged = [verdicts.get(item.id, JudgeVerdict(label=None, error="not judged")) for item in labelled.items]
    predicted = [v.label if v.label is not None else ERROR_LABEL for v in judged]
    pairs = [(h, p) for h, p in zip(human, predicted, strict=True) if p != ERROR_LABEL]
    h_ok, p_ok = [h for h, _ in pairs], [p for _, p in pairs]
    positive, negative = labels[0], labels[1]
    confident = [
        (v.confidence, h == v.label)
        for h, v in zip(human, judged, strict=True)
        if v.label is not None and v.confidence is not None
    ]
    return CalibrationReport(
        judge_model=judge_model,
        rubric_hash=rubric_hash,
        mode=labelled.mode,
        dataset=labelled.name,
        n_items=len(human),
        n_judged=len(pairs),
        agreement=observed_agreement(h_ok, p_ok),
        agreement_all=observed_agreement(human, predicted),
        accuracy=observed_agreement(human, predicted),
        kappa=cohen_kappa(h_ok, p_ok),
        tpr=recall(h_ok, p_ok, positive),
        tnr=recall(h_ok, p_ok, negative),
        ece=expected_calibration_error([c for c, _ in confident], [ok for _, ok in confident]),
        confusion=confusion_matrix(human, predicted, labels=[*labels, ERROR_LABEL]),
        human_counts=dict(Counter(human)),
        judge_counts=dict(Counter(predicted)),
        reliability=reliability_table([c for c, _ in confident], [ok for _, ok in confident])
        if confident
        else [],
    )


async def judge_labelled_set(
    labelled: LabelledSet,
    config: JudgeConfig,
    complete: Complete,
    *,
    concurrency: int = 4,
    on_item: Callable[[], None] | None = None,
) -> dict[str, JudgeVerdict]:
    """Ask the (single) judge of ``config`` for a verdict on every item, ``concurrency`` at a time."""
    if len(config.models) != 1:
        raise ValueError("calibrate one judge model at a time")
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(item: LabelledItem) -> tuple[str, JudgeVerdict]:
        async with slots:
            verdict = await judge_item(item, labelled.mode, config, complete)
        if on_item is not None:
            on_item()
        return item.id, verdict

    return dict(await asyncio.gather(*(one(item) for item in labelled.items)))


async def judge_item(item: LabelledItem, mode: str, config: JudgeConfig, complete: Complete) -> JudgeVerdict:
    """One judge verdict on one labelled item, in the item's mode."""
    if mode == "pairwise":
        messages = pairwise_messages(config.rubric, item.request, item.output_a or "", item.output_b or "")
        request = config.requests(messages, PAIRWISE_SCHEMA)[0]
        pair = await ask_judge(complete, request, PairwiseVerdict, config.parse_retries)
        if pair.verdict is None:
            return JudgeVerdict(label=None, error=pair.error)
        return JudgeVerdict(label=pair.verdict.winner, confidence=pair.verdict.confidence)
    messages = grading_messages(config.rubric, item.output or "", input=item.request or None)
    request = config.requests(messages, VERDICT_SCHEMA)[0]
    graded = await ask_judge(complete, request, Verdict, config.parse_retries)
    if graded.verdict is None:
        return JudgeVerdict(label=None, error=graded.error)
    return JudgeVerdict(
        label="pass" if graded.verdict.passed else "fail", confidence=graded.verdict.confidence
    )


def precomputed_verdicts(labels: Mapping[str, str | None]) -> dict[str, JudgeVerdict]:
    """Verdicts loaded by :func:`evalkit.judges.labelled.load_precomputed_verdicts`; None is a judge error."""
    return {
        key: JudgeVerdict(label=label, error=None if label else "unparseable verdict")
        for key, label in labels.items()
    }

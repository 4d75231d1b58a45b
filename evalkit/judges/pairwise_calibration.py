"""Calibrating a pairwise judge in both orders against human preferences (``evalkit calibrate``).

Each labelled pair (LLMBar's ``input, output_1, output_2, label``, PandaLM, or evalkit JSONL) is
judged with output 1 shown first and with output 2 shown first (:mod:`evalkit.judges.pairwise`), or its
two verdicts are read from a file computed elsewhere (:func:`load_order_verdicts`). The report
(:class:`evalkit.judges.pairwise_stats.OrderCalibration`: accuracy per order, mean, combined, agreement
between orders, both correct, kappa) is stored in ``judge_calibrations`` with mode
``pairwise_orders``, keyed by judge model + the judge's prompt hash.

Precomputed verdicts, one JSON object a line::

    {"id": "17", "order_12": "1", "order_21": "2", "margin_12": 0.8, "margin_21": -0.3}

``order_12`` is the verdict with output 1 shown first, ``order_21`` with output 2 shown first, each
naming the better *output*: ``1``, ``2`` or ``tie`` (also ``output_1``/``model_1``, ...). The
optional ``margin_*`` are log P(output 1) - log P(output 2) in that order; with both, the decision is
their mean's sign, as for a live judge. Other tools' files are read through a field mapping
(``--fields id=question_id,order_12=g1_winner,order_21=g2_winner``), whose values may be paths into
nested rows (``order_12=results[0]["swap = False"].winner``; see :mod:`evalkit.judges.field_paths`);
``terms=slots`` says their verdicts name slots (``A`` = whichever output was shown first) rather
than outputs.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalkit.errors import ConfigError, UsageError
from evalkit.gate.judge_trust import TrustDecision, TrustFigures, TrustVerdict
from evalkit.judges.field_paths import MISSING, lookup, parse_path, split_pairs
from evalkit.judges.labelled import LabelledSet
from evalkit.judges.pairwise import (
    Complete,
    OrderVerdict,
    PairVerdict,
    PairwiseJudge,
    PairwiseJudging,
    combine,
)
from evalkit.judges.pairwise_stats import OrderCalibration, order_calibration

MODE = "pairwise_orders"
_OUTPUT = {"a": "1", "b": "2", "tie": "tie"}


class PairwiseCalibrationReport(BaseModel):
    """A both-orders pairwise judge against human labels (stored in ``judge_calibrations``)."""

    calibration_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    judge_model: str
    rubric_hash: str  # the pairwise judge's prompt hash
    mode: Literal["pairwise_orders"] = "pairwise_orders"
    verdict_method: str
    dataset: str
    n_items: int
    n_judged: int
    agreement: float | None  # combined decision = human label, on judged items
    kappa: float | None
    tpr: float | None  # recall on output 1 (human "A")
    tnr: float | None  # recall on output 2 (human "B")
    ece: float | None = None
    stats: OrderCalibration
    decided_by: dict[str, int] = Field(default_factory=dict)  # logprobs / agreement / disagreement / error
    seconds: float | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc).replace(tzinfo=None))
    accuracy: float | None = None  # mean accuracy over the two orders (the papers' figure)
    both_orders_right: float | None = None
    position_agreement: float | None = None  # same winner in both orders
    trust: TrustVerdict | None = None  # evalkit calibrate's verdict on the judge
    trust_detail: TrustDecision | None = None  # the figures and thresholds it applied

    def trust_figures(self) -> TrustFigures:
        """What the trust verdict rests on: mean accuracy over orders, positional agreement, kappa."""
        return TrustFigures(
            accuracy=self.stats.mean_accuracy,
            accuracy_name="mean accuracy over orders",
            agreement=self.stats.position_agreement,
            kappa=self.stats.kappa,
            n_items=self.n_items,
            n_judged=self.n_judged,
        )


def gold_label(label: str) -> str:
    """A labelled set's A / B / tie as the output it names: 1, 2 or tie."""
    return {"A": "1", "B": "2"}.get(label, "tie")


def build_order_report(
    labelled: LabelledSet,
    verdicts: Mapping[str, PairVerdict],
    *,
    judge_model: str,
    prompt_hash: str,
    verdict_method: str,
    seconds: float | None = None,
) -> PairwiseCalibrationReport:
    """Score both-order verdicts (by item id; ``a`` = output 1) against the human labels. Pure."""
    gold: list[str] = []
    first: list[str | None] = []
    second: list[str | None] = []
    combined: list[str | None] = []
    decided: dict[str, int] = {}
    for item in labelled.items:
        gold.append(gold_label(item.label))
        pair = verdicts.get(item.id)
        if pair is None:
            first.append(None)
            second.append(None)
            combined.append(None)
            decided["error"] = decided.get("error", 0) + 1
            continue
        first.append(_OUTPUT[pair.ab.winner] if pair.ab.winner else None)
        second.append(_OUTPUT[pair.ba.winner] if pair.ba.winner else None)
        combined.append(_OUTPUT[pair.winner] if pair.winner else None)
        decided[pair.decided_by] = decided.get(pair.decided_by, 0) + 1
    stats = order_calibration(gold, first, second, combined)
    judged = [(g, c) for g, c in zip(gold, combined, strict=True) if c is not None]

    def recall(label: str) -> float | None:
        hits = [c == label for g, c in judged if g == label]
        return sum(hits) / len(hits) if hits else None

    return PairwiseCalibrationReport(
        judge_model=judge_model,
        rubric_hash=prompt_hash,
        verdict_method=verdict_method,
        dataset=labelled.name,
        n_items=len(gold),
        n_judged=len(judged),
        agreement=sum(g == c for g, c in judged) / len(judged) if judged else None,
        kappa=stats.kappa,
        tpr=recall("1"),
        tnr=recall("2"),
        stats=stats,
        decided_by=decided,
        seconds=seconds,
        accuracy=stats.mean_accuracy,
        both_orders_right=stats.both_correct,
        position_agreement=stats.position_agreement,
    )


async def judge_both_orders(
    labelled: LabelledSet,
    judge: PairwiseJudge,
    complete: Complete,
    *,
    concurrency: int = 4,
    on_item: Callable[[], None] | None = None,
) -> dict[str, PairVerdict]:
    """Judge every pair in both orders, ``concurrency`` pairs at a time; ``a`` is output 1."""
    judging = PairwiseJudging(judge, complete)
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(item: Any) -> tuple[str, PairVerdict]:
        async with slots:
            verdict = await judging.judge_pair(item.request, item.output_a or "", item.output_b or "")
        if on_item is not None:
            on_item()
        return item.id, verdict

    return dict(await asyncio.gather(*(one(item) for item in labelled.items)))


def calibrate_both_orders(
    labelled: LabelledSet,
    judge: PairwiseJudge,
    complete: Complete,
    *,
    concurrency: int = 4,
    on_item: Callable[[], None] | None = None,
) -> PairwiseCalibrationReport:
    """Judge the set in both orders and score the verdicts (a blocking call; runs its own loop)."""
    start = time.perf_counter()
    verdicts = asyncio.run(
        judge_both_orders(labelled, judge, complete, concurrency=concurrency, on_item=on_item)
    )
    return build_order_report(
        labelled,
        verdicts,
        judge_model=judge.model,
        prompt_hash=judge.prompt_hash,
        verdict_method=judge.verdict,
        seconds=time.perf_counter() - start,
    )


# ---- verdicts computed elsewhere ---------------------------------------------------------------

FIELD_KEYS = ("id", "order_12", "order_21", "margin_12", "margin_21", "terms")


def parse_field_mapping(text: str | None) -> dict[str, str]:
    """``id=question_id,order_12=g1_winner,...`` as a dict; unknown keys are a usage error."""
    mapping = {key: key for key in FIELD_KEYS if key != "terms"}
    mapping["terms"] = "outputs"
    if not text:
        return mapping
    for part in split_pairs(text):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in FIELD_KEYS or not value:
            raise UsageError(
                f"--fields: expected KEY=FIELD with KEY one of {', '.join(FIELD_KEYS)}, got {part!r}"
            )
        if key == "terms" and value not in ("outputs", "slots"):
            raise UsageError("--fields: terms must be outputs or slots")
        if key != "terms":
            parse_path(value)  # a malformed path is a usage error now, not a silent miss later
        mapping[key] = value
    return mapping


def is_order_file(path: Path, mapping: Mapping[str, str]) -> bool:
    """Whether a precomputed-verdicts file holds two verdicts per item (its first row has both fields)."""
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.read(1 << 16).lstrip()
    except OSError:
        return False
    if first.startswith("["):
        rows = _read_rows(path)
        row = rows[0][1] if rows else {}
    else:
        line = first.splitlines()[0] if first else ""
        try:
            row = json.loads(line) if line else {}
        except json.JSONDecodeError:
            return False
    return isinstance(row, dict) and all(
        lookup(row, parse_path(mapping[key])) is not MISSING for key in ("order_12", "order_21")
    )


_VALUE = {
    "1": "1", "output_1": "1", "model_1": "1", "a": "1",
    "2": "2", "output_2": "2", "model_2": "2", "b": "2",
    "tie": "tie", "0": "tie", "draw": "tie",
}  # fmt: skip


def _read_rows(path: Path) -> list[tuple[int | None, Any]]:
    """(line number, row) of a JSONL file's rows; a JSON list's rows have no line (None)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
        return [(None, row) for row in rows]
    found: list[tuple[int | None, Any]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append((line_no, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", path=path, line=line_no) from None
    return found


def load_order_verdicts(
    path: Path | str, mapping: Mapping[str, str] | None = None, *, tie_margin: float = 0.0
) -> dict[str, PairVerdict]:
    """Both-order verdicts from a file (see the module docstring), combined as for a live judge.

    A value that names no output (e.g. a judge's unparseable reply) is that order's judge error.
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError("precomputed verdicts not found", path=source)
    fields = dict(mapping or parse_field_mapping(None))
    slots = fields.get("terms") == "slots"
    paths = {key: parse_path(value) for key, value in fields.items() if key != "terms"}

    def get(row: Any, key: str) -> Any:
        value = lookup(row, paths[key])
        return None if value is MISSING else value

    verdicts: dict[str, PairVerdict] = {}
    for index, (line_no, row) in enumerate(_read_rows(source)):
        # a JSONL row is named by its line, a JSON list's by its index
        row_name = "" if line_no is not None else f"row {index}: "
        if not isinstance(row, dict) or get(row, "id") is None:
            raise ConfigError(f"{row_name}no {fields['id']!r} field", path=source, line=line_no)
        item_id = str(get(row, "id"))
        if item_id in verdicts:  # the last would silently stand for the item
            raise ConfigError(
                f"{row_name}a second row for id {item_id!r}: give each item one row",
                path=source,
                line=line_no,
            )
        orders = []
        for order, key, margin_key in (("ab", "order_12", "margin_12"), ("ba", "order_21", "margin_21")):
            raw = get(row, key)
            value = _VALUE.get(str(raw).strip().lower()) if raw is not None else None
            if slots and value in ("1", "2") and order == "ba":
                value = "2" if value == "1" else "1"  # "A" with output 2 shown first means output 2
            margin = get(row, margin_key)
            winner = {"1": "a", "2": "b", "tie": "tie"}.get(value or "")
            orders.append(
                OrderVerdict(
                    order=order,
                    method=None if winner is None else ("logprobs" if margin is not None else "text"),
                    winner=winner,
                    slot=None if winner is None else _slot(order, winner),
                    margin=float(margin) if isinstance(margin, (int, float)) else None,
                    error=None if winner is not None else f"unreadable verdict {raw!r}",
                )
            )
        verdicts[item_id] = combine(orders[0], orders[1], tie_margin)
    return verdicts


def _slot(order: str, winner: str) -> Any:
    if winner == "tie":
        return "tie"
    return "first" if (winner == "a") == (order == "ab") else "second"

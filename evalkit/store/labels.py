"""Human grades (migration 007): what people decided in ``evalkit view``, read back by the studio,
``evalkit labels export`` and ``evalkit calibrate store``.

Rows are only ever appended. The *current* grade of a thing is its newest row with the same key:
(kind, suite, case, output hash, scorer). Because the key holds a hash of the output text rather than
a run id, a grade given in one run re-attaches to the identical output of any later run.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalkit.store.queries import Store
from evalkit.store.values import utcnow

LabelKind = Literal["graded", "pairwise", "expected"]
GRADES: dict[str, tuple[str, ...]] = {
    "graded": ("pass", "fail"),
    "pairwise": ("A", "B", "tie"),
    "expected": ("wrong", "fixed"),
}
LABEL_COLUMNS = (
    "label_id",
    "kind",
    "suite_name",
    "run_id",
    "run_b",
    "case_id",
    "epoch",
    "output_hash",
    "scorer",
    "grade",
    "note",
    "grader",
    "created_at",
)


def output_hash(*texts: str | None) -> str:
    """The key of a graded output: sha256 of its text (of both texts, for a pair), 16 hex digits."""
    digest = hashlib.sha256("\x00".join(t or "" for t in texts).encode("utf-8"))
    return digest.hexdigest()[:16]


class HumanLabel(BaseModel):
    """One grade a person gave."""

    label_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16])
    kind: LabelKind
    suite_name: str
    run_id: str
    run_b: str | None = None
    case_id: str
    epoch: int = 0
    output_hash: str
    scorer: str | None = None
    grade: str
    note: str = ""
    grader: str
    created_at: datetime = Field(default_factory=utcnow)

    def model_post_init(self, _context: Any) -> None:
        if self.grade not in GRADES[self.kind]:
            raise ValueError(
                f"a {self.kind} grade is one of {', '.join(GRADES[self.kind])}, not {self.grade!r}"
            )

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What a newer grade of the same thing replaces."""
        return (self.kind, self.suite_name, self.case_id, self.output_hash, self.scorer or "")


class LabelledOutput(BaseModel):
    """A current graded or pairwise label with the texts it was given on (for calibration and export)."""

    label: HumanLabel
    input: Any
    output: str | None = None  # graded
    output_a: str | None = None  # pairwise
    output_b: str | None = None

    @property
    def item_id(self) -> str:
        """The item's id in a labelled set; the same whether read from the store or an export."""
        scorer = f":{self.label.scorer}" if self.label.scorer else ""
        return f"{self.label.suite_name}/{self.label.case_id}@{self.label.output_hash}{scorer}"


class LabelStore:
    """The human labels of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, label: HumanLabel) -> HumanLabel:
        """Store a grade (it becomes the current one of its key)."""
        with self.store._transaction() as con:
            con.insert("human_labels", LABEL_COLUMNS, [tuple(getattr(label, c) for c in LABEL_COLUMNS)])
        return label

    def of_case(self, suite_name: str, case_id: str) -> list[HumanLabel]:
        """Every grade given on a case of a suite (any run, any output), newest first."""
        return self._select("suite_name = ? AND case_id = ?", [suite_name, case_id])

    def current(
        self, *, kind: LabelKind | None = None, suite_name: str | None = None, grade: str | None = None
    ) -> list[HumanLabel]:
        """The current grade of each key (optionally of one kind, suite, grade), by suite and case."""
        where, params = [], []
        for column, value in (("kind", kind), ("suite_name", suite_name)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self._select(" AND ".join(where) or "TRUE", params)
        newest: dict[tuple[str, ...], HumanLabel] = {}
        for label in rows:  # newest first: the first of each key is its current grade
            newest.setdefault(label.key, label)
        found = [lab for lab in newest.values() if grade is None or lab.grade == grade]
        return sorted(found, key=lambda lab: (lab.suite_name, lab.case_id, lab.created_at))

    def current_for_outputs(
        self, suite_name: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], HumanLabel]:
        """The current whole-output pass/fail grade of each (case id, output hash) that has one."""
        if not keys:
            return {}
        case_ids = sorted({case for case, _ in keys})
        marks = ", ".join("?" for _ in case_ids)
        rows = self._select(
            f"kind = 'graded' AND scorer IS NULL AND suite_name = ? AND case_id IN ({marks})",
            [suite_name, *case_ids],
        )
        wanted = set(keys)
        found: dict[tuple[str, str], HumanLabel] = {}
        for label in rows:
            key = (label.case_id, label.output_hash)
            if key in wanted:
                found.setdefault(key, label)
        return found

    def labelled_outputs(
        self, kind: Literal["graded", "pairwise"], suite_name: str | None = None
    ) -> list[LabelledOutput]:
        """Current labels of ``kind`` with the input and output text(s) they grade."""
        labels = self.current(kind=kind, suite_name=suite_name)
        found: list[LabelledOutput] = []
        with self.store._connection() as con:
            for label in labels:
                a = _output_text(con, label.run_id, label.case_id, label.epoch)
                if a is None:
                    continue  # the graded run was deleted
                if kind == "graded":
                    found.append(LabelledOutput(label=label, input=a[0], output=a[1]))
                    continue
                b = _output_text(con, label.run_b or "", label.case_id, label.epoch)
                if b is not None:
                    found.append(LabelledOutput(label=label, input=a[0], output_a=a[1], output_b=b[1]))
        return found

    def scorer_verdicts(self, run_id: str, scorer: str) -> list[tuple[str, str, bool | None]]:
        """(case id, output hash, passed) of every output of a run that ``scorer`` scored; passed is
        None where the scorer errored (a judge error, not a verdict)."""
        with self.store._connection() as con:
            rows = con.execute(
                "SELECT o.case_id, o.raw_text, s.passed, s.error IS NOT NULL FROM scores s JOIN outputs o "
                "ON o.run_id = s.run_id AND o.case_id = s.case_id AND o.epoch = s.epoch "
                "WHERE s.run_id = ? AND s.scorer = ? ORDER BY o.case_id, o.epoch",
                (run_id, scorer),
            )
        return [
            (case_id, output_hash(text or ""), None if errored else bool(passed))
            for case_id, text, passed, errored in rows
        ]

    def _select(self, where: str, params: Sequence[Any]) -> list[HumanLabel]:
        sql = (
            f"SELECT {', '.join(LABEL_COLUMNS)} FROM human_labels WHERE {where} "
            "ORDER BY created_at DESC, label_id DESC"
        )
        with self.store._connection() as con:
            rows = con.execute(sql, params)
        return [HumanLabel.model_validate(dict(zip(LABEL_COLUMNS, row, strict=True))) for row in rows]


def _output_text(con: Any, run_id: str, case_id: str, epoch: int) -> tuple[Any, str] | None:
    rows = con.execute(
        "SELECT c.input_json, o.raw_text FROM outputs o JOIN cases c ON c.run_id = o.run_id AND c.case_id = o.case_id "
        "WHERE o.run_id = ? AND o.case_id = ? AND o.epoch = ?",
        (run_id, case_id, epoch),
    )
    if not rows:
        return None
    return json.loads(rows[0][0]), rows[0][1] or ""

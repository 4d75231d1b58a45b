"""Human-labelled sets for calibrating a judge: loaders for the formats evalkit reads.

Two kinds of item:

- **graded**: one output and a human pass/fail label;
- **pairwise**: two outputs to one request and a human preference, ``A``, ``B`` or ``tie``.

Formats (detected from the content):

- PandaLM test set (``testset-v1.json``): a JSON list of ``{idx, instruction, input, response1,
  response2, annotator1..3}`` with labels 1 / 2 / 0 (tie); the item's label is the majority of the
  three annotators (a three-way split counts as a tie).
- LLMBar (``Dataset/.../dataset.json``, or the folder holding it): a JSON list of ``{input, output_1,
  output_2, label}`` with label 1 or 2.
- evalkit JSONL, one item a line: ``{"id", "input", "output", "label": "pass"|"fail"}`` (graded) or
  ``{"id", "input", "output_a", "output_b", "label": "A"|"B"|"tie"}`` (pairwise).

Precomputed judge verdicts (e.g. PandaLM's GPT-3.5 baseline, ``{idx, gpt_result}`` with "1", "2",
"Tie"/"0", anything else unparseable) load with :func:`load_precomputed_verdicts`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalkit.errors import ConfigError

Mode = Literal["graded", "pairwise"]
GRADED_LABELS = ("pass", "fail")
PAIRWISE_LABELS = ("A", "B", "tie")
_PANDALM_LABELS = {0: "tie", 1: "A", 2: "B"}
# a precomputed verdict as written (lower-cased) -> the label it means; anything else is a judge error
_VERDICTS = {
    "1": "A",
    "2": "B",
    "a": "A",
    "b": "B",
    "0": "tie",
    "tie": "tie",
    "pass": "pass",
    "fail": "fail",
    "true": "pass",  # as a graded label may be written
    "false": "fail",
}


class LabelledItem(BaseModel):
    """One human-labelled item."""

    id: str
    request: str  # what the responses answer (instruction and input), shown to the judge
    output: str | None = None  # graded items
    output_a: str | None = None  # pairwise items
    output_b: str | None = None
    label: str  # graded: pass | fail; pairwise: A | B | tie
    annotators: list[str] = Field(default_factory=lambda: [])  # individual human labels, when given


class LabelledSet(BaseModel):
    """A loaded labelled set."""

    name: str
    mode: Mode
    items: list[LabelledItem]

    @property
    def labels(self) -> tuple[str, ...]:
        return GRADED_LABELS if self.mode == "graded" else PAIRWISE_LABELS


def majority_label(labels: list[str]) -> str:
    """The label most annotators gave; a tie between labels (e.g. a three-way split) is ``tie``."""
    ranked = Counter(labels).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return "tie"
    return ranked[0][0]


def load_labelled_set(path: Path | str) -> LabelledSet:
    """Load a labelled set in any supported format (see the module docstring)."""
    source = Path(path)
    if source.is_dir():
        source = source / "dataset.json"
    if not source.is_file():
        raise ConfigError(
            "labelled set not found (a .json/.jsonl file, or a folder with dataset.json)", path=source
        )
    name = str(path)
    if source.suffix == ".jsonl":
        return _load_jsonl(source, name)
    rows = _read_json_list(source)
    first = rows[0]
    if "annotator1" in first:
        items = [_pandalm_item(source, i, r) for i, r in enumerate(rows)]
    elif "output_1" in first:
        items = [_llmbar_item(source, i, r) for i, r in enumerate(rows)]
    else:
        raise ConfigError(
            "unknown labelled-set format: expected PandaLM (annotator1..3) or LLMBar (output_1, output_2, label) rows",
            path=source,
        )
    _check_unique_ids(items, source)
    return LabelledSet(name=name, mode="pairwise", items=items)


def _check_unique_ids(items: list[LabelledItem], source: Path) -> None:
    """Verdicts meet items by id: two rows with one id would both get the verdict of one of them."""
    first_row: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.id in first_row:
            raise ConfigError(
                f"row {index}: id {item.id!r} is already the id of row {first_row[item.id]}: "
                "give each item its own id",
                path=source,
            )
        first_row[item.id] = index


def _read_json_list(source: Path) -> list[dict[str, Any]]:
    from evalkit.suite.textfile import json_document

    rows = json_document(source)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise ConfigError("expected a non-empty JSON list of objects", path=source)
    return rows


def _jsonl_rows(source: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file; a bad line is a one-line error."""
    from evalkit.suite.textfile import json_objects

    return list(json_objects(source, what="each line"))


def _request(instruction: Any, extra: Any) -> str:
    text = str(instruction or "").strip()
    if extra:
        text += "\n\n" + str(extra).strip()
    return text


def _pandalm_item(source: Path, index: int, row: dict[str, Any]) -> LabelledItem:
    try:
        annotators = [_PANDALM_LABELS[int(row[f"annotator{k}"])] for k in (1, 2, 3)]
        return LabelledItem(
            id=str(row["idx"]),
            request=_request(row["instruction"], row.get("input")),
            output_a=str(row["response1"]),
            output_b=str(row["response2"]),
            label=majority_label(annotators),
            annotators=annotators,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"PandaLM row {index}: missing or invalid field ({exc})", path=source) from None


def _llmbar_item(source: Path, index: int, row: dict[str, Any]) -> LabelledItem:
    raw = row.get("label")
    label = {1: "A", 2: "B"}.get(raw) if isinstance(raw, int) else None
    if label is None or "output_2" not in row:
        raise ConfigError(
            f"LLMBar row {index}: label must be 1 or 2, with output_1 and output_2", path=source
        )
    return LabelledItem(
        id=str(row.get("id", index)),
        request=_request(row.get("input"), None),
        output_a=str(row["output_1"]),
        output_b=str(row["output_2"]),
        label=label,
    )


def _load_jsonl(source: Path, name: str) -> LabelledSet:
    items: list[LabelledItem] = []
    modes: set[str] = set()
    first_line: dict[str, int] = {}  # item id -> the line that holds it
    for line_no, row in _jsonl_rows(source):
        mode = "pairwise" if "output_a" in row else "graded"
        modes.add(mode)
        label = _jsonl_label(row.get("label"), mode)
        if label is None:
            allowed = "pass/fail (or true/false)" if mode == "graded" else "A, B or tie"
            raise ConfigError(f"label must be {allowed}, got {row.get('label')!r}", path=source, line=line_no)
        # a missing text would be judged as the string "null"
        missing = [k for k in (("output",) if mode == "graded" else ("output_a", "output_b")) if k not in row]
        if missing:
            raise ConfigError(f"{mode} item has no {' or '.join(missing)}", path=source, line=line_no)
        # verdicts meet items by id: two items with one id would both get the verdict of one of them
        item_id = str(row.get("id", line_no))
        if item_id in first_line:
            raise ConfigError(
                f"id {item_id!r} is already the id of line {first_line[item_id]}: give each item its own id",
                path=source,
                line=line_no,
            )
        first_line[item_id] = line_no
        request = row.get("input", "")
        items.append(
            LabelledItem(
                id=item_id,
                request=request if isinstance(request, str) else json.dumps(request, ensure_ascii=False),
                output=_text(row.get("output")) if mode == "graded" else None,
                output_a=_text(row.get("output_a")) if mode == "pairwise" else None,
                output_b=_text(row.get("output_b")) if mode == "pairwise" else None,
                label=label,
            )
        )
        if len(modes) > 1:
            raise ConfigError(
                "mixes graded and pairwise items; keep one kind per file", path=source, line=line_no
            )
    if not items:
        raise ConfigError("labelled set is empty", path=source)
    return LabelledSet(name=name, mode="pairwise" if "pairwise" in modes else "graded", items=items)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _jsonl_label(value: Any, mode: str) -> str | None:
    if mode == "graded":
        if isinstance(value, bool):
            return "pass" if value else "fail"
        text = str(value).strip().lower()
        return text if text in GRADED_LABELS else None
    text = str(value).strip()
    return {"a": "A", "b": "B", "1": "A", "2": "B", "tie": "tie", "0": "tie"}.get(text.lower())


def load_precomputed_verdicts(path: Path | str, labels: Iterable[str] | None = None) -> dict[str, str | None]:
    """Judge verdicts computed elsewhere, by item id: ``A``/``B``/``tie``/``pass``/``fail``, or None
    for a reply the judge got wrong (PandaLM's "garbage"), which counts as a judge error.

    Reads PandaLM's ``{idx, gpt_result}`` list, or any list/JSONL of ``{id, label}``. With ``labels``
    (the labelled set's), a verdict of the other kind (``A`` for a pass/fail set) is an error naming
    its line (a JSON list's row), as is a second verdict for one id.
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError("precomputed verdicts not found", path=source)
    jsonl = source.suffix == ".jsonl"
    rows = _jsonl_rows(source) if jsonl else list(enumerate(_read_json_list(source)))

    def bad(position: int, message: str) -> ConfigError:
        if jsonl:
            return ConfigError(message, path=source, line=position)
        return ConfigError(f"row {position}: {message}", path=source)

    allowed = tuple(labels) if labels is not None else None
    verdicts: dict[str, str | None] = {}
    for position, row in rows:
        if "gpt_result" in row and "idx" in row:
            key, raw = str(row["idx"]), row["gpt_result"]
        elif "id" in row and "label" in row:
            key, raw = str(row["id"]), row["label"]
        else:
            raise bad(position, "expected idx+gpt_result or id+label")
        if key in verdicts:
            raise bad(position, f"a second verdict for id {key!r}: give each item one verdict")
        verdict = _VERDICTS.get(str(raw).strip().lower())
        if allowed is not None and verdict is not None and verdict not in allowed:
            raise bad(position, f"verdict {raw!r} is not one of this labelled set's {', '.join(allowed)}")
        verdicts[key] = verdict
    return verdicts


class IdMatch(BaseModel):
    """How the ids of precomputed verdicts meet the items of a labelled set."""

    matched: int  # items with a verdict
    items: int  # items in the set
    unmatched: list[str] = Field(default_factory=lambda: [])  # verdict ids that name no item

    @property
    def without_verdict(self) -> int:
        return self.items - self.matched

    def warning(self, labels: str) -> str | None:
        """One line when some ids did not meet (None when every verdict and item did)."""
        parts = []
        if self.unmatched:
            shown = ", ".join(repr(i) for i in self.unmatched[:3])
            parts.append(f"{len(self.unmatched)} verdict id(s) match no item of {labels} (e.g. {shown})")
        if self.without_verdict:
            parts.append(
                f"{self.without_verdict} of {self.items} items have no verdict (counted as judge errors)"
            )
        return "; ".join(parts) or None


def match_ids(
    labelled: LabelledSet,
    verdict_ids: Iterable[str],
    source: Path | str,
    *,
    measured: LabelledSet | None = None,
) -> IdMatch:
    """Count the verdicts that name an item and those that do not; none matching is an error.

    A shifted or wrong id column otherwise passes for a judge that answered nothing right.
    ``measured`` (default: all of ``labelled``) is the part the report measures, e.g. its first
    ``--limit`` items: the items without a verdict are counted among those.
    """
    ids = list(verdict_ids)
    items = {item.id for item in labelled.items}
    if ids and not items.intersection(ids):
        raise ConfigError(
            f"no verdict id matches an item of {labelled.name} (verdict ids like "
            f"{', '.join(repr(i) for i in ids[:3])}; item ids like "
            f"{', '.join(repr(i.id) for i in labelled.items[:3])}): is the id field right? (--fields id=PATH)",
            path=source,
        )
    counted = items if measured is None else {item.id for item in measured.items}
    return IdMatch(
        matched=len(counted.intersection(ids)),
        items=len(counted),
        unmatched=[i for i in ids if i not in items],
    )

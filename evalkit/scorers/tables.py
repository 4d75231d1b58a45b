"""``markdown_table``: the output's markdown table compared with the expected rows, cell by cell.

Cells are compared with ``json_fields``' per-field rules (:mod:`evalkit.scorers.fields`): exact,
fuzzy, numeric, ``$any`` alternatives and absent values, each cell with its slot class, so a table's
cells count towards P/R/F1 like JSON fields do. Rows are paired by a key column or by position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from evalkit.scorers.base import FieldScore, Score, ScoreContext, ScoreFn, clamp, scorer
from evalkit.scorers.field_values import check_alternatives, is_absent
from evalkit.scorers.fields import FieldRule, compare_slot
from evalkit.scorers.text import as_text

_ALIGNMENT_CELL = re.compile(r"^\s*:?-{1,}:?\s*$")
_NUMBER = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?([eE][+-]?\d+)?$")


@dataclass
class MarkdownTable:
    """One table found in a text: its header, its rows of cells, and the lines it spans (0-based)."""

    header: list[str]
    rows: list[list[str]]
    first_line: int
    last_line: int
    ragged_rows: list[int] = field(default_factory=list)  # indexes of rows whose cell count differs


def split_row(line: str) -> list[str]:
    """The cells of one table line; ``\\|`` is a literal pipe, outer pipes are optional."""
    text = line.strip()
    cells: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] == "|":
            current.append("|")
            i += 2
            continue
        if char == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    cells.append("".join(current))
    if text.startswith("|"):
        cells = cells[1:]
    if text.endswith("|") and not text.endswith("\\|") and cells:
        cells = cells[:-1]
    return [c.strip() for c in cells]


def _is_alignment_row(line: str) -> bool:
    if "-" not in line:
        return False
    cells = split_row(line)
    return bool(cells) and all(_ALIGNMENT_CELL.match(c) for c in cells) and ("|" in line or len(cells) > 1)


def parse_tables(text: str) -> list[MarkdownTable]:
    """Every markdown table in ``text``: a header line, an alignment row (``|---|:--:|``), then rows."""
    lines = text.splitlines()
    tables: list[MarkdownTable] = []
    i = 0
    while i + 1 < len(lines):
        if "|" in lines[i] and _is_alignment_row(lines[i + 1]):
            header = split_row(lines[i])
            rows: list[list[str]] = []
            ragged: list[int] = []
            end = i + 1
            while end + 1 < len(lines) and "|" in lines[end + 1] and lines[end + 1].strip():
                end += 1
                cells = split_row(lines[end])
                if len(cells) != len(header):
                    ragged.append(len(rows))
                rows.append(cells)
            tables.append(MarkdownTable(header, rows, i, end, ragged))
            i = end + 1
        else:
            i += 1
    return tables


def _cell_value(cell: str, want: Any, rule: FieldRule) -> Any:
    """A cell's text, read as a number when the expected value (or the rule) is numeric."""
    numeric = rule.match == "numeric" or (
        isinstance(want, int | float) and not isinstance(want, bool) and rule.match == "auto"
    )
    if numeric and _NUMBER.match(cell.strip()) and any(ch.isdigit() for ch in cell):
        number = float(cell.strip().replace(",", ""))
        return int(number) if number.is_integer() and "." not in cell and "e" not in cell.lower() else number
    return cell


@dataclass(frozen=True)
class _Cell:
    row: str
    column: str
    score: FieldScore


@dataclass
class _RowPair:
    label: str
    expected: dict[str, Any] | None
    actual: dict[str, str] | None


@scorer("markdown_table", needs_expected=True)
def markdown_table(
    key: str | None = None,
    table: int = 1,
    allow_prose: bool = False,
    fields: dict[str, FieldRule] | None = None,
    default: FieldRule | None = None,
    extra: Literal["ignore", "penalize"] = "penalize",
    min_score: float | None = None,
    absent: list[Any] | None = None,
) -> ScoreFn:
    """Compares the output's markdown table with the expected rows, cell by cell.

    The expected output is a list of row objects keyed by column header. The table scored is the
    ``table``-th one in the output (1-based). Text outside the output's tables fails the score
    unless ``allow_prose: true``; either way ``details.prose`` records it. Rows are paired by the
    ``key`` column's value, or by position without ``key``; headers match the expected columns
    ignoring case. Each cell is a field named
    ``ROW.COLUMN`` (ROW: the key value or the 1-based row number) compared by the ``fields`` rule
    named ``ROW.COLUMN``, else the one of its column, else ``default``, as in ``json_fields`` (so
    an ``attribute | value`` table can give each attribute's value its own rule): exact, fuzzy, numeric (a cell reads as
    a number when the expected value is one), ``{"$any": [...]}`` alternatives and ``absent``
    values (a missing cell of a short row is a missing key). Cells of extra rows and columns are
    ``extra`` (failing unless ``extra: ignore``). ``details`` holds row-level precision, recall and
    F1 (a row is right when all its cells pass) and the missing/extra rows and columns. Passes when
    every cell passes, or, with ``min_score``, when the weighted mean does.
    """
    if table < 1:
        raise ValueError("table counts from 1")
    rules = fields or {}
    base_rule = default or FieldRule()

    def rule_for(row: str, column: str) -> FieldRule:
        rule = rules.get(f"{row}.{column}") or rules.get(column, base_rule)
        if rule.absent is None and absent is not None:
            rule = rule.model_copy(update={"absent": absent})
        return rule

    def score(ctx: ScoreContext) -> Score:
        expected = ctx.expected
        if not isinstance(expected, list) or not all(isinstance(r, dict) for r in expected):
            return Score(
                value=0.0, passed=False, error="markdown_table needs a list of row objects as expected"
            )
        try:
            check_alternatives(expected)
        except ValueError as exc:
            return Score(value=0.0, passed=False, error=str(exc))
        columns = list(dict.fromkeys(c for row in expected for c in row))
        if key is not None and key not in columns:
            return Score(value=0.0, passed=False, error=f"key column {key!r} is not in the expected rows")
        tables = parse_tables(ctx.output)
        details: dict[str, Any] = {"tables_found": len(tables)}
        if len(tables) < table:
            found = "no markdown table" if not tables else f"only {len(tables)} markdown table(s)"
            unread = _compare(_pairs(expected, [], key), columns, [], rule_for, False)
            details.update(_row_metrics(unread, len(expected), 0))
            fields = [c.score for c in unread]
            return Score(value=0.0, passed=False, reason=f"{found} in output", fields=fields, details=details)
        chosen = tables[table - 1]
        prose = _prose(ctx.output, tables)
        header = _matched_header(_unique(chosen.header), columns)
        actual_rows = [dict(zip(header, cells, strict=False)) for cells in chosen.rows]
        pairs = _pairs(expected, actual_rows, key)
        cells = _compare(pairs, columns, header, rule_for, extra == "penalize")
        details.update(_row_metrics(cells, len(expected), len(actual_rows)))
        results = [c.score for c in cells]
        details["missing_columns"] = [c for c in columns if c not in header]
        details["extra_columns"] = [c for c in header if c not in columns]
        details["missing_rows"] = [p.label for p in pairs if p.actual is None]
        details["extra_rows"] = [p.label for p in pairs if p.expected is None]
        details["ragged_rows"] = [n + 1 for n in chosen.ragged_rows]
        if prose:
            details["prose"] = prose[:200]
        value, passed, reason = _verdict(cells, rule_for, min_score, details)
        if prose and not allow_prose:
            return Score(
                value=0.0,
                passed=False,
                reason=f"table was surrounded by prose; {reason}",
                fields=results,
                details=details,
            )
        return Score(value=value, passed=passed, reason=reason, fields=results, details=details)

    return score


def _unique(header: list[str]) -> list[str]:
    """Header names made unique (a repeated name becomes ``name (2)``), so every cell has its own field."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def _matched_header(header: list[str], columns: list[str]) -> list[str]:
    """Header names matched to the expected columns ignoring case and spaces (``Price`` is ``price``)."""
    wanted = {c.strip().casefold(): c for c in columns}
    out: list[str] = []
    for name in header:
        column = wanted.get(name.strip().casefold())
        out.append(column if column is not None and column not in out and column not in header else name)
    return out


def _prose(text: str, tables: list[MarkdownTable]) -> str:
    """The non-blank text outside every table of ``text``."""
    inside = {n for t in tables for n in range(t.first_line, t.last_line + 1)}
    lines = text.splitlines()
    return "\n".join(line for n, line in enumerate(lines) if n not in inside and line.strip()).strip()


def _key_text(value: Any) -> str:
    return as_text(value).strip().casefold()


def _pairs(expected: list[dict[str, Any]], actual: list[dict[str, str]], key: str | None) -> list[_RowPair]:
    """Expected rows paired with the output's: by the key column's value, or by position."""
    if key is None:
        count = max(len(expected), len(actual))
        return [
            _RowPair(
                str(i + 1), expected[i] if i < len(expected) else None, actual[i] if i < len(actual) else None
            )
            for i in range(count)
        ]
    unclaimed = list(enumerate(actual))
    pairs: list[_RowPair] = []
    for row in expected:
        label = as_text(row.get(key))
        found = next(
            (j for j, (_, a) in enumerate(unclaimed) if _key_text(a.get(key, "")) == _key_text(label)), None
        )
        pairs.append(_RowPair(label, row, unclaimed.pop(found)[1] if found is not None else None))
    labels = {p.label for p in pairs}
    for index, row in unclaimed:
        label = row.get(key, "")
        pairs.append(
            _RowPair(label if label and label not in labels else f"{label} (row {index + 1})", None, row)
        )
        labels.add(pairs[-1].label)
    return pairs


def _compare(
    pairs: list[_RowPair], columns: list[str], header: list[str], rule_for: Any, penalize_extra: bool
) -> list[_Cell]:
    out: list[_Cell] = []
    for pair in pairs:
        if pair.expected is not None:
            got_row = pair.actual or {}
            for column in columns:
                rule: FieldRule = rule_for(pair.label, column)
                if rule.match == "ignore":
                    continue
                # a column the row leaves out: "not stated" (the rule's first absent token, else empty)
                want = pair.expected.get(column, rule.absent[0] if rule.absent else "")
                present = column in got_row
                got = _cell_value(got_row[column], want, rule) if present else None
                out.append(
                    _Cell(
                        pair.label, column, compare_slot(f"{pair.label}.{column}", want, got, present, rule)
                    )
                )
        if not penalize_extra or pair.actual is None:
            continue
        extra_columns = header if pair.expected is None else [c for c in header if c not in columns]
        for column in extra_columns:
            rule = rule_for(pair.label, column)
            cell = pair.actual.get(column)
            if cell is None or rule.match == "ignore" or is_absent(cell, rule.absent or ()) or not cell:
                continue
            extra_cell = FieldScore(
                field=f"{pair.label}.{column}",
                score=0.0,
                passed=False,
                status="extra",
                slot="NV",
                actual=cell,
            )
            out.append(_Cell(pair.label, column, extra_cell))
    return out


def _row_metrics(cells: list[_Cell], expected_rows: int, actual_rows: int) -> dict[str, Any]:
    """Row-level P/R/F1: a row is right when every one of its expected cells passed."""
    by_row: dict[str, bool] = {}
    for cell in cells:
        if cell.score.status != "extra":
            by_row[cell.row] = by_row.get(cell.row, True) and cell.score.passed
    right = sum(by_row.values())
    precision = right / actual_rows if actual_rows else None
    recall = right / expected_rows if expected_rows else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"rows_right": right, "row_precision": precision, "row_recall": recall, "row_f1": f1}


def _verdict(
    cells: list[_Cell], rule_for: Any, min_score: float | None, details: dict[str, Any]
) -> tuple[float, bool, str]:
    if not cells:
        return 1.0, True, "no cells to compare"
    weights = [rule_for(c.row, c.column).weight for c in cells]
    total = sum(weights) or 1.0
    value = clamp(sum(c.score.score * w for c, w in zip(cells, weights, strict=True)) / total)
    failed = [c.score for c in cells if not c.score.passed]
    passed = value >= min_score if min_score is not None else not failed
    reason = f"{len(cells) - len(failed)}/{len(cells)} cells ok, row F1 {details['row_f1']:.2f}"
    for name in ("missing_rows", "extra_rows", "missing_columns", "extra_columns", "ragged_rows"):
        if details[name]:
            shown = ", ".join(str(x) for x in details[name][:4])
            more = f" +{len(details[name]) - 4} more" if len(details[name]) > 4 else ""
            reason += f"; {name.replace('_', ' ')}: {shown}{more}"
    wrong = [f for f in failed if f.status in ("mismatch", "partial")]
    if wrong:
        reason += "; " + "; ".join(
            f"{f.field}: {as_text(f.actual)!r} != {as_text(f.expected)!r}" for f in wrong[:3]
        )
    return value, passed, reason

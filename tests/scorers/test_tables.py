"""The markdown_table scorer: parsing tables out of outputs and comparing them with expected rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evalkit.cases import Case
from evalkit.outputs import parse_output
from evalkit.scorers.base import Score, ScoreContext, ScorerArgumentError, build_scorer
from evalkit.scorers.tables import parse_tables, split_row

EXPECTED = [
    {"name": "Widget", "price": 9.99, "colour": "red"},
    {"name": "Gadget", "price": 20, "colour": "blue"},
]

TABLE = """\
| Name | Price | Colour |
|:-----|------:|:------:|
| Widget | 9.99 | red |
| Gadget | 20 | blue |"""


def run(output: str, expected: Any = None, **args: Any) -> Score:
    parsed = parse_output(output)
    ctx = ScoreContext(
        case=Case(input={"q": 1}, expected=EXPECTED if expected is None else expected),
        output=output,
        parsed=parsed.value,
        extraction=parsed.extraction,
    )
    result = build_scorer("markdown_table", args, base_dir=Path("."))(ctx)
    assert isinstance(result, Score)
    return result


def test_alignment_row_separates_header_from_cells() -> None:
    (table,) = parse_tables(TABLE)
    assert table.header == ["Name", "Price", "Colour"]
    assert table.rows == [["Widget", "9.99", "red"], ["Gadget", "20", "blue"]]
    # without an alignment row there is no table, only lines with pipes
    assert parse_tables("| a | b |\n| 1 | 2 |") == []
    # alignment rows without outer pipes count too
    (bare,) = parse_tables("a | b\n--- | :---:\n1 | 2")
    assert bare.header == ["a", "b"] and bare.rows == [["1", "2"]]


def test_escaped_pipes_stay_inside_their_cell() -> None:
    assert split_row(r"| a \| b | c |") == ["a | b", "c"]
    output = "| name | note |\n|---|---|\n| Widget | red \\| blue |"
    score = run(output, expected=[{"name": "Widget", "note": "red | blue"}], key="name")
    assert score.passed, score.reason


def test_ragged_rows_miss_cells_and_are_reported() -> None:
    output = "| name | price | colour |\n|---|---|---|\n| Widget | 9.99 |\n| Gadget | 20 | blue |"
    score = run(output)
    assert not score.passed
    missing = next(f for f in score.fields if f.field == "1.colour")
    assert missing.status == "missing" and missing.slot == "VN"
    assert score.details["ragged_rows"] == [1]
    assert "ragged rows: 1" in score.reason


def test_prose_around_the_table_fails_unless_allowed() -> None:
    output = "Here is the table:\n\n" + TABLE + "\n\nHope this helps."
    strict = run(output)
    assert not strict.passed and strict.value == 0.0
    assert "surrounded by prose" in strict.reason
    assert strict.details["prose"].startswith("Here is the table:")
    # the cells are still compared, so P/R/F1 count the case
    assert all(f.passed for f in strict.fields)
    lenient = run(output, allow_prose=True)
    assert lenient.passed and lenient.value == 1.0
    assert "Hope this helps." in lenient.details["prose"]


def test_bare_table_passes_with_row_metrics() -> None:
    score = run(TABLE)
    assert score.passed and score.value == 1.0, score.reason
    assert [f.field for f in score.fields][:3] == ["1.name", "1.price", "1.colour"]
    assert all(f.slot == "VC" for f in score.fields)
    assert score.details["row_f1"] == 1.0
    assert score.details["missing_columns"] == [] == score.details["extra_columns"]  # Name is name


def test_weights_and_min_score_give_partial_credit() -> None:
    output = TABLE.replace("| red |", "| green |")
    assert not run(output).passed
    rules = {"colour": {"weight": 0.1}}
    assert run(output, fields=rules, min_score=0.95).passed
    assert not run(output, min_score=0.95).passed


def test_second_table_is_chosen_by_number() -> None:
    other = "| name | price | colour |\n|---|---|---|\n| Nope | 1 | green |"
    output = other + "\n\n" + TABLE
    assert not run(output).passed  # the first table by default
    second = run(output, table=2)
    assert second.passed and second.details["tables_found"] == 2, second.reason
    missing = run(output, table=3)
    assert not missing.passed and "only 2 markdown table(s)" in missing.reason
    assert {f.slot for f in missing.fields} == {"VN"}  # every expected cell keeps its slot


def test_keyed_comparison_ignores_row_order_and_reports_missing_and_extra_rows() -> None:
    output = "| name | price | colour |\n|---|---|---|\n| Gadget | 20 | blue |\n| Widget | 9.99 | red |"
    assert run(output, key="name").passed
    assert not run(output).passed  # in order, the rows are swapped

    partial = "| name | price | colour |\n|---|---|---|\n| Widget | 9.99 | red |\n| Doohickey | 5 | teal |"
    score = run(partial, key="name")
    assert not score.passed
    assert score.details["missing_rows"] == ["Gadget"]
    assert score.details["extra_rows"] == ["Doohickey"]
    assert score.details["row_precision"] == 0.5 and score.details["row_recall"] == 0.5
    extra = [f for f in score.fields if f.status == "extra"]
    assert {f.field for f in extra} == {"Doohickey.name", "Doohickey.price", "Doohickey.colour"}
    assert "missing rows: Gadget" in score.reason and "extra rows: Doohickey" in score.reason
    assert all(f.status != "extra" for f in run(partial, key="name", extra="ignore").fields)


def test_ordered_comparison_uses_numeric_and_fuzzy_rules_and_columns() -> None:
    output = "| name | price | size |\n|---|---|---|\n| widget | 10.00 | L |\n| Gadget | 20 | M |"
    score = run(output, fields={"price": {"match": "numeric", "tolerance": 0.05}})
    assert score.details["missing_columns"] == ["colour"]
    assert score.details["extra_columns"] == ["size"]
    by_field = {f.field: f for f in score.fields}
    assert by_field["1.name"].passed  # auto: fuzzy, case-insensitive
    assert by_field["1.price"].passed and by_field["1.price"].actual == 10.0
    assert by_field["1.colour"].status == "missing"
    assert by_field["1.size"].status == "extra"
    assert not score.passed
    wrong = run(output.replace("10.00", "12"))
    assert not {f.field: f for f in wrong.fields}["1.price"].passed


def test_alternatives_and_absent_values_work_per_cell() -> None:
    expected = [{"name": "Widget", "capacity": {"$any": ["1.2 TB", "1200 GB"]}, "colour": "n/a"}]
    output = "| name | capacity | colour |\n|---|---|---|\n| Widget | 1200 GB | n/a |"
    score = run(output, expected=expected, absent=["n/a", ""])
    assert score.passed, score.reason
    slots = {f.field: f.slot for f in score.fields}
    assert slots == {"1.name": "VC", "1.capacity": "VC", "1.colour": "NN"}
    hallucinated = run(output.replace("| n/a |", "| red |"), expected=expected, absent=["n/a", ""])
    assert {f.field: f.slot for f in hallucinated.fields}["1.colour"] == "NV"


def test_bad_expected_and_arguments_are_errors_not_failures() -> None:
    assert run(TABLE, expected={"name": "Widget"}).error
    assert run(TABLE, key="sku").error
    with pytest.raises(ScorerArgumentError):
        build_scorer("markdown_table", {"table": 0}, base_dir=Path("."))


def test_a_cell_rule_named_row_dot_column_beats_its_column_rule() -> None:
    # an attribute | value table: each attribute's value gets its own rule
    expected = [{"attribute": "price", "value": 9.99}, {"attribute": "title", "value": "Blue Widget"}]
    output = "| attribute | value |\n|---|---|\n| price | 9.989 |\n| title | widget blue |"
    fields = {
        "attribute": {"match": "ignore"},
        "price.value": {"match": "numeric", "tolerance": 0.01},
        "title.value": {"match": "fuzzy", "method": "token_set", "threshold": 0.85},
    }
    score = run(output, expected, key="attribute", fields=fields)
    assert score.passed, score.reason
    assert sorted(f.field for f in score.fields) == ["price.value", "title.value"]
    # without the row rules, the column's default rule (auto) compares both: the title fails
    plain = run(output, expected, key="attribute", fields={"attribute": {"match": "ignore"}})
    assert not plain.passed and "title.value" in plain.reason

"""The flagship's variants: v3 reasoning in tags (tagged.yaml) and long descriptions as JSON or a table.

They load, lint clean, and score the answers they ask for as their scorers' configuration intends:
a v3-style tagged output and v2's bare JSON by one rule, a table and the JSON of the same long
listing field for field.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from evalkit.cases import Case
from evalkit.results import OutputRecord, ScoreRow
from evalkit.run.evaluate import prepare_target, score_case
from evalkit.scorers.base import needs_expected
from evalkit.suite.lint import lint_suite
from evalkit.suite.loading import Suite, load_suite

REPO = Path(__file__).resolve().parents[2]
LISTINGS = REPO / "suites" / "listings"
VARIANTS = ("judged.yaml", "tagged.yaml", "long.yaml", "long_table.yaml")


def case(suite: Suite, case_id: str) -> Case:
    return next(c for c in suite.iter_cases() if c.id == case_id)


def score(suite: Suite, c: Case, text: str) -> dict[str, ScoreRow]:
    from evalkit.outputs import parse_output

    parsed = parse_output(text)
    output = OutputRecord(status="ok", text=text, parsed=parsed.value, extraction=parsed.extraction)
    rows = asyncio.run(score_case(suite, c, output))
    return {r.scorer: r for r in rows}


@pytest.mark.parametrize("name", ["suite.yaml", *VARIANTS])
def test_every_listings_suite_file_loads_and_lints_without_errors(name: str) -> None:
    suite = load_suite(LISTINGS / name)
    report = lint_suite(suite)
    problems = [f.one_line() for f in report.findings if f.severity != "info"]
    if "v1" in suite.prompts:  # v1 is zero-shot on purpose: one warning, no error
        assert len(problems) == 1 and "warning few-shot: prompt v1" in problems[0]
    else:
        assert problems == []


def test_tagged_suite_scores_v3_tags_and_v2_bare_json_by_one_rule() -> None:
    suite = load_suite(LISTINGS / "tagged.yaml")
    assert set(suite.prompts) == {"v2", "v3"}
    c = case(suite, "html-tags-01")
    answer = json.dumps(c.expected)
    v3 = f"<thinking>Samsung phone; $199.99 is charged now.</thinking>\n<answer>{answer}</answer>"
    tagged_rows = score(suite, c, v3)
    assert all(r.passed for r in tagged_rows.values()), {k: r.reason for k, r in tagged_rows.items()}
    assert tagged_rows["fields"].details["reasoning"] == "Samsung phone; $199.99 is charged now."
    bare_rows = score(suite, c, answer)
    assert all(r.passed for r in bare_rows.values()), {k: r.reason for k, r in bare_rows.items()}
    assert bare_rows["fields"].details["untagged"] is True
    # the same fields, so per-field figures of a v2 and a v3 run pair up
    assert {f.field for f in tagged_rows["fields"].fields} == {f.field for f in bare_rows["fields"].fields}
    # text outside the tags fails every check, though the JSON inside is right
    sloppy = score(suite, c, v3 + "\nHope this helps!")
    assert not any(r.passed for r in sloppy.values())
    assert "text outside the tags: 'Hope this helps!'" in sloppy["fields"].reason
    # an injected phrase quoted while reasoning is not output; in the answer it is
    injected = v3.replace("charged now.", "charged now. Not writing FREE iPhone.")
    assert score(suite, c, injected)["no_injection"].passed
    assert not score(suite, c, v3.replace("Samsung Galaxy A15", "FREE iPhone"))["no_injection"].passed


def test_tagged_suite_renders_v3_as_v2_plus_an_appended_tail() -> None:
    suite = load_suite(LISTINGS / "tagged.yaml")
    c = case(suite, "html-tags-01")
    v2 = prepare_target(suite, None, "v2").request(c)
    v3 = prepare_target(suite, None, "v3").request(c)
    assert v3.response_schema is None  # no JSON grammar: the answer comes inside tags
    assert v3.messages[: len(v2.messages) - 1] == v2.messages[:-1]  # v2's cached prefix is v3's too
    assert v3.messages[-1] == v2.messages[-1]  # the case itself, last
    assert "<answer>" in v3.messages[-2]["content"]


def long_pair() -> tuple[Suite, Suite]:
    return load_suite(LISTINGS / "long.yaml"), load_suite(LISTINGS / "long_table.yaml")


def test_long_cases_hold_the_same_values_as_json_and_as_table_rows() -> None:
    as_json, as_table = long_pair()
    json_cases = {c.id: c for c in as_json.iter_cases()}
    table_cases = {c.id: c for c in as_table.iter_cases()}
    assert len(json_cases) >= 10 and json_cases.keys() == table_cases.keys()
    for case_id, c in json_cases.items():
        t = table_cases[case_id]
        assert t.input == c.input and len(c.input["description"]) > 200
        e = c.expected
        rows = {r["attribute"]: r["value"] for r in t.expected}
        assert rows == {
            "title": e["title"],
            "brand": e["brand"],
            "category": e["category"],
            "price": e["price"]["amount"],
            "currency": e["price"]["currency"],
            "key_attributes": ", ".join(e["key_attributes"]),
        }, case_id


def test_a_table_answer_and_a_json_answer_of_a_long_listing_score_alike() -> None:
    as_json, as_table = long_pair()
    c_json, c_table = case(as_json, "long-tent-01"), case(as_table, "long-tent-01")
    assert prepare_target(as_table, None, None).request(c_table).response_schema is None
    table = (
        "| attribute | value |\n|---|---|\n"
        "| title | 4 Person Dome Tent Waterproof 3000mm Green |\n| brand | null |\n"
        "| category | Sports & Outdoors |\n| price | 69.90 |\n| currency | EUR |\n"
        "| key_attributes | 4 Person, 3000mm, Green |"
    )
    table_rows = score(as_table, c_table, table)
    assert all(r.passed for r in table_rows.values()), {k: r.reason for k, r in table_rows.items()}
    json_rows = score(as_json, c_json, json.dumps(c_json.expected))
    assert all(r.passed for r in json_rows.values()), {k: r.reason for k, r in json_rows.items()}
    # six value cells, six fields; the missing brand is an NN slot in both
    cells = {f.field.removesuffix(".value"): f.slot for f in table_rows["table"].fields}
    fields = {f.field: f.slot for f in json_rows["fields"].fields}
    renamed = {"price.amount": "price", "price.currency": "currency"}
    assert cells == {renamed.get(k, k): v for k, v in fields.items()}
    assert cells["brand"] == "NN"
    wrong = score(as_table, c_table, table.replace("69.90", "$69.90").replace("| EUR", "| USD"))
    assert not wrong["table"].passed
    assert {f.field for f in wrong["table"].fields if not f.passed} == {"price.value", "currency.value"}


def test_lint_asks_for_expected_outputs_of_table_and_tagged_scorers() -> None:
    assert needs_expected("markdown_table", {})
    assert needs_expected("tagged", {"inner": {"name": "json_fields"}})
    assert not needs_expected("tagged", {"inner": {"name": "json_schema"}})
    assert not needs_expected("tagged", {})

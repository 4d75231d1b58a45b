"""Human labels (migration 007) and the studio's read queries, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from evalkit.store import open_store
from evalkit.store.browse import (
    CaseQuery,
    case_detail,
    case_history,
    case_page,
    run_facets,
)
from evalkit.store.labels import HumanLabel, LabelStore, output_hash
from tests.runs import Outcome, run_record, store_run


def _outcomes(n: int, *, failing: set[int], output: str = '{"answer": "x"}') -> list[Outcome]:
    return [
        Outcome(
            case_id=f"c{i:04d}",
            verdict="fail" if i in failing else "pass",
            output=output if i not in failing else f'{{"answer": "wrong {i}_%"}}',
            tags=["critical"] if i % 10 == 0 else [],
            fields={"answer": i not in failing},
        )
        for i in range(n)
    ]


def test_grades_reattach_to_the_identical_output_and_the_newest_wins(db_url: str) -> None:
    store = open_store(db_url)
    store_run(store, run_record("r1"), _outcomes(3, failing={1}))
    store_run(store, run_record("r2", minutes=5), _outcomes(3, failing={1, 2}))
    labels = LabelStore(store)
    same = output_hash('{"answer": "wrong 1_%"}')
    first = labels.add(
        HumanLabel(
            kind="graded",
            suite_name="s",
            run_id="r1",
            case_id="c0001",
            output_hash=same,
            grade="pass",
            grader="ann",
        )
    )
    labels.add(
        HumanLabel(
            kind="graded",
            suite_name="s",
            run_id="r1",
            case_id="c0001",
            output_hash=same,
            grade="fail",
            grader="bob",
            note="<i>wrong</i>",
            created_at=first.created_at + timedelta(seconds=1),
        )
    )
    # r2 produced the identical output for c0001 and a different one for c0002: only c0001 is graded
    found = labels.current_for_outputs(
        "s", [("c0001", same), ("c0002", output_hash('{"answer": "wrong 2_%"}'))]
    )
    assert list(found) == [("c0001", same)]
    assert (found[("c0001", same)].grade, found[("c0001", same)].grader) == ("fail", "bob")
    assert [lab.grade for lab in labels.of_case("s", "c0001")] == ["fail", "pass"]
    current = labels.current(kind="graded")
    assert [(lab.case_id, lab.grade, lab.note) for lab in current] == [("c0001", "fail", "<i>wrong</i>")]
    texts = labels.labelled_outputs("graded")
    assert texts[0].output == '{"answer": "wrong 1_%"}' and texts[0].input == {"question": "q"}
    assert texts[0].item_id == f"s/c0001@{same}"


def test_a_grade_outside_its_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="pass, fail"):
        HumanLabel(
            kind="graded", suite_name="s", run_id="r", case_id="c", output_hash="h", grade="A", grader="g"
        )


def test_case_pages_filter_and_paginate_in_the_database(db_url: str) -> None:
    store = open_store(db_url)
    store_run(store, run_record("r1"), _outcomes(120, failing={3, 30, 77}))
    everything = case_page(store, "r1", CaseQuery(limit=50))
    assert everything.total == 120 and len(everything.rows) == 50
    last = case_page(store, "r1", CaseQuery(limit=50, offset=100))
    assert [r["case_id"] for r in last.rows][:2] == ["c0100", "c0101"] and len(last.rows) == 20
    failures = case_page(store, "r1", CaseQuery(verdict="fail"))
    assert [r["case_id"] for r in failures.rows] == ["c0003", "c0030", "c0077"]
    assert case_page(store, "r1", CaseQuery(tag="critical", verdict="fail")).total == 1  # c0030
    assert case_page(store, "r1", CaseQuery(field="answer")).total == 3
    assert case_page(store, "r1", CaseQuery(scorer="exact")).total == 3
    # text search takes % and _ literally, and is case-insensitive
    assert [r["case_id"] for r in case_page(store, "r1", CaseQuery(text="WRONG 77_%")).rows] == ["c0077"]
    assert case_page(store, "r1", CaseQuery(text="wrong 7__")).total == 0
    facets = run_facets(store, "r1")
    assert (facets.scorers, facets.fields, facets.tags, facets.sources) == (
        ["exact"],
        ["answer"],
        ["critical"],
        ["golden"],
    )
    by_run = store.field_slot_counts_by_run(["r1", "none"])  # a run without field scores has none
    assert set(by_run) == {"r1"} and sorted(by_run["r1"]) == sorted(store.field_slot_counts("r1")) != []
    detail = case_detail(store, "r1", "c0003")
    assert (
        detail is not None
        and detail["outputs"][0]["verdict"] == "fail"
        and detail["scores"][0]["scorer"] == "exact"
    )
    assert case_detail(store, "r1", "nope") is None
    run = store.get_run("r1")
    assert [h["verdict"] for h in case_history(store, run, "c0003")] == ["fail"]

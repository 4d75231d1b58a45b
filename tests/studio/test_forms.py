"""Write forms the studio cannot act on are answered 400 in words that say what is wrong, and store nothing."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.store.labels import HumanLabel, LabelStore, output_hash
from evalkit.studio.app import create_app
from tests.runs import Outcome, run_record, store_run


def test_a_grade_form_without_a_run_or_with_an_unknown_kind_is_refused_in_words(tmp_path: Path) -> None:
    """With one run stored, a pairwise grade without run_b was stored against that run on both sides
    (an empty id is a prefix of every id); an unknown kind was answered "grade must be one of " (sic)."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("r1"), [Outcome("c1", "pass")])
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    page = c.get("/runs/r1/case", params={"id": "c1"}).text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf
    form = {"csrf": csrf.group(1), "run": "r1", "case": "c1", "epoch": "0"}
    for extra, message in (
        ({"kind": "pairwise", "grade": "A"}, "not done: the form names no run_b"),
        ({"run": "", "grade": "pass"}, "not done: the form names no run"),
        ({"kind": "stars", "grade": "5"}, "not done: kind must be graded or pairwise, not 'stars'"),
        ({"grade": "maybe"}, "not done: a graded grade is one of pass, fail"),
    ):
        answer = c.post("/grade", data=form | extra)
        assert (answer.status_code, answer.text) == (400, message), extra
    assert LabelStore(store).current() == []


def test_an_errored_epoch_cannot_be_graded_and_the_page_says_why(tmp_path: Path) -> None:
    """An epoch whose model call failed has no output, yet its case page offered pass/fail and
    /grade stored the grade (keyed to the empty text, so it re-attached to any empty output)."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("r1"), [Outcome("c1", "error"), Outcome("c2", "pass")])
    stored_before = HumanLabel(
        kind="graded",
        suite_name="s",
        run_id="r1",
        case_id="c1",
        output_hash=output_hash(""),
        grade="fail",
        grader="bob",
    )
    LabelStore(store).add(stored_before)
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    page = c.get("/runs/r1/case", params={"id": "c1"}).text
    assert 'class="grade-form"' not in page
    assert "No output to grade: the model call failed" in page
    assert re.search(r'id="grade-0">Human grade: <span class="grade g-fail">fail</span> by bob', page)
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf
    form = {"csrf": csrf.group(1), "run": "r1", "case": "c1", "epoch": "0", "grade": "pass"}
    answer = c.post("/grade", data=form)
    assert (answer.status_code, answer.text) == (
        400,
        "not done: run r1 case 'c1' epoch 0 has no output to grade: "
        "the model call failed (HTTP 503 from provider)",
    )
    pair = c.post("/grade", data=form | {"kind": "pairwise", "grade": "A", "run_b": "r1", "case": "c1"})
    assert pair.status_code == 400 and "has no output to grade" in pair.text
    assert [(lab.case_id, lab.grade, lab.grader) for lab in LabelStore(store).current()] == [
        ("c1", "fail", "bob")
    ]
    assert c.post("/grade", data=form | {"case": "c2"}, follow_redirects=False).status_code == 303
    assert 'class="grade-form"' in c.get("/runs/r1/case", params={"id": "c2"}).text

"""Write forms the studio cannot act on are answered 400 in words that say what is wrong, and store nothing."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.store.labels import LabelStore
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

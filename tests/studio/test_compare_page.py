"""The comparison page refuses the pairs `evalkit compare` refuses, instead of verdicts on nothing."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.studio.app import create_app
from tests.runs import Outcome, run_record, store_run


def test_a_run_against_itself_is_refused_in_one_line(tmp_path: Path) -> None:
    """With one run stored, the runs page's compare form names it on both sides; the page then said
    "no case changed verdict" and "no significant difference" on every metric."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("r1"), [Outcome("c1", "pass"), Outcome("c2", "fail")])
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get(
        "/compare", params={"a": "r1", "b": "r1"}
    )
    assert page.status_code == 400
    assert page.text == "both sides name run r1; compare two different runs"


def test_two_runs_without_a_case_in_common_are_refused_in_one_line(tmp_path: Path) -> None:
    """Two runs of different suites: the page warned that "the suite file changed between the runs"
    and showed a table of n/a, where `evalkit compare` says they have no case scored in both."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("ra", suite="one"), [Outcome("a1", "pass")])
    store_run(store, run_record("rb", suite="two", minutes=5), [Outcome("b1", "fail")])
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get(
        "/compare", params={"a": "ra", "b": "rb"}
    )
    assert page.status_code == 400
    assert page.text == "runs ra and rb have no case scored in both"


def test_a_comparison_or_trend_that_names_nothing_says_what_it_needs(tmp_path: Path) -> None:
    """/compare alone answered "run prefix '' is ambiguous" (an empty id is a prefix of every id; with
    one run stored, it compared that run with itself), and /trend alone drew every suite's runs as one
    trend titled "Trend of "."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("r1"), [Outcome("c1", "pass")])
    store_run(store, run_record("r2", suite="other", minutes=5), [Outcome("c1", "fail")])
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    for url, message in (
        ("/compare", "a comparison names two runs: /compare?a=RUN&b=RUN"),
        ("/compare?a=r1", "a comparison names two runs: /compare?a=RUN&b=RUN"),
        ("/trend", "a trend is of one suite: /trend?suite=NAME"),
    ):
        page = c.get(url)
        assert (page.status_code, page.text) == (400, message), url

"""The run page's headline and its paging, against what the store holds (a real DuckDB file)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.store.leases import RunLeases
from evalkit.studio.app import create_app
from tests.runs import Outcome, case_result, run_record, store_run


def headline(page: str) -> str:
    found = re.search(r'<p class="muted">(.*?)</p>', page, re.S)
    assert found, page
    return " ".join(found.group(1).split())


def test_a_run_in_progress_shows_the_results_stored_so_far_not_zeros(tmp_path: Path) -> None:
    """While `evalkit run` writes, the run has no summary yet: the page said "0 passed, 0 failed,
    0 errors" above a table of 3 results, 2 of them passing."""
    store = open_store(tmp_path / "s.duckdb")
    store.create_run(run_record("live").model_copy(update={"n_cases": 10}))
    outcomes = [Outcome("c1", "pass"), Outcome("c2", "pass"), Outcome("c3", "fail")]
    store.add_results("live", [case_result(o) for o in outcomes])
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    page = c.get("/runs/live").text
    assert "running" in headline(page)
    assert "3 results stored so far (2 passed, 1 failed, 0 errors)" in headline(page), headline(page)
    assert "0 passed" not in headline(page)
    assert '<p class="muted" id="count">3 matching' in page


def test_a_resumed_run_does_not_show_the_summary_of_the_part_that_stopped(tmp_path: Path) -> None:
    """A run being resumed still holds the summary stored when it stopped (1 result); the page showed
    it as the run's figures while the resumed run had stored more."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("r").model_copy(update={"n_cases": 3}), [Outcome("c1", "fail")])
    store.finish_run("r", status="incomplete", summary=store.summarize("r"))
    RunLeases(store).claim("r")  # as --resume takes the run up again
    store.add_results("r", [case_result(Outcome("c2", "pass")), case_result(Outcome("c3", "pass"))])
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/runs/r").text
    assert "3 results stored so far (2 passed, 1 failed, 0 errors)" in headline(page), headline(page)
    assert "pass rate 0.0%" not in headline(page)


def test_a_finished_run_shows_its_summary(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("done"), [Outcome("c1", "pass"), Outcome("c2", "fail")])
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/runs/done").text
    assert "pass rate 50.0% · 1 passed, 1 failed, 0 errors" in headline(page), headline(page)


def test_an_offset_past_the_end_shows_the_last_page_and_a_huge_one_no_error(tmp_path: Path) -> None:
    """?offset=1000 on 60 results said "showing 1001-60" above an empty table; an offset beyond 64
    bits was a 500 (DuckDB's conversion error, traceback in the server's log)."""
    store = open_store(tmp_path / "s.duckdb")
    store_run(store, run_record("r"), [Outcome(f"c{i:02d}", "pass") for i in range(60)])
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    for offset in ("1000", "60", "99999999999999999999999"):
        page = c.get("/runs/r", params={"offset": offset})
        assert page.status_code == 200, page.text
        assert '<p class="muted" id="count">60 matching · showing 51-60</p>' in page.text, offset
        assert len(re.findall(r'class="case-link"', page.text)) == 10


def test_a_run_of_several_epochs_says_its_counts_are_results(tmp_path: Path) -> None:
    """A 2-case run of 2 epochs said "3 passed, 1 failed" with no word that these are 4 results of 2
    cases, as `evalkit run` and the report say."""
    store = open_store(tmp_path / "s.duckdb")
    store.create_run(run_record("r").model_copy(update={"n_cases": 2}))
    outcomes = [(Outcome("c1", "pass"), 0), (Outcome("c1", "pass"), 1), (Outcome("c2", "pass"), 0)]
    store.add_results("r", [case_result(o, e) for o, e in [*outcomes, (Outcome("c2", "fail"), 1)]])
    store.finish_run("r", status="complete", summary=store.summarize("r").model_copy(update={"repeat": 2}))
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/runs/r").text
    assert "pass rate 75.0% · 4 results (2 cases x 2 epochs): 3 passed, 1 failed, 0 errors" in headline(page)


def test_the_runs_list_gives_a_run_in_progress_no_field_figures_as_no_pass_rate(tmp_path: Path) -> None:
    """The pass rate of a run in progress is a dash, but its P/R/F1 showed the results stored so far,
    unmarked, in a row that says "300 cases"."""
    store = open_store(tmp_path / "s.duckdb")
    store.create_run(run_record("live").model_copy(update={"n_cases": 300}))
    store.add_results("live", [case_result(Outcome("c1", "pass", fields={"name": True, "price": False}))])
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/").text
    row = page[page.index('<a href="/runs/live">') :].split("</tr>")[0]
    assert "running" in row
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[:5] == ["300", "-", "-", "-", "-"], cells


def test_text_search_matches_the_values_shown_not_json_keys_or_punctuation(tmp_path: Path) -> None:
    """The search ran LIKE over the stored JSON text: `name` matched every case whose input has a
    `name` key, and `"` or `{` matched every case; the error a failed call shows was not searched."""
    store = open_store(tmp_path / "s.duckdb")
    outcomes = [
        Outcome("c1", "pass", input={"name": "Bob", "age": 41}, output='{"answer": "yes"}'),
        Outcome("c2", "pass", input={"name": "Name Smith"}, output='{"answer": ["no", true]}'),
        Outcome("c3", "fail", input={"question": 'he said "hi"'}, output="see {braces}"),
        Outcome("c4", "error", input={"name": "Eve"}),
    ]
    store_run(store, run_record("r1"), outcomes)
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")

    def found(text: str) -> list[str]:
        page = c.get("/runs/r1", params={"q": text}).text
        return re.findall(r'class="case-link" href="[^"]+">([^<]+)</a>', page)

    assert found("name") == ["c2"]  # a value, not the key every input has
    assert found("answer") == []  # a key of the outputs
    assert found('"') == ["c3"] and found("{") == ["c3"]  # in a value, or in an output that is not JSON
    assert found("YES") == ["c1"] and found("true") == ["c2"] and found("41") == ["c1"]
    assert found("503") == ["c4"]  # the error shown in place of the output
    assert found("c2") == ["c2"]

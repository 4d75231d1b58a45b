"""The runs list against what the store holds (a real DuckDB file)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.studio.app import create_app
from tests.runs import run_record

RUNS_PAGE = 200  # evalkit.studio.pages.RUNS_PAGE


def listed(page: str) -> list[str]:
    return re.findall(r'<tr><td><a href="/runs/([^"]+)">', page)


def test_a_store_with_more_runs_than_a_page_says_so_and_pages_to_the_older_ones(tmp_path: Path) -> None:
    """The list was cut at 200 runs without a word: with 203 stored, the 3 oldest could not be seen."""
    store = open_store(tmp_path / "s.duckdb")
    total = RUNS_PAGE + 3
    for i in range(total):
        store.create_run(run_record(f"run-{i:03d}", minutes=i))
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    first = c.get("/")
    assert listed(first.text) == [f"run-{i:03d}" for i in reversed(range(3, total))]
    assert f"showing the latest {RUNS_PAGE} of {total} runs" in first.text
    assert first.headers["x-total-count"] == str(total)
    assert first.headers["link"] == f'</?offset={RUNS_PAGE}>; rel="next"'
    older = re.search(r'<a id="older" href="([^"]+)">older runs</a>', first.text)
    assert older, "the first page links to no older runs"
    second = c.get(older.group(1))
    assert listed(second.text) == ["run-002", "run-001", "run-000"]
    assert f"showing runs {RUNS_PAGE + 1}-{total} of {total}" in second.text
    assert "link" not in second.headers and 'id="older"' not in second.text
    assert '<a id="newer" href="/?offset=0">' in second.text


def test_a_store_that_fits_one_page_says_nothing_of_paging(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    store.create_run(run_record("only"))
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/?offset=999")
    assert listed(page.text) == ["only"]
    assert page.headers["x-total-count"] == "1"
    assert 'id="count"' not in page.text and 'id="older"' not in page.text and 'id="newer"' not in page.text

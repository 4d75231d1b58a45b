"""The studio's group page: the frontier of a stored matrix, linked from the runs list."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.studio.app import create_app
from tests.runs import Outcome, run_record, store_run

N = 40


def test_group_page_lists_the_frontier_and_the_runs_list_links_to_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "e.duckdb")
    cells = {"big": (36, 0.01), "<i>small</i>": (35, 0.001), "dear": (30, 0.02)}
    for minute, (model, (k, cost)) in enumerate(cells.items()):
        outcomes = [Outcome(f"c{i}", "pass" if i < k else "fail", cost_usd=cost) for i in range(N)]
        store_run(
            store, run_record(f"r{minute}", model=model, group_id="s-matrix-9", minutes=minute), outcomes
        )
    store_run(store, run_record("alone", minutes=9), [Outcome("c0", "pass")])  # no group
    client = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")

    runs = client.get("/")
    assert re.findall(r'href="/groups/([^"]+)">frontier of', runs.text) == ["s-matrix-9"]
    page = client.get("/groups/s-matrix-9")
    assert page.status_code == 200
    rows = re.findall(r'<tr class="(pareto|dominated)"><td>(.)</td>.*?href="/runs/(r\d)"', page.text)
    assert rows == [("pareto", "◆", "r0"), ("pareto", "◆", "r1"), ("dominated", "·", "r2")]
    assert "&lt;i&gt;small&lt;/i&gt;" in page.text and "<i>small" not in page.text
    assert "v1 · &lt;i&gt;small&lt;/i&gt;, 87.5% at $1.0000 per 1,000 cases" in page.text  # recommended
    assert client.get("/groups/s-matrix").status_code == 200  # a unique prefix
    missing = client.get("/groups/nope")
    assert missing.status_code == 404 and "no run group 'nope'" in missing.text


def test_the_page_of_a_matrix_stopped_part_way_names_the_missing_cells_and_picks_no_best(
    tmp_path: Path,
) -> None:
    """As `evalkit compare` and `report` of such a group: the cells that ran, under a warning naming
    the ones that never started, and no best, recommendation or Pareto mark among a part."""
    from evalkit.store.groups import GroupCell, record_group_cells

    store = open_store(tmp_path / "e.duckdb")
    planned = [GroupCell("v1", "big"), GroupCell("v1", "small"), GroupCell("v1", "dear")]
    record_group_cells(store, "s-matrix-9", planned)
    for minute, (model, k) in enumerate((("big", 36), ("small", 30))):
        outcomes = [Outcome(f"c{i}", "pass" if i < k else "fail", cost_usd=0.01) for i in range(N)]
        store_run(
            store, run_record(f"r{minute}", model=model, group_id="s-matrix-9", minutes=minute), outcomes
        )
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/groups/s-matrix-9")
    assert page.status_code == 200
    assert "group s-matrix-9 is incomplete: 2 of 3 cells started; not started: v1 x dear;" in page.text
    assert re.findall(r'href="/runs/(r\d)"', page.text) == ["r0", "r1"]
    assert "◆" not in page.text and "per 1,000 cases" not in page.text and "vs best" not in page.text

"""The case page's figures of one epoch, against the rows the store holds (a real DuckDB file)."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.studio.app import create_app
from tests.runs import Outcome, run_record, store_run


def epoch_line(page: str) -> str:
    found = re.search(r'<h2>Epoch 0: .*?<span class="muted">(.*?)</span></h2>', page)
    assert found, page
    return found.group(1)


def test_an_epoch_shows_a_latency_only_where_one_was_measured(tmp_path: Path) -> None:
    """A call that failed after its retries, and an answer from the response cache, are stored with
    latency 0 (not measured, as every latency figure of the store reads it); the page said "0 ms"."""
    store = open_store(tmp_path / "s.duckdb")
    outcomes = [
        Outcome("answered", "pass", latency_ms=231.6),
        Outcome("failed", "error"),
        Outcome("cached", "pass", cached=True),
    ]
    store_run(store, run_record("r"), outcomes)
    c = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
    line = {o.case_id: epoch_line(c.get("/runs/r/case", params={"id": o.case_id}).text) for o in outcomes}
    assert "· 232 ms ·" in line["answered"]
    assert "no latency: the call failed" in line["failed"] and "0 ms" not in line["failed"]
    assert "no call: answered from the cache" in line["cached"] and "0 ms" not in line["cached"]

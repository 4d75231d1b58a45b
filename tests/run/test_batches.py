"""How a run commits its results: batches, and a halving drain once the last call is dispatched."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.run.runner import RunOptions, run_suite
from evalkit.store.duckdb import DuckDBBackend
from evalkit.store.queries import Store
from evalkit.store.result_rows import ResultRows
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite


class CountingStore(Store):
    """The real DuckDB store, noting the size of each batch of results it commits."""

    def __init__(self, path: Path) -> None:
        super().__init__(DuckDBBackend(path))
        self.commits: list[int] = []

    def add_rows(self, rows: ResultRows) -> None:
        if rows:
            self.commits.append(len(rows.outputs))
        super().add_rows(rows)


def answer(body: dict[str, Any]) -> str:
    return json.dumps({"answer": body["messages"][-1]["content"]})


def test_the_last_results_land_in_a_few_halving_commits(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """30 cases, one at a time at 30 ms: the last 16 dispatched arrive one every ~30 ms, slower than
    a commit. Committing whatever waits whenever the previous commit is done took a commit for
    each of them; committing once as many wait as are still to come takes about log2(16)."""
    cases = [
        {"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"q{i}"}}
        for i in range(30)
    ]
    with LoopbackOpenAI(responder=answer, latency=0.03) as server:
        suite = load_suite(
            make_suite(loopback_suite(server.base_url, scorers="  - name: json_fields\n"), cases)
        )
        store = CountingStore(tmp_path / "r.duckdb")
        with store.hold():
            outcome = run_suite(suite, store, RunOptions(concurrency=1, use_cache=False))
    assert sum(store.commits) == 30 and len(store.case_results(outcome.run.run_id)) == 30
    assert outcome.summary.pass_rate == 1.0
    assert len(store.commits) <= 10, store.commits  # e.g. [15, 8, 4, 2, 1]; it was 16 (1 per result)

"""`evalkit run` on a database that does not exist yet: it is created by the run's first commit,
while the first calls are in flight, and a run that cannot create it stops without a resume hint."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import StoreError
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store.opening import held_store
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite

SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def answer(body: dict[str, Any]) -> str:
    return json.dumps({"answer": "a" + body["messages"][-1]["content"][1:]})


def suite_of(make_suite: Callable[..., Path], server: LoopbackOpenAI, n: int) -> Path:
    cases = [
        {"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(n)
    ]
    return make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases)


def test_a_new_database_is_created_by_the_runs_first_commit(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "new" / "r.duckdb"
    with LoopbackOpenAI(responder=answer) as server, held_store(db, create_later=True) as store:
        suite = load_suite(suite_of(make_suite, server, 40))
        assert not store.opened and not db.exists()
        assert store.cached_responses(["a" * 64]) == {}  # nothing can be cached in it yet
        assert not db.exists()  # ... and asking did not create it
        outcome = run_suite(suite, store, RunOptions(concurrency=4))
        assert store.opened and db.exists()
        assert server.stats.requests == 40
        stored = store.get_run(outcome.run.run_id)
        assert stored.status == "complete" and stored.summary is not None
        assert stored.summary.results == 40 and stored.summary.pass_rate == 1.0
        assert len(store.case_results(outcome.run.run_id)) == 40
        # the answers are in its response cache: the same run again sends nothing
        again = run_suite(suite, store, RunOptions(concurrency=4))
        assert server.stats.requests == 40 and again.summary.calls.cache_hits == 40


def test_an_existing_database_is_opened_before_any_call(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with held_store(db):
        pass
    with held_store(db, create_later=True) as store:
        assert store.opened  # found and migrated now: a locked or damaged file fails before calling


def test_a_database_that_cannot_be_created_stops_the_run_without_a_resume_hint(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """Something else takes the path between the start and the first commit: the run stops early,
    and the error does not offer a --resume of a run that was never stored."""
    db = tmp_path / "r.duckdb"
    n = 200
    with (
        LoopbackOpenAI(responder=answer, latency=0.02) as server,  # all of it: 2 s at 2 in flight
        held_store(db, create_later=True) as store,
    ):
        suite = load_suite(suite_of(make_suite, server, n))
        db.write_bytes(b"not a database " * 1000)
        with pytest.raises(StoreError) as raised:
            run_suite(suite, store, RunOptions(concurrency=2))
    assert str(db) in raised.value.one_line() and "--resume" not in raised.value.one_line()
    assert server.stats.requests < n  # dispatching stopped at the failure

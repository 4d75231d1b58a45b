"""Named baselines (migration 005) and run groups, in a real DuckDB file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.errors import UsageError
from evalkit.results import RecordedBaselineCheck
from evalkit.store import open_store
from evalkit.store.baselines import BaselineStore
from evalkit.store.groups import group_runs
from tests.conftest import CliResult
from tests.runs import Outcome, run_record, store_run


def test_set_moves_and_resolves_per_suite(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    first = store_run(store, run_record("s-1"), [Outcome("c1", "pass")])
    second = store_run(store, run_record("s-2", minutes=1), [Outcome("c1", "fail")])
    other = store_run(store, run_record("t-1", suite="t"), [Outcome("c1", "pass")])
    baselines = BaselineStore(store)
    baselines.set("main", first)
    baselines.set("main", other)  # the same name in another suite is another baseline
    assert baselines.resolve("s", "main").run_id == "s-1"
    baselines.set("main", second)
    assert baselines.resolve("s", "main").run_id == "s-2"
    assert baselines.resolve("t", "main").run_id == "t-1"
    assert [(b.suite_name, b.name, b.run_id) for b in baselines.list()] == [
        ("s", "main", "s-2"),
        ("t", "main", "t-1"),
    ]
    assert [b.run_id for b in BaselineStore(open_store(tmp_path / "r.duckdb")).list("t")] == ["t-1"]
    # not a name: a run id or prefix of the same suite
    assert baselines.resolve("s", "s-1").run_id == "s-1"
    with pytest.raises(UsageError, match="baseline 't-1' is run t-1 of suite 't', not of 's'"):
        baselines.resolve("s", "t-1")
    with pytest.raises(UsageError, match="no run 'nope'"):
        baselines.resolve("s", "nope")


def test_record_check_keeps_the_stored_summary(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    run = store_run(store, run_record("s-1"), [Outcome("c1", "pass"), Outcome("c2", "fail")])
    before = store.get_run("s-1").summary
    BaselineStore(store).record_check("s-1", {"passed": False, "exit_code": 1})
    after = store.get_run(run.run_id).summary
    assert after is not None and after.baseline == RecordedBaselineCheck(passed=False, exit_code=1)
    assert after.model_copy(update={"baseline": None}) == before


def test_group_runs_by_id_prefix_and_latest(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    for i, group in enumerate(["g-aaa", "g-aaa", "g-bbb", None]):
        store_run(store, run_record(f"r{i}", group_id=group, minutes=i), [Outcome("c1", "pass")])
    assert [r.run_id for r in group_runs(store, "g-aaa")] == ["r0", "r1"]
    assert [r.run_id for r in group_runs(store, "g-b")] == ["r2"]
    assert [r.run_id for r in group_runs(store, "latest")] == ["r2"]
    with pytest.raises(UsageError, match="ambiguous"):
        group_runs(store, "g-")
    with pytest.raises(UsageError, match="no run group 'r3'"):
        group_runs(store, "r3")


def test_a_name_set_for_several_suites_is_read_in_the_other_runs_suite(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """`compare RUN main` failed as ambiguous when `main` is set for two suites, `compare main RUN` not."""
    store = open_store(tmp_path / "e.duckdb")
    outcomes = [Outcome(f"c{i}", "pass") for i in range(6)]
    runs = {}
    for minute, (run_id, suite) in enumerate((("a1", "s1"), ("a2", "s1"), ("b1", "s2"))):
        runs[run_id] = store_run(store, run_record(run_id, suite=suite, minutes=minute), outcomes)
    names = BaselineStore(store)
    names.set("main", runs["a1"])
    names.set("main", runs["b1"])
    with pytest.raises(UsageError, match="baseline 'main' is set for suites 's1', 's2'"):
        names.run_named("main")
    assert names.run_named("main", "s1").run_id == "a1"
    for args in (("main", "a2"), ("a2", "main")):
        result = cli("compare", *args, "--db", str(tmp_path / "e.duckdb"))
        assert result.exit_code == 0, (args, result.stderr)

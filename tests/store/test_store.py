"""The store on both backends (DuckDB file, PostgreSQL): round trip, migrations, summaries; DuckDB locking."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from evalkit.cases import Case, CaseSource
from evalkit.errors import DatabaseFileError, DuplicateRowError, ExitCode, StoreError, UsageError
from evalkit.results import SUMMARY_SCHEMA_VERSION, CaseResult, OutputRecord, RunRecord, RunSummary, ScoreRow
from evalkit.scorers.base import FieldScore
from evalkit.store import open_store
from evalkit.store.migrate import available_migrations
from evalkit.store.opening import held_store


def make_run(run_id: str = "s-1", started: datetime | None = None) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        suite_name="s",
        suite_path="suites/s/suite.yaml",
        suite_hash="abc",
        prompt_version="v1",
        prompt_hash="123",
        model="openai/x",
        params={"temperature": 0},
        git_commit=None,
        evalkit_version="0",
        started_at=started or datetime(2026, 1, 1, 12, 0, 0),
        n_cases=2,
        config={"gate": {"min_pass_rate": 0.5}},
    )


def make_result(case_id: str, verdict: str = "pass", epoch: int = 0) -> CaseResult:
    case = Case(
        id=case_id,
        input={"q": "ü ✓ " + case_id},
        expected={"a": 1},
        tags=["t"],
        source=CaseSource.MINED,
        verified=False,
        provenance={"log_id": 7},
    )
    ok = verdict != "error"
    output = OutputRecord(
        status="ok" if ok else "error",
        text='{"a": 1}' if ok else None,
        parsed={"a": 1} if ok else None,
        extraction="strict" if ok else "none",
        error=None if ok else "503: down",
        latency_ms=12.5,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.001,
    )
    scores = []
    if ok:
        scores = [
            ScoreRow(
                scorer="fields",
                score=1.0 if verdict == "pass" else 0.5,
                passed=verdict == "pass",
                weight=2.0,
                reason="r",
                details={"k": [1]},
                fields=[FieldScore(field="a", score=1.0, passed=True, status="match", expected=1, actual=1)],
            )
        ]
    return CaseResult(
        case=case,
        epoch=epoch,
        output=output,
        scores=scores,
        verdict=verdict,  # type: ignore[arg-type]
        score=None if not ok else scores[0].score,
    )


def test_round_trip(db_url: str) -> None:
    store = open_store(db_url)
    store.create_run(make_run())
    store.add_results("s-1", [make_result("c1"), make_result("c2", "fail"), make_result("c3", "error")])
    store.finish_run("s-1", status="complete", summary=RunSummary(pass_rate=0.5))

    reopened = open_store(db_url)
    run = reopened.get_run("s-1")
    assert run == make_run().model_copy(
        update={"status": "complete", "summary": RunSummary(pass_rate=0.5), "finished_at": run.finished_at}
    )
    assert run.finished_at is not None
    frame = reopened.case_results("s-1")
    assert list(frame["case_id"]) == ["c1", "c2", "c3"]
    row = frame.iloc[0]
    assert json.loads(row["input_json"]) == {"q": "ü ✓ c1"}
    assert json.loads(row["provenance_json"]) == {"log_id": 7}
    assert row["source"] == "mined" and not row["verified"]
    assert frame.iloc[2]["error"] == "503: down" and pd.isna(frame.iloc[2]["parsed_json"])
    scores = reopened.score_rows("s-1")
    assert len(scores) == 2 and json.loads(scores.iloc[0]["details_json"]) == {"k": [1]}
    fields = reopened.field_rows("s-1", ["c1"])
    assert list(fields["field"]) == ["a"] and json.loads(fields.iloc[0]["expected_json"]) == 1


def test_old_summary_rows_load_with_missing_keys_defaulted(db_url: str) -> None:
    """Rows stored before the summary had a model (keys missing, one unknown) load, and keep their keys."""
    old = {
        "results": 3,
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "pass_rate": 0.5,
        "prompt_tokens": 30,
        "completion_tokens": 15,
        "cost_usd": 0,
        "latency_p50_ms": None,
        "scorers": {"exact": {"scored": 2, "passed": 1, "pass_rate": 0.5, "mean_score": 0.5, "errors": 0}},
        "calls": {"requests": 2, "retries": 0, "cache_hits": 1, "cache_misses": 2, "failed_calls": 1},
        "gate": {"passed": False, "exit_code": 1, "reasons": ["pass rate 50.0% < min_pass_rate 80%"]},
        "baseline": {"passed": True, "exit_code": 0, "baseline_run_id": "b-1", "p_value": 0.5},
        "from_a_later_version": [1, 2],
    }
    store = open_store(db_url)
    store.create_run(make_run())
    with _backend(db_url).connect() as con:  # type: ignore[attr-defined]
        con.execute(
            "UPDATE runs SET status = 'complete', summary_json = ? WHERE run_id = ?", (json.dumps(old), "s-1")
        )
    summary = store.get_run("s-1").summary
    assert summary is not None
    assert (summary.results, summary.pass_rate, summary.cost_usd) == (3, 0.5, 0.0)
    assert (summary.latency_p95_ms, summary.cached, summary.repeat) == (None, 0, 1)
    assert (summary.flaky, summary.quarantined, summary.gate_counts, summary.ray) == ([], [], None, None)
    assert summary.scorers["exact"].mean_score == 0.5
    assert summary.calls is not None and summary.calls.requests == 2
    assert summary.calls.concurrency_limit_end is None and summary.calls.rate_limit_backoffs == 0
    assert summary.gate is not None and summary.gate.exit_code == 1 and summary.gate.warnings == []
    assert summary.baseline is not None and summary.baseline.baseline_run_id == "b-1"
    assert summary.schema_version == SUMMARY_SCHEMA_VERSION
    # written back (a sync does), the row keeps the keys it had, the unknown ones included
    stored = summary.stored()
    assert set(stored) == {*old, "schema_version"}
    assert stored["calls"] == old["calls"] and stored["from_a_later_version"] == [1, 2]
    assert stored["baseline"]["p_value"] == 0.5 and stored["latency_p50_ms"] is None


def test_a_run_without_a_summary_has_none(db_url: str) -> None:
    store = open_store(db_url)
    store.create_run(make_run())
    assert store.get_run("s-1").summary is None  # NULL until the run ends


def test_summary_aggregates(db_url: str) -> None:
    store = open_store(db_url)
    store.create_run(make_run())
    store.add_results(
        "s-1",
        [
            make_result("c1"),
            make_result("c2", "fail"),
            make_result("c3", "error"),
            make_result("c1", epoch=1),
        ],
    )
    s = store.summarize("s-1")
    assert (s.results, s.passed, s.failed, s.errors) == (4, 2, 1, 1)
    assert s.pass_rate == pytest.approx(2 / 3)
    assert s.prompt_tokens == 30 and s.completion_tokens == 15
    assert s.cost_usd == pytest.approx(0.003)
    assert s.latency_p50_ms == pytest.approx(12.5)
    assert s.scorers["fields"].model_dump() == {
        "scored": 3,
        "passed": 2,
        "pass_rate": pytest.approx(2 / 3),
        "mean_score": pytest.approx(2.5 / 3),
        "errors": 0,
    }


def test_case_rows_are_written_once_and_results_never_twice(db_url: str) -> None:
    store = open_store(db_url)
    store.create_run(make_run())
    store.add_results("s-1", [make_result("c1")])
    store.add_results("s-1", [make_result("c1", epoch=1)])  # same case, next epoch: case row kept once
    assert store.completed_keys("s-1") == {("c1", 0), ("c1", 1)}
    with pytest.raises(DuplicateRowError, match="outputs"):
        store.add_results("s-1", [make_result("c2"), make_result("c1")])  # c1 epoch 0 is already stored
    # the failed batch left nothing behind: it is atomic
    assert store.completed_keys("s-1") == {("c1", 0), ("c1", 1)}


def test_rows_of_new_cases_store_a_case_once_and_refuse_one_stored_before(db_url: str) -> None:
    from evalkit.store.result_rows import ResultRows

    store = open_store(db_url)
    store.create_run(make_run())
    rows = ResultRows("s-1", new_cases=True)  # a new run's batch: case rows without a conflict check
    rows.add(make_result("c1"))
    rows.add(make_result("c2"))
    store.add_rows(rows)
    assert store.completed_keys("s-1") == {("c1", 0), ("c2", 0)}
    again = ResultRows("s-1", new_cases=True)
    again.add(make_result("c1", epoch=1))  # a case row stored by an earlier batch: refused, atomically
    with pytest.raises(DuplicateRowError, match="cases"):
        store.add_rows(again)
    assert store.completed_keys("s-1") == {("c1", 0), ("c2", 0)}


def test_run_lookup_by_prefix_latest_and_errors(db_url: str) -> None:
    store = open_store(db_url)
    with pytest.raises(UsageError, match="no runs stored yet"):
        store.get_run("latest")
    store.create_run(make_run("s-20260101-aaaa", datetime(2026, 1, 1)))
    store.create_run(make_run("s-20260102-bbbb", datetime(2026, 1, 2)))
    assert store.get_run("latest").run_id == "s-20260102-bbbb"
    assert store.get_run("s-20260101").run_id == "s-20260101-aaaa"
    with pytest.raises(UsageError, match="ambiguous"):
        store.get_run("s-2026")
    with pytest.raises(UsageError, match="no run 'zzz'"):
        store.get_run("zzz")
    assert [r.run_id for r in store.list_runs(limit=1)] == ["s-20260102-bbbb"]


def test_migrations_are_numbered_and_applied_once(tmp_path: Path) -> None:
    migrations = available_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    path = tmp_path / "e.duckdb"
    open_store(path)
    open_store(path)  # second open applies nothing
    con = duckdb.connect(str(path))
    versions = [
        r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    ]
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    con.close()
    assert versions == [m.version for m in migrations]
    assert {"runs", "cases", "outputs", "scores", "field_scores"} <= tables


def test_database_from_a_newer_evalkit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.duckdb"
    open_store(path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    con.close()
    with pytest.raises(StoreError, match="schema version 999 is newer"):
        open_store(path)


def test_locked_database_times_out_with_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "e.duckdb"
    open_store(path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({str(path)!r}); print('locked', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        from evalkit.store.duckdb import DuckDBBackend
        from evalkit.store.queries import Store

        with pytest.raises(StoreError, match="locked by another process"):
            Store(DuckDBBackend(path, lock_timeout=0.3))
    finally:
        holder.communicate("")
    assert open_store(path).list_runs() == []  # usable again once the other process lets go


def test_show_on_missing_database_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no results database"):
        open_store(tmp_path / "none.duckdb", must_exist=True)


def _backend(db_url: str) -> object:
    if db_url.startswith("postgresql://"):
        from evalkit.store.postgres import PostgresBackend

        return PostgresBackend(db_url)
    from evalkit.store.duckdb import DuckDBBackend

    return DuckDBBackend(Path(db_url))


def test_upgrade_from_version_1_keeps_runs(db_url: str) -> None:
    """A database written at schema version 1 is migrated in place: its runs survive, new columns are NULL."""
    from evalkit.store.migrate import applied_versions, migrate
    from evalkit.store.queries import Store

    backend = _backend(db_url)
    with backend.connect() as con:  # type: ignore[attr-defined]
        assert migrate(con, backend, target=1) == [1]
        con.execute(
            "INSERT INTO runs (run_id, suite_name, suite_path, suite_hash, model, params_json, evalkit_version, "
            "started_at, status, n_cases, config_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "old-run",
                "s",
                "s.yaml",
                "h",
                "openai/x",
                "{}",
                "0.0.1",
                datetime(2025, 5, 1),
                "complete",
                3,
                "{}",
            ),
        )
    store = Store(backend)
    with backend.connect() as con:  # type: ignore[attr-defined]
        assert applied_versions(con) == {m.version for m in available_migrations()}
    run = store.get_run("old-run")
    assert (run.model, run.n_cases, run.status, run.group_id, run.parent_run_id) == (
        "openai/x",
        3,
        "complete",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("variable", "value"), [("EVALKIT_DUCKDB_MEMORY", "lots"), ("EVALKIT_DUCKDB_THREADS", "some")]
)
def test_a_bad_duckdb_setting_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any, variable: str, value: str
) -> None:
    path = tmp_path / "e.duckdb"
    open_store(path).list_runs()  # a database that exists, with nothing to lose
    monkeypatch.setenv(variable, value)
    result = cli("runs", "--db", str(path))
    assert result.exit_code == ExitCode.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"evalkit: error: {variable}={value!r}: give ")
    monkeypatch.delenv(variable)
    assert open_store(path).list_runs() == []  # still readable with the setting fixed


def test_a_held_database_closes_in_the_background_and_opens_again_when_used(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with held_store(db) as store:
        store.create_run(make_run())
        store.add_results("s-1", [make_result("c1")])
        store.close_in_background()
        store.close_in_background()  # already closing: nothing more to do
        assert store.get_run("s-1").run_id == "s-1"  # waits for the close, then opens the file again
        store.add_results("s-1", [make_result("c2")])
        store.close_in_background()
    # the end of the hold waited for the last close: its checkpoint emptied the log into the file
    assert not (tmp_path / "r.duckdb.wal").exists()
    assert list(open_store(db).case_results("s-1")["case_id"]) == ["c1", "c2"]


class FailingClose:
    """A connection whose close fails at its checkpoint, as on a disk that filled up."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)

    def close(self) -> None:
        self.con.close()
        raise duckdb.IOException("could not write the checkpoint: no space left on device")


def test_an_error_closing_in_the_background_is_raised_where_the_hold_ends(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with pytest.raises(DatabaseFileError, match="no space left") as raised, held_store(db) as store:
        store.create_run(make_run())
        backend = store.backend
        backend._held = FailingClose(backend._held)  # type: ignore[attr-defined]
        store.close_in_background()
    # one line naming the file, as a commit's failure is (exit 3), not DuckDB's own exception
    assert raised.value.path == db and "free space" in raised.value.one_line()


def test_a_close_failing_after_a_command_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside a run each store call opens and closes the file; its close's checkpoint failing is
    the DatabaseFileError (exit 3) a refused statement is, not DuckDB's own exception (exit 70)."""
    db = tmp_path / "r.duckdb"
    store = open_store(db)
    store.create_run(make_run())
    opened = store.backend._open  # type: ignore[attr-defined]
    monkeypatch.setattr(store.backend, "_open", lambda: FailingClose(opened()))
    with pytest.raises(DatabaseFileError, match="no space left") as raised:
        store.list_runs()
    assert raised.value.path == db and "free space" in raised.value.one_line()


def test_a_close_failing_as_the_file_is_handed_over_is_raised_where_the_hold_ends(tmp_path: Path) -> None:
    """The watcher thread lets go of a held file when another process waits for it; a checkpoint
    failing then is raised where the hold ends, not lost with the thread."""
    import os

    tried = threading.Event()

    class FailingAndSaying(FailingClose):
        def close(self) -> None:
            tried.set()  # the watcher holds the store's lock until it has kept the error
            super().close()

    db = tmp_path / "r.duckdb"
    with pytest.raises(DatabaseFileError, match="no space left"), held_store(db) as store:
        store.create_run(make_run())
        backend = store.backend
        backend._held = FailingAndSaying(backend._held)  # type: ignore[attr-defined]
        (tmp_path / f"r.duckdb.wait.{os.getpid() + 1}").touch()  # another process waits for the file
        assert tried.wait(30), "the watcher never let go of the file"


class _SlowTeardown:
    """A held connection whose close (the engine's teardown, after the checkpoint) waits for
    ``release``: the hold's end must not wait for it when the process ends."""

    def __init__(self, con: Any, release: threading.Event, order: list[str]) -> None:
        self.con, self.release, self.order = con, release, order

    def execute(self, sql: str, *params: Any) -> Any:
        return self.con.execute(sql, *params)

    def close(self) -> None:
        self.release.wait(timeout=20)
        self.con.close()
        self.order.append("teardown done")


def test_a_close_for_an_ending_process_waits_for_the_checkpoint_not_the_teardown(tmp_path: Path) -> None:
    db, release, order = tmp_path / "r.duckdb", threading.Event(), []
    with held_store(db) as store:
        store.create_run(make_run())
        store.add_results("s-1", [make_result("c1"), make_result("c2")])
        backend = store.backend
        backend._held = _SlowTeardown(backend._held, release, order)  # type: ignore[attr-defined]
        store.close_in_background(process_ends=True)
    order.append("hold ended")
    # the checkpoint emptied the log into the file before the hold ended: nothing lives in a .wal
    assert not (tmp_path / "r.duckdb.wal").exists()
    release.set()
    closing = backend._closing  # type: ignore[attr-defined]
    assert closing is not None and closing.daemon  # the process's end does not wait for it
    closing.join()
    assert order == ["hold ended", "teardown done"]
    assert list(open_store(db).case_results("s-1")["case_id"]) == ["c1", "c2"]


def test_a_failed_checkpoint_for_an_ending_process_is_raised_where_the_hold_ends(tmp_path: Path) -> None:
    class FailingCheckpoint:
        def __init__(self, con: Any) -> None:
            self.con = con

        def execute(self, sql: str) -> None:
            raise duckdb.IOException("could not write the checkpoint: no space left on device")

        def close(self) -> None:
            self.con.close()

    with pytest.raises(DatabaseFileError, match="no space left"), held_store(tmp_path / "r.duckdb") as store:
        store.create_run(make_run())
        backend = store.backend
        backend._held = FailingCheckpoint(backend._held)  # type: ignore[attr-defined]
        store.close_in_background(process_ends=True)


def test_response_cache_rows_keep_the_first_answer_for_a_key(tmp_path: Path) -> None:
    """Cached answers are added without a conflict clause on DuckDB (keys looked up first): a key
    already stored, or repeated within a batch, keeps its first answer; nothing fails."""
    from evalkit.providers.base import Completion
    from tests.runs import run_record

    store = open_store(tmp_path / "c.duckdb")
    store.create_run(run_record("r1"))
    answer = lambda text: Completion(text=text, prompt_tokens=3, completion_tokens=2)  # noqa: E731
    store.add_results("r1", [], cache_rows=[("k1", "m", answer("first")), ("k1", "m", answer("again"))])
    store.add_results("r1", [], cache_rows=[("k1", "m", answer("later")), ("k2", "m", answer("other"))])
    found = store.cached_responses(["k1", "k2", "k3"])
    assert {key: row["raw_text"] for key, row in found.items()} == {"k1": "first", "k2": "other"}


def test_every_latency_figure_is_of_measured_answers_only(tmp_path: Path) -> None:
    """A run's summary, a trend's week and the run's outcomes read one rule: answers only (a call
    that took 30 s to fail is no answer's latency), not cached, not recorded (0 ms, a replay)."""
    from datetime import timedelta

    from evalkit.analysis.outcomes import load_outcomes
    from evalkit.results import OutputRecord
    from evalkit.store.trends import TrendStore
    from tests.runs import Outcome, case_result, run_record

    store = open_store(tmp_path / "e.duckdb")
    record = run_record("r-lat")
    results = [case_result(Outcome(f"c{i:02d}", "pass", latency_ms=100.0)) for i in range(19)]
    failed = case_result(Outcome("timeout", "error"))
    failed = failed.model_copy(
        update={"output": OutputRecord(status="error", error="timed out", latency_ms=30_000.0)}
    )
    replayed = case_result(Outcome("replayed", "pass", latency_ms=0.0))
    store.create_run(record.model_copy(update={"n_cases": 21}))
    store.add_results(record.run_id, [*results, failed, replayed])
    summary = store.summarize(record.run_id)
    store.finish_run(record.run_id, status="complete", summary=summary)
    assert summary.latency_p50_ms == summary.latency_p95_ms == pytest.approx(100.0)
    outcomes = load_outcomes(store, store.get_run(record.run_id))
    assert outcomes.latency_p95_ms == pytest.approx(100.0)
    since = record.started_at - timedelta(days=1)
    week = TrendStore(store, [record.run_id]).weekly_suite(record.suite_name, since)
    assert float(week["latency_p95_ms"].iloc[0]) == pytest.approx(100.0)
    # a series of recorded outputs alone has no latency to show, not 0 ms
    only = run_record("r-replay", minutes=1)
    store.create_run(only.model_copy(update={"n_cases": 1}))
    store.add_results(only.run_id, [replayed])
    store.finish_run(only.run_id, status="complete", summary=store.summarize(only.run_id))
    replay_week = TrendStore(store, [only.run_id]).weekly_suite(only.suite_name, since)
    assert replay_week["latency_p95_ms"].isna().all()


def test_a_run_prefix_is_taken_literally_not_as_a_pattern(tmp_path: Path) -> None:
    """`_` and `%` in a reference are characters of a run id: `show s-a_b` must not find `s-axb...`."""
    from tests.runs import run_record

    store = open_store(tmp_path / "p.duckdb")
    store.create_run(run_record("s-axb-1"))
    store.create_run(run_record("s-a_b-2"))
    assert store.get_run("s-a_b").run_id == "s-a_b-2"  # not ambiguous with s-axb-1
    assert store.get_run("s-ax").run_id == "s-axb-1"
    for pattern in ("s-a%b", "s-%", "s-_xb"):
        with pytest.raises(UsageError, match="no run"):
            store.get_run(pattern)


def test_syncing_a_run_another_process_still_runs_says_to_wait_not_to_resume(tmp_path: Path) -> None:
    """--resume is refused while its process's heartbeat is fresh: advising it would send the user
    from one refusal to the next."""
    from evalkit.store.leases import this_process
    from evalkit.store.sync import sync_run
    from evalkit.store.values import utcnow
    from tests.runs import run_record

    source, target = open_store(tmp_path / "a.duckdb"), open_store(tmp_path / "b.duckdb")
    live = {"status": "running", "heartbeat_at": utcnow(), "heartbeat_by": this_process()}
    source.create_run(run_record("r-live").model_copy(update=live))
    source.create_run(run_record("r-stopped").model_copy(update={"status": "incomplete"}))
    with pytest.raises(
        UsageError, match=r"r-live is still running in another process .*sync it once it has finished"
    ):
        sync_run(source, target, "r-live")
    with pytest.raises(UsageError, match=r"r-stopped is incomplete; finish it \(evalkit run --resume\)"):
        sync_run(source, target, "r-stopped")
    assert target.list_runs() == []


def test_a_synced_run_of_a_matrix_brings_the_cells_its_matrix_planned(tmp_path: Path) -> None:
    """A stopped matrix's unfinished cell cannot be synced, and its unstarted ones have no run: without
    the planned cells, the shared store would hold a group that looks whole and compares as whole."""
    from evalkit.run.signals import matrix_not_started
    from evalkit.store.groups import GroupCell, group_cells, record_group_cells
    from evalkit.store.sync import sync_run
    from tests.runs import Outcome, run_record, store_run

    source, target = open_store(tmp_path / "a.duckdb"), open_store(tmp_path / "b.duckdb")
    planned = [GroupCell("v1", "big"), GroupCell("v1", "small"), GroupCell("v1", "dear")]
    record_group_cells(source, "g-1", planned)
    for minute, model in enumerate(("big", "small")):
        record = run_record(f"r{minute}", model=model, group_id="g-1", minutes=minute)
        store_run(source, record, [Outcome("c0", "pass")])
    for run_id in ("r0", "r1", "r0"):  # twice: nothing is recorded twice
        sync_run(source, target, run_id)
    assert group_cells(target, "g-1") == planned
    assert (matrix_not_started(target, "g-1") or "").startswith(
        "2 of 3 cells started; not started: v1 x dear;"
    )

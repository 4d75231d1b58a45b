"""SIGINT and SIGTERM stop a run: results kept, the run left incomplete, the resume command printed."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.run.runner import RunOptions
from evalkit.run.shape import recorded_options
from evalkit.run.signals import repeated_options
from evalkit.store import open_store
from evalkit.testing.openai_server import Faults, LoopbackOpenAI, echo_responder
from tests.conftest import StallAfter, interrupted, loopback_suite
from tests.runs import run_record

CASES = [
    {"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}} for i in range(60)
]


class CountingResponder:
    """The loopback server's answer, setting ``answered`` once ``after`` requests were answered."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.count = 0
        self.answered = threading.Event()

    def __call__(self, body: dict[str, Any]) -> str:
        self.count += 1
        if self.count >= self.after:
            self.answered.set()
        return echo_responder(body)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_leaves_a_resumable_incomplete_run_and_says_how_to_finish_it(
    make_suite: Callable[..., Path], tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    responder = CountingResponder(after=4)
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(latency=0.3, responder=responder) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers="  - name: json_fields\n"), CASES)
        args = ["run", str(suite), "--db", str(db), "--no-progress", "-c", "2", "--timeout", "30"]
        proc = interrupted(args, responder.answered, "the run", signum)
        stderr = proc.stderr
        assert proc.returncode == code
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        store = open_store(db)
        (run,) = store.list_runs()
        kept = len(store.completed_keys(run.run_id))
        # with 2 in flight, the 4th request was sent only after the first two answers were taken
        assert run.status == "incomplete" and 2 <= kept < len(CASES)
        # the gate of a part of the cases is no pass, though every kept result passed
        assert run.summary is not None and run.summary.gate is not None and run.summary.passed == kept
        assert not run.summary.gate.passed and run.summary.gate.exit_code == code
        assert run.summary.gate.reasons[0].startswith(f"stopped by {signum.name} with {kept} of {len(CASES)}")
        assert run.summary.calls is not None
        first_requests = run.summary.calls.requests
        assert first_requests >= kept
        assert f"run {run.run_id} stopped by {signum.name}: {kept} of {len(CASES)} results kept" in lines[0]
        # with the options --resume does not restore by itself (it does the model, prompt, epochs, shard)
        resume = f"evalkit run {suite} --resume {run.run_id} --concurrency 2 --timeout 30.0 --db {db}"
        assert lines[0].endswith(f"finish it with: {resume}")

        server.latency = 0.0
        kept_ids = {case_id for case_id, _ in store.completed_keys(run.run_id)}
        before = len(server.stats.bodies)
        finished = subprocess.run(
            [sys.executable, "-m", "evalkit", *resume.split()[1:], "--no-progress"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert finished.returncode == 0, finished.stderr
        # only cases not kept were sent again (an answer taken but not yet scored at the signal
        # may come from the response cache instead)
        sent = [body["messages"][-1]["content"].strip() for body in server.stats.bodies[before:]]
        assert len(CASES) - kept - 2 <= len(sent) <= len(CASES) - kept
        assert set(sent) <= {case["input"]["question"] for case in CASES}
        assert not {f"q{int(case_id[1:])}" for case_id in kept_ids} & set(sent)
    run = open_store(db).get_run(run.run_id)
    assert run.status == "complete"
    assert len(open_store(db).completed_keys(run.run_id)) == len(CASES)
    assert run.summary is not None and run.summary.gate_counts is not None
    assert run.summary.gate_counts.errors == 0
    assert run.summary.gate is not None and run.summary.gate.passed
    # the Calls line counts the whole run: the interrupted part and the resumption
    assert run.summary.calls is not None and run.summary.calls.requests == first_requests + len(sent)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_a_run_on_ray_as_it_stops_a_local_one(
    make_suite: Callable[..., Path], tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    """ray.init installs its own SIGTERM handler (sys.exit): the run's own is put back after it, so the
    exit code, the one-line message and the stored gate are those of a local run."""
    pytest.importorskip("ray", reason="Ray tests need the [ray] extra (.ci/setup installs it)")
    # four answers, then every request hangs: the run cannot finish before the signal (with answers
    # that only came slowly, a loaded machine's Ray run sometimes did)
    plan = StallAfter(answered=4, in_flight=2)
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(fault_plan=plan, faults=Faults(hang_seconds=300)) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers="  - name: json_fields\n"), CASES)
        args = ["run", str(suite), "--db", str(db), "--no-progress", "-c", "2", "--ray", "local"]
        proc = interrupted(args, plan.stalled, "the run", signum, wait=120)
        stderr = proc.stderr
    assert proc.returncode == code, stderr
    # Ray prints its own notice on starting a session (a run that is not stopped prints it too)
    lines = [line for line in stderr.strip().splitlines() if "Token authentication" not in line]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    store = open_store(db)
    (run,) = store.list_runs()
    kept = len(store.completed_keys(run.run_id))
    assert run.status == "incomplete" and kept < len(CASES)
    assert run.summary is not None and run.summary.gate is not None and run.summary.gate.exit_code == code
    assert f"run {run.run_id} stopped by {signum.name}: {kept} of {len(CASES)} results kept" in lines[0]


def test_a_run_being_resumed_shows_no_figures_of_its_stopped_part(tmp_path: Path, cli: Any) -> None:
    """While a resume runs it (or after the resuming process was killed), the stored summary is the
    earlier stop's: 52 of 200 results, 78.8%, 'fail (130)'. runs and show must not print those as
    the run's figures."""
    from evalkit.results import GateDecision
    from evalkit.store.leases import RunLeases
    from tests.runs import Outcome, run_record, store_run

    db = tmp_path / "r.duckdb"
    store = open_store(db)
    stopped = store_run(
        store, run_record("r1"), [Outcome(f"c{i}", "pass" if i else "fail") for i in range(4)]
    )
    assert stopped.summary is not None
    summary = stopped.summary.model_copy(
        update={"gate": GateDecision(passed=False, exit_code=130, reasons=["stopped"])}
    )
    store.finish_run("r1", status="incomplete", summary=summary)
    stopped_row = next(
        line for line in cli("runs", "--db", str(db)).stdout.splitlines() if line.startswith("r1 ")
    )
    assert "stopped (130)" in stopped_row and "fail" not in stopped_row  # stopped, no gate failed
    page = tmp_path / "r1.html"
    assert cli("report", "r1", "--db", str(db), "--out", str(page)).exit_code == 0
    assert "stopped</span> (exit 130)" in page.read_text(encoding="utf-8")  # the report's Runs table alike
    RunLeases(store).claim("r1")  # what a resume does first
    listed = cli("runs", "--db", str(db)).stdout
    row = next(line for line in listed.splitlines() if line.startswith("r1 "))
    assert "running" in row and "75.0%" not in row and "fail (130)" not in row and "n/a" in row
    shown = cli("show", "r1", "--db", str(db)).stdout
    assert "· running · pass rate n/a" in shown


def test_a_signal_while_the_run_is_finishing_is_noted_not_acted_on() -> None:
    """Ctrl-C as the summary and status were being stored left a run 'running' with no summary, or
    stored 'complete' while the terminal said 'marked incomplete'. From the run's end on, the first
    signal is noted; a second one stops the process the usual way."""
    import asyncio
    import os

    from evalkit.run.signals import StopSignals

    async def finishing() -> StopSignals:
        with StopSignals().installed() as stop:
            stop.finishing = True
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0.2)  # the handler runs on the loop: it would cancel this sleep
            return stop

    stop = asyncio.run(finishing())
    assert stop.received is None and stop.late == signal.SIGINT


def test_a_signal_while_a_new_database_is_created_still_finishes_the_run(
    make_suite: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's row is stored by a thread while the first calls fly. A signal landing before that
    thread was done left the run 'running' without a summary, though the terminal said 'marked
    incomplete'."""
    import os
    import time

    from evalkit.run.runner import RunOptions, run_suite
    from evalkit.run.signals import RunInterrupted
    from evalkit.store.opening import held_store
    from evalkit.store.queries import Store
    from evalkit.suite.loading import load_suite

    create_run = Store.create_run

    def slow_create(self: Store, run: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # the signal lands while the row is being stored
        time.sleep(0.3)
        create_run(self, run)

    monkeypatch.setattr(Store, "create_run", slow_create)
    db = tmp_path / "new.duckdb"
    with LoopbackOpenAI(latency=0.5, responder=echo_responder) as server:
        suite = load_suite(
            make_suite(loopback_suite(server.base_url, scorers="  - name: json_fields\n"), CASES)
        )
        with pytest.raises(RunInterrupted) as stopped, held_store(db, create_later=True) as store:
            run_suite(suite, store, RunOptions(concurrency=2))
    monkeypatch.undo()
    (run,) = open_store(db).list_runs()
    assert "marked incomplete" in str(stopped.value)
    assert run.status == "incomplete" and run.summary is not None  # as the message says


def test_a_query_interrupted_by_ctrl_c_is_an_interrupt_not_a_crash(tmp_path: Path) -> None:
    """After the run, Ctrl-C during the summary's queries came out of DuckDB as an error, and the
    command exited 70 ('internal error, please report it')."""
    import duckdb

    from evalkit.store.duckdb_connection import DuckDBConnection

    con = DuckDBConnection(duckdb.connect(), tmp_path / "x.duckdb")
    for raised in (
        duckdb.InterruptException("INTERRUPT Error: Interrupted!"),
        RuntimeError("Query interrupted"),
    ):
        with pytest.raises(KeyboardInterrupt), con._file_errors():
            raise raised


def test_the_commands_that_rerun_or_resume_a_run_repeat_what_shaped_it_as_recorded() -> None:
    """Each option recorded with a run comes back as the argument that sets it; a resume leaves out
    the epochs and shard, which --resume restores from the run itself; the budget never comes back."""
    gate = {"baseline_run": "base-1", "allow_scoring_change": True, "allow_removed_critical": ["c 1", "c2"]}
    options = RunOptions(
        concurrency=4, repeat=3, use_cache=False, budget_usd=2.5, timeout=12.5, baseline_gate=gate
    )
    run = run_record("r1").model_copy(
        update={"config": {"run": recorded_options(options, 3)}, "shard": "2/4", "kind": "shard"}
    )
    shaped = (
        "--concurrency 4 --timeout 12.5 --no-cache --baseline base-1 --allow-scoring-change "
        "--allow-removed-critical 'c 1' --allow-removed-critical c2"
    )
    assert repeated_options(run) == f" --repeat 3 --shard 2/4 {shaped}"
    assert repeated_options(run, resuming=True) == f" {shaped}"
    # a run with every option at its default (and one stored before they were recorded) adds nothing
    plain = run_record("r2").model_copy(update={"config": {"run": recorded_options(RunOptions(), 1)}})
    assert repeated_options(plain) == repeated_options(run_record("r3")) == ""

"""A stopped or killed run says its tokens and cost are lower bounds: the requests it abandoned in
flight, or the calls a killed part made after its last commit, are in no figure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.report.formatting import calls_text, run_cost_cell, usage_text
from evalkit.store import open_store
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.conftest import StallAfter, interrupted, loopback_suite

# more cases than the local loop keeps tasks for at -c 2 (16): the last case is not dispatched
# while two calls hang, so every commit stores the run's call counters (as a long run's do)
CASES = [
    {"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}} for i in range(20)
]


def evalkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, check=False, timeout=120
    )


def start_run(suite: Path, db: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "evalkit", "run", str(suite), "--db", str(db), "--no-progress"]
    return subprocess.Popen([*command, "-c", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def priced_suite(make_suite: Callable[..., Path], server: LoopbackOpenAI) -> Path:
    """The cases on the loopback server under a model the price map prices: the cost is a figure."""
    text = loopback_suite(server.base_url, scorers="  - name: json_fields\n")
    return make_suite(text.replace("openai/loopback", "openai/gpt-4o-mini"), CASES)


def test_requests_in_flight_at_a_signal_make_the_cost_a_lower_bound_through_resume(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    plan = StallAfter(answered=3, in_flight=2)
    with LoopbackOpenAI(fault_plan=plan, faults=Faults(hang_seconds=300)) as server:
        suite = priced_suite(make_suite, server)
        # SIGINT with two requests sent, neither answered
        proc = interrupted(
            ["run", str(suite), "--db", str(db), "--no-progress", "-c", "2"], plan.stalled, "the run"
        )
        stderr = proc.stderr
        assert proc.returncode == 130, stderr
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
        (run,) = open_store(db).list_runs()
        assert run.summary is not None and run.summary.calls is not None
        # as the stopped run's summary reads wherever it is shown (a merge, a table of runs)
        usage = usage_text(run.summary, stopped=True)
        assert usage.startswith("Tokens at least ") and " · cost at least $" in usage, usage
        assert run_cost_cell(run.summary).startswith("at least $")
        calls_line = calls_text(run.summary.calls)
        # the requests themselves are counted (as they were sent): what they cost is not known
        assert calls_line.startswith("Calls 5 requests ("), calls_line
        assert "2 requests were in flight when the run stopped: their cost is not known" in calls_line
        assert (run.summary.calls.requests, run.summary.calls.in_flight_at_stop) == (5, 2)
        assert server.stats.requests == 5

        plan.answered = len(CASES) * 10  # the provider answers again
        resumed = evalkit("run", str(suite), "--resume", run.run_id, "--db", str(db), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    # the stopped part's abandoned requests stay in the run's figures: still lower bounds
    assert "2 requests were in flight when the run stopped" in resumed.stdout
    assert "Tokens at least " in resumed.stdout and "cost at least $" in resumed.stdout
    finished = open_store(db).get_run(run.run_id)
    assert finished.status == "complete" and finished.summary is not None
    assert finished.summary.calls is not None and finished.summary.calls.in_flight_at_stop == 2


class StallPastABackoff:
    """A fault plan: answers the first 3 requests, answers the 4th with a 429 (its call then sleeps
    out the Retry-After, 20 s at most), hangs every later one; ``stalled`` once 3 hang."""

    def __init__(self) -> None:
        self.seen = 0
        self.stalled = threading.Event()

    def __call__(self, _body: dict[str, Any], _attempt: int) -> str | None:
        self.seen += 1
        if self.seen >= 7:
            self.stalled.set()
        return {4: "429"}.get(self.seen, None if self.seen <= 3 else "hang")


def server_stats(server: LoopbackOpenAI) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.base_url.removesuffix('/v1')}/stats", timeout=30) as answer:
        stats: dict[str, Any] = json.load(answer)
    return stats


def test_a_run_stopped_by_sigterm_counts_what_the_server_got_and_never_answered(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """Stopped with three requests hanging at the server, a fourth call sleeping out a 429's
    Retry-After and the other cases waiting for a slot: in flight are exactly the requests the
    server received and did not answer, and `evalkit show` says the cost is a lower bound."""
    db = tmp_path / "r.duckdb"
    plan = StallPastABackoff()
    with LoopbackOpenAI(
        fault_plan=plan, latency=0.05, faults=Faults(hang_seconds=300, retry_after=300)
    ) as server:
        suite = priced_suite(make_suite, server)
        proc = interrupted(
            ["run", str(suite), "--db", str(db), "--no-progress", "-c", "3"],
            plan.stalled,
            "the run",
            signal.SIGTERM,
        )
        assert proc.returncode == 143, proc.stderr
        received = server_stats(server)  # the process has exited: what it left unanswered stays so
        (run,) = open_store(db).list_runs()
        shown = evalkit("show", run.run_id, "--db", str(db))
    assert run.status == "incomplete" and run.summary is not None and run.summary.calls is not None
    assert (received["requests"], received["in_flight"]) == (7, 3)
    assert run.summary.calls.requests == received["requests"]
    assert run.summary.calls.retries == 0  # the 429'd call's second request was never sent
    assert run.summary.calls.in_flight_at_stop == received["in_flight"]
    assert shown.returncode == 0, shown.stderr
    assert "3 requests were in flight when the run stopped: their cost is not known" in shown.stdout
    assert " · cost at least $" in shown.stdout, shown.stdout


def test_a_run_resumed_after_kill_9_says_its_figures_are_lower_bounds(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    plan = StallAfter(answered=3, in_flight=2)
    with LoopbackOpenAI(fault_plan=plan, faults=Faults(hang_seconds=300)) as server:
        suite = priced_suite(make_suite, server)
        proc = start_run(suite, db)
        try:
            assert plan.stalled.wait(60), "the run never reached the server"
            deadline = time.monotonic() + 30
            while not db.exists() or len(_kept(db)) < 3:
                assert time.monotonic() < deadline, "the answered results were never committed"
                time.sleep(0.1)  # polling for the commit, not waiting for time to pass
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        (killed,) = open_store(db).list_runs()
        assert killed.status == "running"  # what a kill leaves: no clean stop was recorded

        plan.answered = len(CASES) * 10
        resumed = evalkit("run", str(suite), "--resume", killed.run_id, "--db", str(db), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    calls_line = next(line for line in resumed.stdout.splitlines() if line.startswith("Calls "))
    assert calls_line.startswith("Calls at least "), calls_line
    assert "1 earlier part of the run was killed before recording the last calls" in calls_line
    usage = next(line for line in resumed.stdout.splitlines() if line.startswith("Tokens "))
    assert usage.startswith("Tokens at least ") and " · cost at least $" in usage, usage
    run = open_store(db).get_run(killed.run_id)
    assert run.status == "complete" and run.summary is not None and run.summary.calls is not None
    assert run.summary.calls.killed_parts == 1 and run_cost_cell(run.summary).startswith("at least $")


def _kept(db: Path) -> set[tuple[str, int]]:
    store = open_store(db)
    runs = store.list_runs()
    return store.completed_keys(runs[0].run_id) if runs else set()

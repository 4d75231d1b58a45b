"""Readers and a second writer while a run holds the database and waits on a stalled provider."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from evalkit.store import open_store
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.conftest import StallAfter, loopback_suite

CASES = [
    {"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}} for i in range(20)
]
# a reader that has not got the file within this long fails the test: the run never lets go
ENV = {**os.environ, "EVALKIT_LOCK_TIMEOUT": "20"}


def evalkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
        timeout=120,
    )


def test_readers_and_a_second_run_work_while_a_run_waits_on_slow_calls(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI() as fast:
        earlier = make_suite(
            loopback_suite(fast.base_url, scorers="  - name: json_fields\n"), CASES, name="early"
        )
        assert evalkit("run", str(earlier), "--db", db, "--no-progress").returncode == 0
        (first,) = open_store(db).list_runs()

        plan = StallAfter(answered=3, in_flight=2)
        with LoopbackOpenAI(fault_plan=plan, faults=Faults(hang_seconds=300)) as stalling:
            suite = make_suite(loopback_suite(stalling.base_url, scorers="  - name: json_fields\n"), CASES)
            command = [
                sys.executable,
                "-m",
                "evalkit",
                "run",
                str(suite),
                "--db",
                db,
                "--no-progress",
                "-c",
                "2",
            ]
            writer = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
            )
            try:
                assert plan.stalled.wait(60), "the run never reached the server"
                # the run holds the database and waits on two hung calls: no store call of its own
                # would notice a reader asking for the file
                runs = evalkit("runs", "--db", db)
                assert runs.returncode == 0, runs.stderr
                assert "running" in runs.stdout and "complete" in runs.stdout
                running = next(r for r in open_store(db).list_runs() if r.status == "running")
                # the three answered results are committed within a second though no more arrive
                deadline = time.monotonic() + 30
                while len(open_store(db).completed_keys(running.run_id)) < 3:
                    assert time.monotonic() < deadline, "answered results were never committed"
                    time.sleep(0.1)
                for reader in (
                    ("show", running.run_id, "--db", db),
                    ("report", running.run_id, "--db", db, "--out", str(tmp_path / "report.html")),
                    ("compare", first.run_id, running.run_id, "--db", db),
                ):
                    result = evalkit(*reader)
                    assert result.returncode in (0, 1), f"{reader[0]}: {result.stderr}"
                    assert "locked" not in result.stderr and "Traceback" not in result.stderr
                assert (tmp_path / "report.html").stat().st_size > 0
                # a second run on the same database lands while the first one still waits
                other = make_suite(
                    loopback_suite(fast.base_url, scorers="  - name: json_fields\n"), CASES, name="other"
                )
                second = evalkit("run", str(other), "--db", db, "--no-progress")
                assert second.returncode == 0, second.stderr
                assert writer.poll() is None  # the first run is still waiting on its calls
            finally:
                writer.send_signal(signal.SIGTERM)
                _, stderr = writer.communicate(timeout=60)
    assert writer.returncode == 143, stderr
    statuses = sorted(r.status for r in open_store(db).list_runs())
    assert statuses == ["complete", "complete", "incomplete"]


def test_a_process_waiting_for_the_database_says_so_and_goes_on_once_it_is_free(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    open_store(str(db)).list_runs()  # create it
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    reader = subprocess.Popen(
        [sys.executable, "-m", "evalkit", "runs", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert reader.stderr is not None
    waiting = reader.stderr.readline()  # blocks until the reader says it waits
    assert waiting.startswith(f"evalkit: waiting for {db}: another process has it open")
    assert reader.poll() is None
    holder.communicate("")  # the other process closes the file
    _, rest = reader.communicate(timeout=60)
    assert reader.returncode == 0, rest
    assert "Traceback" not in rest

"""A prompts x models matrix stopped part-way (Ctrl-C, SIGTERM): the cells that never started are
named, with the command that runs the matrix again, and its group is not compared as if whole."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import (
    CliResult,
    StallAfter,
    interrupted,
    loopback_suite,
    one_error_line,
    run_suite_cli,
)

N = 20
CASES = [{"id": f"c{i:02d}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}} for i in range(N)]
MODELS = ("openai/loopback", "openai/other")


def two_prompt_suite(make_suite: Callable[..., Path], base_url: str) -> Path:
    text = loopback_suite(base_url, scorers="  - name: json_fields\n").replace(
        "prompts: {v1: prompts/v1.j2}", "prompts: {v1: prompts/v1.j2, v2: prompts/v2.j2}"
    )
    suite = make_suite(text, CASES)
    (suite.parent / "prompts" / "v2.j2").write_text(
        "[system]\nAnswer in JSON, please.\n[user]\n{{ question }}\n", encoding="utf-8"
    )
    return suite


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_matrix_names_the_cells_that_never_started_and_its_group_is_not_called_whole(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    signum: signal.Signals,
    code: int,
) -> None:
    db = tmp_path / "e.duckdb"
    # the first cell (v1 x loopback) is answered, the second (v2 x loopback) 5 times, then every
    # request hangs: the matrix is stopped in its second cell, with two cells not started
    plan = StallAfter(answered=N + 5, in_flight=2)
    with LoopbackOpenAI(fault_plan=plan) as server:
        suite = two_prompt_suite(make_suite, server.base_url)
        matrix = ["-p", "v1", "-p", "v2", "-m", MODELS[0], "-m", MODELS[1]]
        args = ["run", str(suite), "--db", str(db), "--no-progress", "-c", "2", *matrix]
        proc = interrupted(args, plan.stalled, "the matrix's second cell", signum)
        stdout, stderr = proc.stdout, proc.stderr
        assert proc.returncode == code, stderr
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
        runs = open_store(db).list_runs()
        assert {(r.prompt_version, r.model, r.status) for r in runs} == {
            ("v1", MODELS[0], "complete"),
            ("v2", MODELS[0], "incomplete"),
        }
        group = runs[0].group_id
        assert group is not None and {r.group_id for r in runs} == {group}
        rerun = (
            f"evalkit run {suite} --prompt v1 --prompt v2 --model {MODELS[0]} --model {MODELS[1]} "
            f"--concurrency 2 --db {db}"
        )
        stopped = next(line for line in stdout.splitlines() if line.startswith(f"matrix {group} stopped"))
        assert stopped == (
            f"matrix {group} stopped: 2 of 4 cells started; not started: v1 x {MODELS[1]}, "
            f"v2 x {MODELS[1]}; a matrix does not resume: run it again (a new group; the answers "
            f"of the cells that ran come from the response cache): {rerun}"
        )

        compared = cli("compare", "latest", "--db", str(db))
        one_error_line(
            compared, 4, f"group {group} is incomplete: 2 of 4 cells started; not started: v1 x {MODELS[1]}"
        )
        assert "Model frontier" not in compared.stdout

        # the command it gave runs the whole matrix again; the cells that ran are not asked again
        server.fault_plan = None
        before = len(server.stats.bodies)
        again = cli(*rerun.split()[1:], "--no-progress")
        assert again.exit_code == 0, again.stdout + again.stderr
        assert len(server.stats.bodies) - before == 2 * N + (N - 5)
    whole = cli("compare", "latest", "--db", str(db))
    assert whole.exit_code == 0, whole.stderr
    assert "incomplete" not in whole.stdout and "Model frontier" in whole.stdout
    assert whole.stdout.startswith("group ") and group not in whole.stdout.splitlines()[0]


class HangModel:
    """A loopback server's fault plan: every request to ``model`` hangs; ``stalled`` is set once
    ``in_flight`` of them do (the matrix is then in that model's cell, waiting for them)."""

    def __init__(self, model: str, in_flight: int) -> None:
        self.model, self.in_flight = model, in_flight
        self.hung = 0
        self.stalled = threading.Event()

    def __call__(self, body: dict[str, Any], _attempt: int) -> str | None:
        if body.get("model") != self.model:
            return None
        self.hung += 1
        if self.hung >= self.in_flight:
            self.stalled.set()
        return "hang"


def test_the_command_a_stopped_matrix_prints_runs_the_same_matrix_again(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The epochs, the fixed concurrency, the timeout and the baseline the cells are gated on are
    taken from what the matrix recorded: the command runs cells comparable with the first ones."""
    db = tmp_path / "e.duckdb"
    models = ("openai/loopback", "openai/other", "openai/third")
    with LoopbackOpenAI() as server:
        suite = make_suite(loopback_suite(server.base_url, scorers="  - name: json_fields\n"), CASES)
        assert run_suite_cli(cli, suite, db).exit_code == 0
        (base,) = open_store(db).list_runs()
        plan = HangModel("other", in_flight=3)
        server.fault_plan = plan
        matrix = [a for m in models for a in ("-m", m)]
        options = ["--repeat", "2", "--concurrency", "3", "--timeout", "30", "--baseline", base.run_id]
        args = ["run", str(suite), "--db", str(db), "--no-progress", *matrix, *options]
        proc = interrupted(args, plan.stalled, "the matrix's second cell")
        assert proc.returncode == 130, proc.stderr
        first = [r for r in open_store(db).list_runs() if r.group_id is not None]
        group = first[0].group_id
        stopped = next(x for x in proc.stdout.splitlines() if x.startswith(f"matrix {group} stopped"))
        assert "not started: v1 x openai/third" in stopped
        command = stopped.split("from the response cache): ", 1)[1]
        assert command == (
            f"evalkit run {suite} --prompt v1 --model {models[0]} --model {models[1]} --model {models[2]} "
            f"--repeat 2 --concurrency 3 --timeout 30.0 --baseline {base.run_id} --db {db}"
        )

        server.fault_plan = None
        again = subprocess.run(
            [sys.executable, "-m", "evalkit", *shlex.split(command)[1:], "--no-progress"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 0, again.stdout + again.stderr
    store = open_store(db)
    rerun = [r for r in store.list_runs() if r.group_id not in (None, group)]
    assert sorted(r.model for r in rerun) == sorted(models)
    for run in rerun:
        assert run.status == "complete" and run.kind == "repeat"
        assert run.config["run"] == first[0].config["run"] and run.params == first[0].params
        assert run.config["run"]["baseline_run"] == base.run_id
        assert run.summary is not None and run.summary.repeat == 2
        assert run.summary.baseline is not None and run.summary.baseline.baseline_run_id == base.run_id
        assert {epoch for _, epoch in store.completed_keys(run.run_id)} == {0, 1}
        assert len(store.completed_keys(run.run_id)) == 2 * N

"""A prompts x models matrix stopped part-way (Ctrl-C, SIGTERM): the cells that never started are
named, with the command that runs the matrix again, and its group is not compared as if whole."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, StallAfter, interrupted, loopback_suite, one_error_line

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
            f"evalkit run {suite} --prompt v1 --prompt v2 --model {MODELS[0]} --model {MODELS[1]} --db {db}"
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

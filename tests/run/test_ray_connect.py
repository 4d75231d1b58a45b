"""Ray settings no run could go on with: `--ray ADDRESS` where no cluster answers, `--ray-gpus` more
than any node has. One line and exit 2, not a wait for ever."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import one_error_line, write_cases

SUITE = (
    "name: loop\n"
    "target:\n"
    "  model: openai/loopback\n"
    "  api_base: http://127.0.0.1:9/v1\n"  # never called: the run stops before its first call
    "  prompts: {v1: prompts/v1.j2}\n"
    "cases: [cases.jsonl]\n"
    "scorers:\n  - name: exact\n"
)


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_no_cluster_answers_is_one_line_and_exit_2(
    scheme: str, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray tests need the [ray] extra (.ci/setup installs it)")
    path = make_suite(SUITE)
    write_cases(path.parent / "cases.jsonl", [{"id": "a", "input": {"question": "q"}, "expected": "x"}])
    db = tmp_path / "r.duckdb"
    # a port held but not listening: every connection to it is refused, on every address of the host
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        address = f"{scheme}127.0.0.1:{held.getsockname()[1]}"
        # before the fix, ray.init retried a cluster's address for ever (Ctrl-C did not stop it
        # either), and gave up on a Ray Client's after 30 s, with a warning of several lines
        args = ["run", str(path), "--db", str(db), "--no-progress", "--ray", address]
        result = subprocess.run(
            [sys.executable, "-m", "evalkit", *args],
            capture_output=True,
            text=True,
            timeout=90,
        )
    line = one_error_line(
        result, 2, f"--ray {address}: cannot connect to the Ray cluster: nothing answers at "
    )
    assert "Connection refused" in line
    assert not db.exists()  # refused before any run was stored


def test_more_gpus_than_a_node_has_is_one_line_and_exit_2(
    ray_session: Any, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """The shard tasks of ``--ray-gpus 1`` on a cluster without GPUs could never start: before the fix,
    once the driver's own calls (while the workers warmed) were done, the run waited for ever, silent."""
    db = tmp_path / "r.duckdb"
    cases = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": "x"} for i in range(200)]
    with LoopbackOpenAI(latency=0.05) as server:
        path = make_suite(SUITE.replace("http://127.0.0.1:9/v1", server.base_url), cases)
        # a process of its own joins the test session's cluster (2 CPUs, no GPU): the old code's wait
        # is ended by the timeout, and the cluster cancels what its driver left
        address = ray_session.get_runtime_context().gcs_address
        args = ["run", str(path), "--db", str(db), "--no-progress", "--concurrency", "2"]
        args += ["--ray", address, "--ray-gpus", "1"]
        result = subprocess.run(
            [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, timeout=90
        )
        assert server.stats.requests == 0  # refused before the first call
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    # Ray itself may print a line on joining a cluster; evalkit's error is one line, the last
    assert result.stderr.strip().splitlines()[-1] == (
        "evalkit: error: --ray-gpus 1: no node of the Ray cluster has that many GPUs (at most 0), "
        "so no shard task could start: start its GPU nodes, or leave --ray-gpus out"
    )
    assert not db.exists()  # and before any run was stored

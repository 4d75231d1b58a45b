"""``--ray ADDRESS`` where no cluster answers: one line and exit 2, not ``ray.init`` retrying for ever."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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


def test_an_address_where_no_cluster_answers_is_one_line_and_exit_2(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray tests need the [ray] extra (.ci/setup installs it)")
    path = make_suite(SUITE)
    write_cases(path.parent / "cases.jsonl", [{"id": "a", "input": {"question": "q"}, "expected": "x"}])
    db = tmp_path / "r.duckdb"
    # a port held but not listening: every connection to it is refused, on every address of the host
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        address = f"127.0.0.1:{held.getsockname()[1]}"
        # before the fix, ray.init retried this address for ever (Ctrl-C did not stop it either)
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

"""`evalkit run` pauses Python's cyclic garbage collector through its start-up only: by the time the
run's calls are made it is on again, with what start-up built frozen out of its walks; `main(argv)`
in another program (here, the tests) leaves the collector alone."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO, CliResult

# a python: target answering with the state of the collector in the process that calls it
PROBE = (
    "import gc\n\n"
    "def answer(question):\n"
    "    return {'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count() > 0}\n"
)
SUITE = (
    "name: gc\ntarget:\n  model: python:probe:answer\ncases: [cases.jsonl]\nscorers:\n  - name: json_valid\n"
)
CASES = [{"id": f"c{i}", "input": {"question": f"q{i}"}} for i in range(3)]


def answers(db: Path) -> list[dict[str, bool]]:
    from evalkit.store.run_tables import load_run

    return [json.loads(text) for text in load_run("latest", db).outputs["raw_text"]]


def test_the_run_calls_its_target_with_the_collector_on_and_start_up_frozen(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    suite = make_suite(SUITE, CASES)
    (suite.parent / "probe.py").write_text(PROBE)
    db = tmp_path / "r.duckdb"
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit", "run", str(suite), "--db", str(db), "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        cwd=suite.parent,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert answers(db) == [{"enabled": True, "frozen": True}] * 3


def test_main_with_arguments_leaves_the_callers_collector_alone(
    make_suite: Callable[..., Path], tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    suite = make_suite(SUITE, CASES)
    (suite.parent / "probe.py").write_text(PROBE)
    sys.path.insert(0, str(suite.parent))
    try:
        frozen = gc.get_freeze_count()
        result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    finally:
        sys.path.remove(str(suite.parent))
        sys.modules.pop("probe", None)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    assert all(a["enabled"] for a in answers(tmp_path / "r.duckdb"))

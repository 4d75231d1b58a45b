"""The run path stays lean: `evalkit run`, `runs`, `show` and `compare` as processes import none of
pandas, NumPy or pyarrow (compare needs NumPy for its bootstrap and SciPy for signed-rank tests), nor litellm on the lean path,
nor importlib.metadata (pydantic's plug-in loader imports it to find no plug-ins); and no pydantic
field whose default factory makes pydantic tokenize a signature at start-up.

Each command runs as a real ``python -m evalkit`` process; a wrapper records, at exit, which of
those packages ended up in ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite

ROOT = Path(__file__).resolve().parents[2]
WATCHED = ("pandas", "numpy", "pyarrow", "scipy", "litellm", "importlib.metadata")
# Runs `python -m evalkit ARGS` and appends, at exit, the watched packages it imported to a file.
WRAPPER = """
import atexit, json, runpy, sys
out, watched = sys.argv[1], sys.argv[2].split(",")
def report():
    with open(out, "a") as f:
        f.write(json.dumps(sorted(m for m in watched if m in sys.modules)) + "\\n")
atexit.register(report)
sys.argv = ["evalkit", *sys.argv[3:]]
runpy.run_module("evalkit", run_name="__main__")
"""
SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n  - name: json_valid\n"


def evalkit_process(
    tmp_path: Path, *args: str, watched: tuple[str, ...] = WATCHED
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    record = tmp_path / "imported.jsonl"
    record.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(record), ",".join(watched), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
        timeout=120,
        check=False,
    )
    imported = json.loads(record.read_text().splitlines()[-1])
    return proc, imported


def test_run_runs_show_compare_import_no_data_stack(make_suite: Callable[..., Path], tmp_path: Path) -> None:
    def answers(body: dict[str, Any]) -> str:
        i = int(body["messages"][-1]["content"][1:])
        return json.dumps({"answer": f"a{i}" if i % 3 else "wrong"})  # every third case fails

    cases = [
        {"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(12)
    ]
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI(responder=answers) as server:
        suite = str(make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases))
        first, imported_first = evalkit_process(tmp_path, "run", suite, "--db", db, "--no-progress")
        second, imported_second = evalkit_process(
            tmp_path, "run", suite, "--db", db, "--no-progress", "--no-cache"
        )
        assert second.returncode == first.returncode
        assert server.stats.requests == 24
    # the failures are listed after the run: that listing used to go through pandas
    assert first.returncode == 1, first.stderr
    assert "c0 [fail" in first.stdout and "'wrong' != 'a0'" in first.stdout
    assert imported_first == imported_second == []

    runs, imported = evalkit_process(tmp_path, "runs", "--db", db)
    run_ids = [line.split()[0] for line in runs.stdout.splitlines() if line.startswith("loop-")]
    assert runs.returncode == 0 and len(run_ids) == 2, runs.stderr
    assert imported == []

    show, imported = evalkit_process(tmp_path, "show", "latest", "--db", db)
    assert show.returncode == 0, show.stderr
    assert "c3  [fail" in show.stdout and "'wrong' != 'a3'" in show.stdout
    assert imported == []

    compare, imported = evalkit_process(tmp_path, "compare", run_ids[1], run_ids[0], "--db", db)
    assert compare.returncode == 0, compare.stderr
    assert "no significant difference" in compare.stdout
    # NumPy for the paired bootstrap, SciPy for the Wilcoxon signed-rank p-values of score metrics;
    # still no pandas or pyarrow (SciPy reads package metadata with importlib.metadata)
    assert imported == ["importlib.metadata", "numpy", "scipy"]


def test_no_pydantic_field_defaults_to_a_list_factory() -> None:
    """pydantic reads each default factory's signature; ``list``'s is text that Python's tokenizer
    parses, compiling its regular expressions first (~7 ms of CPU before the first request).
    ``default_factory=lambda: []`` makes the same list per instance at the same speed."""
    found = []
    for path in sorted((ROOT / "evalkit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Field":
                for kw in node.keywords:
                    if (
                        kw.arg == "default_factory"
                        and isinstance(kw.value, ast.Name)
                        and kw.value.id == "list"
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"Field(default_factory=list) at {found}"

"""The store runs on DuckDB's engine alone (duckdb >= 2.0) and still gives DataFrames when asked."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from evalkit.store import open_store
from evalkit.store.opening import held_store
from evalkit.store.run_tables import load_run

db = sys.argv[1]
with held_store(db) as store:
    assert store.list_runs(limit=5) == []
    lean = "duckdb" not in sys.modules
    store.field_rows("no-such-run", frame=False)
    assert ("duckdb" not in sys.modules) == lean
    frame = store.field_rows("no-such-run")  # a DataFrame read on the connection already open
print(lean, type(frame).__name__, len(frame))
"""


def _engine_version() -> int:
    try:
        return int(str(importlib.import_module("_duckdb").__version__).split(".")[0])
    except (ImportError, AttributeError, ValueError):
        return 0


def test_store_opens_without_the_query_builder_and_reads_dataframes_after(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "r.duckdb")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lean, kind, rows = proc.stdout.split()
    assert kind == "DataFrame" and rows == "0"
    # duckdb >= 2.0: the package (relations, DataFrame sources) is loaded only for the DataFrame read
    assert lean == str(_engine_version() >= 2)

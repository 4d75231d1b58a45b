"""EVALKIT_DUCKDB_THREADS, _MEMORY and _CHECKPOINT: a bad value is one line naming the variable,
exit 2, before anything is spent (DuckDB would read some with another meaning, e.g. a negative
size as "no limit"); what is stored stays readable once the value is fixed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.store.duckdb_settings import SIZE_FORM, connect_config
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite, one_error_line

CASES = [{"id": "a", "input": {"question": "q"}, "expected": {"echo": "q"}}]
THREADS_FORM = "give a whole number of threads of at least 1"

BAD = [
    ("EVALKIT_DUCKDB_THREADS", "1.5", THREADS_FORM),  # DuckDB would round it to 2
    ("EVALKIT_DUCKDB_THREADS", "0", THREADS_FORM),
    ("EVALKIT_DUCKDB_THREADS", "some", THREADS_FORM),
    ("EVALKIT_DUCKDB_THREADS", "100000", "give at most 1024 threads"),  # DuckDB would start them all
    ("EVALKIT_DUCKDB_MEMORY", "-1", SIZE_FORM),  # DuckDB: no memory limit
    ("EVALKIT_DUCKDB_MEMORY", "256", SIZE_FORM),  # no unit
    ("EVALKIT_DUCKDB_MEMORY", "lots", SIZE_FORM),
    ("EVALKIT_DUCKDB_CHECKPOINT", "-5", SIZE_FORM),  # DuckDB: never checkpoint
    ("EVALKIT_DUCKDB_CHECKPOINT", "0MB", SIZE_FORM),  # DuckDB: checkpoint at every commit
    ("EVALKIT_DUCKDB_CHECKPOINT", "1PB", SIZE_FORM),
]


def _suite(make_suite: Callable[..., Path], server: LoopbackOpenAI) -> Path:
    return make_suite(loopback_suite(server.base_url), CASES)


def _evalkit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(("variable", "value", "form"), BAD)
def test_a_bad_setting_is_refused_by_a_read_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
    make_suite: Callable[..., Path],
    variable: str,
    value: str,
    form: str,
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI() as server:
        assert cli("run", str(_suite(make_suite, server)), "--db", str(db), "--no-progress").exit_code == 0
    monkeypatch.setenv(variable, value)
    line = one_error_line(cli("runs", "--db", str(db)), 2, f"{variable}={value!r}: ")
    assert line == f"evalkit: error: {variable}={value!r}: {form}"
    monkeypatch.delenv(variable)
    assert cli("runs", "--db", str(db)).stdout.count("complete") == 1  # nothing stored was lost


@pytest.mark.parametrize("existing", [True, False], ids=["existing-db", "new-db"])
@pytest.mark.parametrize(
    ("variable", "value"), [("EVALKIT_DUCKDB_CHECKPOINT", "-5"), ("EVALKIT_DUCKDB_THREADS", "1.5")]
)
def test_a_run_with_a_bad_setting_is_refused_before_any_call(
    tmp_path: Path, make_suite: Callable[..., Path], existing: bool, variable: str, value: str
) -> None:
    """The console script, whose run starts an existing database's engine on a thread that keeps
    its errors to itself (evalkit.store.duckdb_ahead): the refusal still reaches the user."""
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI() as server:
        suite = _suite(make_suite, server)
        if existing:
            assert _evalkit("run", str(suite), "--db", str(db), "--no-progress", env={}).returncode == 0
            before = server.stats.requests
        refused = _evalkit(
            "run", str(suite), "--db", str(db), "--no-progress", "--no-cache", env={variable: value}
        )
        one_error_line(refused, 2, f"{variable}={value!r}: ")
        assert server.stats.requests == (before if existing else 0)  # nothing spent
    assert db.exists() == existing  # a new database is not created for a run that never starts
    if existing:
        listing = _evalkit("runs", "--db", str(db), env={})
        assert listing.returncode == 0 and listing.stdout.count("complete") == 1


def test_sizes_in_duckdbs_units_and_whole_thread_counts_are_accepted(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
    make_suite: Callable[..., Path],
) -> None:
    for value in ("512KiB", "1 GB", "1.5gb", "64MiB", "100000B"):
        monkeypatch.setenv("EVALKIT_DUCKDB_CHECKPOINT", value)
        assert connect_config()["checkpoint_threshold"] == value
    monkeypatch.setenv("EVALKIT_DUCKDB_THREADS", " 2 ")
    monkeypatch.setenv("EVALKIT_DUCKDB_MEMORY", "64MiB")
    monkeypatch.setenv("EVALKIT_DUCKDB_CHECKPOINT", "512KiB")
    assert connect_config() == {"threads": "2", "memory_limit": "64MiB", "checkpoint_threshold": "512KiB"}
    with LoopbackOpenAI() as server:
        done = cli(
            "run", str(_suite(make_suite, server)), "--db", str(tmp_path / "r.duckdb"), "--no-progress"
        )
    assert done.exit_code == 0, done.stderr

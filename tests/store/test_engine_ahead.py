"""An existing database's engine started on a thread (evalkit.store.duckdb_ahead): the store's own
open uses it, and nothing of it outlives the block, whether the store opened the file or not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.store import open_store
from evalkit.store.duckdb import connect_config
from evalkit.store.duckdb_ahead import connecting
from evalkit.store.duckdb_engine import duckdb
from evalkit.store.opening import engine_started, held_store

OTHER = {"threads": "3"}  # DuckDB refuses a second configuration while the file's instance is open here

OPEN_FOR_WRITING = """
import sys, _duckdb
_duckdb.connect(sys.argv[1]).execute("CREATE TABLE IF NOT EXISTS other_process (x INTEGER)").close()
print("opened")
"""


def _instance_open_here(path: Path) -> bool:
    try:
        duckdb.connect(str(path), config=OTHER).close()
    except duckdb.ConnectionException as exc:
        assert "different configuration" in str(exc)
        return True
    return False


def _existing(tmp_path: Path) -> Path:
    db = tmp_path / "r.duckdb"
    assert open_store(db).list_runs() == []  # created, migrated and closed
    assert not _instance_open_here(db)
    return db


def test_the_store_connects_to_the_engine_the_thread_started_and_closes_the_threads_connection(
    tmp_path: Path,
) -> None:
    db = _existing(tmp_path)
    with engine_started(db):
        with connecting(db):  # what the store's open does: wait for the thread, connect, close it
            assert _instance_open_here(db), "the thread did not open the file"
            con = duckdb.connect(str(db), config=connect_config())  # the store's own settings: accepted
        assert _instance_open_here(db)  # the store's connection keeps the instance
        con.close()
        assert not _instance_open_here(db), "the thread's connection outlived the store's open"
    with engine_started(db), held_store(db) as store:
        assert store.list_runs() == []
    assert not _instance_open_here(db)


def test_a_block_the_store_never_opened_in_leaves_the_file_free_for_other_processes(tmp_path: Path) -> None:
    db = _existing(tmp_path)
    with pytest.raises(RuntimeError), engine_started(db):
        raise RuntimeError("a usage error found after the engine started")
    assert not _instance_open_here(db)
    proc = subprocess.run(
        [sys.executable, "-c", OPEN_FOR_WRITING, str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout.strip() == "opened", proc.stderr


def test_nothing_starts_for_a_database_still_to_be_created(tmp_path: Path) -> None:
    db = tmp_path / "new" / "r.duckdb"
    with engine_started(db):
        pass
    assert not db.exists() and not db.parent.exists()


def test_a_file_the_engine_cannot_open_is_reported_by_the_stores_own_open(tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    db.write_bytes(b"not a database" * 1000)
    with engine_started(db), pytest.raises(Exception) as raised, held_store(db):
        pass
    assert "r.duckdb" in str(raised.value)
    assert type(raised.value).__module__.startswith("evalkit"), type(raised.value)

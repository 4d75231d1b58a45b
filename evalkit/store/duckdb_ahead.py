"""An existing DuckDB file's engine, started on a thread while a command's other start-up goes on.

Opening a DuckDB file first builds the engine's instance for it (its built-in extensions and its
parser: ~24 ms of CPU here, which DuckDB spends without holding the GIL). ``evalkit run`` needs an
existing database open before its first call, to look up cached responses and to refuse a locked,
damaged or newer file before anything is spent; so it starts the engine here as soon as it knows
the file, and imports and reads its suite meanwhile. DuckDB shares one instance among a process's
connections to a file: the store's own open (:meth:`evalkit.store.duckdb.DuckDBBackend._open`)
waits for the thread, connects to the instance the thread built, and closes the thread's connection.

Nothing that goes wrong on the thread is said or raised: a locked, damaged, read-only or newer file
fails there as it fails the store's own open, which meets it and reports it as it always does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from evalkit.store.duckdb_engine import duckdb

_lock = threading.Lock()
_started: dict[str, _EngineStart] = {}  # by the file's path, as the store names it


class _EngineStart:
    """One file's connection made on a thread, kept until the store's own connection is made."""

    def __init__(self, path: str, config: dict[str, Any]) -> None:
        self.path = path
        self._con: Any = None
        self._thread = threading.Thread(
            target=self._connect, args=(config,), name="evalkit-db-start", daemon=True
        )

    def _connect(self, config: dict[str, Any]) -> None:
        with suppress(Exception):  # met again, and reported, by the store's own open
            self._con = duckdb.connect(self.path, config=config)

    def begin(self) -> None:
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def close(self) -> None:
        self._thread.join()
        con, self._con = self._con, None
        if con is not None:
            with suppress(Exception):
                con.close()


@contextmanager
def engine_started(path: Path, config: dict[str, Any]) -> Iterator[None]:
    """Start the engine of the DuckDB file ``path`` (which exists) on a thread, connecting with
    ``config`` (the store's own: DuckDB refuses a second connection with another); at the end of
    the block, close the thread's connection if the store did not open the file meanwhile."""
    start = _EngineStart(str(path), config)
    with _lock:
        already = start.path in _started  # already starting: the outer block closes it
        if not already:
            _started[start.path] = start
    if already:
        yield
        return
    start.begin()
    try:
        yield
    finally:
        with _lock:
            if _started.get(start.path) is start:
                del _started[start.path]
        start.close()


@contextmanager
def connecting(path: Path) -> Iterator[None]:
    """Around the store's own connect to ``path``: wait for an engine started for it (so the
    connect finds the instance built instead of racing to build a second one), and close the
    thread's connection after it, whether the store's connect succeeded or not."""
    with _lock:
        start = _started.pop(str(path), None)
    if start is None:
        yield
        return
    start.wait()
    try:
        yield
    finally:
        start.close()

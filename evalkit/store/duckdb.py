"""The DuckDB backend: one file, short transactions, taking turns with other processes.

DuckDB lets one process at a time open a file. Each batch of results is its own short
transaction; a run keeps the file open between batches (opening costs ~85 ms) but lets go as soon
as another process asks for it, even while it waits on slow calls and writes nothing, and a
process that finds the file locked asks (a marker file) and waits with backoff until it is free or
``lock_timeout`` passes, saying so on stderr after a second. Two ``evalkit run`` on one database
take turns and both land; ``evalkit runs``, ``show``, ``report`` and ``compare`` read while a run
writes.
"""

from __future__ import annotations

import errno
import os
import random
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from evalkit.errors import StoreError
from evalkit.store.duckdb_ahead import connecting
from evalkit.store.duckdb_connection import DuckDBConnection, file_errors
from evalkit.store.duckdb_engine import duckdb
from evalkit.store.duckdb_errors import database_file_error
from evalkit.store.duckdb_settings import connect_config, settings_from_environment


class DuckDBBackend:
    """Connections to a DuckDB file: short-lived by default, held for the length of a run.

    Opening a DuckDB file costs ~85 ms here, so a run holds its connection (:meth:`hold`) instead
    of paying that per batch. A process that finds the file locked leaves a marker file
    (``<db>.wait.<pid>``, refreshed while it waits); a holder checks for markers before each use,
    lets go of the file, and takes it back after the waiter is done (or after a short grace).
    Two runs on one database thus take turns, and ``evalkit show`` can read during a run. While
    holding, a watcher thread also checks for markers every ``WATCH_EVERY`` seconds and closes the
    file if it is not in use at that moment: a run waiting on slow calls makes no store call that
    would notice a waiting reader.
    """

    name = "duckdb"
    GRACE = 2.0  # seconds a holder that let go waits for the waiter to finish before reopening
    WATCH_EVERY = 0.1  # seconds between a holder's checks for waiting processes
    SAY_WAITING_AFTER = 1.0  # seconds of waiting for the file before saying so on stderr
    OPEN_RETRIES = 3  # errors at open other than the lock: retried this many times, then reported
    STALE_MARKER = 5.0  # a marker not refreshed for this long belongs to a process that gave up

    def __init__(
        self, path: Path, *, lock_timeout: float = 120.0, option: str = "--db", existing: bool = False
    ) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.option = option  # the command-line option that named the file, for error messages
        self.existing = existing  # the command reads results already there (merge's sources, a report)
        connect_config()  # a bad EVALKIT_DUCKDB_* is refused now, before the command spends anything
        # One connection at a time per process: DuckDB shares one database instance between the
        # connections of a process, and closing the last one while another thread opens a new one
        # races (seen as "python_arrow_scan does not exist" during a concurrent bulk insert).
        self._in_use = threading.RLock()
        self._held: duckdb.DuckDBPyConnection | None = None
        self._holding = 0
        self._closing: threading.Thread | None = None  # see close_in_background
        self._close_error: BaseException | None = None
        self._checkpointed: threading.Event | None = None  # set once the closing's checkpoint is done
        self.handoffs = 0  # times this process let go of the file for another one
        self.read_only = False  # the last open fell back to reading (see _read_only_fallback)

    def __str__(self) -> str:
        return str(self.path)

    @contextmanager
    def connect(self) -> Iterator[DuckDBConnection]:
        with self._in_use:
            if self._holding:
                if self._held is not None and self._others_waiting():
                    self._let_go()
                if self._held is None:
                    self._held = self._open()
                yield DuckDBConnection(self._held, self.path, self.option)
                return
            con = self._open()
            try:
                yield DuckDBConnection(con, self.path, self.option)
            finally:
                self._close_file(con)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep the connection open between operations (a run), yielding it to waiting processes."""
        with self._in_use:
            self._holding += 1
            watcher, stop = None, threading.Event()
            if self._holding == 1:
                watcher = threading.Thread(
                    target=self._watch, args=(stop,), name="evalkit-db-watch", daemon=True
                )
                watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                stop.set()
                watcher.join()
            with self._in_use:
                self._holding -= 1
                if not self._holding and self._held is not None:
                    con, self._held = self._held, None
                    self._close_file(con)
                if not self._holding:
                    self._finish_closing(checkpoint_only=True)

    def close_in_background(self, *, process_ends: bool = False) -> None:
        """Close the held connection on a thread while the caller goes on: a run prints its summary
        meanwhile, and DuckDB's checkpoint at close (~20 ms) runs without the GIL. The end of
        :meth:`hold` waits for it and raises its error; a store call before then waits too, and
        opens the file again.

        ``process_ends``: nothing uses the store again and the process ends soon after (the
        console script's, which skips the interpreter's teardown). The end of :meth:`hold` then
        waits for the checkpoint alone, after which the file holds everything and no ``.wal`` is
        left, not for the engine's teardown (~7 ms freeing memory the process's end frees anyway);
        the thread is a daemon, so the process's end does not wait for it either."""
        with self._in_use:
            if self._held is None or self._closing is not None:
                return
            con, self._held = self._held, None
            self._checkpointed = threading.Event() if process_ends else None
            self._closing = threading.Thread(
                target=self._close, args=(con,), name="evalkit-db-close", daemon=process_ends
            )
            self._closing.start()

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        checkpointed = self._checkpointed
        try:
            if checkpointed is not None:
                with file_errors(self.path, self.option):
                    con.execute("CHECKPOINT")
                checkpointed.set()
            self._close_file(con)
        except BaseException as exc:  # raised where the close is waited for
            self._close_error = exc
        finally:
            if checkpointed is not None:
                checkpointed.set()

    def _close_file(self, con: duckdb.DuckDBPyConnection) -> None:
        """Close ``con``, which first checkpoints its log into the file: a failure about the file or
        its disk (full at the checkpoint) is the one-line DatabaseFileError a refused statement is
        (exit 3; what was committed stays in the ``.wal`` until it can be written), not DuckDB's own."""
        with file_errors(self.path, self.option):
            con.close()

    def _finish_closing(self, *, checkpoint_only: bool = False) -> None:
        """Wait for the close in flight and raise its error, or the watcher's (:meth:`_watch`);
        ``checkpoint_only`` (the end of :meth:`hold`): of a close for a process that ends, wait for
        its checkpoint alone."""
        closing, checkpointed = self._closing, self._checkpointed
        if closing is not None:
            if checkpoint_only and checkpointed is not None:
                checkpointed.wait()
                if self._close_error is None:
                    return  # the engine's teardown goes on, and ends with the process
            closing.join()
            self._closing = None
            self._checkpointed = None
        error, self._close_error = self._close_error, None
        if error is not None:
            raise error

    def release_if_asked(self) -> bool:
        """Close the held connection if another process waits for the file; the next use reopens it.

        A run checks before each batch; an idle holder (``evalkit view`` between requests) calls
        this now and then instead, so it never keeps the file from a run.
        """
        with self._in_use:
            if self._held is None or not self._others_waiting():
                return False
            con, self._held = self._held, None
            self.handoffs += 1
            self._close_file(con)
            return True

    def _watch(self, stop: threading.Event) -> None:
        """Let go of a held but idle file as soon as another process asks for it."""
        while not stop.wait(self.WATCH_EVERY):
            if self._held is None or not self._others_waiting():
                continue
            if not self._in_use.acquire(blocking=False):
                continue  # a store call is using it: connect() hands it over when that ends
            try:
                if self._held is not None:
                    con, self._held = self._held, None  # the next store call reopens it, waiting its turn
                    self.handoffs += 1
                    try:
                        self._close_file(con)
                    except BaseException as exc:  # raised where the hold ends, as a close's is
                        self._close_error = self._close_error or exc
            finally:
                self._in_use.release()

    def _others_waiting(self) -> bool:
        now = time.time()
        for marker in self.path.parent.glob(f"{self.path.name}.wait.*"):
            try:
                if marker.name != self._marker().name and now - marker.stat().st_mtime < self.STALE_MARKER:
                    return True
            except FileNotFoundError:
                continue
        return False

    def _let_go(self) -> None:
        assert self._held is not None
        con, self._held = self._held, None
        self.handoffs += 1
        self._close_file(con)
        deadline = time.monotonic() + self.GRACE
        while self._others_waiting() and time.monotonic() < deadline:
            time.sleep(0.02)

    def missing(self) -> bool:
        """Whether the database file does not exist yet."""
        return not self.path.exists()

    def check_creatable(self) -> None:
        """Fail now, as opening would, if the file could not be created: its directory cannot be
        made or written to (a store that creates the file later checks this before any call)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not os.access(self.path.parent, os.W_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self.path.parent))
        except OSError as exc:
            raise database_file_error(exc, self.path, self.option) or StoreError(
                str(exc), path=self.path
            ) from None

    def _marker(self) -> Path:
        return self.path.parent / f"{self.path.name}.wait.{os.getpid()}"

    @contextmanager
    def transaction(self, con: DuckDBConnection) -> Iterator[None]:
        con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def recorded_versions(self, con: DuckDBConnection) -> set[int] | None:
        """The migrations applied, read straight from ``schema_migrations``; None when the file has
        no such table (a new or a foreign file: :func:`~evalkit.store.migrate.applied_versions` then
        looks in the catalog). On a new connection DuckDB's catalog views cost ~4 ms before their
        first answer, this ~1 ms, for every command that opens an existing database."""
        try:
            return {row[0] for row in con.execute("SELECT version FROM schema_migrations")}
        except duckdb.CatalogException:
            return None

    def _open(self) -> duckdb.DuckDBPyConnection:
        self._finish_closing()  # one connection at a time (see __init__)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise database_file_error(exc, self.path, self.option) or StoreError(
                str(exc), path=self.path
            ) from None
        with connecting(self.path):  # an engine started ahead for it (evalkit.store.duckdb_ahead)
            return self._connect_in_turn()

    def _connect_in_turn(self) -> duckdb.DuckDBPyConnection:
        """Connect, waiting (asking with a marker file) while another process has the file open."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.02
        marker = self._marker()
        open_errors = 0
        said_waiting = False
        started = time.monotonic()
        try:
            while True:
                try:
                    con = duckdb.connect(str(self.path), config=connect_config())
                    self.read_only = False
                    return con
                except duckdb.Error as exc:
                    locked = isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()
                    if not locked and (readable := self._read_only_fallback(exc)) is not None:
                        self.read_only = True
                        return readable
                    if not locked:
                        # a process handing the file over may still be finishing its write-ahead
                        # log: try a few more times before calling the file unreadable
                        open_errors += 1
                        if open_errors > self.OPEN_RETRIES:
                            raise database_file_error(exc, self.path, self.option) or StoreError(
                                f"cannot open database: {exc}{settings_from_environment()}",
                                path=self.path,
                            ) from None
                    elif time.monotonic() >= deadline:
                        raise StoreError(
                            f"database is locked by another process for over {self.lock_timeout:.0f}s "
                            "(set EVALKIT_LOCK_TIMEOUT to wait longer)",
                            path=self.path,
                        ) from None
                    elif not said_waiting and time.monotonic() - started >= self.SAY_WAITING_AFTER:
                        said_waiting = True
                        print(
                            f"evalkit: waiting for {self.path}: another process has it open "
                            f"(an evalkit run hands it over; giving up after {self.lock_timeout:.0f}s, "
                            "see EVALKIT_LOCK_TIMEOUT)",
                            file=sys.stderr,
                            flush=True,
                        )
                with suppress(OSError):  # a read-only directory has no room for a marker
                    marker.touch()  # ask a holder to let go
                time.sleep(
                    delay * (0.5 + random.random())
                )  # jitter so two waiting writers do not collide again
                delay = min(delay * 2, 0.25)
        finally:
            with suppress(OSError):
                marker.unlink(missing_ok=True)

    def _read_only_fallback(self, exc: duckdb.Error) -> duckdb.DuckDBPyConnection | None:
        """A read-only connection when the file exists but cannot be opened for writing.

        Reading commands (``runs``, ``show``, ``report``) then work in a read-only directory; a
        write fails with a one-line :class:`DatabaseFileError`.
        """
        message = str(exc).lower()
        if not self.path.is_file() or not any(
            word in message for word in ("read-only", "read only", "permission denied")
        ):
            return None
        try:
            return duckdb.connect(str(self.path), read_only=True, config=connect_config())
        except duckdb.Error:
            return None

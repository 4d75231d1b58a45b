"""Opening the results store: which database, which backend."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from evalkit.errors import UsageError
from evalkit.store.queries import Store

DEFAULT_DB = Path(".evalkit") / "evalkit.duckdb"


def resolve_db(db: str | Path | None = None) -> str:
    """The database location that ``open_store`` would use."""
    return str(db or os.environ.get("EVALKIT_DB") or DEFAULT_DB)


def open_store(db: str | Path | None = None, *, must_exist: bool = False, option: str = "--db") -> Store:
    """Open (creating and migrating if needed) the results database; ``option`` is the command-line
    option or argument that named it (``--into``, ``--to``, merge's sources), for the errors about
    it to name."""
    return Store(_backend(db, must_exist, option))


@contextmanager
def held_store(db: str | Path | None = None, *, create_later: bool = False) -> Iterator[Store]:
    """:func:`open_store` with the database held open from its migrations to the end of the block
    (see :meth:`Store.hold`): one open instead of two for a command that holds it anyway.
    ``create_later``: a new database is created at its first use (see :class:`Store`)."""
    backend = _backend(db, False, "--db")
    with backend.hold() if hasattr(backend, "hold") else nullcontext():
        yield Store(backend, create_later=create_later)


@contextmanager
def engine_started(db: str | Path | None = None) -> Iterator[None]:
    """Within the block, an existing DuckDB file's engine starts on a thread while the caller goes
    on, for the store it opens later in the block (see :mod:`evalkit.store.duckdb_ahead`).
    Nothing changes for a database that does not exist yet, or on PostgreSQL."""
    location = resolve_db(db)
    if "://" in location or not Path(location).is_file():
        yield
        return
    from evalkit.store.duckdb_ahead import engine_started as started
    from evalkit.store.duckdb_settings import connect_config

    with started(Path(location), connect_config()):
        yield


def _backend(db: str | Path | None, must_exist: bool, option: str) -> Any:
    location = resolve_db(db)
    if location.startswith(("postgresql://", "postgres://")):
        from evalkit.store.postgres import PostgresBackend

        return PostgresBackend(location)
    if "://" in location:
        raise UsageError(f"unsupported database URL {location!r}: use a DuckDB file path or postgresql://...")
    from evalkit.store.duckdb import DuckDBBackend
    from evalkit.store.duckdb_errors import option_named

    path = Path(location)
    if path.is_dir():  # bad input, not a failing disk: refused before DuckDB tries (and fails) to open it
        raise UsageError(
            f"is a directory: {option_named(option)} must name a database file, e.g. {path / 'evalkit.duckdb'}",
            path=path,
        )
    if must_exist and not path.exists():
        hint = (
            "run `evalkit run` first, or pass --db"
            if option == "--db"
            else f"{option} must name an existing one"
        )
        raise UsageError(f"no results database at {path} ({hint})")
    setting = os.environ.get("EVALKIT_LOCK_TIMEOUT", "120")
    try:
        timeout = float(setting)
    except ValueError:
        raise UsageError(
            f"EVALKIT_LOCK_TIMEOUT={setting!r}: give the seconds to wait for a locked database, e.g. 120"
        ) from None
    return DuckDBBackend(path, lock_timeout=timeout, option=option, existing=must_exist)


def database_file(store: Store) -> Path | None:
    """The DuckDB file ``store`` reads (None for PostgreSQL): a run's recorded suite path may be read
    from the directory holding its ``.evalkit/`` (:func:`evalkit.suite.recorded.suite_candidates`)."""
    path = getattr(store.backend, "path", None)
    return Path(path) if path is not None else None

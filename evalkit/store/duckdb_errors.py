"""DuckDB's errors about the database file itself, as one line that says what to do.

A full disk, a read-only directory or a damaged file is not a bug in evalkit: each becomes a
:class:`~evalkit.errors.DatabaseFileError` (exit 3) naming the file. Other DuckDB errors (bad SQL,
constraint violations) stay as they are: they are bugs.
"""

from __future__ import annotations

import errno
from pathlib import Path

from evalkit.errors import DatabaseFileError
from evalkit.store.duckdb_engine import duckdb

# {option}: how the user named this database (`--db`, or `--into`/`--to` for merge and sync)
DIRECTORY = "{option} must name a database file, not a directory"
DISK_FULL = "the disk is full: free space and run again (results committed so far are kept)"
READ_ONLY = (
    "the database cannot be written here: run from a writable directory, or point {option} at a writable path"
)
DAMAGED = (
    "the database file is damaged or truncated: restore it from a backup, or move it aside to start a new one"
)

# (fragments of DuckDB's or the OS's message, lower case) -> what the user should do
_KINDS: list[tuple[tuple[str, ...], str]] = [
    (("is a directory",), DIRECTORY),
    (("no space left", "disk full", "disk quota"), DISK_FULL),
    (("read-only", "read only", "permission denied", "operation not permitted"), READ_ONLY),
    (("corrupt", "not a valid duckdb database", "could not read enough bytes", "checksum"), DAMAGED),
]


def option_named(option: str) -> str:
    """How to name ``option`` in a message: ``--db`` falls back to ``EVALKIT_DB``, the others do not."""
    return "--db (or EVALKIT_DB)" if option == "--db" else option


def advice_for(message: str) -> str | None:
    """What to do about a file-level failure described by ``message``, or None if it is not one."""
    lowered = message.lower()
    for fragments, advice in _KINDS:
        if any(fragment in lowered for fragment in fragments):
            return advice
    return None


def database_file_error(exc: BaseException, path: Path, option: str = "--db") -> DatabaseFileError | None:
    """``exc`` as a :class:`DatabaseFileError` when it is about the file or its disk, else None;
    ``option`` is the command-line option that named the file."""
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC:
            advice = DISK_FULL
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            advice = READ_ONLY
        else:
            advice = "check the disk and the directory's permissions"
        return DatabaseFileError(f"{exc.strerror or detail}; {_named(advice, option)}", path=path)
    if not isinstance(exc, duckdb.Error):
        return None
    found = advice_for(str(exc))
    if found is not None:
        advice = found
    else:
        if isinstance(exc, duckdb.OutOfMemoryException):  # a very large case, or a small memory limit
            advice = (
                "DuckDB ran out of memory: raise EVALKIT_DUCKDB_MEMORY (docs/store.md), then resume the run"
            )
        elif isinstance(exc, duckdb.FatalException) or "invalidated" in str(exc).lower():
            advice = "the database stopped after a failed write: resume the run once the cause is fixed"
        elif isinstance(exc, duckdb.IOException):
            advice = "check the disk and the directory's permissions"
        else:
            return None
    return DatabaseFileError(f"{detail}; {_named(advice, option)}", path=path)


def _named(advice: str, option: str) -> str:
    return advice.replace("{option}", option_named(option))

"""The DuckDB settings evalkit opens a file with, and their overrides from the environment.

evalkit's transactions are small; a run's process should not keep DuckDB's default buffer pool
(80% of RAM) and a thread per core. Committed rows stay in memory until DuckDB checkpoints its
write-ahead log, and each checkpoint costs CPU that grows with the database. Replaying a 2000-case
run's batches 1, 10 and 25 times: at 4 MB 0.20, 1.8 and 5.2 s of CPU, peak RSS 103, 118 and 126 MB;
at 8 MB 0.15, 1.3 and 3.4 s, 104, 124 and 130 MB; at DuckDB's default 16 MB 0.16 and 1.3 s, 104
and 133 MB. Each can be raised through the environment for big ad-hoc reports.

An override is checked here, before DuckDB sees it: DuckDB reads some bad values with another
meaning (a negative size as "no limit", ``1.5`` threads as 2) and refuses others only at the first
connect, in words that do not name the variable.
"""

from __future__ import annotations

import os
import re

from evalkit.errors import UsageError

_SETTINGS = {  # DuckDB setting: (environment variable, default)
    "threads": ("EVALKIT_DUCKDB_THREADS", "1"),
    "memory_limit": ("EVALKIT_DUCKDB_MEMORY", "256MB"),
    "checkpoint_threshold": ("EVALKIT_DUCKDB_CHECKPOINT", "8MB"),
}
MAX_THREADS = 1024  # DuckDB starts every thread asked for: a typo of a few zeros exhausts the machine
# a number of bytes in DuckDB's own units: 1000^i (KB, MB, GB, TB) or 1024^i (KiB, MiB, GiB, TiB)
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+) ?(b|kb|mb|gb|tb|kib|mib|gib|tib)", re.IGNORECASE)
_UNIT_BYTES = {
    "b": 1,
    **{unit: 1000 ** (i + 1) for i, unit in enumerate(("kb", "mb", "gb", "tb"))},
    **{unit: 1024 ** (i + 1) for i, unit in enumerate(("kib", "mib", "gib", "tib"))},
}
SIZE_FORM = (
    "give a positive size with its unit, e.g. 256MB, 1GB or 512KiB (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
)


def connect_config() -> dict[str, str | bool | int | float | list[str]]:
    """The settings to connect with, read from the environment now; a bad override is a one-line
    :class:`~evalkit.errors.UsageError` naming its variable (exit 2)."""
    config: dict[str, str | bool | int | float | list[str]] = {}
    for setting, (variable, default) in _SETTINGS.items():
        value = os.environ.get(variable, default)
        problem = _threads_problem(value) if setting == "threads" else _size_problem(value)
        if problem is not None:
            raise UsageError(f"{variable}={value!r}: {problem}")
        config[setting] = value.strip()
    return config


def _threads_problem(value: str) -> str | None:
    text = value.strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        return "give a whole number of threads of at least 1"
    if int(text) > MAX_THREADS:
        return f"give at most {MAX_THREADS} threads"
    return None


def _size_problem(value: str) -> str | None:
    match = _SIZE.fullmatch(value.strip())
    if match is None or float(match[1]) * _UNIT_BYTES[match[2].lower()] < 1:
        return SIZE_FORM
    return None


def settings_from_environment() -> str:
    """The settings the environment overrides, for an error DuckDB gives about one of them."""
    overridden = [
        f"{variable}={os.environ[variable]!r} sets {setting}"
        for setting, (variable, _) in _SETTINGS.items()
        if variable in os.environ
    ]
    return f" ({'; '.join(overridden)})" if overridden else ""

"""Errors a user can act on, and the process exit codes they map to.

Everything raised as an :class:`EvalkitError` is printed by the CLI as one line and ends the
process with the error's ``exit_code``. Anything else is a bug in evalkit and may show a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """Documented process exit codes (see README, "Exit codes")."""

    OK = 0  # the gate passed
    GATE_FAILED = 1  # quality below the suite's gate (or a significant regression)
    USAGE = 2  # bad command line, suite, case file or other input
    INFRASTRUCTURE = (
        3  # could not be judged: too many provider/infrastructure errors, or not comparable with a baseline
    )
    INCOMPLETE = (
        4  # stopped by --budget before every case ran (--resume); a matrix group not all of whose cells ran
    )
    INTERRUPTED = 130  # stopped by the user; the run is kept and can be resumed
    TERMINATED = 143  # stopped by SIGTERM; the run is kept and can be resumed
    BROKEN_PIPE = 141  # the output was closed early (`| head`): the command's own code was not reached
    INTERNAL = 70  # a bug in evalkit (EX_SOFTWARE): its traceback is printed; never a gate verdict


class EvalkitError(Exception):
    """Base class for errors with a message the user can act on."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, path: Path | str | None = None, line: int | None = None) -> None:
        self.message = message
        # a database URL (postgresql://...) is kept as given: as a Path its "//" would read "postgresql:/"
        self.path: Path | str | None = (
            path if isinstance(path, str) and "://" in path else Path(path) if path is not None else None
        )
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The message as the CLI prints it: ``file:line: message`` on a single line."""
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line is not None else f"{self.path}: "
        return (where + self.message).replace("\n", " ")


class ConfigError(EvalkitError):
    """A suite file, case file, prompt template or schema is invalid."""


class UsageError(EvalkitError):
    """The command line asks for something that does not exist or cannot be done."""


class StoreError(EvalkitError):
    """The results database cannot be opened, is locked for too long, or is from a newer evalkit."""


class DatabaseFileError(StoreError):
    """The database file cannot be read or written: corrupt, truncated, disk full or read-only.

    The store was working until the file or its disk failed, so this is an infrastructure error.
    """

    exit_code = ExitCode.INFRASTRUCTURE


class DuplicateRowError(StoreError):
    """A row with the same key is already stored (evalkit never stores a result twice)."""


class ProviderError(EvalkitError):
    """A model call failed. ``transient`` errors (rate limits, 5xx, timeouts) may be retried."""

    exit_code = ExitCode.INFRASTRUCTURE

    def __init__(
        self,
        message: str,
        *,
        transient: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        timed_out: bool = False,
    ) -> None:
        self.transient = transient
        self.timed_out = timed_out  # evalkit stopped waiting: a provider may still finish and bill it
        self.status = status
        self.retry_after = retry_after
        self.attempts = attempts  # requests made before giving up
        super().__init__(message)

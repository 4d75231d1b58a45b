"""Stopping a run on Ctrl-C (SIGINT) or SIGTERM: keep what is stored, say how to finish it.

While a run is in progress the first SIGINT or SIGTERM cancels it like ``--budget`` stops it:
calls in flight are abandoned, every result already answered is committed, the run is marked
``incomplete``, and :class:`RunInterrupted` says which run it was, how many results it kept and
the command that finishes it. A second signal is not caught: it stops the process at once (the
results committed so far are still kept; the run then stays ``running``, and ``--resume``
finishes it all the same). Once the run is ending (its last results committed, its summary and
status stored), a signal is noted and does not cut that short: what the run stored and what it
says always agree. A commit already in its thread is waited for, never orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from evalkit.errors import EvalkitError, ExitCode
from evalkit.results import GateDecision, RunRecord, RunSummary
from evalkit.store import Store, resolve_db
from evalkit.store.opening import database_file

EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}


class RunInterrupted(EvalkitError):
    """A run was stopped by a signal; what it stored is kept and ``--resume`` finishes it."""

    def __init__(self, signum: signal.Signals, message: str) -> None:
        self.exit_code = EXIT_CODES.get(signum, ExitCode.INTERRUPTED)
        self.signal = signum
        super().__init__(message)


class StopSignals:
    """While entered (on the event loop's thread), SIGINT and SIGTERM cancel the current task once."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._installed: list[signal.Signals] = []
        # set once the run is being finished (its summary and status stored): a signal then is
        # noted, not acted on, so the stored status is never half-written nor at odds with what
        # the run says; the run ends as it was ending
        self.finishing = False
        self.late: signal.Signals | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for signum in EXIT_CODES:
            try:
                loop.add_signal_handler(signum, self._stop, signum, task)
            except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or Windows
                continue
            self._installed.append(signum)
        try:
            yield self
        finally:
            self._uninstall()

    def _stop(self, signum: signal.Signals, task: asyncio.Task[object] | None) -> None:
        if self.finishing:  # noted; a second signal stops the process the usual way
            self.late = signal.Signals(signum)
            self._uninstall()
            return
        self.received = signal.Signals(signum)
        self._uninstall()  # a second signal stops the process the usual way
        if task is not None:
            task.cancel()

    def _uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()


@contextlib.contextmanager
def handlers_restored() -> Iterator[None]:
    """SIGINT's and SIGTERM's handlers as they were before the block, put back after it.

    ``ray.init`` installs its own SIGTERM handler (stop Ray's processes, then ``sys.exit``): it
    replaced a run's :class:`StopSignals`, so SIGTERM ended a run on Ray with exit 15 and a traceback
    instead of 143 and the resume command. Ray's processes are still stopped, at exit.
    """
    if threading.current_thread() is not threading.main_thread():  # no handlers to keep there
        yield
        return
    saved = {signum: signal.getsignal(signum) for signum in EXIT_CODES}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:  # None: set outside Python, nothing to put back
                signal.signal(signum, handler)


def interrupted(
    signum: signal.Signals, run: RunRecord | None, kept: int, total: int, db: str | None
) -> RunInterrupted:
    """The error that reports a run stopped by ``signum``, with the command that finishes it."""
    name = signal.Signals(signum).name
    if run is None:
        return RunInterrupted(signum, f"stopped by {name} before the run started; nothing was stored")
    return RunInterrupted(
        signum,
        f"run {run.run_id} stopped by {name}: {kept} of {total} results kept, run marked incomplete; "
        f"finish it with: {resume_command(run, db)}",
    )


def resume_command(run: RunRecord, db: str | None) -> str:
    """The command that finishes ``run``, as it can be typed: with ``--db`` unless the store is the
    default one (:func:`db_argument`)."""
    command = f"evalkit run {shlex.quote(_shown_path(run.suite_path))} --resume {run.run_id}"
    command += repeated_options(run, resuming=True)
    return command + (f" --db {shlex.quote(db)}" if db is not None else "")


def repeated_options(run: RunRecord, *, resuming: bool = False) -> str:
    """The options ``run`` was started with that shape what it runs and how it is gated, as recorded
    with it (:func:`evalkit.run.shape.recorded_options`), as arguments of ``evalkit run``: its
    epochs and shard (left out when ``resuming``: ``--resume`` restores them from the run), fixed
    concurrency, timeout, ``--no-cache``, and the baseline it is gated on with its ``--allow-*``
    flags. Never ``--budget``: a budget is spent, the caller says so."""
    recorded = run.config.get("run") or {}
    args: list[str] = []
    repeat = int(recorded.get("repeat") or 1)
    if not resuming and repeat > 1:
        args += ["--repeat", str(repeat)]
    if not resuming and run.shard is not None:
        args += ["--shard", run.shard]
    if recorded.get("concurrency") is not None:
        args += ["--concurrency", str(recorded["concurrency"])]
    if recorded.get("timeout") is not None:
        args += ["--timeout", str(recorded["timeout"])]
    if recorded.get("no_cache"):
        args.append("--no-cache")
    if recorded.get("baseline_run"):
        args += ["--baseline", str(recorded["baseline_run"])]
    if recorded.get("allow_scoring_change"):
        args.append("--allow-scoring-change")
    for case_id in recorded.get("allow_removed_critical") or []:
        args += ["--allow-removed-critical", str(case_id)]
    return "".join(f" {shlex.quote(arg)}" for arg in args)


def matrix_not_started(store: Store, group_id: str, runs: Sequence[RunRecord] | None = None) -> str | None:
    """What a matrix stopped part-way left out: how many of its cells started, which did not, and
    the command that runs it again. None when every cell has a run, when none has (nothing to
    name the suite by), or for a group made before its cells were recorded (migration 018).
    ``runs``: the group's, when the caller has read them already."""
    from evalkit.store.groups import cells_not_started, group_cells, group_runs

    if not store.opened:  # a database still to be created (a matrix refused before it ran) holds none
        return None
    planned = group_cells(store, group_id)
    if runs is None:
        runs = group_runs(store, group_id) if planned else []
    missing = cells_not_started(planned, runs)
    if not missing or not runs:
        return None
    # a matrix does not resume (--resume finishes one run): the whole matrix again, in a new group,
    # whose cells that ran find their answers in the response cache
    prompts = dict.fromkeys(c.prompt_version for c in planned if c.prompt_version is not None)
    models = dict.fromkeys(c.model for c in planned)
    command = f"evalkit run {shlex.quote(_shown_path(runs[0].suite_path))}"
    command += "".join(f" --prompt {shlex.quote(p)}" for p in prompts)
    command += "".join(f" --model {shlex.quote(m)}" for m in models)
    command += repeated_options(runs[0])  # the cells share their options
    db = db_argument(store)
    command += f" --db {shlex.quote(db)}" if db is not None else ""
    cached = (
        "its --no-cache asks every cell again"
        if (runs[0].config.get("run") or {}).get("no_cache")
        else "the answers of the cells that ran come from the response cache"
    )
    return (
        f"{len(planned) - len(missing)} of {len(planned)} cells started; not started: "
        f"{', '.join(c.label for c in missing)}; a matrix does not resume: run it again (a new group; "
        f"{cached}): {command}"
    )


def incomplete_group(store: Store, group_id: str, runs: Sequence[RunRecord]) -> str | None:
    """``group G is incomplete: ...`` (:func:`matrix_not_started`) for a group of ``runs`` whose
    matrix stopped before each of its cells started, which compare, report and the studio say
    instead of picking a best among a part; None for a whole group."""
    not_started = matrix_not_started(store, group_id, runs)
    return f"group {group_id} is incomplete: {not_started}" if not_started else None


def stopped_decision(
    run: RunRecord,
    summary: RunSummary,
    resume: str,
    *,
    budget_reason: str | None = None,
    signum: signal.Signals | None = None,
) -> GateDecision:
    """The verdict stored with a run that stopped before every case ran: never a pass, whatever
    the part that ran would say. Exit 4 for ``--budget``, the signal's code (130, 143) for a signal,
    4 for an error that ended the loop."""
    if budget_reason is not None:
        return GateDecision(passed=False, exit_code=ExitCode.INCOMPLETE, reasons=[budget_reason])
    cause = f"stopped by {signal.Signals(signum).name}" if signum is not None else "stopped by an error"
    total = run.n_cases * max(1, summary.repeat or 1)
    return GateDecision(
        passed=False,
        exit_code=EXIT_CODES.get(signum, ExitCode.INCOMPLETE) if signum else ExitCode.INCOMPLETE,
        reasons=[f"{cause} with {summary.results} of {total} results; finish it with `{resume}`"],
    )


def db_argument(store: Store) -> str | None:
    """The ``--db`` a command needs to find this store again (None: the default one, which
    ``$EVALKIT_DB`` may name). A PostgreSQL URL is given with its password masked (``***``): never
    printed, nor stored in a run's gate reasons."""
    path = database_file(store)
    location = str(path) if path is not None else getattr(store.backend, "url", None)
    if location is None or location == resolve_db(None):
        return None
    return str(path) if path is not None else str(store.backend)


def _shown_path(path: str) -> str:
    """``path`` relative to the working directory when it is below it (shorter to retype)."""
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(path)
        if not relative.startswith(".."):
            return relative
    return str(Path(path))

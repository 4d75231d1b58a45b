"""Committing a run's results in small batches as they arrive, off the event loop.

Each batch is one store transaction (results plus the new response-cache rows), so a run killed at
any point keeps every committed batch and ``--resume`` finishes it without repeating one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from evalkit.errors import DatabaseFileError, DuplicateRowError, StoreError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ModelCaller
from evalkit.results import CallCounts, CaseResult, RunRecord
from evalkit.run.input_files import input_files_of
from evalkit.store import Store
from evalkit.store.input_files import InputFileStore, StoredFile
from evalkit.store.result_rows import ResultRows

FLUSH_EVERY = 500  # results per store transaction, at most
FLUSH_SECONDS = 1.0  # ... and no result waits longer than this for its commit


class BatchWriter:
    """Buffers results (and new cache entries) and commits them in small transactions, off the loop.

    A result is turned into its rows as it arrives (a small fraction of the result's memory), so
    only rows wait for a commit. At most one commit is in flight; the rows of results arriving
    meanwhile wait in the buffer. A timer commits what is buffered when no further result arrives
    (a run waiting on slow calls), so readers see every answered result within ``FLUSH_SECONDS``.
    """

    def __init__(
        self,
        store: Store,
        run_id: str,
        caller: ModelCaller,
        *,
        new_cases: bool = False,
        record: RunRecord | None = None,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.caller = caller
        # ``record``: the run's row, stored by the first commit (a database created while the first
        # calls are in flight, see Store's ``create_later``); until then the run is not ``recorded``
        self._record = record
        self.recorded = record is None
        # every case reaches the writer once, and none is stored yet (see ResultRows.new_cases)
        self.new_cases = new_cases
        self.buffer = ResultRows(run_id, new_cases=new_cases)
        self.last_flush = time.monotonic()
        self._commit: asyncio.Task[None] | None = None
        # held while a commit is started: the run's one connection takes one transaction at a time
        self._starting = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timed: asyncio.Task[None] | None = None
        # The first commit the database refused (disk full, ...): no other is tried, the run stops,
        # and flush() raises it. Results arriving after it are dropped: --resume evaluates them again.
        # Recording the run itself can also fail on opening the database (locked for too long, ...).
        self.failure: StoreError | None = None
        # set by drain() once the last call is dispatched: the results still to come
        self._to_come: int | None = None
        # the run's call counters so far, stored with each commit (see ResultRows.calls_json) until
        # the last call is dispatched: the run's end stores them with its summary right after
        self.calls: Callable[[], CallCounts] | None = None

    async def begin(self) -> None:
        """Record the run now if it is not stored yet (creating its database, in a thread, while the
        first calls are in flight) and wait until it is: commits made from a thread while the loop
        is busy take turns with it for the GIL, and the creation would drag on through the run."""
        if self._record is not None:
            await self._start_commit()
            await self._settle()

    def drain(self, to_come: int) -> None:
        """The last call is dispatched and ``to_come`` results are still to arrive: commit once as
        many wait as are still to come (halving the rest each time), so the run's end waits for a
        commit of the last few results, not of hundreds, without a commit (~10 ms of CPU whatever
        its size) per result: at 200 ms latency, 13 commits per 2000 results instead of ~30."""
        self._to_come = to_come

    async def add(self, result: CaseResult) -> None:
        if self.failure is not None:
            return
        self.buffer.add(result)
        if self._to_come is not None:
            self._to_come -= 1
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._commit_late)
        due = (
            (self._to_come is not None and len(self.buffer) >= self._to_come)
            or len(self.buffer) >= FLUSH_EVERY
            or time.monotonic() - self.last_flush >= FLUSH_SECONDS
        )
        if due and (self._commit is None or self._commit.done()):
            await self._start_commit()
        elif len(self.buffer) >= 4 * FLUSH_EVERY:  # the store is slower than the model: wait for it
            await self.flush()

    def _commit_late(self) -> None:
        """The timer: commit results that have waited ``FLUSH_SECONDS`` (none arrived since)."""
        self._timer = None
        if not self.buffer or self.failure is not None:
            return
        busy = [task for task in (self._commit, self._timed) if task is not None and not task.done()]
        if busy:  # a commit is under way: look again later
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._commit_late)
        else:
            self._timed = asyncio.ensure_future(self._start_commit())

    async def _start_commit(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._starting:  # one commit at a time, whoever starts it
            await self._settle()
            if self.failure is not None:
                return
            batch, self.buffer = self.buffer, ResultRows(self.run_id, new_cases=self.new_cases)
            batch.add_cache(self.caller.drain_cache_rows())
            if self.calls is not None and self._to_come is None:
                batch.calls_json = self.calls().model_dump_json()
            self.last_flush = time.monotonic()
            if self._record is not None:
                record, self._record = self._record, None
                self._commit = asyncio.create_task(asyncio.to_thread(self._record_run, record, batch))
            elif batch:
                self._commit = asyncio.create_task(asyncio.to_thread(self.store.add_rows, batch))

    def _record_run(self, record: RunRecord, batch: ResultRows) -> None:
        """Store the run's row (opening, and creating, the database), then the first batch."""
        try:
            self.store.create_run(record)
        except StoreError as exc:  # nothing of this run is stored: the error is the run's failure
            if isinstance(exc, DuplicateRowError):
                raise  # a bug, not the database's refusal
            raise _NotRecorded(exc) from None
        self.recorded = True
        self.store.add_rows(batch)

    async def add_files_of(self, requests: dict[str, CompletionRequest]) -> None:
        """Store the input files of the requests about to be sent, as the next commit (one at a time)."""
        files = input_files_of(requests)
        if not files:
            return
        async with self._starting:
            await self._settle()
            if self.failure is not None:
                return
            record, self._record = self._record, None
            self._commit = asyncio.create_task(asyncio.to_thread(self._record_files, record, files))

    def _record_files(self, record: RunRecord | None, files: list[StoredFile]) -> None:
        if record is not None:  # the run's row first, as every commit of the run needs it
            self._record_run(record, ResultRows(self.run_id))
        InputFileStore(self.store).record(self.run_id, files)

    async def settled(self) -> None:
        """Wait for the commit in flight, if any, keeping its failure (the run's end then knows
        whether the run was recorded)."""
        await self._settle()

    async def flush(self) -> None:
        """Commit everything buffered and wait until it is stored."""
        if self._timed is not None:
            await self._timed  # the timer's commit (a refused one is kept in self.failure)
            self._timed = None
        await self._start_commit()
        await self._settle()
        if self.failure is not None:
            raise self.failure

    async def _settle(self) -> None:
        """Wait for the commit in flight; other errors than the database's are bugs and propagate.

        Shielded: a signal that cancels the run leaves the commit running in its thread, and in
        ``_commit`` for :meth:`settled` to wait for, so the run's end knows what was stored."""
        commit = self._commit
        if commit is None:
            return
        try:
            await asyncio.shield(commit)
        except DatabaseFileError as exc:
            self.failure = self.failure or exc
        except _NotRecorded as exc:
            self.failure = self.failure or exc.error
        except asyncio.CancelledError:
            raise  # the commit goes on: settled() waits for it
        except BaseException:
            self._commit = None
            raise
        self._commit = None


class _NotRecorded(Exception):
    """Recording the run failed: carries the store's error to the writer's ``failure``."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(str(error))
        self.error = error

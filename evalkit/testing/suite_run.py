"""One evalkit run of a suite's selected cases in a background thread, for the pytest plugin.

Each collected case item waits here for its own result while the runner works through the whole
selection with its own concurrency; stopping the session cancels the run, which stays stored as
``incomplete``. Imports stay light: this module is loaded with the plugin in every pytest run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalkit.results import CaseResult, RunRecord
    from evalkit.run.runner import RunOutcome
    from evalkit.suite.loading import Suite


class SuiteRun:
    """One evalkit run of a suite's selected cases, in a background thread with its own event loop."""

    def __init__(
        self,
        suite: Suite,
        store: Any,
        options: Any,
        case_ids: set[str],
        baseline: RunRecord | None,
        *,
        allow_removed_critical: Sequence[str] = (),
    ) -> None:
        self.suite = suite
        self.allow_removed_critical = list(allow_removed_critical)
        self.store = store
        self.options = options
        self.case_ids = case_ids
        self.baseline = baseline
        self.results: dict[str, CaseResult] = {}
        self.record: RunRecord | None = None
        self.outcome: RunOutcome | None = None
        self.error: BaseException | None = None
        self.done = False
        self._changed = threading.Condition()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name=f"evalkit-{suite.name}", daemon=True
        )
        self._thread.start()

    @property
    def run_id(self) -> str | None:
        return self.record.run_id if self.record is not None else None

    async def _main(self) -> None:
        from evalkit.run.runner import execute_run, gate_outcome

        try:
            with self._changed:
                if self._stopping:
                    return
                self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            self.outcome = await execute_run(
                self.suite, self.store, self.options, on_result=self._on_result, on_start=self._on_start
            )
            if self.baseline is not None:  # judging calls run their own event loop: not in this one
                self.outcome = await asyncio.to_thread(
                    gate_outcome,
                    self.suite,
                    self.store,
                    self.outcome,
                    self.baseline,
                    allow_removed_critical=self.allow_removed_critical,
                )
        except BaseException as exc:  # cancelled by -x/Ctrl-C, or an error that ended the run: report it
            self.error = exc
        finally:
            with self._changed:
                self.done = True
                self._changed.notify_all()

    def _on_start(self, run: RunRecord, total: int, done: int) -> None:
        self.record = run

    def _on_result(self, result: CaseResult) -> None:
        with self._changed:
            self.results[result.case.id] = result
            self._changed.notify_all()

    def wait_for(self, case_id: str) -> CaseResult | None:
        """This case's result once the run has it; None if the run ended without it."""
        with self._changed:
            self._changed.wait_for(lambda: case_id in self.results or self.done)
            return self.results.get(case_id)

    def why_stopped(self) -> str:
        from evalkit.errors import EvalkitError

        if isinstance(self.error, EvalkitError):
            return f"evalkit: error: {self.error.one_line()}"
        if self.error is not None and not isinstance(self.error, asyncio.CancelledError):
            return f"the evalkit run of suite {self.suite.name!r} crashed: {type(self.error).__name__}: {self.error}"
        return f"the evalkit run of suite {self.suite.name!r} stopped before this case ran"

    def finish(self) -> None:
        """Let a run that has every result finish storing; cancel one pytest stopped early (-x, Ctrl-C)."""
        with self._changed:
            complete = self.case_ids <= self.results.keys()
            self._stopping = not complete
            loop, task = self._loop, self._task
        if not complete and loop is not None and task is not None:
            # RuntimeError: the loop has already closed, so the run ended by itself
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join()

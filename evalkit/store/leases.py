"""Whether a run is still alive: the heartbeat its process refreshes (``runs.heartbeat_at``/``_by``).

The process running a run refreshes the heartbeat every few seconds and signs it ``host:pid``. A
``running`` run is alive while its heartbeat is younger than ``stale_after`` seconds, unless its
process is known to be gone (same host, no such pid: killed). One without a heartbeat (stored before
migration 9) counts as gone. Claiming a run to resume it checks and refreshes the heartbeat in one
transaction, so two processes cannot both resume it.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime
from typing import Any

from evalkit.errors import UsageError
from evalkit.results import CallCounts
from evalkit.store.queries import Store
from evalkit.store.values import utcnow

HEARTBEAT_SECONDS = 10.0  # how often a running process refreshes its run's heartbeat
STALE_AFTER_SECONDS = 60.0  # a heartbeat older than this belongs to a process that is gone


def this_process() -> str:
    """``host:pid`` of this process, as heartbeats are signed."""
    return f"{socket.gethostname()}:{os.getpid()}"


def fresh_heartbeat() -> dict[str, Any]:
    """The heartbeat fields of a run this process starts now (``RunRecord.model_copy(update=...)``)."""
    return {"heartbeat_at": utcnow(), "heartbeat_by": this_process()}


def process_gone(owner: str | None) -> bool:
    """Whether ``owner`` (``host:pid``) is a process of this host that no longer exists."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, someone else's
    return False


class RunLeases:
    """Heartbeats of running runs."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def touch(self, run_id: str) -> None:
        """Refresh the heartbeat of a run this process is running."""
        with self.store._transaction() as con:
            con.execute(
                "UPDATE runs SET heartbeat_at = ?, heartbeat_by = ? WHERE run_id = ?",
                (utcnow(), this_process(), run_id),
            )

    def recorded_calls(self, run_id: str) -> CallCounts | None:
        """The run's call counters as last written (with each commit of results, and when it
        stopped); None for a run stored before they were (migration 015)."""
        with self.store._connection() as con:
            rows = con.execute("SELECT calls_json FROM runs WHERE run_id = ?", (run_id,))
        text = rows[0][0] if rows else None
        return CallCounts.model_validate_json(text) if isinstance(text, str) else None

    def claim(self, run_id: str, *, stale_after: float = STALE_AFTER_SECONDS) -> None:
        """Mark an unfinished run ``running`` by this process; refused while another process runs it."""
        with self.store._transaction() as con:
            rows = con.execute(
                "SELECT status, heartbeat_at, heartbeat_by FROM runs WHERE run_id = ?", (run_id,)
            )
            if not rows:
                raise UsageError(f"no run {run_id!r} (see `evalkit runs`)")
            status, heartbeat, owner = rows[0]
            now = utcnow()
            running = still_running(status, heartbeat, owner, now, stale_after)
            if running is not None:
                raise UsageError(
                    f"run {run_id} is {running}; wait for it to finish, or resume it once its heartbeat "
                    f"is over {stale_after:.0f}s old"
                )
            con.execute(
                "UPDATE runs SET status = 'running', finished_at = NULL, heartbeat_at = ?, heartbeat_by = ? "
                "WHERE run_id = ?",
                (now, this_process(), run_id),
            )


def still_running(
    status: str,
    heartbeat: datetime | None,
    owner: str | None,
    now: datetime,
    stale_after: float = STALE_AFTER_SECONDS,
) -> str | None:
    """``still running in another process (host:pid, heartbeat Ns ago)`` for a run whose process
    is alive (its heartbeat fresh, and the process there when it is of this host); else None."""
    age = seconds_since(heartbeat, now)
    if status == "running" and age is not None and age < stale_after and not process_gone(owner):
        return f"still running in another process ({owner}, heartbeat {age:.0f}s ago)"
    return None


def seconds_since(moment: datetime | None, now: datetime) -> float | None:
    """Seconds from ``moment`` (naive UTC) to ``now``; None without a moment."""
    if moment is None:
        return None
    return (now - moment).total_seconds()

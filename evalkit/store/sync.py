"""Pushing runs from a local database to a shared one: ``evalkit sync RUN --to postgresql://...``.

A run is copied whole (its row of ``runs`` with its call counters, all of its cases, outputs, scores and field scores, and
the input files its cases were given), in one transaction, under the same run id; a run of a matrix
also brings the cells its matrix set out to run, if the target does not hold them yet, so a group
synced without the cells that never started is still known there to be incomplete. Human labels and
pairwise comparisons made of it later are not runs' rows and are not copied. Syncing a run that the target already holds changes
nothing, so a CI job can sync unconditionally. Unfinished runs are refused: finish them first
(``evalkit run --resume``), or the shared store would hold half a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.errors import UsageError
from evalkit.store import Store
from evalkit.store.groups import group_cells, record_group_cells
from evalkit.store.leases import still_running
from evalkit.store.run_tables import insert_run, read_run_calls, read_run_rows
from evalkit.store.values import utcnow


@dataclass(frozen=True)
class SyncResult:
    run_id: str
    copied: bool  # False when the target already had the run
    rows: int


def sync_run(source: Store, target: Store, ref: str) -> SyncResult:
    """Copy run ``ref`` of ``source`` into ``target`` (idempotent)."""
    with source.session():
        run = source.get_run(ref)
        if run.status != "complete":
            running = still_running(run.status, run.heartbeat_at, run.heartbeat_by, utcnow())
            if running is not None:  # resuming it would be refused: it is being finished now
                raise UsageError(f"run {run.run_id} is {running}; sync it once it has finished")
            raise UsageError(
                f"run {run.run_id} is {run.status}; finish it (evalkit run --resume) before syncing"
            )
        rows = read_run_rows(source, run.run_id)
        calls = read_run_calls(source, run.run_id)
        planned = group_cells(source, run.group_id) if run.group_id else []
    count = sum(len(r) for r in rows.values())
    if run.group_id and planned and not group_cells(target, run.group_id):
        record_group_cells(target, run.group_id, planned)
    if target.has_run(run.run_id):
        return SyncResult(run.run_id, copied=False, rows=count)
    insert_run(target, run, [rows], calls_json=calls)
    return SyncResult(run.run_id, copied=True, rows=count)

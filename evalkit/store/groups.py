"""Run groups: the runs of one prompts x models matrix share a ``group_id`` (migration 002)."""

from __future__ import annotations

from evalkit.errors import UsageError
from evalkit.results import RunRecord
from evalkit.store.columns import RUN_COLUMNS, run_record
from evalkit.store.queries import Store
from evalkit.store.values import like_literal


class NoSuchGroup(UsageError):
    """No run group has that id or prefix (``evalkit report`` then reports the run it looked for)."""


def group_runs(store: Store, ref: str) -> list[RunRecord]:
    """The runs of a group, by group id, unique prefix of one, or ``latest``; oldest first."""
    cols = ", ".join(RUN_COLUMNS)
    with store._connection() as con:
        if ref == "latest":
            found = con.execute(
                "SELECT group_id FROM runs WHERE group_id IS NOT NULL ORDER BY started_at DESC LIMIT 1"
            )
        else:
            found = con.execute(
                "SELECT DISTINCT group_id FROM runs WHERE group_id = ? OR group_id LIKE ? ESCAPE '\\' "
                "ORDER BY group_id LIMIT 4",
                (ref, like_literal(ref) + "%"),
            )
        ids = [row[0] for row in found]
        if ref in ids:
            ids = [ref]
        if not ids:
            raise NoSuchGroup(
                f"no run group {ref!r} (groups come from `evalkit run` with several --prompt/--model)"
            )
        if len(ids) > 1:
            more = ", ..." if len(ids) > 3 else ""
            raise UsageError(f"group prefix {ref!r} is ambiguous: {', '.join(ids[:3])}{more}")
        rows = con.execute(
            f"SELECT {cols} FROM runs WHERE group_id = ? ORDER BY started_at, run_id", (ids[0],)
        )
    return [run_record(row) for row in rows]

"""Run groups: the runs of one prompts x models matrix share a ``group_id`` (migration 002); the
cells the matrix set out to run are recorded before the first one starts (migration 018)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.errors import EvalkitError, ExitCode, UsageError
from evalkit.results import RunRecord
from evalkit.store.columns import RUN_COLUMNS, run_record
from evalkit.store.queries import Store
from evalkit.store.values import like_literal


class NoSuchGroup(UsageError):
    """No run group has that id or prefix (``evalkit report`` then reports the run it looked for)."""


class IncompleteGroup(EvalkitError):
    """A matrix stopped before each of its cells started: its group is no whole comparison."""

    exit_code = ExitCode.INCOMPLETE


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


@dataclass(frozen=True)
class GroupCell:
    """One cell a matrix set out to run: its prompt version (None: the target has no prompt) and model."""

    prompt_version: str | None
    model: str

    @property
    def label(self) -> str:
        return f"{self.prompt_version or '-'} x {self.model}"


def record_group_cells(store: Store, group_id: str, cells: Sequence[GroupCell]) -> None:
    """Record the cells of matrix ``group_id``, in the order they run, before the first one starts."""
    with store._transaction() as con:
        for index, cell in enumerate(cells):
            con.execute(
                "INSERT INTO group_cells (group_id, cell, prompt_version, model) VALUES (?, ?, ?, ?)",
                (group_id, index, cell.prompt_version, cell.model),
            )


def group_cells(store: Store, group_id: str) -> list[GroupCell]:
    """The cells matrix ``group_id`` set out to run; empty for a group made before migration 018."""
    with store._connection() as con:
        rows = con.execute(
            "SELECT prompt_version, model FROM group_cells WHERE group_id = ? ORDER BY cell", (group_id,)
        )
        return [GroupCell(prompt, model) for prompt, model in rows]


def cells_not_started(planned: Sequence[GroupCell], runs: Sequence[RunRecord]) -> list[GroupCell]:
    """The cells of ``planned`` that no run of ``runs`` (the group's) is a cell of, in their order."""
    unmatched = [(run.prompt_version, run.model) for run in runs]
    missing = []
    for cell in planned:
        key = (cell.prompt_version, cell.model)
        if key in unmatched:
            unmatched.remove(key)
        else:
            missing.append(cell)
    return missing

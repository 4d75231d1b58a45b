"""Files given to cases as inputs (migration 012), stored once by content hash, linked to runs' cases.

The runner records each file when its case is first sent; a report reads them back to show what
the model saw. Writing the same file (or the same case of a resumed run) again changes nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from evalkit.store.queries import Store


@dataclass(frozen=True)
class StoredFile:
    """One file of one case of a run."""

    case_id: str
    variable: str
    name: str
    sha256: str
    media_type: str
    data: bytes = b""


class InputFileStore:
    """The input files of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, run_id: str, files: Sequence[StoredFile]) -> None:
        """Store ``files`` (content once per hash) and link them to their cases of ``run_id``."""
        if not files:
            return
        contents = {f.sha256: f for f in files}
        with self.store._transaction() as con:
            con.insert(
                "input_files",
                ("sha256", "media_type", "size_bytes", "data_base64"),
                [
                    (f.sha256, f.media_type, len(f.data), base64.b64encode(f.data).decode())
                    for f in contents.values()
                ],
                ignore_existing=True,
            )
            con.insert(
                "run_input_files",
                ("run_id", "case_id", "variable", "name", "sha256"),
                [(run_id, f.case_id, f.variable, f.name, f.sha256) for f in files],
                ignore_existing=True,
            )

    def of_run(self, run_id: str, *, with_data: bool = False, limit: int = 1000) -> list[StoredFile]:
        """The files of a run's cases (content too, with ``with_data``), by case and variable."""
        data = "f.data_base64" if with_data else "''"
        with self.store._connection() as con:
            rows = con.execute(
                f"SELECT r.case_id, r.variable, r.name, r.sha256, f.media_type, {data} "
                "FROM run_input_files r JOIN input_files f ON f.sha256 = r.sha256 "
                "WHERE r.run_id = ? ORDER BY r.case_id, r.variable LIMIT ?",
                (run_id, limit),
            )
        return [StoredFile(c, v, n, s, m, base64.b64decode(d) if d else b"") for c, v, n, s, m, d in rows]

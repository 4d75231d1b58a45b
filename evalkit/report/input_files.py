"""The report's "Input files" section: the files a run's cases were given, as the model saw them."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from evalkit.store import Store
from evalkit.store.input_files import InputFileStore

FILES_SHOWN = 50  # each is embedded in the (self-contained) report


@dataclass(frozen=True)
class InputFileView:
    case_id: str
    variable: str
    name: str
    media_type: str
    size_bytes: int
    url: str  # a data: URL, so the report stays one file

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


def input_file_views(store: Store, run_id: str) -> tuple[list[InputFileView], int]:
    """The first files of a run's cases (embedded) and how many the run has in all."""
    stored = InputFileStore(store).of_run(run_id, with_data=True, limit=FILES_SHOWN + 1)
    total = len(stored) if len(stored) <= FILES_SHOWN else len(InputFileStore(store).of_run(run_id))
    views = [
        InputFileView(
            f.case_id,
            f.variable,
            f.name,
            f.media_type,
            len(f.data),
            f"data:{f.media_type};base64,{base64.b64encode(f.data).decode()}",
        )
        for f in stored[:FILES_SHOWN]
    ]
    return views, total

"""The files of a chunk's requests, as the store keeps them (once by hash, linked to each case)."""

from __future__ import annotations

from evalkit.providers.base import CompletionRequest
from evalkit.providers.file_inputs import FileInput
from evalkit.store.input_files import StoredFile


def input_files_of(requests: dict[str, CompletionRequest]) -> list[StoredFile]:
    """Every file the requests carry (URL images are not stored: there is nothing read to keep)."""
    files = []
    for case_id, request in requests.items():
        if not request.attachments:
            continue
        for variable in request.attachments:
            value = (request.variables or {}).get(variable)
            if isinstance(value, FileInput) and value.url is None:
                files.append(
                    StoredFile(case_id, variable, value.name, value.sha256, value.media_type, value.data)
                )
    return files

"""Correcting a case whose expected output is wrong: its line in the suite's JSONL file is rewritten, and
every other byte of the file stays as it was.

The corrected line keeps the keys the line had (and their order), replaces ``expected`` and appends a
record to ``provenance.corrections``: who, when, from which run, and the expected output it replaced.
The file is replaced atomically (a temporary file in the same folder, then ``os.replace``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit.cases import parse_case_line
from evalkit.errors import UsageError
from evalkit.suite.loading import Suite


@dataclass(frozen=True)
class Correction:
    """Where a correction was written."""

    case_id: str
    path: Path
    line: int  # 1-based
    previous: Any


def correct_expected(
    suite: Suite, case_id: str, expected: Any, *, corrector: str, run_id: str | None = None, note: str = ""
) -> Correction:
    """Give case ``case_id`` of ``suite`` a new expected output, in the case file that holds it."""
    for path, line_no, case in suite.iter_located_cases():
        if case.id == case_id:
            return _rewrite_line(path, line_no, expected, corrector=corrector, run_id=run_id, note=note)
    raise UsageError(f"suite {suite.name!r} has no case {case_id!r} in its case files")


def _rewrite_line(
    path: Path, line_no: int, expected: Any, *, corrector: str, run_id: str | None, note: str
) -> Correction:
    data = path.read_bytes()
    lines = data.splitlines(keepends=True)
    original = lines[line_no - 1]
    text = original.decode("utf-8")
    ending = text[len(text.rstrip("\r\n")) :]
    raw = json.loads(text)
    previous = raw.get("expected")
    stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    record = {"by": corrector, "at": stamp, "previous": previous} | ({"run": run_id} if run_id else {})
    if note:
        record["note"] = note
    raw["expected"] = expected
    provenance = raw.get("provenance") if isinstance(raw.get("provenance"), dict) else {}
    raw["provenance"] = {**provenance, "corrections": [*provenance.get("corrections", []), record]}
    new_text = json.dumps(raw, ensure_ascii=False)
    parse_case_line(new_text, path=path, line=line_no)  # the new line must still be a valid case
    lines[line_no - 1] = (new_text + ending).encode("utf-8")
    _replace(path, b"".join(lines))
    return Correction(case_id=str(raw.get("id")), path=path, line=line_no, previous=previous)


def _replace(path: Path, content: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, path.stat().st_mode & 0o777)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

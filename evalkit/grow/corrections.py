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
from evalkit.errors import ConfigError, UsageError
from evalkit.suite.loading import Suite, awaits_expected
from evalkit.suite.sources import TABLE_SUFFIXES

BOM = b"\xef\xbb\xbf"


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
        if case.id != case_id:
            continue
        if path.suffix.lower() in TABLE_SUFFIXES:
            raise UsageError(
                f"case {case_id!r} is a row of a {path.suffix.lstrip('.').upper()} table: only a line of a "
                "JSONL case file is rewritten; correct its expected output in the table",
                path=path,
                line=line_no,
            )
        return _rewrite_line(suite, path, line_no, expected, corrector=corrector, run_id=run_id, note=note)
    raise UsageError(f"suite {suite.name!r} has no case {case_id!r} in its case files")


def _rewrite_line(
    suite: Suite, path: Path, line_no: int, expected: Any, *, corrector: str, run_id: str | None, note: str
) -> Correction:
    data = path.read_bytes()
    lines = data.split(b"\n")  # the lines as the suite reads them: only \n ends one
    original = lines[line_no - 1]
    bom = BOM if line_no == 1 and original.startswith(BOM) else b""  # a Windows editor's, kept
    text = original[len(bom) :].decode("utf-8")
    ending = "\r" if text.endswith("\r") else ""
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
    case = parse_case_line(new_text, path=path, line=line_no)  # the new line must still be a valid case
    needing = suite.needing_expected(case) if not awaits_expected(case) else []
    if needing:  # and the suite must still run: `evalkit run` refuses a case its scorers cannot score
        raise ConfigError(
            f"case {case.id!r} needs an expected output: scorer {needing[0].label!r} ({needing[0].name}) "
            "compares the output with it",
            path=path,
            line=line_no,
        )
    lines[line_no - 1] = bom + (new_text + ending).encode("utf-8")
    _replace(path, b"\n".join(lines))
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

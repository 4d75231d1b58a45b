"""Reviewing candidates and adding cases to a suite's case files, never the same case twice.

``evalkit review`` accepts or rejects generated candidates. An accepted candidate is appended to the
suite's generated-case file (``generate.cases_file``, default ``generated.jsonl``) as an unverified
case with its provenance. Appending is idempotent: a case whose id is already in any of the suite's
case files is not written again, so an interrupted review can simply be repeated.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from evalkit.candidates import Candidate, CandidateStatus
from evalkit.cases import Case, iter_case_file
from evalkit.errors import UsageError
from evalkit.store import Store
from evalkit.store.growth import GrowthStore
from evalkit.suite.loading import Suite


@dataclass
class ReviewOutcome:
    """What a batch of decisions did."""

    accepted: list[str] = field(default_factory=list)  # appended to the case file now
    already_present: list[str] = field(default_factory=list)  # accepted earlier: not written again
    rejected: list[str] = field(default_factory=list)
    case_file: Path | None = None


def listed_in_suite(suite: Suite, path: Path) -> bool:
    """Whether the suite's ``cases:`` list names ``path`` (so its cases run with the suite)."""
    return any(
        fnmatch.fnmatch(str(path), str(suite.base_dir / pattern)) for pattern in suite.config.case_patterns
    )


def generated_cases_path(suite: Suite) -> Path:
    """The case file accepted candidates are appended to."""
    return suite.base_dir / suite.config.generate.cases_file


def suite_case_ids(suite: Suite, extra: Sequence[Path] = ()) -> set[str]:
    """Ids of every case in the suite's case files (and in ``extra`` files, when they exist)."""
    ids = {case.id for case in suite.iter_cases()}
    for path in extra:
        if path.exists() and path not in suite.case_files:
            ids.update(case.id for _, case in iter_case_file(path))
    return ids


def append_cases(path: Path, cases: Sequence[Case], present: set[str]) -> list[str]:
    """Append the cases whose ids are not in ``present`` to a JSONL case file; returns the ids written.

    The lines are written with one write and fsynced, so a crash leaves whole lines only.
    """
    new = [c for c in cases if c.id not in present]
    if not new:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(c.model_dump(mode="json"), ensure_ascii=False) + "\n" for c in new)
    with path.open("a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # a file edited by hand may lack its last newline
                text = "\n" + text
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    present.update(c.id for c in new)
    return [c.id for c in new]


def _lookup(growth: GrowthStore, suite: Suite, ids: Sequence[str]) -> list[Candidate]:
    found = {c.candidate_id: c for c in growth.candidates(suite.name, ids=list(dict.fromkeys(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise UsageError(
            f"suite {suite.name!r} has no candidate {missing[0]!r} (list them with `evalkit review {suite.path}`)"
        )
    return [found[i] for i in dict.fromkeys(ids)]


def decide(
    suite: Suite,
    store: Store,
    *,
    accept: Sequence[str] = (),
    reject: Sequence[str] = (),
    reviewer: str | None = None,
) -> ReviewOutcome:
    """Accept and reject candidates by id. Accepted ones are appended to the generated-case file.

    Accepting a candidate that is already in the suite's case files writes nothing (idempotent).
    Rejecting an accepted candidate is refused: its case is in a case file already.
    """
    both = set(accept) & set(reject)
    if both:
        raise UsageError(f"candidate {sorted(both)[0]!r} is both accepted and rejected")
    growth = GrowthStore(store)
    to_accept = _lookup(growth, suite, accept)
    to_reject = _lookup(growth, suite, reject)
    for c in to_reject:
        if c.status == "accepted":
            raise UsageError(
                f"candidate {c.candidate_id!r} was accepted already; remove its line from "
                f"{generated_cases_path(suite)} by hand to drop it"
            )
    outcome = ReviewOutcome(case_file=generated_cases_path(suite))
    if to_accept:
        path = generated_cases_path(suite)
        present = suite_case_ids(suite, [path])
        stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
        extra = {"accepted_at": stamp} | ({"reviewer": reviewer} if reviewer else {})
        cases = [c.to_case(verified=False, **extra) for c in to_accept]
        written = append_cases(path, cases, present)
        outcome.accepted = written
        outcome.already_present = [c.id for c in cases if c.id not in written]
        # the file first, then the store: a crash in between is repaired by accepting again
        growth.decide(suite.name, [c.candidate_id for c in to_accept], "accepted")
    if to_reject:
        growth.decide(suite.name, [c.candidate_id for c in to_reject], "rejected")
        outcome.rejected = [c.candidate_id for c in to_reject]
    return outcome


def pending(suite: Suite, store: Store, *, status: str | None = "pending") -> list[Candidate]:
    """Candidates of the suite with ``status`` (None: every status), oldest first."""
    statuses: dict[str | None, CandidateStatus | None] = {
        None: None,
        "pending": "pending",
        "accepted": "accepted",
        "rejected": "rejected",
    }
    if status not in statuses:
        raise UsageError(f"unknown candidate status {status!r} (pending, accepted, rejected, all)")
    return GrowthStore(store).candidates(suite.name, status=statuses[status], source="generated")

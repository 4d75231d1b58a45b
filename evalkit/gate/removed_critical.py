"""Critical cases a pull request deleted: the baseline held them, this run does not.

The regression gate judges a case tagged ``gate.critical_tag`` on the cases both runs hold and on
new ones; a critical case removed from the suite (or renamed) would otherwise leave the gate
without a word, however it did in the baseline. A case counts as removed when the baseline stored
it with the critical tag and the candidate lacks it although it set out to run it: every case for a
full or merged run, its own shard's for ``--shard I/N``, its sources' for a partial merge. A subset
(a filter such as pytest ``-k``) cannot tell a removed case from one its filter left out: those are
counted, not judged. A run that did not finish is not checked (its own exit code decides).

Removed critical cases fail the gate (exit 1) unless each is accepted by id
(``--allow-removed-critical ID``), or the baseline is set to a run without them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from evalkit.analysis.outcomes import RunOutcomes
from evalkit.errors import ExitCode
from evalkit.run.sharding import covered_cases

LISTED = 10  # ids named in one reason


@dataclass(frozen=True)
class RemovedCritical:
    """The baseline's critical cases a run lacks: removed (id -> its baseline verdict), and how many
    it lacks without being able to tell (a subset)."""

    removed: dict[str, str] = field(default_factory=dict)
    unknown: int = 0


def find_removed_critical(base: RunOutcomes, cand: RunOutcomes, tag: str) -> RemovedCritical | None:
    """The cases tagged ``tag`` in the baseline (as it stored them) that the candidate run lacks;
    None when not checked (no critical tag, or a run that did not finish)."""
    if not tag or cand.run.status != "complete":
        return None
    missing = sorted(cid for cid, was in base.cases.items() if tag in was.tags and cid not in cand.cases)
    covers = covered_cases(cand.run)
    if covers is None:
        return RemovedCritical(unknown=len(missing))
    verdict = {True: "passed", False: "failed", None: "errored"}
    return RemovedCritical(removed={cid: verdict[base.cases[cid].passed] for cid in missing if covers(cid)})


def removed_critical_reasons(
    found: RemovedCritical, tag: str, baseline_id: str, allowed: Collection[str]
) -> tuple[str | None, list[str]]:
    """(the reason the gate fails, or None; what else to say) of ``found``; ``allowed``: the ids
    accepted as removed on purpose."""
    blocking = [cid for cid in found.removed if cid not in allowed]
    accepted = [cid for cid in found.removed if cid in allowed]
    what = f"tagged {tag!r} in baseline {baseline_id}"
    notes = []
    # a flag left in a CI workflow would otherwise accept that case's deletion silently some day
    stale = sorted(set(allowed) - set(found.removed)) if not found.unknown else []
    if stale:
        notes.append(
            f"--allow-removed-critical {', '.join(stale)}: no such case {what} is missing from this run "
            "(nothing to accept)"
        )
    if accepted:
        notes.append(
            f"{len(accepted)} case(s) {what} are not in this run, accepted with --allow-removed-critical: "
            + _listed(accepted, found)
        )
    if found.unknown:
        notes.append(
            f"{found.unknown} case(s) {what} are not in this run, a subset of the suite's cases: "
            "not checked for removal (a filter's choice cannot be told from a deleted case)"
        )
    if not blocking:
        return None, notes
    reason = (
        f"{len(blocking)} case(s) {what} are missing from this run (deleted or renamed in the suite, "
        f"so not judged): {_listed(blocking, found)}; if that is intended, accept each with "
        "--allow-removed-critical ID, or set the baseline to a run without them (`evalkit baseline set`)"
    )
    return reason, notes


def _listed(ids: list[str], found: RemovedCritical) -> str:
    shown = ", ".join(f"{cid} ({found.removed[cid]} there)" for cid in ids[:LISTED])
    return shown + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else "")


def blocks(exit_code: int) -> int:
    """The exit code of a decision that also fails on removed critical cases: a run that could not be
    judged keeps its code (3), any other fails (1)."""
    return exit_code if exit_code not in (ExitCode.OK, ExitCode.GATE_FAILED) else ExitCode.GATE_FAILED

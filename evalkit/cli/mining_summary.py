"""What ``evalkit mine`` and ``evalkit weekly`` print of a mining run."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evalkit.grow.mining import MiningReport

LISTED = 20  # added cases, and corrections to fix, named one per line


def print_mining(suite_name: str, report: MiningReport) -> None:
    """One paragraph on what a mining run found and added, and the corrections a person must fix."""
    from evalkit.cli.console import out
    from evalkit.report.formatting import count_text

    reasons = ", ".join(f"{k} {v}" for k, v in report.reasons.most_common()) or "none"
    skipped = ", ".join(f"{k} {v}" for k, v in report.unusable.most_common())
    pii = ", ".join(f"{k} {v}" for k, v in sorted(report.pii.items())) or "none found"
    bad = len(report.bad_corrections)
    out.print(  # every record read is in exactly one of these counts
        f"{suite_name}: read {report.records} records ({report.outside_window} outside the window, "
        f"{report.ok} ok, {report.duplicates} duplicate ids, {report.already_mined} already mined, "
        f"{report.failures} new failures"
        + (f", {bad} with a correction that breaks the output schema" if bad else "")
        + f"{'; skipped ' + skipped if skipped else ''})",
    )
    out.print(
        f"Failures {report.failures} ({reasons}) in {report.clusters} clusters; "
        f"{report.covered} clusters already covered by cases; PII scrubbed: {pii}",
    )
    out.print(f"Added {len(report.added)} cases to {report.case_file}")
    if report.over_limit:
        out.print(
            f"{report.over_limit} clusters over the {report.limit_source} {report.limit} limit: left for the next run"
        )
    for case in report.added[:LISTED]:
        out.print(
            f"  + {case.id} [{case.provenance['failure'][0]}] cluster {case.provenance['cluster']} "
            f"({count_text(case.provenance['cluster_size'], 'failure')})",
        )
    if bad:
        out.print(
            f"{count_text(bad, 'record')} with a correction that breaks the output schema: no case was made "
            "of them (a case expecting it could never pass); fix the correction in the log and the next run "
            "mines the record again:"
        )
        for failure in report.bad_corrections[:LISTED]:
            out.print(f"  ! {failure.where} (id {failure.log_id}): {failure.correction_error}")
        if bad > LISTED:
            out.print(f"  ... and {bad - LISTED} more")

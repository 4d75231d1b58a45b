"""The end of ``evalkit calibrate``: the report printed, the trust verdict, where the calibration is stored, what it declares.

Shared by the one-order and both-orders paths of :mod:`evalkit.cli.judge`, so both end the same way:
the report, ``Stored as calibration ...``, the thresholds applied and ``verdict: trusted|usable|refused``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import ConfigError, UsageError
from evalkit.gate.judge_trust import TrustThresholds, judge_trust, kappa_basis
from evalkit.judges.labelled import IdMatch

if TYPE_CHECKING:
    from evalkit.judges.calibration import CalibrationReport

SIDECAR_SUFFIX = ".judge.json"


def dataset_name(labels: Path) -> str:
    """The name a calibration is stored under: the set's folder and file (``llmbar/Natural``,
    ``pandalm-testset/testset-v1.json``), the same wherever the command runs from."""
    resolved = labels.resolve()
    parts = resolved.parts[-2:]
    return "/".join(parts)


def sidecar_path(precomputed: Path) -> Path:
    """``verdicts.jsonl`` -> ``verdicts.judge.json``: where a verdict file declares its judge."""
    return precomputed.with_name(precomputed.stem + SIDECAR_SUFFIX)


def declared_judge(precomputed: Path) -> dict[str, str]:
    """The judge and rubric a precomputed verdict file stands for, from its sidecar (if any).

    ``{"judge": "gpt-3.5-turbo", "rubric": "..."}`` or ``"rubric_file": "rubric.md"`` (relative to the
    sidecar). The command line's --judge / --rubric / --rubric-file / --suite take precedence.
    """
    path = sidecar_path(precomputed)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", path=path, line=exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("judge"), str):
        raise ConfigError('expected {"judge": MODEL, "rubric": TEXT or "rubric_file": PATH}', path=path)
    declared = {"judge": data["judge"]}
    if isinstance(data.get("rubric"), str):
        declared["rubric"] = data["rubric"]
    elif isinstance(data.get("rubric_file"), str):
        rubric_path = path.parent / data["rubric_file"]
        try:
            declared["rubric"] = rubric_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read rubric_file: {exc.strerror}", path=path) from None
    return declared


def trust_thresholds(trusted_at: str | None, usable_at: str | None) -> TrustThresholds:
    """The default bars with --trusted-at / --usable-at applied (checked before any judging)."""
    defaults = TrustThresholds()
    return TrustThresholds(
        trusted=defaults.trusted.override(trusted_at, "--trusted-at"),
        usable=defaults.usable.override(usable_at, "--usable-at"),
    )


def check_flags(
    mode: str,
    *,
    judge_run: str | None,
    precomputed: Path | None,
    orders: str,
    verdict: str,
    fields: str | None,
) -> None:
    """Refuse flags this calibration would otherwise silently ignore."""
    if judge_run is not None and precomputed is not None:
        raise UsageError("--judge-run and --precomputed both give the judge's verdicts: pass one of them")
    both_orders_only = [
        flag
        for flag, given in ((f"--verdict {verdict}", verdict != "auto"), ("--fields", fields is not None))
        if given
    ]
    if mode == "graded":
        pairwise_only = ["--orders both"] * (orders == "both") + both_orders_only
        if pairwise_only:
            raise UsageError(
                f"{', '.join(pairwise_only)}: for pairwise sets, and these labels are graded (pass/fail), "
                "judged once each"
            )
    elif orders == "one" and both_orders_only:
        raise UsageError(f"{', '.join(both_orders_only)}: for judging both orders, not --orders one")


def stop_if_unreached(errors: list[list[str | None]]) -> None:
    """Store no calibration when judge calls failed: per item, its calls' errors (None: no error).

    A call that failed after the call path's retries (connection refused, a timeout, a 401) is not the
    judge answering badly: counted as its error, an unreachable judge was refused at 0% accuracy.
    """
    from evalkit.errors import ProviderError
    from evalkit.judges.graded import call_failed

    failed = [next(e for e in item if call_failed(e)) for item in errors if any(call_failed(e) for e in item)]
    if failed:
        raise ProviderError(
            f"judge calls failed on {len(failed)} of {len(errors)} items ({failed[0]}): "
            "the judge was not measured, and nothing is stored"
        )


def warn_ids(match: IdMatch, labels: str) -> None:
    """Say which verdict ids met no item (and how many items got no verdict)."""
    from evalkit.cli.console import err

    warning = match.warning(labels)
    if warning:
        err.print(f"warning: {warning}")


def finish_calibration(
    report: Any, thresholds: TrustThresholds, db: str | None, show: Callable[[Any], None], declared: bool
) -> None:
    """Decide the judge's trust, store the report with it, print the report and end with the verdict."""
    from evalkit.cli.console import out
    from evalkit.store import open_store

    decision = judge_trust(report.trust_figures(), thresholds)
    report = report.model_copy(update={"trust": decision.verdict, "trust_detail": decision})
    open_store(db).add_calibration(report)
    show(report)
    out.print(
        f"Stored as calibration {report.calibration_id} of {report.judge_model}, rubric {report.rubric_hash}, "
        f"dataset {report.dataset}",
    )
    if not declared:
        out.print(
            "This verdict file declares no rubric: no judge scorer's gate will find this calibration "
            f"(pass --judge and --rubric/--rubric-file/--suite, or a sidecar *{SIDECAR_SUFFIX}).",
        )
    out.print(f"thresholds: {thresholds.describe()}")
    out.print(decision.line())


def print_calibration(report: CalibrationReport) -> None:
    """The calibration report: headline figures and the confusion matrix."""
    from rich.table import Table
    from rich.text import Text

    from evalkit.cli.console import out, pct

    def num(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    out.print(
        Text(
            f"{report.judge_model} · rubric {report.rubric_hash} · {report.dataset} ({report.mode})",
            style="bold",
        ),
    )
    out.print(
        f"Items {report.n_items}: judged {report.n_judged}, judge errors {report.n_errors} · "
        f"agreement {pct(report.agreement)} ({pct(report.agreement_all)} counting errors as disagreements) · "
        f"Cohen's kappa {num(report.kappa)} {kappa_basis(report.n_judged, report.n_items)}",
    )
    positive, negative = ("pass", "fail") if report.mode == "graded" else ("A", "B")
    out.print(
        f"TPR (recall on {positive}) {pct(report.tpr)} · TNR (recall on {negative}) {pct(report.tnr)} · "
        f"ECE of the judge's confidence {num(report.ece)}",
    )
    table = Table(title="rows: human label · columns: judge label", box=None, show_edge=False, pad_edge=False)
    table.add_column("human \\ judge")
    for label in report.confusion.labels:
        table.add_column(label, justify="right")
    for label, row in zip(report.confusion.labels, report.confusion.counts, strict=True):
        if label == "error":
            continue
        table.add_row(label, *(str(c) for c in row))
    out.print(table)

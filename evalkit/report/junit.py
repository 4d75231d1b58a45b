"""JUnit XML with one ``<testcase>`` per case (and epoch), for CI test tabs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from evalkit.analysis.failures import explain_cases
from evalkit.store import Store

if TYPE_CHECKING:
    from evalkit.gate.cells import RunVerdict

# Characters XML 1.0 cannot hold at all; model outputs occasionally contain them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def write_junit(store: Store, run_id: str, path: Path, verdict: RunVerdict | None = None) -> None:
    """Write the run's results as JUnit XML: failures carry the scorer reasons, errors the provider error.

    With ``verdict`` (what the job exits with), the suite's properties record it: ``exit_code``,
    ``verdict`` and ``reasons``, the same words the console and the markdown summary print.
    """
    run = store.get_run(run_id)
    cases = explain_cases(store, run_id, verdicts=None)
    # the gate left quarantined cases out: reported as skipped, not as failures of a job that passed
    kept_out = set(run.summary.quarantined) if run.summary is not None else set()
    failures = sum(c.verdict == "fail" and c.case_id not in kept_out for c in cases)
    errors = sum(c.verdict == "error" and c.case_id not in kept_out for c in cases)
    skipped = sum(c.verdict in ("fail", "error") and c.case_id in kept_out for c in cases)
    suite_el = ET.Element(
        "testsuite",
        name=run.suite_name,
        tests=str(len(cases)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
        time=f"{sum(c.latency_ms for c in cases) / 1000.0:.3f}",
        timestamp=run.started_at.isoformat(),
    )
    props = ET.SubElement(suite_el, "properties")
    values = [("run_id", run.run_id), ("model", run.model), ("prompt_version", run.prompt_version or "")]
    if verdict is not None:
        values += [
            ("exit_code", str(verdict.exit_code)),
            ("verdict", verdict.headline),
            ("reasons", _safe("; ".join(verdict.reasons)[:2000])),
        ]
    for key, value in values:
        ET.SubElement(props, "property", name=key, value=value)
    for case in cases:
        el = ET.SubElement(
            suite_el,
            "testcase",
            classname=f"{run.suite_name}.{run.prompt_version or 'target'}",
            name=case.name,
            time=f"{case.latency_ms / 1000.0:.3f}",
        )
        if case.case_id in kept_out and case.verdict in ("fail", "error"):
            why = _safe("; ".join(case.reasons)[:1000])
            ET.SubElement(el, "skipped", message=f"quarantined (kept out of the gate): {case.verdict}: {why}")
        elif case.verdict == "fail":
            message = _safe("; ".join(case.reasons)[:1000])
            failure = ET.SubElement(el, "failure", message=message, type="quality")
            # as the suite holds it (JSON), as `evalkit show` prints it: not Python's repr (True, None)
            expected = (
                case.expected
                if isinstance(case.expected, str)
                else json.dumps(case.expected, ensure_ascii=False)
            )
            failure.text = _safe(f"output:\n{case.output or ''}\n\nexpected:\n{expected}")
        elif case.verdict == "error":
            ET.SubElement(el, "error", message=_safe("; ".join(case.reasons)[:1000]), type="infrastructure")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite_el).write(path, encoding="utf-8", xml_declaration=True)

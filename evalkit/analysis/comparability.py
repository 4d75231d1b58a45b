"""Whether two runs' scores can be compared: same scorers, same case rule, same expected outputs.

A run rescored under a relaxed scorer has identical outputs and a higher pass rate: calling that
"better" compares two rulers, not two models. The runs' stored config snapshots say how each was
scored; when the scorers (their arguments, weights, thresholds) or the case rule (``gate.case_pass``,
``gate.case_threshold``) differ, or a paired case's expected output changed, the scores are not
comparable, and ``compare`` refuses a better/worse verdict on them unless asked. Cost, tokens and
latency do not depend on scoring and keep their verdicts. A changed suite file or evalkit version
alone is stated, not refused: most suite edits (a new prompt version, a new case) leave scoring alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evalkit.results import RunRecord

_CASE_RULE = ("case_pass", "case_threshold")


@dataclass(frozen=True)
class Comparability:
    """What differs between two runs in how they were scored (empty: their scores are comparable)."""

    scoring_changes: tuple[str, ...] = ()
    expected_changed: int = 0  # paired cases whose expected output differs
    suite_changed: bool = False
    evalkit_changed: tuple[str, str] | None = None

    @property
    def comparable(self) -> bool:
        return not self.scoring_changes and not self.expected_changed

    def warnings(self, *, allowed: bool = False) -> list[str]:
        """Plain sentences for the terminal, markdown and HTML report."""
        out = []
        if self.scoring_changes:
            out.append("the runs were scored differently: " + "; ".join(self.scoring_changes))
        if self.expected_changed:
            out.append(f"{self.expected_changed} paired case(s) have a different expected output in each run")
        if not self.comparable:
            out.append(
                "score and pass-rate verdicts compare the scoring as much as the outputs"
                if allowed
                else "no better/worse verdict on scores or pass rates (cost, tokens and latency keep theirs); "
                "pass --allow-scoring-change to compare them anyway"
            )
        if self.suite_changed:
            out.append("the suite file changed between the runs (different suite hash)")
        if self.evalkit_changed:
            a, b = self.evalkit_changed
            out.append(f"the runs were made by different evalkit versions ({a} and {b}); scorers may differ")
        return out


def check_comparability(a: RunRecord, b: RunRecord, expected_changed: int = 0) -> Comparability:
    """Compare the scoring recorded in two runs' config snapshots."""
    changes = _scorer_changes(a.config.get("scorers") or [], b.config.get("scorers") or [])
    gate_a, gate_b = a.config.get("gate") or {}, b.config.get("gate") or {}
    for key in _CASE_RULE:
        if key in gate_a and key in gate_b and gate_a[key] != gate_b[key]:
            changes.append(f"gate.{key} {gate_a[key]!r} -> {gate_b[key]!r}")
    versions = (a.evalkit_version, b.evalkit_version)
    return Comparability(
        scoring_changes=tuple(changes),
        expected_changed=expected_changed,
        suite_changed=bool(a.suite_hash and b.suite_hash and a.suite_hash != b.suite_hash),
        evalkit_changed=versions if all(versions) and versions[0] != versions[1] else None,
    )


def _scorer_changes(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[str]:
    by_label_a = {_label(s): s for s in a}
    by_label_b = {_label(s): s for s in b}
    changes = [f"scorer {n!r} only in A" for n in by_label_a if n not in by_label_b]
    changes += [f"scorer {n!r} only in B" for n in by_label_b if n not in by_label_a]
    for name in by_label_a.keys() & by_label_b.keys():
        diffs = _differences(by_label_a[name], by_label_b[name])
        if diffs:
            shown = ", ".join(diffs[:3]) + (f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else "")
            changes.append(f"scorer {name!r}: {shown}")
    return sorted(changes)


def _label(spec: dict[str, Any]) -> str:
    return str(spec.get("id") or spec.get("name"))


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Dotted paths where two JSON values differ, with both values (``args.threshold 0.9 -> 0.5``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(a.keys() | b.keys(), key=str):
            sub = f"{path}.{key}" if path else str(key)
            out += _differences(a.get(key), b.get(key), sub)
        return out
    if a == b:
        return []
    return [f"{path or '(spec)'} {_short(a)} -> {_short(b)}"]


def _short(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""What the studio's pages show, built from store rows: plain dicts and lists for the templates."""

from __future__ import annotations

import json
import math
from typing import Any

from evalkit.errors import EvalkitError
from evalkit.report.formatting import cases_cell, milliseconds, run_cost_cell, unknown_cost
from evalkit.results import RunRecord
from evalkit.store.labels import output_hash
from evalkit.studio.diffs import as_text, word_diff
from evalkit.suite.loading import Suite

PAGE_SIZE = 50


def pct(value: Any) -> str:
    """A rate as a percentage; a dash when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * float(value):.1f}%"


def num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{float(value):.{digits}f}"


def pretty(value: Any) -> str:
    """A value as indented JSON (strings as they are), for reading."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


def json_text(value: Any) -> str:
    """A value as the JSON a form field edits: a string in its quotes (submitted back unchanged, it
    is the same string, not the JSON it may spell), keys in their stored order."""
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def run_row(run: RunRecord, prf: dict[str, float | None] | None) -> dict[str, Any]:
    """One line of the runs list."""
    summary = run.settled_summary
    return {
        "run_id": run.run_id,
        "suite": run.suite_name,
        "prompt": run.prompt_version or "-",
        "model": run.model,
        "pass_rate": pct(summary.pass_rate if summary else None),
        "precision": pct((prf or {}).get("precision")),
        "recall": pct((prf or {}).get("recall")),
        "f1": pct((prf or {}).get("f1")),
        "cost": run_cost_cell(summary),
        "date": run.started_at.strftime("%Y-%m-%d %H:%M"),
        "status": run.status,
        "n_cases": cases_cell(run),
    }


def prompt_messages(
    run: RunRecord, variables: dict[str, Any], suite: Suite | None, why: str
) -> tuple[list[dict[str, str]], str]:
    """The run's prompt rendered for one case from the run's suite, found unchanged (``why`` not:
    :func:`evalkit.suite.recorded.run_suite_note`), and a note on its source or why there is none."""
    version = run.prompt_version
    rel = run.config.get("target", {}).get("prompts", {}).get(version) if version else None
    if not version or not rel or not run.suite_path:
        return [], "this run recorded no prompt template"
    if suite is None:
        return [], why
    prompt = suite.prompts.get(version)
    if prompt is None:
        return [], f"suite {suite.name!r} has no prompt version {version!r}"
    try:
        messages = prompt.render(variables)
    except EvalkitError as exc:
        return [], exc.one_line()
    return messages, str(suite.base_dir / rel)


def epoch_latency(output: dict[str, Any]) -> str:
    """How long the epoch's call took, where that was measured (the rule of
    :func:`evalkit.store.columns.measured_latency_ms`): a failed call, an answer from the response
    cache and a replayed one have no latency, not 0 ms."""
    if output.get("status") != "ok":
        return "no latency: the call failed"
    if output.get("cached"):
        return "no call: answered from the cache"
    latency = output.get("latency_ms")
    if latency is None or (isinstance(latency, float) and math.isnan(latency)) or latency <= 0:
        return "latency not measured"
    return milliseconds(float(latency))


def epoch_cost(output: dict[str, Any], unpriced: list[str]) -> str:
    """What one epoch cost: the target's call and the judge's, a cached answer's first cost named;
    no figure when the run called a model the price map does not price (counted as $0)."""
    if unpriced:
        return f"cost {unknown_cost(unpriced)}"
    target, judge, saved = (_usd(output.get(k)) for k in ("cost_usd", "judge_cost_usd", "saved_cost_usd"))
    text = f"${target + judge:.6f}"
    if judge:
        text += f" (judge ${judge:.6f})"
    if output.get("cached"):
        text += " · cached answer" + (f", ${saved:.6f} when first made" if saved else "")
    return text


def _usd(value: Any) -> float:
    """A stored cost, 0 where none was recorded (a row from before the column)."""
    return 0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def epoch_view(
    output: dict[str, Any],
    expected: Any,
    scores: list[dict[str, Any]],
    fields: list[dict[str, Any]],
    unpriced: list[str] | None = None,
) -> dict[str, Any]:
    """One epoch's output against the expected output, with its scorers and fields (``unpriced``:
    the models of the run without a price, from its summary)."""
    parsed = json.loads(output["parsed_json"]) if output.get("parsed_json") else None
    text = output.get("raw_text") or ""
    shown = as_text(parsed) if parsed is not None else text
    epoch = int(output["epoch"])
    return {
        "epoch": epoch,
        "verdict": output["verdict"],
        "score": num(output.get("score")),
        "status": output["status"],
        "error": output.get("error"),
        "text": text,
        "hash": output_hash(text),
        "latency": epoch_latency(output),
        "cost": epoch_cost(output, unpriced or []),
        "diff": word_diff(as_text(expected), shown) if expected is not None else None,
        "scores": [
            {
                "scorer": s["scorer"],
                "score": num(s["score"]),
                "passed": bool(s["passed"]),
                "reason": s["reason"],
                "error": s["error"] if isinstance(s.get("error"), str) else None,
                "details": _details(s.get("details_json")),
            }
            for s in scores
            if int(s["epoch"]) == epoch
        ],
        "fields": [
            {
                "scorer": f["scorer"],
                "field": f["field"],
                "status": f["status"],
                "score": num(f["score"]),
                "expected": f["expected_json"] or "",
                "actual": f["actual_json"] or "",
                "diff": word_diff(f["expected_json"] or "", f["actual_json"] or ""),
            }
            for f in fields
            if int(f["epoch"]) == epoch
        ],
    }


def _details(text: Any) -> dict[str, Any]:
    """A score's details: judge reasoning and votes first-class, the rest as JSON."""
    details = json.loads(text) if isinstance(text, str) and text else {}
    reasoning = details.pop("reasoning", None)
    votes = details.pop("votes", None)
    return {
        "reasoning": reasoning if isinstance(reasoning, str) else (pretty(reasoning) if reasoning else None),
        "votes": [_vote(v) for v in votes] if isinstance(votes, list) else [],
        "rest": pretty(details) if details else None,
    }


def _vote(vote: Any) -> dict[str, str]:
    """One judge vote as text cells: judge, verdict, score, confidence, reasoning or error."""
    if not isinstance(vote, dict):
        return {"judge": "", "verdict": pretty(vote), "score": "", "confidence": "", "text": ""}
    passed = vote.get("pass")
    verdict = "error" if passed is None else ("pass" if passed else "fail")
    return {
        "judge": str(vote.get("judge") or ""),
        "verdict": verdict,
        "score": num(vote.get("score"), 1),
        "confidence": num(vote.get("confidence"), 2),
        "text": str(vote.get("reasoning") or vote.get("error") or ""),
    }


def page_links(total: int, offset: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    """Where the previous and next pages start, and which rows this one shows."""
    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + size, total),
        "total": total,
        "prev": max(offset - size, 0) if offset > 0 else None,
        "next": offset + size if offset + size < total else None,
    }

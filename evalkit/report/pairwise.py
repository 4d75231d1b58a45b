"""The pairwise judge's section of the markdown summary and of the HTML report.

Reasoning and outputs are model text: the markdown goes through :func:`evalkit.report.formatting.cell`,
the HTML through jinja2's autoescaping (the template never marks them safe).
"""

from __future__ import annotations

from typing import Any

from evalkit.providers.prices import unpriced
from evalkit.report.formatting import cell, judge_spend_text

TOP = 10
_WORD = {"a": "A", "b": "B", "tie": "tie", None: "error"}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def pairwise_markdown(comparison: Any) -> list[str]:
    """Lines for ``evalkit compare A B --judge M --summary-md``: the figures and the order disagreements."""
    s, judge = comparison.stats, comparison.judge
    rate = (
        "n/a (no decisive case)"
        if s.win_rate is None
        else f"{_pct(s.win_rate)} (95% CI {_pct(s.ci_low)} to {_pct(s.ci_high)})"
    )
    lines = [
        "",
        f"**Pairwise judge** `{cell(judge.model)}` (both orders, verdict {judge.verdict}) on {s.n} cases: "
        f"B wins {s.wins}, A wins {s.losses}, ties {s.ties}"
        + (f", {s.errors} judge errors" if s.errors else "")
        + f"; judge spend {judge_spend_text(comparison.calls, comparison.cost_usd, comparison.unpriced_models)}",
        "",
        "| B's win rate over A | sign test p | position agreement | first-slot answers |",
        "|--:|--:|--:|--:|",
        f"| {rate} | {s.sign_test_p:.3g} | {_pct(s.position_agreement)} | {_pct(s.first_slot_share)} |",
    ]
    gate = comparison.gate
    if gate is not None:
        mark = "✅" if gate.passed else "❌"
        lines += ["", f"{mark} pairwise gate: {cell('; '.join(gate.reasons), 2000)}"]
        lines += [f"> WARNING: {cell(w, 2000)}" for w in gate.warnings]
    disagreements = comparison.disagreements
    if disagreements:
        lines += [
            "",
            f"Orders disagree on {len(disagreements)} case(s)"
            + (f" (first {TOP})" if len(disagreements) > TOP else "")
            + ": counted as ties unless log-probabilities decided.",
            "",
            "| case | A first | B first | decision | reasoning (A first) |",
            "|---|---|---|---|---|",
        ]
        for case in disagreements[:TOP]:
            v = case.verdict
            lines.append(
                f"| {cell(case.case_id)} | {_WORD[v.ab.winner]} | {_WORD[v.ba.winner]} | {_WORD[v.winner]} "
                f"| {cell(v.ab.reasoning or '')} |"
            )
    return lines


def pairwise_view(stored: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the HTML report shows of a stored comparison (``PairwiseStore.latest``), or None."""
    if stored is None:
        return None
    summary, judge_model = stored["summary"], stored["judge_model"]
    stats = summary.get("stats", {})
    rows = []
    for v in stored["verdicts"]:
        details = v["details"]
        orders = []
        for key in ("ab", "ba"):
            order = details.get(key) or {}
            orders.append(
                {
                    "name": "A's output first" if key == "ab" else "B's output first",
                    "winner": _WORD.get(order.get("winner")),
                    "method": order.get("method") or "-",
                    "margin": order.get("margin"),
                    "text_winner": _WORD.get(order.get("text_winner")) if order.get("text_winner") else None,
                    "reasoning": order.get("reasoning"),
                    "error": order.get("error"),
                }
            )
        rows.append(
            {
                "case_id": v["case_id"],
                "winner": _WORD.get(v["winner"]),
                "decided_by": v["decided_by"],
                "margin": v["margin"],
                "consistent": v["consistent"],
                "error": v["error"],
                "orders": orders,
            }
        )
    # order disagreements first: they are where the judge's position bias shows
    rows.sort(key=lambda r: (r["consistent"] is not False, r["case_id"]))
    calls = summary.get("calls")  # None for comparisons stored before spend was recorded
    no_price = summary.get("unpriced_models")
    if no_price is None:  # stored before it was recorded: a judge without a price now had none then
        no_price = [judge_model] if unpriced(judge_model) else []
    return {
        "comparison_id": stored["comparison_id"],
        "judge_model": judge_model,
        "prompt_hash": stored["prompt_hash"],
        "verdict_method": stored["verdict_method"],
        "created_at": stored["created_at"],
        "stats": stats,
        "gate": summary.get("gate"),
        "spend": None if calls is None else judge_spend_text(calls, summary.get("cost_usd") or 0.0, no_price),
        "rows": rows,
        "disagreements": sum(r["consistent"] is False for r in rows),
    }

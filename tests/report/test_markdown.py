"""Markdown summaries: safe for a pull-request comment, with the verdict, the table and the flips."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalkit.analysis.compare import compare_runs
from evalkit.analysis.failures import explain_cases
from evalkit.gate.regression import decide_regression
from evalkit.report.markdown import cell, comparison_markdown, run_markdown
from evalkit.results import GateDecision
from evalkit.store import open_store
from evalkit.suite.spec import GateSpec
from tests.conftest import CliResult
from tests.report.payloads import payload_runs
from tests.runs import Outcome, run_record, store_run


def test_cells_cannot_inject_markup_links_or_mentions() -> None:
    text = cell(
        "a | b <img src=x onerror=alert(1)> @octo-team [click](javascript:alert(1)) *bold* `code`\nnext"
    )
    assert "\n" not in text and "<img" not in text and "@octo" not in text
    assert "\\|" in text and "\\[click\\]" in text and "\\*bold\\*" in text and "\\`code\\`" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "@\u2060octo-team" in text
    assert cell("x" * 500).endswith("…") and len(cell("x" * 500)) == 160


def test_cells_cannot_become_autolinks_or_mentions_on_github() -> None:
    """GitHub (cmark-gfm) links a bare URL, a www. name and an e-mail address without any markup, and
    renders the entity &#64; as a plain "@" before it looks for mentions: an output such as
    "log in at https://evil.example" was a live link in the pull-request comment. A word joiner
    (invisible) now breaks each pattern, and the text reads the same."""
    import html
    import re

    raw = "log in at https://evil.example/x or WWW.evil.example, mail me@evil.example, ping @octocat; ftp://h.example"
    text = cell(raw)
    shown = html.unescape(text)  # the rendered text, where GitHub looks for mentions
    # the patterns GFM's autolink extension and GitHub's mentions start from
    assert not re.search(r"(?i)(https?|ftp)://|www\.|@[a-z0-9]", shown), shown
    assert shown.replace("\u2060", "") == raw  # nothing else changed: the reader sees the same text


def test_run_summary_with_baseline_decision(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    a, b = payload_runs(store, tmp_path / "suite")
    comparison = compare_runs(store, a, b, alpha=0.05, min_effect=0.02)
    decision = decide_regression(comparison, GateSpec())
    md = run_markdown(b, b.summary, comparison=comparison, decision=decision, report_path="reports/x.html")
    lines = md.splitlines()
    assert lines[0] == "### ❌ evalkit · s · v2 · openai/m: regression (exit 1)"
    assert "> 1 case(s) tagged 'critical' flipped to fail: case\\-002" not in md  # ids are not over-escaped
    assert "> 1 case(s) tagged 'critical' flipped to fail: case-002" in md
    assert "| pass rate | 93.3% | 76.7% | -16.7 pts |" in md
    assert "**Flipped cases**: 6 pass→fail, 1 fail→pass" in md
    assert "<details><summary>Per scorer and per field</summary>" in md
    assert "<img" not in md and "<script" not in md
    assert lines[-1] == "Full report: `reports/x.html`"


def test_run_summary_without_baseline_and_compare_summary(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    a, b = payload_runs(store, tmp_path / "suite")
    md = run_markdown(
        b,
        b.summary.model_copy(
            update={"gate": GateDecision(passed=True, exit_code=0, reasons=["pass rate ok"])}
        ),
        explain_cases(store, b.run_id, limit=3),
    )
    assert md.startswith("### ✅ evalkit · s · v2 · openai/m: gate passed (exit 0)")
    assert "| exact | 100.0% | 1.00 | 23 | 0 |" in md and "| judge | 0.0% | 0.00 | 7 | 0 |" in md
    assert "**Failures** (top 3 of 7)" in md
    both = comparison_markdown(compare_runs(store, a, b))
    assert both.startswith(
        "### evalkit compare · s: v2 · openai/m against v1 · openai/m: pass rate no significant difference"
    )


def test_a_run_table_says_what_the_cache_served_beside_what_a_run_paid() -> None:
    """v2's judge replies came from the cache: it paid $0.0006 against v1's $0.0089, which read as
    15x cheaper in the matrix and group tables, though its results cost the same."""
    from evalkit.report.formatting import run_cost_cell
    from evalkit.results import RunSummary

    assert run_cost_cell(RunSummary(cost_usd=0.0089)) == "$0.0089"
    assert (
        run_cost_cell(RunSummary(cost_usd=0.0006, saved_cost_usd=0.0083))
        == "$0.0006 + $0.0083 from the cache"
    )


def test_a_metric_measured_on_fewer_pairs_says_on_how_many(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """B answered 8 of 10 cases from the cache: its latency is measured on 2 pairs only, which the
    table headed "10 paired cases" did not say (A's 300 ms read as its mean over all 10)."""
    db = tmp_path / "r.duckdb"
    store = open_store(db)
    a = store_run(
        store,
        run_record("r-a"),
        [Outcome(f"c{i}", "pass", latency_ms=300.0 if i < 2 else 100.0) for i in range(10)],
    )
    b = store_run(
        store,
        run_record("r-b", minutes=1),
        [Outcome(f"c{i}", "pass", latency_ms=200.0, cached=i >= 2) for i in range(10)],
    )
    md = comparison_markdown(compare_runs(store, a, b))
    assert "10 paired cases" in md
    assert "| latency per case (ms) (2 of 10 pairs) | 300 ms | 200 ms |" in md
    assert "| tokens per case | " in md  # measured on every pair: no count
    shown = cli("compare", "r-a", "r-b", "--db", str(db))
    assert shown.exit_code == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if line.startswith("latency per case"))
    assert row.startswith("latency per case (ms) (2 of 10 pairs)") and "300 ms" in row

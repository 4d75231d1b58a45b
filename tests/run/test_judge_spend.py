"""Judge calls are counted: in the run's cost (split target / judge), the dry-run estimate, and
``--no-cache``; a cached re-run shows what the cache saved and is never "better" on cost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.analysis.compare import compare_runs
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite
from tests.run.test_runner import answer, cases, run

TARGET = "openai/gpt-4o-mini"  # priced in litellm's map
PANEL = ["openai/gpt-4o-mini", "openai/gpt-4o"]  # priced judges
N = 6


def verdict(body: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "the answer matches", "score": 8, "pass": True, "confidence": 0.9})


def panel_suite(target: LoopbackOpenAI, judge: LoopbackOpenAI) -> str:
    scorers = (
        "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"
        "  - name: llm_judge\n    id: panel\n    args:\n"
        "      rubric: The answer names the right value.\n"
        f"      model: {json.dumps(PANEL)}\n"
        "      repeats: 2\n"
        f"      api_base: {judge.base_url}\n"
    )
    return loopback_suite(target.base_url, scorers=scorers).replace("openai/loopback", TARGET)


def test_a_judge_panel_is_counted_in_the_run_cost_and_honours_no_cache(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer) as target, LoopbackOpenAI(responder=verdict) as judge:
        suite = make_suite(panel_suite(target, judge), cases(N))
        first = run(cli, suite, db)
        assert first.exit_code == 0, first.stdout + first.stderr
        assert judge.stats.requests == N * len(PANEL) * 2  # two judges, two repeats each
        cached = run(cli, suite, db)
        assert judge.stats.requests == N * len(PANEL) * 2  # the judge's answers came from the cache too
        fresh = run(cli, suite, db, "--no-cache")
        assert target.stats.requests == 2 * N
        assert judge.stats.requests == 2 * N * len(PANEL) * 2  # --no-cache reached the judge as well
    assert cached.exit_code == fresh.exit_code == 0
    assert f"judge calls {N * len(PANEL) * 2}" in first.stdout
    store = open_store(db)
    first_run, cached_run, _ = sorted(store.list_runs(), key=lambda r: r.started_at)
    s = first_run.summary
    assert s is not None and s.judge_cost_usd is not None and s.target_cost_usd is not None
    scores = store.score_rows(first_run.run_id)
    judged = sum(json.loads(d).get("judge_cost_usd", 0.0) for d in scores["details_json"])
    outputs = store.case_results(first_run.run_id)
    assert judged > 0 and s.judge_cost_usd == pytest.approx(judged)  # what the scorers reported
    assert s.target_cost_usd == pytest.approx(float(outputs["cost_usd"].sum())) and s.target_cost_usd > 0
    assert s.cost_usd == pytest.approx(s.target_cost_usd + s.judge_cost_usd)
    assert f"cost ${s.cost_usd:.4f} (target ${s.target_cost_usd:.4f}, judge ${s.judge_cost_usd:.4f})" in (
        first.stdout
    )
    # the tokens printed are the target's alone: with a judge, the line says so
    assert f"Tokens {s.prompt_tokens:,} in / {s.completion_tokens:,} out (target) · cost" in first.stdout
    # the cached re-run spent nothing and says what it saved
    c = cached_run.summary
    assert c is not None and c.cost_usd == 0.0 and c.judge_cost_usd == 0.0
    assert c.saved_cost_usd == pytest.approx(s.cost_usd)
    assert f"cache saved ${s.cost_usd:.4f}" in cached.stdout
    # ... and is not "better" on cost than the run that paid for its answers
    comparison = compare_runs(store, first_run, cached_run)
    cost = next(m for m in comparison.metrics if m.metric == "cost per case (USD)")
    assert cost.a == pytest.approx(cost.b) and cost.a is not None and cost.a > 0
    assert cost.verdict == "no significant difference"


def test_the_dry_run_estimate_counts_the_judge_calls(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from evalkit.providers.prices import call_cost

    with LoopbackOpenAI(responder=answer) as target, LoopbackOpenAI(responder=verdict) as judge:
        suite = make_suite(panel_suite(target, judge), cases(N))
        dry = run(cli, suite, tmp_path / "r.duckdb", "--dry-run")
        assert target.stats.requests == judge.stats.requests == 0
    assert dry.exit_code == 0, dry.stdout + dry.stderr
    calls = N * len(PANEL) * 2
    assert f"Judge calls ~{calls:,} (none assumed cached)" in dry.stdout
    assert f"~{calls * 600:,} out (at max_tokens)" in dry.stdout  # the judge's default max_tokens
    line = next(x for x in dry.stdout.splitlines() if x.startswith("Judge calls"))
    judge_cost = float(line.rsplit("$", 1)[1])
    # at least every reply at max_tokens, at the judges' output prices
    floor = sum(call_cost(m, 0, 600) for m in PANEL) * 2 * N
    assert judge_cost >= round(floor, 4) > 0
    assert "Estimated total $" in dry.stdout and f"judge ${judge_cost:.4f})" in dry.stdout

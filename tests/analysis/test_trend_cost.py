"""`evalkit trend`'s weekly cost and tokens are what the week's runs say they spent, answers no
stored result holds included (runs made against the loopback server at a price litellm knows)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.analysis.trend import TrendQuery, build_trend
from evalkit.results import CallCounts, RunSummary
from evalkit.run.summary import with_unstored_spend
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult
from tests.run.test_budget import JUDGED, long_answer, spent_on_the_wire, unplanned_judge_suite
from tests.run.test_runner import run
from tests.runs import Outcome, case_result, run_record


def test_a_weeks_cost_counts_what_its_runs_paid_for_and_did_not_store(
    db_url: str, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A run stopped by --budget after paying for its answers (their judges did not fit), then
    resumed without the response cache, paid for them twice and stored them once: its summary
    counts both, and the week's cost summed its stored results only, below what its runs spent."""
    db = db_url
    with (
        LoopbackOpenAI(responder=long_answer) as target,
        LoopbackOpenAI(responder=lambda body: JUDGED) as judge,
    ):
        suite = unplanned_judge_suite(make_suite, target.base_url, judge.base_url, 5)
        stopped = run(cli, suite, db, "--budget", "0.002", "--no-cache")
        assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
        first_part = spent_on_the_wire(target)
        run_id = open_store(db).get_run("latest").run_id
        resumed = run(cli, suite, db, "--resume", run_id, "--no-cache")
        assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
        assert target.stats.requests == 10 and judge.stats.requests == 5  # every answer asked twice
        other = run(cli, suite, db, "--no-cache")  # a run of the same week with nothing unstored
        assert other.exit_code == 0, other.stdout + other.stderr
    store = open_store(db)
    summaries = [store.get_run(r).summary for r in (run_id, store.get_run("latest").run_id)]
    assert summaries[0] is not None and summaries[1] is not None
    assert summaries[0].unstored_cost_usd == pytest.approx(first_part) and first_part > 0
    assert summaries[1].unstored_cost_usd is None

    week = build_trend(store, "loop")
    figures = week.suite_metrics
    assert figures["runs"][-1] == 2
    assert figures["cost_usd"][-1] == pytest.approx(sum(s.cost_usd for s in summaries), rel=1e-9)
    assert figures["judge_cost_usd"][-1] == pytest.approx(sum(s.judge_cost_usd or 0 for s in summaries))
    assert figures["prompt_tokens"][-1] == sum(s.prompt_tokens for s in summaries)
    assert figures["completion_tokens"][-1] == sum(s.completion_tokens for s in summaries)

    shown = cli("trend", "loop", "--db", db, "--out", str(tmp_path / "t"))
    assert shown.exit_code == 0, shown.stdout + shown.stderr
    with next((tmp_path / "t").glob("trend-loop*.csv")).open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["kind"] == "suite" and r["metric"] == "cost_usd"]
    assert float(rows[-1]["value"]) == pytest.approx(sum(s.cost_usd for s in summaries), rel=1e-9)


def test_the_judges_unstored_spend_is_in_the_weeks_judge_cost(db_url: str) -> None:
    """Of a run's unstored spend, the judge's share goes to the week's judge cost too: a run whose
    calls paid for judges and answers it did not store (its counters, as a stopped part leaves them),
    beside one that stored everything it paid for."""
    store = open_store(db_url)
    summaries: list[RunSummary] = []
    for minutes, unstored in ((0, True), (30, False)):
        record = run_record(f"r{minutes}", minutes=minutes)
        results = [
            case_result(Outcome(f"c{i}", "pass", cost_usd=0.001)).model_copy(
                update={"judge_cost_usd": 0.0005}
            )
            for i in range(4)
        ]
        store.create_run(record.model_copy(update={"n_cases": 4}))
        store.add_results(record.run_id, results)
        summary = store.summarize(record.run_id)
        if unstored:  # two more answers (50 in / 10 out tokens each) and three more judge calls
            calls = CallCounts(
                spent_usd=0.0095, judge_spent_usd=0.0035, prompt_tokens=300, completion_tokens=60
            )
            summary = with_unstored_spend(summary.model_copy(update={"calls": calls}))
            assert summary.unstored_cost_usd == pytest.approx(0.0035)
        store.finish_run(record.run_id, status="complete", summary=summary)
        summaries.append(summary)

    week = build_trend(store, "s", TrendQuery(weeks=1, now=run_record("x").started_at)).suite_metrics
    assert week["runs"] == [2]
    assert week["cost_usd"][0] == pytest.approx(sum(s.cost_usd for s in summaries))  # 0.0155
    assert week["judge_cost_usd"][0] == pytest.approx(sum(s.judge_cost_usd or 0 for s in summaries))  # 0.0055
    assert week["prompt_tokens"] == [sum(s.prompt_tokens for s in summaries)]  # 500
    assert week["completion_tokens"] == [sum(s.completion_tokens for s in summaries)]  # 100

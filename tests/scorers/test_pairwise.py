"""The pairwise_judge scorer in a real run: output against reference, both orders, on the loopback server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite
from tests.judges.test_pairwise import content_logprobs, content_text

CASES = [
    {"id": "better", "input": {"question": "good"}, "expected": "bad reference"},
    {"id": "worse", "input": {"question": "poor"}, "expected": "good reference"},
    # a mined case awaiting its reference (a golden one without is refused when the suite loads)
    {"id": "no-reference", "input": {"question": "good"}, "source": "mined", "verified": False},
]


def responder(body: dict[str, Any]) -> str:
    if body.get("model") == "judge":
        return content_text(body)
    question = body["messages"][-1]["content"]
    return "good output" if "good" in question else "weak output"


def test_pairwise_judge_scores_output_against_reference(make_suite: Any, cli: Any, tmp_path: Path) -> None:
    with LoopbackOpenAI(responder=responder, top_logprobs=content_logprobs) as server:
        scorers = (
            "  - name: pairwise_judge\n    id: preference\n"
            f"    args: {{model: openai/judge, api_base: '{server.base_url}'}}\n"
        )
        suite = make_suite(
            loopback_suite(server.base_url, scorers=scorers, gate="gate: {max_error_rate: 0.5}\n"), CASES
        )
        db = tmp_path / "r.duckdb"
        result = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert result.exit_code in (0, 1), result.stderr
    store = open_store(db)
    rows = store.score_rows(store.get_run("latest").run_id)
    by_case = {r.case_id: r for r in rows.itertuples()}
    better, worse = by_case["better"], by_case["worse"]
    assert (better.score, bool(better.passed)) == (1.0, True)
    assert (worse.score, bool(worse.passed)) == (0.0, False)
    assert "the reference preferred" in worse.reason and "log-prob margin" in worse.reason
    # the case awaiting its reference is not judged against one, and is kept out of the gate
    assert "no-reference" not in by_case
    summary = store.get_run("latest").summary
    assert summary is not None and summary.awaiting_expected == ["no-reference"]
    details = json.loads(better.details_json)
    assert details["pairwise"]["decided_by"] == "logprobs"
    assert details["pairwise"]["ab"]["reasoning"] and "ab: Response" in details["reasoning"]


def test_every_cases_pairwise_judge_spend_is_recorded_once(make_suite: Any, cli: Any, tmp_path: Path) -> None:
    """Each case's judge calls are stored with that case; a cached re-run pays the letter calls
    again (the cache keeps no log-probabilities) and counts as saved only what the cache served."""

    def priced(body: dict[str, Any]) -> str:
        return responder({**body, "model": "judge"} if body.get("model") == "gpt-4o-mini" else body)

    cases = [{"id": f"c{i}", "input": {"question": f"good {i}"}, "expected": f"bad {i}"} for i in range(6)]
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=priced, top_logprobs=content_logprobs) as server:
        scorers = (
            "  - name: pairwise_judge\n"
            f"    args: {{model: openai/gpt-4o-mini, api_base: '{server.base_url}'}}\n"
        )
        # priced models: the target gpt-4o, the judge gpt-4o-mini
        text = loopback_suite(server.base_url, scorers=scorers).replace("openai/loopback", "openai/gpt-4o")
        suite = make_suite(text, cases)
        first = cli("run", str(suite), "--db", str(db), "--no-progress", "-c", "3")
        again = cli("run", str(suite), "--db", str(db), "--no-progress", "-c", "3")
    assert first.exit_code == again.exit_code == 0, first.stdout
    store = open_store(db)
    paid, cached = sorted(store.list_runs(), key=lambda r: r.started_at)
    outputs = store.case_results(paid.run_id)
    reported = [json.loads(d)["judge_cost_usd"] for d in store.score_rows(paid.run_id)["details_json"]]
    assert (outputs["judge_cost_usd"] > 0).all()  # each case's own calls, not all on the first case
    assert float(outputs["judge_cost_usd"].sum()) == pytest.approx(sum(reported))
    assert paid.summary is not None and paid.summary.judge_cost_usd == pytest.approx(sum(reported))
    assert cached.summary is not None and cached.summary.saved_cost_usd is not None
    assert 0 < cached.summary.cost_usd < paid.summary.cost_usd  # the letter calls, asked again
    assert cached.summary.cost_usd + cached.summary.saved_cost_usd == pytest.approx(paid.summary.cost_usd)


@pytest.mark.parametrize("logprobs", [False, True])
def test_a_judge_that_always_picks_the_first_slot_gives_no_verdict(
    make_suite: Any, cli: Any, tmp_path: Path, logprobs: bool
) -> None:
    # it judged the position, not the outputs: every case is a judge error, none a passing tie
    def always_a(body: dict[str, Any]) -> str:
        if body.get("model") == "judge":
            return json.dumps({"reasoning": "A.", "winner": "A", "confidence": 0.9})
        return "weak output"

    def first_slot(body: dict[str, Any], text: str) -> list[dict[str, float]]:
        return [{"A": -0.1, "B": -2.5}]

    extra = {"top_logprobs": first_slot} if logprobs else {}
    with LoopbackOpenAI(responder=always_a, **extra) as server:
        scorers = (
            f"  - name: pairwise_judge\n    args: {{model: openai/judge, api_base: '{server.base_url}'}}\n"
        )
        suite = make_suite(loopback_suite(server.base_url, scorers=scorers), CASES[:2])
        db = tmp_path / "r.duckdb"
        result = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert result.exit_code == 3, result.stdout  # every case errored: no quality verdict
    store = open_store(db)
    rows = store.score_rows(store.get_run("latest").run_id)
    assert not rows["passed"].any()
    assert all("chose the first slot in both orders" in e for e in rows["error"])


def test_the_gate_checks_a_pairwise_judges_calibration(make_suite: Any, cli: Any, tmp_path: Path) -> None:
    # as llm_judge's: warned about by default, failing the gate with calibration: fail
    with LoopbackOpenAI(responder=responder, top_logprobs=content_logprobs) as server:
        args = f"model: openai/judge, api_base: '{server.base_url}'"
        gate = "gate: {min_pass_rate: 0.0, max_error_rate: 0.5}\n"
        warned_suite = make_suite(
            loopback_suite(
                server.base_url, scorers=f"  - name: pairwise_judge\n    args: {{{args}}}\n", gate=gate
            ),
            CASES[:2],
        )
        warned = cli("run", str(warned_suite), "--db", str(tmp_path / "w.duckdb"), "--no-progress")
        strict = f"  - name: pairwise_judge\n    args: {{{args}, calibration: fail}}\n"
        warned_suite.write_text(loopback_suite(server.base_url, scorers=strict, gate=gate))
        failed = cli("run", str(warned_suite), "--db", str(tmp_path / "f.duckdb"), "--no-progress")
    assert warned.exit_code == 0, warned.stdout
    assert (
        "WARNING: judge 'openai/judge' of scorer 'pairwise_judge'" in warned.stdout
        and "no calibration" in warned.stdout
    )
    assert failed.exit_code == 1 and "Gate FAILED" in failed.stdout

"""The pairwise_judge scorer in a real run: output against reference, both orders, on the loopback server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite
from tests.judges.test_pairwise import content_logprobs, content_text

CASES = [
    {"id": "better", "input": {"question": "good"}, "expected": "bad reference"},
    {"id": "worse", "input": {"question": "poor"}, "expected": "good reference"},
    {"id": "no-reference", "input": {"question": "good"}},
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
    better, worse, missing = by_case["better"], by_case["worse"], by_case["no-reference"]
    assert (better.score, bool(better.passed)) == (1.0, True)
    assert (worse.score, bool(worse.passed)) == (0.0, False)
    assert "the reference preferred" in worse.reason and "log-prob margin" in worse.reason
    assert isinstance(missing.error, str) and "no expected output" in missing.error
    details = json.loads(better.details_json)
    assert details["pairwise"]["decided_by"] == "logprobs"
    assert details["pairwise"]["ab"]["reasoning"] and "ab: Response" in details["reasoning"]

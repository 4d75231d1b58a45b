"""Reliability of a run's verdicts: confidence calibration, judge noise and target noise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.judges.reliability import confidence_report, confidence_value, judge_noise, target_noise
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite


def test_confidence_values() -> None:
    assert confidence_value(0.7) == 0.7 and confidence_value(85) == 0.85 and confidence_value(1) == 1.0
    assert (
        confidence_value(True) is None and confidence_value("high") is None and confidence_value(-1) is None
    )


def test_confidence_report_hand_computed() -> None:
    outputs = [
        ({"c": 0.9}, "pass"),
        ({"c": 0.8}, "fail"),
        ({"c": 90}, "pass"),  # a percentage
        ({"c": 0.2}, "fail"),
        ({"other": 1}, "pass"),  # no confidence
        (None, "error"),  # provider error: left out
    ]
    r = confidence_report(outputs, "c", bins=2)
    assert (r.cases, r.with_confidence) == (5, 4)
    # bin (0, .5]: .2 fail -> |0 - .2| ; bin (.5, 1]: .9 .8 .9, 2 of 3 pass -> |.667 - .867|
    assert r.ece == pytest.approx(0.25 * 0.2 + 0.75 * abs(2 / 3 - 2.6 / 3))
    assert [b.count for b in r.reliability] == [1, 3]
    assert r.accuracy == pytest.approx(0.5)


def test_judge_and_target_noise_are_separate() -> None:
    rows = [
        (
            "judge",
            {"votes": [{}, {}, {}], "n_votes": 3, "split": True, "vote_agreement": 2 / 3, "score_stdev": 1.0},
        ),
        (
            "judge",
            {"votes": [{}, {}, {}], "n_votes": 3, "split": False, "vote_agreement": 1.0, "score_stdev": 0.0},
        ),
        ("judge1", {"votes": [{}], "n_votes": 1}),  # one vote: no noise to measure
        ("exact", {}),
    ]
    [noise] = judge_noise(rows)
    assert noise.scorer == "judge" and noise.outputs == 2 and noise.split_rate == 0.5
    assert noise.mean_vote_agreement == pytest.approx(5 / 6) and noise.mean_score_stdev == pytest.approx(0.5)
    t = target_noise(
        [
            ("a", "pass"),
            ("a", "fail"),
            ("b", "pass"),
            ("b", "pass"),
            ("c", "pass"),
            ("d", "error"),
            ("d", "pass"),
        ]
    )
    assert t.cases == 2 and t.flip_rate == 0.5


def test_reliability_command_reports_a_runs_confidence_and_judge_noise(
    make_suite: Any, cli: Any, tmp_path: Path
) -> None:
    answers = {"a": {"answer": "x", "confidence": 0.9}, "b": {"answer": "y", "confidence": 0.95}}

    def judge(body: dict[str, Any]) -> str:
        # the second of three votes on case a's output disagrees; the votes on b agree
        split = '"answer": "x"' in body["messages"][1]["content"] and body["seed"] == 1
        return json.dumps({"reasoning": "r", "score": 7, "pass": not split, "confidence": 0.7})

    cases = [
        {"id": "a", "input": {"question": "a"}, "expected": {"answer": "x", "confidence": 0.9}},
        {"id": "b", "input": {"question": "b"}, "expected": {"answer": "z", "confidence": 0.95}},
    ]
    with (
        LoopbackOpenAI(
            responder=lambda b: json.dumps(answers[b["messages"][-1]["content"].strip()])
        ) as target,
        LoopbackOpenAI(responder=judge) as judge_server,
    ):
        scorers = (
            "  - name: exact\n    args: {field: answer}\n"
            "  - name: llm_judge\n    id: j\n    weight: 0\n"
            f"    args: {{rubric: ok, model: openai/j, repeats: 3, api_base: '{judge_server.base_url}'}}\n"
        )
        suite = make_suite(
            loopback_suite(
                target.base_url,
                scorers=scorers,
                extra_target="  confidence_field: confidence\n",
                gate="gate: {case_pass: weighted}\n",
            ),
            cases=cases,
        )
        db = str(tmp_path / "r.duckdb")
        cli("run", str(suite), "--db", db, "--no-progress", "--concurrency", "1")
    result = cli("reliability", "--db", db, "--bins", "2")
    assert result.exit_code == 0, result.stderr
    # a (0.9) passed, b (0.95) failed: ECE = |0.5 - 0.925| in the one occupied bin
    assert "Confidence (confidence): 2 of 2 scored outputs report one" in result.stdout
    assert "ECE 0.425" in result.stdout
    assert "Judge noise (j): 2 outputs x 3.0 votes · votes split on 50.0% of outputs" in result.stdout
    assert "Target noise: one epoch per case" in result.stdout

"""The console, the PR summary (--summary-md), JUnit and the exit code say the same thing.

A run with too many provider errors cannot be judged (exit 3) even when the cases that did run
compare well with the baseline: nothing may call it "no significant regression (exit 0)".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

N = 20
CASES = [
    {"id": f"c{i:02d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(N)
]
SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def answer(body: dict[str, Any]) -> str:
    return json.dumps({"answer": "a" + body["messages"][-1]["content"][1:]})


def broken_for_some(body: dict[str, Any], _seen: int) -> str | None:
    """The server fails every request for q0..q5 (30% of the cases), whatever the retries."""
    return "500" if int(body["messages"][-1]["content"][1:]) < 6 else None


def properties(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {p.get("name") or "": p.get("value") or "" for p in root.iter("property")}


def test_an_exit_3_run_against_a_baseline_is_not_called_a_pass_anywhere(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # the summary's report goes to ./reports
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI(responder=answer) as server:
        gate = "gate: {max_error_rate: 0.1}\n"
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=gate), CASES)
        first = cli("run", str(suite), "--db", db, "--no-progress")
        assert first.exit_code == 0, first.stdout + first.stderr
        assert cli("baseline", "set", "main", open_store(db).get_run().run_id, "--db", db).exit_code == 0
        server.fault_plan = broken_for_some
        args = ["--baseline", "main", "--summary-md", "summary.md", "--junit", "junit.xml", "--no-cache"]
        broken = cli("run", str(suite), "--db", db, "--no-progress", *args)
    assert broken.exit_code == 3, broken.stdout + broken.stderr
    # the cases that ran are all right: on its own, the comparison finds no regression
    decision = open_store(db).get_run().summary.baseline
    assert decision is not None and decision.exit_code == 0

    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    head = summary.splitlines()[0]
    assert head.startswith("### ❌") and head.endswith(
        "could not be judged: too many provider errors (exit 3)"
    )
    assert "(exit 0)" not in summary and "no significant regression (exit" not in summary
    assert "does not decide a run that could not be judged" in summary

    junit = properties(tmp_path / "junit.xml")
    assert junit["exit_code"] == "3" and junit["verdict"] == "could not be judged: too many provider errors"

    assert "(exit 0)" not in broken.stdout
    gate_line = next(x for x in broken.stdout.splitlines() if x.startswith("Regression gate"))
    assert gate_line.startswith("Regression gate FAILED (could not be judged") and gate_line.endswith(
        "(exit 3)"
    )

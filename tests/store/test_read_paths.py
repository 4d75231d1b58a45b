"""Every read path works on either backend: show, runs, compare, trend, report, export, rescore, flaky."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n  - name: json_valid\n"


def cases(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(n)
    ]


def test_read_paths_on_both_backends(
    db_url: str, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    def responder(body: dict[str, Any]) -> str:
        content = body["messages"][-1]["content"]
        i = int(content.split("q")[-1])
        wrong = (i % 4 == 0) if "v2" not in body["messages"][0]["content"] else (i % 5 == 0)
        return json.dumps({"answer": "wrong" if wrong else f"a{i}"})

    with LoopbackOpenAI(responder=responder) as server:
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0.5}\n"), cases(40)
        )
        (suite.parent / "prompts" / "v2.j2").write_text(
            "[system]\nAnswer in JSON, v2.\n[user]\n{{ question }}\n"
        )
        suite.write_text(
            suite.read_text().replace("{v1: prompts/v1.j2}", "{v1: prompts/v1.j2, v2: prompts/v2.j2}")
        )
        first = cli("run", str(suite), "--db", db_url, "--prompt", "v1", "--no-progress")
        second = cli("run", str(suite), "--db", db_url, "--prompt", "v2", "--no-progress")
        requests = server.stats.requests
        rescored = cli("rescore", "latest", "--suite", str(suite), "--db", db_url, "--no-progress")
        assert server.stats.requests == requests  # rescoring never calls the target
    assert first.exit_code == second.exit_code == 0
    assert rescored.exit_code == 0, rescored.stdout + rescored.stderr

    store = open_store(db_url)
    runs = store.list_runs()
    assert len(runs) == 3
    v1 = next(r for r in runs if r.prompt_version == "v1")
    v2 = next(r for r in runs if r.prompt_version == "v2" and r.parent_run_id is None)

    shown = cli("show", v1.run_id, "--db", db_url)
    assert shown.exit_code == 0 and "c000  [fail" in shown.stdout and "'wrong' != 'a0'" in shown.stdout
    listed = cli("runs", "--db", db_url)
    assert listed.exit_code == 0 and v1.run_id in listed.stdout

    compared = cli("compare", v1.run_id, v2.run_id, "--db", db_url)
    assert compared.exit_code == 0, compared.stderr
    assert "c004" in compared.stdout or "c005" in compared.stdout  # flipped cases are listed

    report = tmp_path / "report.html"
    made = cli("report", v2.run_id, "--compare", v1.run_id, "--db", db_url, "--out", str(report))
    assert made.exit_code == 0, made.stderr
    assert report.exists() and "c005" in report.read_text()

    trended = cli("trend", "loop", "--db", db_url, "--out", str(tmp_path / "trend"))
    assert trended.exit_code == 0, trended.stderr
    # one series per prompt version (the rescore is left out of both)
    assert sorted(p.name for p in (tmp_path / "trend").glob("*.csv")) == [
        "trend-loop-v1-openai_loopback.csv",
        "trend-loop-v2-openai_loopback.csv",
    ]
    assert "1 run(s) kind rescore" in trended.stdout

    exported = cli("export", v1.run_id, "--format", "csv", "--db", db_url, "--out", str(tmp_path / "exp"))
    assert exported.exit_code == 0, exported.stderr
    outputs = pd.read_csv(tmp_path / "exp" / "outputs.csv")
    assert len(outputs) == 40 and set(outputs["verdict"]) == {"pass", "fail"}

    flaky = cli("flaky", "loop", "--db", db_url)
    assert flaky.exit_code == 0 and "no flaky cases" in flaky.stdout

"""Checks a case carries itself, run with the suite's scorers and reported under their id."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.results import CaseResult
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from tests.conftest import CliResult

NO_ACME = {"name": "contains", "id": "no_competitor", "args": {"value": "Acme", "mode": "none"}}


def write(root: Path, cases: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "case_pipe.py").write_text(
        "def answer(q):\n    return 'Try Acme gadgets' if 'gadget' in q else 'Ours is best'\n"
    )
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (root / "suite.yaml").write_text(
        "name: pc\ntarget:\n  model: python:case_pipe:answer\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: regex\n    args: {pattern: '\\w'}\n"
        "gate: {case_pass: all, min_pass_rate: 0.1}\n"
    )
    return root / "suite.yaml"


def test_a_case_scorer_runs_for_its_case_only_and_is_reported_by_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "s"))
    cases = [
        {"id": "gadget", "input": {"q": "a gadget?"}, "scorers": [NO_ACME]},
        {"id": "clean", "input": {"q": "a phone?"}, "scorers": [NO_ACME]},
        {"id": "plain", "input": {"q": "a gadget too?"}},
    ]
    results: dict[str, CaseResult] = {}
    run_suite(
        load_suite(write(tmp_path / "s", cases)),
        open_store(tmp_path / "r.duckdb"),
        RunOptions(),
        on_result=lambda r: results.__setitem__(r.case.id, r),
    )
    labels = {cid: [s.scorer for s in r.scores] for cid, r in results.items()}
    assert labels == {
        "gadget": ["regex", "no_competitor"],
        "clean": ["regex", "no_competitor"],
        "plain": ["regex"],
    }
    assert results["gadget"].verdict == "fail"
    assert results["gadget"].scores[1].passed is False and "Acme" in (
        results["gadget"].scores[1].reason or ""
    )
    assert results["clean"].verdict == "pass"
    assert results["plain"].verdict == "pass"  # says Acme too, but carries no such check


def test_bad_case_scorers_are_one_line_errors_naming_the_file_and_line(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "s"))
    ok = {"id": "ok", "input": {"q": "x"}}
    suite = write(
        tmp_path / "s",
        [
            ok,
            {
                "id": "bad",
                "input": {"q": "y"},
                "scorers": [{"name": "regex", "id": "r2", "args": {"nope": 1}}],
            },
        ],
    )
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert "cases.jsonl:2: scorers: " in result.stderr and len(result.stderr.strip().splitlines()) == 1
    suite = write(
        tmp_path / "s",
        [ok, {"id": "dup", "input": {"q": "y"}, "scorers": [{"name": "regex", "args": {"pattern": "y"}}]}],
    )
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert "cases.jsonl:2: scorers.0: scorer id 'regex' is already used" in result.stderr
    suite = write(
        tmp_path / "s", [{"id": "unknown", "input": {"q": "y"}, "scorers": [{"name": "no_such_scorer"}]}]
    )
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2 and "cases.jsonl:1: scorers: " in result.stderr


def test_rescore_runs_the_checks_the_cases_carry(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path / "s"))
    suite = write(tmp_path / "s", [{"id": "gadget", "input": {"q": "a gadget?"}, "scorers": [NO_ACME]}])
    db = str(tmp_path / "r.duckdb")
    assert cli("run", str(suite), "--db", db, "--no-progress").exit_code == 1  # the case's own check fails it
    rescored = cli("rescore", "latest", "--db", db, "--no-progress")
    assert rescored.exit_code == 1, rescored.stdout + rescored.stderr
    store = open_store(db)
    newest = max(store.list_runs(), key=lambda r: r.started_at)
    assert newest.parent_run_id is not None
    assert set(store.score_rows(newest.run_id)["scorer"]) == {"regex", "no_competitor"}

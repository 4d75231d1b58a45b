"""`judge_dir`: where a pairwise judge of a stored run reads its files (compare --judge, merge's
gate.pairwise), never from another directory's suite of the same recorded path."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.results import RunRecord
from evalkit.suite.loading import load_suite
from evalkit.suite.recorded import RunSuiteError, judge_dir
from tests.conftest import loopback_suite, write_cases


def write_suite(root: Path, prompt: str) -> None:
    (root / "suite" / "prompts").mkdir(parents=True)
    (root / "suite" / "prompts" / "v1.j2").write_text(f"[user]\n{prompt} {{{{ question }}}}\n")
    write_cases(root / "suite" / "cases.jsonl", [{"id": "a", "input": {"question": "q"}, "expected": "x"}])
    (root / "suite" / "suite.yaml").write_text(loopback_suite("http://127.0.0.1:9/v1"))


def test_a_judge_reading_files_is_refused_where_the_runs_suite_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_suite(tmp_path / "project", "RIGHT")
    write_suite(tmp_path / "elsewhere", "WRONG")
    monkeypatch.chdir(tmp_path / "project")
    suite_hash = load_suite("suite/suite.yaml").source_hash
    run = RunRecord.new(
        suite_name="loop",
        suite_path="suite/suite.yaml",
        suite_hash=suite_hash,
        prompt_version="v1",
        prompt_hash=None,
        model="openai/loopback",
        params={},
        git_commit=None,
        n_cases=1,
        config={},
    )
    assert judge_dir(run, None, "replay:answers.jsonl") == Path("suite")
    monkeypatch.chdir(tmp_path / "elsewhere")  # its suite/ is another suite: not the judge's files
    with pytest.raises(
        RunSuiteError, match=r"judge replay:answers.jsonl reads its files .* is not the suite run"
    ):
        judge_dir(run, None, "replay:answers.jsonl")
    assert judge_dir(run, None, "openai/judge") is None  # a vendor model reads no file: goes on

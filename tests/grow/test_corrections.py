"""Correcting a golden case rewrites its line only: every other byte of the case file stays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import ConfigError, UsageError
from evalkit.grow.corrections import correct_expected
from evalkit.suite.loading import load_suite

SUITE = "name: s\ntarget:\n  model: openai/m\n  prompts: {v1: prompts/v1.j2}\ncases: [cases.jsonl]\nscorers:\n  - name: exact\n"


def _suite(tmp_path: Path, content: bytes) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "v1.j2").write_text("[user]\n{{ question }}\n")
    (tmp_path / "suite.yaml").write_text(SUITE)
    (tmp_path / "cases.jsonl").write_bytes(content)
    return tmp_path / "suite.yaml"


def test_only_the_case_line_changes_and_endings_survive(tmp_path: Path) -> None:
    content = (
        b'{"id": "a", "input": {"question": "x"}, "expected": "one"}\r\n'
        b"// a comment line\n"
        b'{"input":{"question":"\xc3\xa9"},"id":"b","expected":{"k":[1,2]},"provenance":{"from":"log"}}\r\n'
        b"\n"
        b'{"id": "c", "input": {"question": "z"}, "expected": "three"}'  # no final newline
    )
    path = _suite(tmp_path, content)
    done = correct_expected(load_suite(path), "b", {"k": [1, 3]}, corrector="ann", run_id="r1", note="typo")
    assert (done.line, done.previous) == (3, {"k": [1, 2]})
    after = (tmp_path / "cases.jsonl").read_bytes()
    old, new = content.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new) and [i for i in range(len(old)) if old[i] != new[i]] == [2]
    assert new[2].endswith(b"\r\n")
    row = json.loads(new[2])
    assert list(row) == ["input", "id", "expected", "provenance"]
    assert row["input"] == {"question": "é"} and row["expected"] == {"k": [1, 3]}
    assert row["provenance"]["from"] == "log"
    [record] = row["provenance"]["corrections"]
    assert (record["by"], record["run"], record["note"], record["previous"]) == (
        "ann",
        "r1",
        "typo",
        {"k": [1, 2]},
    )
    # the last line, without a newline, can be corrected too and still has none
    correct_expected(load_suite(path), "c", "four", corrector="bob")
    last = (tmp_path / "cases.jsonl").read_bytes().splitlines(keepends=True)[-1]
    assert not last.endswith(b"\n") and json.loads(last)["expected"] == "four"
    assert (tmp_path / "cases.jsonl").read_bytes().splitlines(keepends=True)[:4] == new[:4]


def test_unknown_case_and_invalid_result_change_nothing(tmp_path: Path) -> None:
    content = b'{"id": "a", "input": {"question": "x"}, "expected": "one"}\n'
    path = _suite(tmp_path, content)
    with pytest.raises(UsageError, match="no case 'zz'"):
        correct_expected(load_suite(path), "zz", "two", corrector="ann")
    # an expected output the case model refuses (a bare number) is refused before anything is written
    with pytest.raises(ConfigError, match=r"cases\.jsonl:1"):
        correct_expected(load_suite(path), "a", 2, corrector="ann")
    assert (tmp_path / "cases.jsonl").read_bytes() == content
    assert list(tmp_path.glob(".cases.jsonl.*")) == []

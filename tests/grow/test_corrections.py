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


def test_no_expected_output_where_a_scorer_needs_one_is_refused(tmp_path: Path) -> None:
    """`null` was written (the case model allows it), and the next `evalkit run` of the suite stopped
    with exit 2: "case 'a' has no `expected`, but scorer 'exact' compares the output with it"."""
    content = b'{"id": "a", "input": {"question": "x"}, "expected": "one"}\n'
    path = _suite(tmp_path, content)
    with pytest.raises(
        ConfigError, match=r"cases\.jsonl:1: case 'a' needs an expected output: scorer 'exact'"
    ):
        correct_expected(load_suite(path), "a", None, corrector="ann")
    assert (tmp_path / "cases.jsonl").read_bytes() == content


def test_a_case_from_a_csv_table_is_refused_in_words(tmp_path: Path) -> None:
    """The studio offers the correction for every golden case; for a CSV row it answered with
    json's "Expecting value: line 1 column 1 (char 0)"."""
    path = _suite(tmp_path, b"")
    (tmp_path / "suite.yaml").write_text(
        SUITE.replace("cases: [cases.jsonl]", "cases: [{path: cases.csv, columns: {expected: answer}}]")
    )
    content = b'id,question,answer\na,x,one\nb,y,"two, three"\n'
    (tmp_path / "cases.csv").write_bytes(content)
    with pytest.raises(UsageError, match=r"cases\.csv:3: case 'b' is a row of a CSV table"):
        correct_expected(load_suite(path), "b", "two", corrector="ann")
    assert (tmp_path / "cases.csv").read_bytes() == content


def test_the_first_line_of_a_file_with_a_byte_order_mark_is_corrected_and_the_mark_kept(
    tmp_path: Path,
) -> None:
    """The suite reads past a Windows editor's byte order mark; the correction failed on it with
    json's "Unexpected UTF-8 BOM"."""
    content = b'\xef\xbb\xbf{"id": "a", "input": {"question": "x"}, "expected": "one"}\r\n{"id": "b", "input": {"question": "y"}, "expected": "two"}\r\n'
    path = _suite(tmp_path, content)
    correct_expected(load_suite(path), "a", "uno", corrector="ann")
    after = (tmp_path / "cases.jsonl").read_bytes()
    first = after.split(b"\n")[0]
    assert first.startswith(b'\xef\xbb\xbf{"id": "a"') and first.endswith(b"\r")
    assert json.loads(first[3:])["expected"] == "uno"
    assert after.split(b"\n")[1:] == content.split(b"\n")[1:]
    assert [c.expected for c in load_suite(path).iter_cases()] == ["uno", "two"]

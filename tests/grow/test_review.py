"""Accepting candidates into case files: idempotent appends, and a note when the file would never run."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from evalkit.candidates import Candidate
from evalkit.cases import Case
from evalkit.grow.review import append_cases
from evalkit.store import open_store
from evalkit.store.growth import GrowthStore
from tests.conftest import CliResult


def test_append_is_idempotent_and_repairs_a_missing_last_newline(tmp_path: Path) -> None:
    path = tmp_path / "generated.jsonl"
    path.write_text('{"id": "hand-written", "input": {"q": "x"}}')  # edited by hand, no final newline
    present = {"hand-written"}
    cases = [Case(id="a", input={"q": "1"}), Case(id="hand-written", input={"q": "2"})]
    assert append_cases(path, cases, present) == ["a"]
    assert append_cases(path, cases, present) == []
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["hand-written", "a"]


def test_accepting_into_a_file_the_suite_does_not_list_says_so(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    suite = make_suite(
        "name: s\ntarget: {model: openai/x, prompts: {v1: prompts/v1.j2}}\ncases: [cases.jsonl]\n"
        "scorers: [{name: exact}]\n",
        [{"id": "q1", "input": {"question": "q"}, "expected": "a"}],
    )
    db = tmp_path / "r.duckdb"
    GrowthStore(open_store(db)).add_candidates(
        [
            Candidate(
                suite_name="s",
                candidate_id="gen-x-1",
                source="generated",
                family="odd_units",
                input={"question": "how many inches in 3 cm?"},
                expected="1.18",
                created_at=datetime(2026, 1, 1),
            )
        ]
    )
    result = cli("review", str(suite), "--db", str(db), "--accept-all")
    assert result.exit_code == 0, result.stderr
    assert "accepted 1" in result.stdout
    assert "generated.jsonl is not in the suite's `cases:` list" in result.stderr
    assert json.loads((suite.parent / "generated.jsonl").read_text())["id"] == "gen-x-1"

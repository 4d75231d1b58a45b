"""A baseline name is never a word run references already give a meaning (`latest`, a run's id):
`--baseline latest` and `evalkit compare main latest` name one run."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from evalkit.errors import UsageError
from evalkit.store import open_store
from evalkit.store.baselines import BaselineStore
from tests.conftest import CliResult, one_error_line


def two_runs(root: Path, db: Path, cli: Callable[..., CliResult]) -> tuple[str, str]:
    """Two complete runs of one suite (replayed answers: no model, no server), oldest first."""
    root.mkdir()
    (root / "cases.jsonl").write_text(
        "".join(json.dumps({"id": i, "input": {"q": i}, "expected": "x"}) + "\n" for i in "ab")
    )
    (root / "rec.jsonl").write_text('{"id": "a", "output": "x"}\n{"id": "b", "output": "y"}\n')
    (root / "suite.yaml").write_text(
        "name: bn\ntarget:\n  model: replay:rec.jsonl\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: exact\ngate: {min_pass_rate: 0.5}\n"
    )
    for _ in range(2):
        assert cli("run", str(root), "--db", str(db), "--no-progress", "--no-cache").exit_code == 0
    older, newer = sorted(open_store(db).list_runs(), key=lambda r: r.started_at)
    return older.run_id, newer.run_id


def test_latest_or_a_runs_id_is_refused_as_a_baseline_name(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """`baseline set latest RUN` was accepted, and `--baseline latest` then meant that run, not the latest."""
    db = tmp_path / "r.duckdb"
    older, newer = two_runs(tmp_path / "s", db, cli)
    refused = cli("baseline", "set", "latest", older, "--db", str(db))
    line = one_error_line(refused, 2, "baseline name 'latest' is reserved: 'latest' names the latest run")
    assert "choose another name" in line
    refused = cli("baseline", "set", newer, older, "--db", str(db))
    one_error_line(refused, 2, f"baseline name {newer!r} is the id of a stored run; choose another name")
    assert BaselineStore(open_store(db)).list() == []
    with pytest.raises(UsageError, match="'latest' is reserved"):  # the library refuses it too
        BaselineStore(open_store(db)).set("latest", open_store(db).get_run(older))
    # a prefix of run ids is a name like any other: looked up first, it keeps its meaning
    assert cli("baseline", "set", "bn", older, "--db", str(db)).exit_code == 0
    shown = cli("compare", "bn", "latest", "--db", str(db))
    assert shown.exit_code == 0, shown.stderr
    assert f"({newer}) vs A - · replay:rec.jsonl ({older})" in shown.stdout.splitlines()[0]


def test_a_stored_baseline_named_latest_is_refused_where_the_word_is_used_until_unset(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """A database from before the word was reserved: `latest` there neither keeps meaning the
    baseline silently nor silently starts meaning the latest run."""
    db = tmp_path / "r.duckdb"
    older, newer = two_runs(tmp_path / "s", db, cli)
    con = duckdb.connect(str(db))  # what an older evalkit's `baseline set latest OLDER` stored
    con.execute("INSERT INTO baselines VALUES ('bn', 'latest', ?, ?)", [older, datetime.now(timezone.utc)])
    con.close()
    problem = f"'latest' names both the latest run and baseline 'latest' of suite 'bn' (run {older})"
    for args in (
        ("run", str(tmp_path / "s"), "--baseline", "latest", "--no-progress"),
        ("compare", newer, "latest"),
    ):
        result = cli(*args, "--db", str(db))
        line = one_error_line(result, 2, problem)
        assert line.endswith("(`evalkit baseline unset latest --suite bn`)")
    assert len(open_store(db).list_runs()) == 2  # the run stopped before it began
    removed = cli("baseline", "unset", "latest", "--db", str(db))
    assert (
        removed.exit_code == 0 and f"baseline latest of suite bn removed (it named {older})" in removed.stdout
    )
    shown = cli("compare", older, "latest", "--db", str(db))  # the word means the latest run again
    assert shown.exit_code == 0, shown.stderr
    assert f"({newer}) vs A - · replay:rec.jsonl ({older})" in shown.stdout.splitlines()[0]
    unknown = cli("baseline", "unset", "latest", "--db", str(db))
    one_error_line(unknown, 2, "no baseline 'latest'")

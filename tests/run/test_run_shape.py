"""Runs know their shape: kind, shard spec and case files are stored; resume and merge check them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite
from tests.conftest import run_suite_cli as run

SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def cases(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"c{i:04d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(n)
    ]


def answer(body: dict[str, Any]) -> str:
    return json.dumps({"answer": "a" + body["messages"][-1]["content"][1:]})


def test_a_bad_python_target_leaves_no_phantom_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    suite = make_suite(loopback_suite("http://127.0.0.1:9/v1", scorers=SCORERS), cases(3))
    db = tmp_path / "r.duckdb"
    result = run(cli, suite, db, "--model", "python:nosuchmodule:fn")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "nosuchmodule" in result.stderr
    assert not db.exists() or open_store(db).list_runs() == []
    again = run(cli, suite, db, "--resume", "latest")
    assert again.exit_code == 2 and "no unfinished run" in again.stderr


def test_runs_record_their_kind_shard_and_case_files(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(6))
        assert run(cli, suite, db).exit_code == 0
        assert run(cli, suite, db, "--shard", "2/3").exit_code == 0
        assert run(cli, suite, db, "--repeat", "2").exit_code == 0
    full, shard, repeat = reversed(open_store(db).list_runs())
    assert (full.kind, full.shard) == ("full", None)
    assert (shard.kind, shard.shard) == ("shard", "2/3")
    assert repeat.kind == "repeat"
    assert full.case_set_hash and full.case_set_hash == shard.case_set_hash
    assert list(full.config["case_files"]) == ["cases.jsonl"] == full.config["cases"]
    assert full.heartbeat_by and full.heartbeat_at is not None
    listing = cli("runs", "--db", str(db))
    assert "shard 2/3" in listing.stdout and "repeat" in listing.stdout and " full " in listing.stdout


def test_resume_refuses_changed_case_files_naming_them(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    # gpt-4o-mini is in litellm's price map: the budget stops the run part-way, leaving it resumable
    with LoopbackOpenAI(responder=answer) as server:
        text = loopback_suite(server.base_url, scorers=SCORERS).replace(
            "openai/loopback", "openai/gpt-4o-mini"
        )
        suite = make_suite(text, cases(30))
        stopped = run(cli, suite, db, "--budget", "0.00001", "--concurrency", "2")
        assert stopped.exit_code == 4, stopped.stdout
        case_file = suite.parent / "cases.jsonl"
        original = case_file.read_bytes()
        lines = case_file.read_text().splitlines()
        lines[0] = lines[0].replace('"a0"', '"edited"')
        case_file.write_text("\n".join([*lines, json.dumps(cases(31)[-1])]) + "\n")
        resumed = run(cli, suite, db, "--resume", "latest")
        assert resumed.exit_code == 2
        assert "cases.jsonl edited" in resumed.stderr and "start a new run" in resumed.stderr
        assert len(resumed.stderr.strip().splitlines()) == 1
        case_file.write_bytes(original)  # the cases as they were
        suite_text = suite.read_text()
        suite.write_text(suite_text + "gate: {min_pass_rate: 0.5}\n")
        gate_changed = run(cli, suite, db, "--resume", "latest")
        assert gate_changed.exit_code == 2 and "changed since run" in gate_changed.stderr
        assert "(changed: gate;" in gate_changed.stderr
        suite.write_text(suite_text)  # as it was: resumable again
        assert run(cli, suite, db, "--resume", "latest").exit_code == 0


def test_a_heartbeat_the_database_refused_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh refused once (the file locked past its timeout) must not end the heartbeat: a run
    whose heartbeat stopped looks abandoned after a minute, and another process may take it over."""
    import asyncio
    import threading

    import evalkit.run.shape as shape
    from evalkit.errors import DatabaseFileError
    from evalkit.store.leases import RunLeases
    from tests.runs import run_record

    store = open_store(tmp_path / "h.duckdb")
    store.create_run(run_record("r1"))
    touched, third = [], threading.Event()
    real = RunLeases.touch

    def touch(self: RunLeases, run_id: str) -> None:
        touched.append(run_id)
        if len(touched) == 1:
            raise DatabaseFileError("database is locked by another process", path=tmp_path / "h.duckdb")
        real(self, run_id)
        if len(touched) >= 3:
            third.set()

    monkeypatch.setattr(RunLeases, "touch", touch)
    monkeypatch.setattr(shape, "HEARTBEAT_SECONDS", 0.001)

    async def beats() -> None:
        beating = asyncio.create_task(shape.keep_alive(store, "r1"))
        waiting = asyncio.create_task(asyncio.to_thread(third.wait, 30))
        await asyncio.wait({beating, waiting}, return_when=asyncio.FIRST_COMPLETED)
        # the heartbeat goes on after the refusal, until the run's end cancels it
        assert not beating.done(), beating.exception()
        assert waiting.result() is True
        beating.cancel()

    asyncio.run(beats())
    assert store.get_run("r1").heartbeat_by is not None

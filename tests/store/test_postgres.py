"""The shared PostgreSQL store: concurrent writers from several processes, and syncing local runs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.store import load_run, open_store
from evalkit.store.postgres import to_psycopg
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite, one_error_line

SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def cases(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"c{i:04d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(n)
    ]


def answer(body: dict[str, Any]) -> str:
    i = int(body["messages"][-1]["content"].split("q")[-1])
    return json.dumps({"answer": f"a{i}" if i % 3 else "wrong"})


def rows(store: Any, run_id: str) -> list[tuple[Any, ...]]:
    frame = store.case_results(run_id)
    return sorted(zip(frame["case_id"], frame["verdict"], frame["score"], frame["raw_text"], strict=True))


def test_placeholders_translate_outside_string_literals() -> None:
    assert to_psycopg("SELECT ? WHERE a LIKE 'x%' AND b = '?'") == "SELECT %s WHERE a LIKE 'x%%' AND b = '?'"


def test_four_processes_write_four_runs_at_once(
    postgres_url: str, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer, latency=0.01) as server:
        suites = []
        for k in range(4):  # four prompt variants -> four different runs
            path = make_suite(
                loopback_suite(server.base_url, scorers=SCORERS),
                cases(150),
                name=f"s{k}",
                prompt=f"[system]\nAnswer in JSON, variant {k}.\n[user]\n{{{{ question }}}}\n",
            )
            suites.append(path)
        cmd = [sys.executable, "-m", "evalkit", "run", "--no-progress", "--no-cache", "--concurrency", "8"]
        procs = [
            subprocess.Popen(
                [*cmd, str(p), "--db", postgres_url],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in suites
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [1, 1, 1, 1], (
            outs
        )  # gate 80%: a third of the answers are wrong
        for k, path in enumerate(suites):  # the same four runs, one by one, into DuckDB files
            subprocess.run(
                [*cmd, str(path), "--db", str(tmp_path / f"d{k}.duckdb")], check=False, capture_output=True
            )
    shared = open_store(postgres_url)
    runs = shared.list_runs(limit=10)
    assert len(runs) == 4 and {r.status for r in runs} == {"complete"}
    by_prompt = {r.prompt_hash: r for r in runs}
    for k in range(4):
        local = open_store(tmp_path / f"d{k}.duckdb")
        reference = local.get_run("latest")
        assert rows(shared, by_prompt[reference.prompt_hash].run_id) == rows(local, reference.run_id)


def test_sync_pushes_a_local_run_once(
    postgres_url: str, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "local.duckdb"
    with LoopbackOpenAI(responder=answer) as server:
        path = make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(20))
        cli("run", str(path), "--db", str(db), "--no-progress")
    run_id = open_store(db).get_run("latest").run_id
    first = cli("sync", "latest", "--db", str(db), "--to", postgres_url)
    second = cli("sync", run_id, "--db", str(db), "--to", postgres_url)
    assert first.exit_code == second.exit_code == 0
    assert f"{run_id}: copied" in first.stdout and f"{run_id}: already there" in second.stdout
    shared, local = open_store(postgres_url), open_store(db)
    assert rows(shared, run_id) == rows(local, run_id)
    assert shared.get_run(run_id).summary == local.get_run(run_id).summary
    assert shared.get_run(run_id[:-3]).run_id == run_id  # a prefix: LIKE with its wildcards escaped
    assert len(shared.score_rows(run_id)) == len(local.score_rows(run_id)) == 20
    # the run's row reads back whole: its call counters (calls_json) were left NULL
    copied, kept = (load_run(run_id, db=store).run.iloc[0].to_dict() for store in (shared, local))
    assert kept["calls_json"] is not None and json.loads(kept["calls_json"])["requests"] == 20
    assert copied == kept
    bad = cli("sync", "latest", "--db", str(db), "--to", str(db))
    assert bad.exit_code == 2 and "source database itself" in bad.stderr


def test_a_database_from_a_newer_evalkit_is_refused_naming_its_url(
    postgres_url: str, cli: Callable[..., CliResult]
) -> None:
    """The URL was printed as a path, its "//" collapsed: `postgresql:/postgres@127.0.0.1:...`."""
    import psycopg

    open_store(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    error = one_error_line(cli("runs", "--db", postgres_url), 2, f"{postgres_url}: ")
    assert "schema version 999 is newer than this evalkit knows" in error


def test_a_stopped_run_on_postgres_prints_the_command_that_finishes_it(
    postgres_url: str, make_suite: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    """The command a run stopped by its budget printed had no --db for a store given as --db URL:
    typed as printed, it looked for the run in .evalkit/evalkit.duckdb. The URL's password is masked
    (the throwaway cluster trusts every password, so the masked command still runs here)."""
    url = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    masked = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:***@")
    padded = lambda body: answer(body) + " " * 1200  # noqa: E731 (~300 tokens: each call costs ~$0.0002)
    with LoopbackOpenAI(responder=padded) as server:
        text = loopback_suite(server.base_url, scorers=SCORERS).replace(
            "openai/loopback", "openai/gpt-4o-mini"
        )
        suite = make_suite(text, cases(30))
        stopped = cli("run", str(suite), "--db", url, "--no-progress", "--budget", "0.002")
        assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
        line = next(x for x in stopped.stdout.splitlines() if "stopped at the budget" in x)
        command = shlex.split(line.split("resume with `", 1)[1].split("`", 1)[0])
        assert command[0] == "evalkit" and command[-2:] == ["--db", masked], command
        run = open_store(url).get_run("latest")
        assert "s3cret" not in stopped.stdout + stopped.stderr + json.dumps(
            run.summary.stored() if run.summary else {}
        )
        resumed = cli(*command[1:], "--no-progress")
    assert resumed.exit_code == 1, (
        resumed.stdout + resumed.stderr
    )  # finished: a third of the answers are wrong
    run = open_store(url).get_run(run.run_id)
    assert run.status == "complete" and len(open_store(url).case_results(run.run_id)) == 30

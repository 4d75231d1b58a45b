"""Runs that survive faults: cache, resume after kill -9, concurrent runs, dry-run, epochs, matrix (budget: test_budget)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import duckdb
import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite
from tests.conftest import run_suite_cli as run

SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def cases(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"c{i:04d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(n)
    ]


def answer(body: dict[str, Any]) -> str:
    """The right answer for every question (q12 -> a12)."""
    return json.dumps({"answer": "a" + body["messages"][-1]["content"][1:]})


def suite_for(
    make_suite: Callable[..., Path],
    server: LoopbackOpenAI,
    n: int,
    gate: str = "",
    model: str = "openai/loopback",
) -> Path:
    text = loopback_suite(server.base_url, scorers=SCORERS, gate=gate).replace("openai/loopback", model)
    return make_suite(text, cases(n))


def stored(db: Path, run_id: str | None = None) -> Any:
    store = open_store(db)
    run_id = run_id or store.get_run("latest").run_id
    return store.get_run(run_id), store.case_results(run_id)


def test_cached_rerun_makes_no_request(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer) as server:
        suite = suite_for(make_suite, server, 30)
        first = run(cli, suite, tmp_path / "r.duckdb")
        assert server.stats.requests == 30
        second = run(cli, suite, tmp_path / "r.duckdb")
        assert server.stats.requests == 30  # nothing reached the server
        third = run(cli, suite, tmp_path / "r.duckdb", "--no-cache")
        assert server.stats.requests == 60
    assert first.exit_code == second.exit_code == third.exit_code == 0
    assert "cache 0 hits / 30 misses" in first.stdout
    assert "Calls 0 requests (0 retries, 0 failed) · cache 30 hits / 0 misses" in second.stdout
    run_, frame = stored(tmp_path / "r.duckdb", open_store(tmp_path / "r.duckdb").list_runs()[1].run_id)
    assert frame["cached"].all() and (frame["cost_usd"] == 0).all() and run_.summary.pass_rate == 1.0


def test_fault_mix_completes_with_every_case_scored_or_errored(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    faults = Faults(
        error_500=0.2, rate_limit_429=0.1, hang=0.05, malformed=0.05, retry_after=0.01, hang_seconds=5, seed=3
    )
    with LoopbackOpenAI(responder=answer, faults=faults) as server:
        suite = suite_for(make_suite, server, 60, gate="gate: {max_error_rate: 0.2}\n")
        result = run(cli, suite, tmp_path / "r.duckdb", "--timeout", "0.5", "--concurrency", "8")
        per_prompt = max(server.stats.by_prompt.values())
    assert result.exit_code == 0, result.stdout + result.stderr
    run_, frame = stored(tmp_path / "r.duckdb")
    assert sorted(frame["case_id"]) == [c["id"] for c in cases(60)]
    assert set(frame["verdict"]) <= {"pass", "error"}
    assert per_prompt <= 4  # attempts per case are bounded: no retry storm
    errors = frame[frame["verdict"] == "error"]
    assert all(isinstance(e, str) and e for e in errors["error"])
    assert run_.summary.calls.retries > 0
    assert (frame[frame["verdict"] == "pass"]["attempts"] >= 1).all()


def test_two_runs_started_together_on_one_database_both_land(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "shared.duckdb"
    with LoopbackOpenAI(responder=answer, latency=0.01) as server:
        suite = suite_for(make_suite, server, 300)
        env = {**os.environ, "EVALKIT_LOCK_TIMEOUT": "120"}
        cmd = [
            sys.executable,
            "-m",
            "evalkit",
            "run",
            str(suite),
            "--db",
            str(db),
            "--no-progress",
            "--no-cache",
        ]
        procs = [
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(err for _, err in outs)  # whole stderr
    store = open_store(db)
    runs = store.list_runs()
    assert len(runs) == 2 and {r.status for r in runs} == {"complete"}
    for r in runs:
        frame = store.case_results(r.run_id)
        assert len(frame) == 300 and frame["case_id"].is_unique


def _stored_count(db: Path) -> int:
    """Results committed so far, read the way evalkit reads: asking the writing run to let go of the file."""
    from evalkit.store.duckdb import DuckDBBackend

    if not db.exists():
        return 0
    with DuckDBBackend(db, lock_timeout=30).connect() as con:
        try:
            return int(con.execute("SELECT COUNT(*) FROM outputs")[0][0])
        except duckdb.CatalogException:  # not migrated yet
            return 0


def test_resume_after_kill_9_stores_every_case_exactly_once(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer, latency=0.05) as server:
        suite = suite_for(make_suite, server, 400)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evalkit",
                "run",
                str(suite),
                "--db",
                str(db),
                "--no-progress",
                "--concurrency",
                "4",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while _stored_count(db) < 40 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)  # polling for a condition, not waiting for time to pass
        live = run(cli, suite, db, "--resume", "latest")  # its process is alive: not ours to resume
        assert live.exit_code == 2 and "is still running in another process" in live.stderr, live.stderr
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        committed = _stored_count(db)
        assert 40 <= committed < 400, "the run must be killed mid-way"
        store = open_store(db)
        killed = store.get_run("latest")
        assert killed.status == "running"
        before = store.case_results(killed.run_id)[["case_id", "raw_text"]]
        requests_before = server.stats.requests

        result = run(cli, suite, db, "--resume", "latest")
        assert result.exit_code == 0, result.stdout + result.stderr
        new_requests = server.stats.requests - requests_before
    run_, frame = stored(db, killed.run_id)
    assert run_.status == "complete" and run_.summary.results == 400
    assert sorted(frame["case_id"]) == [c["id"] for c in cases(400)]  # every case exactly once
    assert new_requests <= 400 - len(before)  # committed results were not fetched again
    kept = frame.set_index("case_id").loc[before["case_id"], "raw_text"]
    assert list(kept) == list(before["raw_text"])  # and not overwritten
    assert len(open_store(db).list_runs()) == 1  # resumed, not restarted
    # the killed part stored no summary, but its calls up to its last commit still count: at least
    # one request per result it committed, and those of the resumption
    assert run_.summary.calls is not None and run_.summary.calls.requests >= committed + new_requests


def test_resume_refuses_a_changed_suite_and_a_complete_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer) as server:
        suite = suite_for(make_suite, server, 3)
        assert run(cli, suite, tmp_path / "r.duckdb").exit_code == 0
        done = run(cli, suite, tmp_path / "r.duckdb", "--resume", "latest")
        assert done.exit_code == 2 and "no unfinished run" in done.stderr
        run_id = open_store(tmp_path / "r.duckdb").get_run().run_id
        complete = run(cli, suite, tmp_path / "r.duckdb", "--resume", run_id)
        assert complete.exit_code == 2 and "already complete" in complete.stderr


def test_dry_run_prints_calls_tokens_and_cost_without_calling(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    import litellm

    with LoopbackOpenAI(responder=answer) as server:
        suite = suite_for(make_suite, server, 10, model="openai/gpt-4o-mini")
        dry = run(cli, suite, tmp_path / "r.duckdb", "--dry-run", "--repeat", "2")
        assert server.stats.requests == 0
        assert not (tmp_path / "r.duckdb").exists()  # "call nothing": no database made either
        tokens = (
            sum(
                litellm.token_counter(
                    model="openai/gpt-4o-mini",
                    messages=[
                        {"role": "system", "content": "Answer in JSON."},
                        {"role": "user", "content": f"q{i}"},
                    ],
                )
                for i in range(10)
            )
            * 2
        )
        assert dry.exit_code == 0
        assert "Cases 10 x 2 epoch(s): 20 calls, 0 already cached" in dry.stdout
        assert f"Tokens ~{tokens:,} in / ~{512 * 20:,} out (completion: max_tokens" in dry.stdout
        cost_in, cost_out = litellm.cost_per_token(
            model="openai/gpt-4o-mini", prompt_tokens=tokens, completion_tokens=512 * 20
        )
        assert f"estimated cost ${cost_in + cost_out:.4f}" in dry.stdout
        run(cli, suite, tmp_path / "r.duckdb")  # epoch 0 of each case is now cached
        again = run(cli, suite, tmp_path / "r.duckdb", "--dry-run", "--repeat", "2")
        assert "20 x" not in again.stdout and "10 calls, 10 already cached" in again.stdout
        assert "(completion: mean of 10 earlier outputs" in again.stdout
        # a lower max_tokens than the earlier outputs' mean caps the estimate: no call may exceed it
        suite.write_text(suite.read_text().replace("  prompts:", "  params: {max_tokens: 2}\n  prompts:"))
        capped = run(cli, suite, tmp_path / "r.duckdb", "--dry-run", "--no-cache")
        assert "out (completion: max_tokens (the mean of 10 earlier outputs" in capped.stdout, capped.stdout
        assert f"~{2 * 10:,} out" in capped.stdout


def test_dry_run_prices_each_call_at_its_own_long_context_tier(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Ten calls of ~30k prompt tokens each: no call is above gpt-5.4's 272k tier, but the run's
    300k were priced as if one call were, twice the price."""
    import litellm

    text = loopback_suite("http://127.0.0.1:9/v1", scorers=SCORERS).replace(
        "openai/loopback", "openai/gpt-5.4"
    )
    long_cases = [
        {
            "id": f"c{i}",
            "input": {"question": f"q{i} " + "lorem ipsum " * 15_000},
            "expected": {"answer": "a"},
        }
        for i in range(10)
    ]
    suite = make_suite(text, long_cases)
    dry = run(cli, suite, tmp_path / "r.duckdb", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    each = [
        litellm.token_counter(
            model="openai/gpt-5.4",
            messages=[
                {"role": "system", "content": "Answer in JSON."},
                {"role": "user", "content": c["input"]["question"]},
            ],
        )
        for c in long_cases
    ]
    assert max(each) < 272_000 < sum(each)
    per_call = sum(
        sum(litellm.cost_per_token(model="openai/gpt-5.4", prompt_tokens=t, completion_tokens=512))
        for t in each
    )
    assert f"estimated cost ${per_call:.4f}" in dry.stdout, dry.stdout


def test_dry_run_neither_counts_nor_prices_a_case_that_will_not_be_sent(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A scanned PDF placed as its empty text layer is the run's error without a call, but the
    estimate counted its calls and priced them, the judge's included."""
    from tests.providers.test_file_inputs import write_pdf, write_scanned_invoice

    judge = (
        "  - name: llm_judge\n    args:\n      rubric: The answer reads the invoice.\n"
        "      model: openai/gpt-4o-mini\n      api_base: http://127.0.0.1:9/v1\n"
    )
    text = loopback_suite("http://127.0.0.1:9/v1", scorers=judge).replace(
        "openai/loopback", "openai/gpt-4o-mini"
    )
    prompt = "[user]\nRead the invoice.\n{{ doc }}\n"
    inv = {"id": "inv", "input": {"doc": {"$file": "docs/inv.pdf"}}}
    scan = {"id": "scan", "input": {"doc": {"$file": "docs/scan.pdf"}}}
    both = make_suite(text, [scan, inv], prompt=prompt, name="both")
    alone = make_suite(text, [inv], prompt=prompt, name="alone")
    for suite in (both, alone):
        write_pdf(suite.parent / "docs" / "inv.pdf", "Invoice INV-001", "Total due: 120.50 EUR")
    write_scanned_invoice(both.parent / "docs" / "scan.pdf")
    dry = run(cli, both, tmp_path / "r.duckdb", "--dry-run", "--repeat", "2")
    reference = run(cli, alone, tmp_path / "r.duckdb", "--dry-run", "--repeat", "2")
    assert dry.exit_code == reference.exit_code == 0, dry.stdout + dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[1] == "Cases 2 x 2 epoch(s): 2 calls, 0 already cached"
    assert lines[2].startswith(
        "Not sent: 1 case, the run's error without a call: scan.pdf has no text layer "
        "(a scanned document?): input 'doc' would reach the model empty"
    )
    # tokens, cost and judge calls are those of the case that is sent, on its own
    assert lines[3:] == reference.stdout.splitlines()[2:] and "Judge calls ~2 " in dry.stdout
    # an http: target's request carrying the scan's empty text is not counted either
    (both.parent / "service.yaml").write_text("url: http://127.0.0.1:9/extract\noutput: $.fields\n")
    served = run(cli, both, tmp_path / "r.duckdb", "--dry-run", "--model", "http:service.yaml")
    assert served.exit_code == 0, served.stdout + served.stderr
    assert "Cases 2 x 1 epoch(s): 1 calls, 0 already cached" in served.stdout
    assert "input 'doc' would reach the service as empty text" in served.stdout
    assert not (tmp_path / "r.duckdb").exists()


def test_dry_run_of_a_target_that_is_not_a_model_counts_no_tokens_as_the_run_does(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """It estimated max_tokens of completion per case ("~1,024 out") for a python: or replay:
    target, whose run prints "Tokens 0 in / 0 out", and left out that a pipeline's own model calls
    are not counted, which the run says."""
    suite = make_suite(
        "name: p\ntarget:\n  model: python:dry_pipe:run\n  params: {max_tokens: 512}\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: json_valid\n",
        cases(2),
    )
    (suite.parent / "dry_pipe.py").write_text("def run(question):\n    return {'answer': question}\n")
    (suite.parent / "rec.jsonl").write_text(
        "".join(f'{{"id": "c{i:04d}", "output": "{{}}"}}\n' for i in range(2))
    )
    db = tmp_path / "r.duckdb"
    for model, note in (
        ("python:dry_pipe:run", " · python:dry_pipe:run's own model calls are not counted"),
        ("replay:rec.jsonl", ""),
    ):
        dry = run(cli, suite, db, "--dry-run", "--model", model)
        assert dry.exit_code == 0, dry.stdout + dry.stderr
        assert dry.stdout.splitlines()[2] == (
            f"Tokens ~0 in / ~0 out (completion: none, the target is not a model) · estimated cost $0.0000{note}"
        )
        done = run(cli, suite, db, "--model", model)
        assert f"Tokens 0 in / 0 out · cost $0.0000 (target $0.0000, judge $0.0000){note}" in done.stdout


def flip_flop(body: dict[str, Any], calls: dict[str, int]) -> str:
    """Right answers, except q0 which alternates between right and wrong on each call."""
    question = body["messages"][-1]["content"]
    calls[question] = calls.get(question, 0) + 1
    if question == "q0" and calls[question] % 2 == 0:
        return json.dumps({"answer": "wrong"})
    return answer(body)


def test_epochs_flag_flaky_cases_and_quarantine_keeps_them_out_of_the_gate(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    calls: dict[str, int] = {}
    with LoopbackOpenAI(responder=lambda b: flip_flop(b, calls)) as server:
        strict = suite_for(make_suite, server, 4, gate="gate: {min_pass_rate: 1.0}\n")
        result = run(cli, strict, tmp_path / "r.duckdb", "--repeat", "4", "--concurrency", "1")
        assert result.exit_code == 1
        assert "Epochs 4 · flaky cases 1: c0000" in result.stdout
        assert "Results 16 (4 cases x 4 epochs): 14 passed, 2 failed, 0 errors" in result.stdout
        run_, frame = stored(tmp_path / "r.duckdb")
        assert len(frame) == 16 and run_.summary.flaky == ["c0000"]
        assert sorted(frame[frame["case_id"] == "c0000"]["verdict"]) == ["fail", "fail", "pass", "pass"]

        calls.clear()
        quarantined = suite_for(
            make_suite, server, 4, gate="gate: {min_pass_rate: 1.0, quarantine_flaky: true}\n"
        )
        junit = tmp_path / "j.xml"
        result = run(
            cli,
            quarantined,
            tmp_path / "r.duckdb",
            "--repeat",
            "4",
            "--no-cache",
            "--concurrency",
            "1",
            "--junit",
            str(junit),
        )
    assert result.exit_code == 0, result.stdout
    assert "Quarantined (kept out of the gate): c0000" in result.stdout
    # the JUnit file agrees with the exit code: the quarantined failures are skipped, not failed
    suite_el = ElementTree.parse(junit).getroot()
    assert (suite_el.get("failures"), suite_el.get("skipped"), suite_el.get("tests")) == ("0", "2", "16")
    skipped = suite_el.findall("testcase/skipped")
    assert len(skipped) == 2 and all("quarantined" in (s.get("message") or "") for s in skipped)
    history = open_store(tmp_path / "r.duckdb").flaky_history("loop")
    assert list(history["case_id"]) == ["c0000"] and int(history["flaky_runs"][0]) == 2
    listing = cli("flaky", "loop", "--db", str(tmp_path / "r.duckdb"))
    assert listing.exit_code == 0 and "c0000" in listing.stdout and "c0001" not in listing.stdout
    # a rescore scores the same sampled outputs again: not one more run in which the case flaked
    assert cli("rescore", "latest", "--db", str(tmp_path / "r.duckdb"), "--no-progress").exit_code == 0
    rescored = cli("flaky", "loop", "--db", str(tmp_path / "r.duckdb")).stdout
    assert re.search(r"c0000\s+2\s+2\s", rescored), rescored
    by_path = cli("flaky", str(quarantined), "--db", str(tmp_path / "r.duckdb"))  # a suite path, too
    assert by_path.exit_code == 0 and "c0000" in by_path.stdout and "c0001" not in by_path.stdout
    unknown = cli("flaky", "nosuchsuite", "--db", str(tmp_path / "r.duckdb"))
    assert unknown.exit_code == 2 and "'nosuchsuite' has no runs" in unknown.stderr
    assert "suites with runs: loop" in unknown.stderr


def test_a_flaky_critical_case_is_never_quarantined(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    # failing half its epochs is a failure for a case that must pass, not noise to leave out
    calls: dict[str, int] = {}
    with LoopbackOpenAI(responder=lambda b: flip_flop(b, calls)) as server:
        suite = suite_for(make_suite, server, 4, gate="gate: {min_pass_rate: 1.0, quarantine_flaky: true}\n")
        tagged = [{**c, "tags": ["critical"]} if c["id"] == "c0000" else c for c in cases(4)]
        (suite.parent / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in tagged))
        result = run(cli, suite, tmp_path / "r.duckdb", "--repeat", "4", "--concurrency", "1")
    assert result.exit_code == 1, result.stdout
    assert "Epochs 4 · flaky cases 1: c0000" in result.stdout and "Quarantined" not in result.stdout
    run_, _ = stored(tmp_path / "r.duckdb")
    assert run_.summary.quarantined == [] and run_.summary.flaky == ["c0000"]


def test_matrix_runs_every_cell_in_one_group(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer) as server:
        suite = suite_for(make_suite, server, 5)
        (suite.parent / "prompts" / "v2.j2").write_text("[user]\n{{ question }}\n")
        suite.write_text(
            suite.read_text().replace("{v1: prompts/v1.j2}", "{v1: prompts/v1.j2, v2: prompts/v2.j2}")
        )
        result = run(
            cli,
            suite,
            tmp_path / "r.duckdb",
            "--prompt",
            "v1",
            "--prompt",
            "v2",
            "--model",
            "openai/loopback",
            "--model",
            "openai/other",
        )
        assert server.stats.requests == 20
    assert result.exit_code == 0
    runs = open_store(tmp_path / "r.duckdb").list_runs()
    assert len(runs) == 4 and len({r.group_id for r in runs}) == 1 and runs[0].group_id
    assert {(r.prompt_version, r.model) for r in runs} == {
        ("v1", "openai/loopback"),
        ("v2", "openai/loopback"),
        ("v1", "openai/other"),
        ("v2", "openai/other"),
    }
    assert f"matrix {runs[0].group_id}" in result.stdout


@pytest.mark.parametrize("flag", ["--resume"])
def test_resume_cannot_combine_with_a_matrix(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, flag: str
) -> None:
    with LoopbackOpenAI(responder=answer) as server:
        suite = suite_for(make_suite, server, 2)
        result = run(cli, suite, tmp_path / "r.duckdb", flag, "latest", "--model", "a/b", "--model", "c/d")
    assert result.exit_code == 2 and "--resume continues one run" in result.stderr


def test_cache_rows_land_with_their_results(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer) as server:
        run(cli, suite_for(make_suite, server, 7), tmp_path / "r.duckdb")
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    n_cache, n_out = con.execute(
        "SELECT (SELECT COUNT(*) FROM response_cache), (SELECT COUNT(*) FROM outputs)"
    ).fetchone()  # type: ignore[misc]
    con.close()
    assert n_cache == n_out == 7

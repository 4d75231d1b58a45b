"""`evalkit run --shard I/N` + `evalkit merge`: shards combine into the run an unsharded run would store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from evalkit.run.sharding import shard_of
from evalkit.store import load_run, open_store
from evalkit.store.leases import RunLeases
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

CASES = [
    {
        "id": f"q-{i:02d}",
        "input": {"question": f"what is {i} squared?"},
        "expected": {"answer": i * i, "parity": "even" if i % 2 == 0 else "odd"},
        "tags": ["critical"] if i % 7 == 0 else [],
    }
    for i in range(40)
]


def squares(body: dict[str, Any]) -> str:
    """Right for most numbers; wrong answers and a wrong parity for some, so verdicts and fields vary."""
    question = body["messages"][-1]["content"]
    i = int(question.split()[2])
    answer = i * i + (1 if i % 5 == 0 else 0)
    parity = "odd" if i % 3 == 0 else ("even" if i % 2 == 0 else "odd")
    return json.dumps({"answer": answer, "parity": parity})


SCORERS = """\
  - name: json_fields
    args: {fields: {answer: {match: numeric}, parity: {match: exact}}}
  - name: contains
    args: {value: ["answer"]}
"""
GATE = "gate: {min_pass_rate: 0.5, case_pass: all}\n"
# Columns that describe how a result was obtained rather than what it is.
VOLATILE = {"run_id", "latency_ms", "created_at"}


def stored(db: Path) -> dict[str, pd.DataFrame]:
    """The latest run's rows per table, without run ids and timings, in key order."""
    tables = load_run("latest", db)
    return {
        name: frame.drop(columns=[c for c in frame.columns if c in VOLATILE]).reset_index(drop=True)
        for name, frame in tables.items()
        if name != "runs"
    }


def rounded(value: Any) -> Any:
    """Floats to 12 places (database sums in another order differ in the last bit), recursively."""
    if isinstance(value, float):
        return round(value, 12)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def test_four_shards_merged_equal_the_unsharded_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        whole = cli("run", str(suite), "--db", str(tmp_path / "whole.duckdb"), "--no-progress")
        assert whole.exit_code == 0, whole.stderr
        shards = []
        for i in range(1, 5):
            db = tmp_path / f"shard-{i}.duckdb"
            result = cli("run", str(suite), "--db", str(db), "--shard", f"{i}/4", "--no-progress")
            assert result.exit_code in (0, 1), result.stderr
            shards.append(db)
        assert server.stats.requests == 2 * len(CASES)  # each shard called only its own cases

    sizes = [len(load_run("latest", db).outputs) for db in shards]
    assert sum(sizes) == len(CASES) and all(n > 0 for n in sizes)
    for i, db in enumerate(shards, start=1):
        assert {shard_of(c, 4) for c in load_run("latest", db).cases["case_id"]} == {i}

    merged = cli("merge", *map(str, shards), "--into", str(tmp_path / "merged.duckdb"))
    assert merged.exit_code == whole.exit_code == 0, merged.stderr

    expected, actual = stored(tmp_path / "whole.duckdb"), stored(tmp_path / "merged.duckdb")
    assert len(expected["outputs"]) == len(CASES)
    assert set(expected["outputs"]["verdict"]) == {"pass", "fail"}
    assert len(expected["field_scores"]) == 2 * len(CASES)
    for table in ("cases", "outputs", "scores", "field_scores"):
        pd.testing.assert_frame_equal(actual[table], expected[table], check_like=False, obj=table)

    store_whole, store_merged = open_store(tmp_path / "whole.duckdb"), open_store(tmp_path / "merged.duckdb")
    run_whole, run_merged = store_whole.get_run("latest"), store_merged.get_run("latest")
    assert run_merged.run_id != run_whole.run_id and run_merged.status == "complete"
    assert run_merged.n_cases == run_whole.n_cases == len(CASES)
    for key in ("results", "passed", "failed", "errors", "pass_rate", "scorers", "gate_counts", "gate"):
        assert rounded(run_merged.summary.model_dump()[key]) == rounded(
            run_whole.summary.model_dump()[key]
        ), key
    assert run_merged.summary.calls.requests == len(CASES)
    sources = run_merged.config["merge"]["sources"]
    assert [s["db"] for s in sources] == [str(db) for db in shards]
    assert [s["results"] for s in sources] == sizes
    assert "Cases 40:" in merged.stdout and run_merged.summary.gate.passed


def test_merged_database_serves_the_cache_to_the_next_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        for i in (1, 2):
            cli(
                "run",
                str(suite),
                "--db",
                str(tmp_path / f"s{i}.duckdb"),
                "--shard",
                f"{i}/2",
                "--no-progress",
            )
        merged = cli(
            "merge",
            str(tmp_path / "s1.duckdb"),
            str(tmp_path / "s2.duckdb"),
            "--into",
            str(tmp_path / "m.duckdb"),
        )
        assert merged.exit_code == 0, merged.stderr
        before = server.stats.requests
        again = cli("run", str(suite), "--db", str(tmp_path / "m.duckdb"), "--no-progress")
        assert again.exit_code == 0
        assert server.stats.requests == before  # every answer came from the merged cache
    assert len(open_store(tmp_path / "m.duckdb").list_runs()) == 2


def test_matrix_shards_merge_cell_by_cell(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        (suite.parent / "prompts" / "v2.j2").write_text(
            "[user]\n{{ question }} Reply in JSON.\n", encoding="utf-8"
        )
        suite.write_text(
            suite.read_text().replace("{v1: prompts/v1.j2}", "{v1: prompts/v1.j2, v2: prompts/v2.j2}")
        )
        for i in (1, 2):
            db = str(tmp_path / f"s{i}.duckdb")
            result = cli(
                "run", str(suite), "--db", db, "--shard", f"{i}/2", "-p", "v1", "-p", "v2", "--no-progress"
            )
            assert result.exit_code == 0, result.stderr
    shards = [str(tmp_path / "s1.duckdb"), str(tmp_path / "s2.duckdb")]
    # one JUnit file holds one run: two merged runs are refused before anything is written
    junit = tmp_path / "j.xml"
    refused = cli("merge", *shards, "--into", str(tmp_path / "m.duckdb"), "--junit", str(junit))
    assert refused.exit_code == 2 and "these shards merge into 2 runs" in refused.stderr
    assert not junit.exists() and not (tmp_path / "m.duckdb").exists()
    merged = cli("merge", *shards, "--into", str(tmp_path / "m.duckdb"))
    assert merged.exit_code == 0, merged.stderr
    runs = open_store(tmp_path / "m.duckdb").list_runs()
    assert sorted(r.prompt_version or "" for r in runs) == ["v1", "v2"]
    assert runs[0].group_id is not None and runs[0].group_id == runs[1].group_id
    for run in runs:
        tables = load_run(run.run_id, tmp_path / "m.duckdb")
        assert sorted(tables.outputs["case_id"]) == sorted(c["id"] for c in CASES)


def test_overlapping_shards_are_refused_and_nothing_is_written(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        for name in ("a", "b"):
            cli(
                "run", str(suite), "--db", str(tmp_path / f"{name}.duckdb"), "--shard", "1/2", "--no-progress"
            )
    into = tmp_path / "m.duckdb"
    result = cli("merge", str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb"), "--into", str(into))
    assert result.exit_code == 2
    assert "b.duckdb: case " in result.stderr and "the databases overlap" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not into.exists()


def test_merge_refuses_mismatched_runs_and_unfinished_ones(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        cli("run", str(suite), "--db", str(tmp_path / "a.duckdb"), "--shard", "1/2", "--no-progress")
        cli(
            "run",
            str(suite),
            "--db",
            str(tmp_path / "b.duckdb"),
            "--shard",
            "2/2",
            "--no-progress",
            "-m",
            "openai/other",
        )
    result = cli(
        "merge", str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb"), "--into", str(tmp_path / "m.duckdb")
    )
    assert result.exit_code == 2 and "b.duckdb: has no run of suite loop" in result.stderr

    store = open_store(tmp_path / "a.duckdb")
    run = store.get_run("latest")
    RunLeases(store).claim(run.run_id)  # running again, as a killed shard leaves it
    result = cli("merge", str(tmp_path / "a.duckdb"), "--into", str(tmp_path / "m.duckdb"))
    assert result.exit_code == 2 and f"--resume {run.run_id}" in result.stderr

    missing = cli("merge", str(tmp_path / "nope.duckdb"), "--into", str(tmp_path / "m.duckdb"))
    assert missing.exit_code == 2 and "no results database at" in missing.stderr
    same = cli("merge", str(tmp_path / "a.duckdb"), "--into", str(tmp_path / "a.duckdb"))
    assert same.exit_code == 2 and "--into must not be one of the source databases" in same.stderr


def test_shard_flag_rejects_bad_specs(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    suite = make_suite(loopback_suite("http://127.0.0.1:9/v1", scorers=SCORERS), CASES)
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--shard", "5/4", "--no-progress")
    assert result.exit_code == 2
    assert result.stderr.strip() == "evalkit: error: --shard '5/4': I must be between 1 and N (N >= 1)"
    assert not (tmp_path / "r.duckdb").exists()


def test_merge_gates_on_a_baseline_and_writes_summary_and_junit(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sharded CI flow: main's run is the baseline in --into; the merged PR run is gated on it."""
    monkeypatch.chdir(tmp_path)  # the HTML report goes under ./reports
    into = tmp_path / "ci.duckdb"
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        assert cli("run", str(suite), "--db", str(into), "--no-progress").exit_code == 0
        assert cli("baseline", "set", "main", "latest", "--db", str(into)).exit_code == 0
        shards = [tmp_path / f"s{i}.duckdb" for i in (1, 2)]
        for i, db in enumerate(shards, start=1):
            cli("run", str(suite), "--db", str(db), "--shard", f"{i}/2", "--no-progress")
    args = ["--into", str(into), "--baseline", "main", "--summary-md", "summary.md", "--junit", "junit.xml"]
    merged = cli("merge", *map(str, shards), *args)
    assert merged.exit_code == 0, merged.stderr + merged.stdout
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    run = open_store(into).get_run("latest")
    assert run.run_id in summary and "baseline" in summary.lower()
    assert list((tmp_path / "reports").glob("*.html"))
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert (
        junit.get("tests") == str(len(CASES))
        and junit.find("properties/property[@name='run_id']").get("value") == run.run_id
    )

    missing = cli("merge", *map(str, shards), "--into", str(tmp_path / "fresh.duckdb"), "--baseline", "main")
    assert missing.exit_code == 2 and "main" in missing.stderr
    assert open_store(tmp_path / "fresh.duckdb").list_runs() == []  # refused before merging


def test_merge_refuses_a_missing_shard_unless_allowed_partial(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        for i in (1, 2):
            db = str(tmp_path / f"s{i}.duckdb")
            assert cli("run", str(suite), "--db", db, "--shard", f"{i}/3", "--no-progress").exit_code == 0
    sources = [str(tmp_path / "s1.duckdb"), str(tmp_path / "s2.duckdb")]
    into = tmp_path / "m.duckdb"
    refused = cli("merge", *sources, "--into", str(into))
    assert refused.exit_code == 2
    assert "shard(s) 3/3 missing" in refused.stderr and "--allow-partial" in refused.stderr
    assert not into.exists()

    partial = cli("merge", *sources, "--into", str(into), "--allow-partial")
    assert partial.exit_code == 0, partial.stderr
    assert "partial run: shard(s) 3/3 missing" in partial.stdout
    run = open_store(into).get_run("latest")
    assert run.kind == "partial" and run.config["merge"]["missing"] == "shard(s) 3/3 missing"


def test_merge_refuses_a_run_that_is_not_a_shard(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES)
        cli("run", str(suite), "--db", str(tmp_path / "a.duckdb"), "--shard", "1/2", "--no-progress")
        # the other half of the cases, but as a whole run of a trimmed suite: not shard 2/2
        (suite.parent / "cases.jsonl").write_text(
            "".join(json.dumps(c) + "\n" for c in CASES if shard_of(c["id"], 2) == 2)
        )
        cli("run", str(suite), "--db", str(tmp_path / "b.duckdb"), "--no-progress")
    result = cli(
        "merge", str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb"), "--into", str(tmp_path / "m.duckdb")
    )
    assert result.exit_code == 2 and "is not a shard (kind full)" in result.stderr, result.stderr


def test_merged_shards_are_held_to_the_suites_judge_checks(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A judge with `calibration: fail` and no calibration fails every shard; their merge too."""
    from tests.run.test_rescore import CASES as COLOURS
    from tests.run.test_rescore import colour_judge, judge_scorer

    strict = "      min_kappa: 0.6\n      calibration: fail\n"
    with LoopbackOpenAI() as target, LoopbackOpenAI(responder=colour_judge) as judge:
        text = loopback_suite(
            target.base_url, scorers=judge_scorer(judge.base_url, strict), gate="gate: {min_pass_rate: 0.0}\n"
        )
        suite = make_suite(text, COLOURS)
        shards = [tmp_path / f"s{i}.duckdb" for i in (1, 2)]
        for i, db in enumerate(shards, start=1):
            ran = cli("run", str(suite), "--db", str(db), "--shard", f"{i}/2", "--no-progress")
            assert ran.exit_code == 1 and "no calibration" in ran.stdout, ran.stdout
    merged = cli("merge", *map(str, shards), "--into", str(tmp_path / "m.duckdb"))
    assert merged.exit_code == 1, merged.stdout
    assert "Gate FAILED" in merged.stdout and "no calibration" in merged.stdout


def test_merged_shards_of_several_epochs_are_a_repeat_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Like the unsharded run they stand for: `trend` pools one epoch over every case only."""
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), CASES[:10])
        shards = [tmp_path / f"s{i}.duckdb" for i in (1, 2)]
        for i, db in enumerate(shards, start=1):
            cli("run", str(suite), "--db", str(db), "--shard", f"{i}/2", "--repeat", "2", "--no-progress")
    merged = cli("merge", *map(str, shards), "--into", str(tmp_path / "m.duckdb"))
    assert merged.exit_code in (0, 1), merged.stderr
    run = open_store(tmp_path / "m.duckdb").get_run("latest")
    assert run.kind == "repeat" and run.summary is not None and run.summary.results == 20
    trend = cli("trend", "loop", "--db", str(tmp_path / "m.duckdb"), "--out", str(tmp_path / "t"))
    assert "left out" in trend.stdout and "repeat" in trend.stdout, trend.stdout


def test_a_merge_costs_what_its_shards_spent_answers_a_stopped_one_did_not_store_included(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from tests.run.test_budget import JUDGED, long_answer, spent_on_the_wire, unplanned_judge_suite

    with (
        LoopbackOpenAI(responder=long_answer) as target,
        LoopbackOpenAI(responder=lambda body: JUDGED) as judge,
    ):
        suite = unplanned_judge_suite(make_suite, target.base_url, judge.base_url, 8)
        run = ("run", str(suite), "--no-progress", "--shard")
        # shard 1's answers fit its budget, their judges do not: stopped with none stored
        assert cli(*run, "1/2", "--db", str(tmp_path / "a.duckdb"), "--budget", "0.002").exit_code == 4
        stopped_spend = spent_on_the_wire(target)
        assert stopped_spend > 0 and judge.stats.requests == 0
        assert cli(*run, "2/2", "--db", str(tmp_path / "b.duckdb")).exit_code == 0
    shards = [open_store(tmp_path / f"{name}.duckdb").get_run("latest").summary for name in "ab"]
    assert shards[0] is not None and shards[0].cost_usd == pytest.approx(stopped_spend)
    sources = (str(tmp_path / "a.duckdb"), str(tmp_path / "b.duckdb"))
    merged = cli("merge", *sources, "--into", str(tmp_path / "m.duckdb"))
    assert merged.exit_code == 4, merged.stdout + merged.stderr  # a source did not finish
    summary = open_store(tmp_path / "m.duckdb").get_run("latest").summary
    assert summary is not None and shards[1] is not None
    assert summary.cost_usd == pytest.approx(stopped_spend + shards[1].cost_usd)
    assert summary.unstored_cost_usd == pytest.approx(stopped_spend)


def test_a_shard_that_holds_no_case_passes_and_merges(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Three cases over four shards leave one shard empty. It exited 3 ("no results", as if the
    provider were down), which fails its CI job, so the merge that judges the suite never ran."""
    cases = CASES[:3]
    owners = {shard_of(c["id"], 4) for c in cases}
    empty = next(i for i in range(1, 5) if i not in owners)
    with LoopbackOpenAI(responder=squares) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS, gate=GATE), cases)
        done = {
            i: cli(
                "run",
                str(suite),
                "--db",
                str(tmp_path / f"s{i}.duckdb"),
                "--shard",
                f"{i}/4",
                "--no-progress",
            )
            for i in range(1, 5)
        }
    assert done[empty].exit_code == 0, done[empty].stdout
    assert f"shard {empty}/4 holds none of the suite's cases" in done[empty].stdout
    stored_empty = open_store(tmp_path / f"s{empty}.duckdb").get_run("latest")
    assert stored_empty.status == "complete" and stored_empty.summary.results == 0
    merged = cli(
        "merge", *[str(tmp_path / f"s{i}.duckdb") for i in range(1, 5)], "--into", str(tmp_path / "m.duckdb")
    )
    assert merged.exit_code == 0, merged.stderr
    assert open_store(tmp_path / "m.duckdb").get_run("latest").summary.results == 3

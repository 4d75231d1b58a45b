"""A critical case deleted from the suite: the baseline holds it, the new run does not.

Real runs against a loopback server: a baseline where one critical case passes and another fails,
then the suite without them. Shards, merges and subsets must not report the cases they never set
out to run.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.analysis.outcomes import CaseOutcome, RunOutcomes
from evalkit.run.sharding import shard_of
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite, write_cases
from tests.conftest import run_suite_cli as run
from tests.runs import run_record

N = 12
PASSING_CRITICAL = "c03"
# a failing critical case in the other of two shards, so each shard holds one of them
FAILING_CRITICAL = next(
    f"c{i:02d}" for i in range(N) if shard_of(f"c{i:02d}", 2) != shard_of(PASSING_CRITICAL, 2)
)
CRITICAL = (PASSING_CRITICAL, FAILING_CRITICAL)
SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def case(i: int) -> dict[str, Any]:
    cid = f"c{i:02d}"
    return {
        "id": cid,
        "input": {"question": f"q{i}"},
        "expected": {"answer": f"a{i}"},
        "tags": ["critical"] if cid in CRITICAL else [],
    }


def answer(body: dict[str, Any]) -> str:
    i = int(body["messages"][-1]["content"][1:])
    return json.dumps({"answer": "wrong" if f"c{i:02d}" == FAILING_CRITICAL else f"a{i}"})


@pytest.fixture
def server() -> Iterator[LoopbackOpenAI]:
    with LoopbackOpenAI(responder=answer) as running:
        yield running


@pytest.fixture
def suite(make_suite: Callable[..., Path], server: LoopbackOpenAI) -> Path:
    text = loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0.5}\n")
    path: Path = make_suite(text, [case(i) for i in range(N)])
    return path


def set_main(cli: Callable[..., CliResult], suite: Path, db: Path) -> str:
    assert run(cli, suite, db).exit_code == 0
    run_id = open_store(db).get_run("latest").run_id
    assert cli("baseline", "set", "main", run_id, "--db", str(db)).exit_code == 0
    return run_id


def delete(suite: Path, *ids: str) -> None:
    write_cases(suite.parent / "cases.jsonl", [case(i) for i in range(N) if f"c{i:02d}" not in ids])


def test_deleting_critical_cases_fails_the_gate_and_names_them(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    base_id = set_main(cli, suite, db)
    delete(suite, *CRITICAL)
    md = tmp_path / "summary.md"
    result = run(cli, suite, db, "--baseline", "main", "--summary-md", str(md))
    assert result.exit_code == 1, result.stdout
    said = (
        f"2 case(s) tagged 'critical' in baseline {base_id} are missing from this run (deleted or renamed "
        f"in the suite, so not judged): {', '.join(sorted(f'{c} ({v} there)' for c, v in _verdicts()))}; "
        "if that is intended, accept each with --allow-removed-critical ID, or set the baseline to a run "
        "without them (`evalkit baseline set`)"
    )
    gate_line = next(line for line in result.stdout.splitlines() if line.startswith("Regression gate"))
    assert gate_line.startswith(
        f"Regression gate FAILED against baseline {base_id} (v1 · openai/loopback): {said}; "
        f"no significant regression against baseline {base_id}"
    )
    summary = md.read_text()
    assert summary.startswith("### ❌ evalkit · loop · v1 · openai/loopback: critical cases removed (exit 1)")
    assert "> " + said.replace("`", "\\`") in summary  # the markdown escapes the backticks
    stored = open_store(db).get_run("latest").summary
    assert stored is not None and stored.baseline is not None and not stored.baseline.passed
    assert stored.baseline.model_dump()["removed_critical"] == dict(_verdicts())

    # accepted by id: said, and the run passes; a case not accepted still fails it
    one = run(cli, suite, db, "--baseline", "main", "--allow-removed-critical", PASSING_CRITICAL)
    assert one.exit_code == 1
    assert f"missing from this run (deleted or renamed in the suite, so not judged): {FAILING_CRITICAL}" in (
        one.stdout
    )
    both = run(
        cli,
        suite,
        db,
        "--baseline",
        "main",
        *[arg for cid in CRITICAL for arg in ("--allow-removed-critical", cid)],
    )
    assert both.exit_code == 0, both.stdout
    assert f"2 case(s) tagged 'critical' in baseline {base_id} are not in this run, accepted with " in (
        both.stdout
    )
    # a new baseline without them: nothing to say, but a flag left behind is said to accept nothing
    new_id = set_main(cli, suite, db)
    clean = run(cli, suite, db, "--baseline", "main")
    assert clean.exit_code == 0 and "critical" not in clean.stdout
    stale = run(cli, suite, db, "--baseline", "main", "--allow-removed-critical", PASSING_CRITICAL)
    assert stale.exit_code == 0
    assert (
        f"--allow-removed-critical {PASSING_CRITICAL}: no such case tagged 'critical' in baseline {new_id} "
        "is missing from this run (nothing to accept)"
    ) in stale.stdout


def test_compare_names_the_critical_cases_b_lacks_and_fails_as_the_gate_does(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    """`evalkit compare A B` pairs only the cases both runs hold: B without A's failing critical case
    looks better there, so the cases B lacks are named, and it exits as the gate on A did."""
    base_id = set_main(cli, suite, db)
    delete(suite, FAILING_CRITICAL)
    gated = run(cli, suite, db, "--baseline", base_id)
    cand_id = open_store(db).get_run("latest").run_id
    md = tmp_path / "compare.md"
    compared = cli("compare", base_id, cand_id, "--db", str(db), "--summary-md", str(md))
    assert compared.exit_code == gated.exit_code == 1, compared.stdout + compared.stderr
    said = (
        f"1 case(s) tagged 'critical' in baseline {base_id} are missing from this run (deleted or renamed "
        f"in the suite, so not judged): {FAILING_CRITICAL} (failed there)"
    )
    (line,) = [x for x in compared.stdout.splitlines() if "lacks critical cases" in x]
    assert line.startswith(f"REMOVED CRITICAL: B {cand_id} lacks critical cases, which fails the regression ")
    assert said in line
    summary = md.read_text()
    assert summary.startswith("### evalkit compare · loop: ") and summary.splitlines()[0].endswith(
        "; critical cases removed (exit 1)"
    )
    assert (
        f"**Removed critical cases:** B {cand_id} lacks critical cases, which fails the regression gate: {said}"
        in (summary)
    )

    # the HTML report comparing them says so too
    page = tmp_path / "compare.html"
    assert cli("report", base_id, "--compare", cand_id, "--db", str(db), "--out", str(page)).exit_code == 0
    assert f"which fails the regression gate</b>: {said}" in html.unescape(page.read_text())
    # and the studio's page comparing them
    from starlette.testclient import TestClient

    from evalkit.studio.app import create_app

    studio = TestClient(create_app(open_store(db), grader="ann"), base_url="http://127.0.0.1")
    shown = studio.get("/compare", params={"a": base_id, "b": cand_id}).text
    assert f"which fails the regression gate</b>: {said}" in html.unescape(shown)

    accepted = cli("compare", base_id, cand_id, "--db", str(db), "--allow-removed-critical", FAILING_CRITICAL)
    assert accepted.exit_code == 0, accepted.stdout + accepted.stderr
    assert "lacks critical cases" not in accepted.stdout
    assert (
        f"1 case(s) tagged 'critical' in baseline {base_id} are not in this run, accepted" in accepted.stdout
    )
    # the other way around, B holds every case A does: nothing removed
    reverse = cli("compare", cand_id, base_id, "--db", str(db))
    assert reverse.exit_code == 0 and "critical" not in reverse.stdout


def _verdicts() -> list[tuple[str, str]]:
    return [(PASSING_CRITICAL, "passed"), (FAILING_CRITICAL, "failed")]


def test_a_shard_judges_only_its_own_critical_cases(
    cli: Callable[..., CliResult], suite: Path, db: Path
) -> None:
    set_main(cli, suite, db)
    for i in (1, 2):  # nothing deleted: neither shard reports the other's critical case as missing
        result = run(cli, suite, db, "--shard", f"{i}/2", "--baseline", "main")
        assert result.exit_code == 0, result.stdout
        assert "missing from this run" not in result.stdout
    delete(suite, PASSING_CRITICAL)
    own = shard_of(PASSING_CRITICAL, 2)
    result = run(cli, suite, db, "--shard", f"{own}/2", "--baseline", "main")
    assert result.exit_code == 1
    assert "1 case(s) tagged 'critical' in baseline" in result.stdout
    assert f"so not judged): {PASSING_CRITICAL} (passed there);" in result.stdout
    other = run(cli, suite, db, "--shard", f"{3 - own}/2", "--baseline", "main")
    assert other.exit_code == 0 and "missing from this run" not in other.stdout


def test_merged_shards_are_judged_as_the_whole_suite_and_a_partial_merge_on_its_shards(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    base_id = set_main(cli, suite, db)
    delete(suite, *CRITICAL)
    shards = [tmp_path / f"shard{i}.duckdb" for i in (1, 2)]
    for i, shard_db in enumerate(shards, start=1):
        assert run(cli, suite, shard_db, "--shard", f"{i}/2").exit_code in (0, 1)
    merged = cli("merge", *map(str, shards), "--into", str(db), "--baseline", "main")
    assert merged.exit_code == 1
    assert f"2 case(s) tagged 'critical' in baseline {base_id} are missing from this run" in merged.stdout
    # the shard holding the failing critical case alone: its case is reported, not the other shard's
    own = shard_of(FAILING_CRITICAL, 2)
    partial = cli("merge", str(shards[own - 1]), "--into", str(db), "--baseline", "main", "--allow-partial")
    assert partial.exit_code == 1
    assert f"partial run: shard(s) {3 - own}/2 missing" in partial.stdout
    assert f"so not judged): {FAILING_CRITICAL} (failed there);" in partial.stdout
    assert f"{PASSING_CRITICAL} (passed there)" not in partial.stdout


def test_a_subset_counts_the_critical_cases_it_cannot_tell(
    cli: Callable[..., CliResult], suite: Path, db: Path
) -> None:
    from evalkit import RunOptions, load_suite, run_suite

    set_main(cli, suite, db)
    delete(suite, PASSING_CRITICAL)
    chosen = {f"c{i:02d}" for i in range(N) if f"c{i:02d}" not in CRITICAL}
    outcome = run_suite(
        load_suite(suite),
        open_store(db),
        RunOptions(case_filter=lambda c: c.id in chosen),
        baseline="main",
    )
    assert outcome.run.kind == "subset"
    assert outcome.baseline is not None
    decision = outcome.baseline.decision
    assert decision.passed and decision.removed_critical == {} and decision.critical_not_checked == 2
    assert any("a subset of the suite's cases: not checked for removal" in r for r in decision.reasons)


def test_a_run_that_did_not_finish_is_not_checked() -> None:
    from evalkit.gate.removed_critical import find_removed_critical

    def outcomes(run_id: str, ids: list[str], status: str) -> RunOutcomes:
        cases = {cid: CaseOutcome(case_id=cid, passed=True, score=1.0, tags=("critical",)) for cid in ids}
        return RunOutcomes(run=run_record(run_id).model_copy(update={"status": status}), cases=cases)

    base = outcomes("a", ["c00", "c01"], "complete")
    assert find_removed_critical(base, outcomes("b", ["c00"], "incomplete"), "critical") is None
    found = find_removed_critical(base, outcomes("b", ["c00"], "complete"), "critical")
    assert found is not None and found.removed == {"c01": "passed"}
    assert find_removed_critical(base, outcomes("b", ["c00"], "complete"), "") is None


def test_the_library_accepts_a_removed_critical_case_as_the_command_does(
    cli: Callable[..., CliResult], suite: Path, db: Path
) -> None:
    """``run_suite(..., baseline=...)`` gates as ``evalkit run --baseline`` does, and takes the same
    ``--allow-removed-critical`` acceptance: without it a library caller could not pass a suite whose
    critical case was deleted on purpose."""
    from evalkit import load_suite, run_suite

    set_main(cli, suite, db)
    delete(suite, PASSING_CRITICAL)
    refused = run_suite(load_suite(suite), open_store(db), baseline="main")
    assert refused.baseline is not None and not refused.baseline.decision.passed
    assert refused.baseline.decision.removed_critical == {PASSING_CRITICAL: "passed"}
    accepted = run_suite(
        load_suite(suite), open_store(db), baseline="main", allow_removed_critical=[PASSING_CRITICAL]
    )
    assert accepted.baseline is not None and accepted.baseline.decision.passed, accepted.baseline.decision
    assert accepted.exit_code == 0

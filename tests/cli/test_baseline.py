"""The regression gate end to end: `evalkit run --baseline`, `run_suite(..., baseline=...)` and
`evalkit compare` against a loopback server.

One suite, several prompt versions; the loopback server answers each version differently, so each
version is a seeded candidate: noise only, degraded, or one critical case broken.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite
from tests.conftest import run_suite_cli as run

N = 40
CASES = [
    {
        "id": f"c{i:02d}",
        "input": {"question": f"q{i}"},
        "expected": {"answer": f"a{i}"},
        "tags": ["critical"] if i == 3 else [],
    }
    for i in range(N)
]
# which cases each prompt version gets right: v1 is the baseline (30 of 40)
CORRECT: dict[str, Callable[[int], bool]] = {
    "v1": lambda i: i < 30,
    "noise": lambda i: (i < 30 and i not in (5, 6)) or i in (31, 32),  # 2 down, 2 up
    "degraded": lambda i: 12 <= i < 30,  # 12 down
    "critical": lambda i: (i < 30 and i != 3) or i == 31,  # the critical case down, one up
    "linked": lambda i: i < 27,  # 3 down, each answering with a link and a mention
}
WRONG = {"linked": "see @octocat at https://evil.example"}
SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def answer(body: dict[str, Any]) -> str:
    version = body["messages"][0]["content"].split()[-1]
    i = int(body["messages"][-1]["content"][1:])
    return json.dumps({"answer": f"a{i}" if CORRECT[version](i) else WRONG.get(version, "wrong")})


@pytest.fixture
def server() -> Iterator[LoopbackOpenAI]:
    with LoopbackOpenAI(responder=answer) as running:
        yield running


@pytest.fixture
def suite(make_suite: Callable[..., Path], server: LoopbackOpenAI) -> Path:
    # an absolute gate nothing here passes: with --baseline only the comparison decides
    text = loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0.95}\n")
    prompts = ", ".join(f"{v}: prompts/{v}.j2" for v in CORRECT)
    path: Path = make_suite(text.replace("{v1: prompts/v1.j2}", "{" + prompts + "}"), CASES)
    for version in CORRECT:
        (path.parent / "prompts" / f"{version}.j2").write_text(
            f"[system]\nAnswer in JSON. Version {version}\n[user]\n{{{{ question }}}}\n"
        )
    return path


def baseline_main(cli: Callable[..., CliResult], suite: Path, db: Path) -> str:
    first = run(cli, suite, db, "--prompt", "v1")
    assert first.exit_code == 1  # 75% < 95%: without a baseline the absolute gate applies
    run_id = open_store(db).get_run("latest").run_id
    named = cli("baseline", "set", "main", run_id, "--db", str(db))
    assert named.exit_code == 0, named.stderr
    assert f"baseline main of suite loop -> {run_id}" in named.stdout
    return run_id


def test_noise_only_change_passes_with_exit_0(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    base_id = baseline_main(cli, suite, db)
    md = tmp_path / "summary.md"
    result = run(cli, suite, db, "--prompt", "noise", "--baseline", "main", "--summary-md", str(md))
    assert result.exit_code == 0, result.stdout + result.stderr
    # the run's own gate is printed as not deciding (the console never says FAILED on an exit 0) ...
    assert "Suite gate failed: pass rate 75.0% < min_pass_rate 95% (not deciding" in result.stdout
    assert "Gate FAILED" not in result.stdout
    assert f"Regression gate PASSED against baseline {base_id}" in result.stdout  # ... is replaced
    # and `evalkit runs` lists the run as it exited: pass, not the suite gate's fail (1)
    listing = cli("runs", "--db", str(db)).stdout
    latest = next(line for line in listing.splitlines() if open_store(db).get_run("latest").run_id in line)
    assert latest.rstrip().endswith("pass"), latest
    assert "2 pass→fail and 2 fail→pass, McNemar exact p = 1" in result.stdout
    summary = md.read_text()
    assert summary.startswith(
        "### ✅ evalkit · loop · noise · openai/loopback: no significant regression (exit 0)"
    )
    assert "| pass rate | 75.0% | 75.0% | +0.0 pts |" in summary
    assert "**Flipped cases**: 2 pass→fail, 2 fail→pass" in summary
    report = next((tmp_path / "reports").glob("*.html"))
    assert f"Full report: `reports/{report.name}`" in summary
    # the report's Runs table, too, says how the run exited: passed on its baseline
    assert "passed</span> (exit 0, on its baseline)" in report.read_text(encoding="utf-8")
    stored = open_store(db).get_run("latest")
    assert stored.summary.baseline.passed is True
    assert stored.summary.baseline.baseline_run_id == base_id
    assert stored.summary.gate.exit_code == 1  # what was stored before is kept


def test_degraded_candidate_fails_with_exit_1(cli: Callable[..., CliResult], suite: Path, db: Path) -> None:
    base_id = baseline_main(cli, suite, db)
    result = run(cli, suite, db, "--prompt", "degraded", "--baseline", base_id[:-2])  # a run prefix works too
    assert result.exit_code == 1
    assert f"Regression gate FAILED against baseline {base_id}" in result.stdout
    assert "significant regression" in result.stdout
    assert "pass rate 75.0% → 45.0% (-30.0 pts" in result.stdout
    assert "12 pass→fail and 0 fail→pass, McNemar exact p = 4.9e-04" in result.stdout
    assert "pass→fail c00:" in result.stdout


def test_critical_case_flip_fails_with_exit_1(cli: Callable[..., CliResult], suite: Path, db: Path) -> None:
    baseline_main(cli, suite, db)
    result = run(cli, suite, db, "--prompt", "critical", "--baseline", "main")
    assert result.exit_code == 1
    assert "1 case(s) tagged 'critical' flipped to fail: c03" in result.stdout
    assert "significant regression" not in result.stdout


def test_a_run_of_some_cases_cannot_be_a_baseline(
    cli: Callable[..., CliResult], suite: Path, db: Path
) -> None:
    """A shard (or a subset, or a partial merge) as main's baseline would leave the cases it lacks
    judged as new, on min_pass_rate alone, in every pull request until main runs again."""
    assert run(cli, suite, db, "--prompt", "v1", "--shard", "1/2").exit_code in (0, 1)
    shard = open_store(db).get_run("latest")
    assert shard.kind == "shard"
    refused = cli("baseline", "set", "main", shard.run_id, "--db", str(db))
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        f"evalkit: error: run {shard.run_id} is a shard run (one shard's cases); a baseline is compared "
        "case by case, so it must hold every case: set a full run, or the run `evalkit merge` made of "
        "all the shards"
    )
    assert cli("baseline", "list", "--db", str(db)).stdout.count(shard.run_id) == 0
    baseline_main(cli, suite, db)  # a full run still can


def test_a_baseline_in_a_database_that_does_not_exist_is_refused_without_making_one(
    cli: Callable[..., CliResult], suite: Path, tmp_path: Path, server: LoopbackOpenAI
) -> None:
    typo = tmp_path / "typo" / "evalkit.duckdb"
    result = run(cli, suite, typo, "--baseline", "main")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"evalkit: error: --baseline main: the database {typo} does not exist, so it holds no baseline "
        "(a CI job restores main's .evalkit/ first; see docs/ci.md)"
    )
    assert not typo.parent.exists() and server.stats.requests == 0


def test_unknown_baseline_fails_before_any_call(
    cli: Callable[..., CliResult], suite: Path, db: Path, server: LoopbackOpenAI
) -> None:
    baseline_main(cli, suite, db)
    before = server.stats.requests
    result = run(cli, suite, db, "--prompt", "noise", "--baseline", "release-9")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "evalkit: error: no baseline 'release-9' of suite 'loop' and no run 'release-9' "
        "(see `evalkit baseline list` and `evalkit runs`)"
    )
    assert server.stats.requests == before


@pytest.mark.parametrize(("version", "code"), [("noise", 0), ("degraded", 1), ("critical", 1)])
def test_run_suite_with_a_baseline_decides_as_the_cli(
    cli: Callable[..., CliResult], suite: Path, db: Path, version: str, code: int
) -> None:
    from evalkit import RunOptions, load_suite, run_suite

    base_id = baseline_main(cli, suite, db)
    assert run(cli, suite, db, "--prompt", version, "--baseline", "main").exit_code == code
    stored_by_cli = open_store(db).get_run("latest").summary
    assert stored_by_cli is not None and stored_by_cli.baseline is not None
    by_cli = stored_by_cli.baseline.model_dump(mode="json")

    store = open_store(db)
    for baseline in ("main", store.get_run(base_id)):  # a name, or the run record itself
        outcome = run_suite(load_suite(suite), store, RunOptions(prompt=version), baseline=baseline)
        assert outcome.exit_code == code
        assert outcome.decision.exit_code == 1  # the absolute gate (95%) fails; the baseline replaces it
        assert outcome.baseline is not None and outcome.baseline.baseline.run_id == base_id
        by_library = outcome.baseline.decision.model_dump(mode="json")
        stored = store.get_run(outcome.run.run_id).summary
        assert stored is not None and stored.baseline is not None
        assert stored.baseline.model_dump(mode="json") == by_library  # stored as the CLI does
        assert by_library["candidate_run_id"] == outcome.run.run_id
        assert {k: v for k, v in by_library.items() if k != "candidate_run_id"} == {
            k: v for k, v in by_cli.items() if k != "candidate_run_id"
        }


def test_run_suite_refuses_an_unknown_baseline_before_any_call(
    cli: Callable[..., CliResult], suite: Path, db: Path, server: LoopbackOpenAI
) -> None:
    from evalkit import EvalkitError, load_suite, run_suite

    baseline_main(cli, suite, db)
    before = server.stats.requests
    with pytest.raises(EvalkitError, match="no run 'release-9'"):
        run_suite(load_suite(suite), open_store(db), baseline="release-9")
    assert server.stats.requests == before


def test_matrix_cells_are_each_gated_on_the_baseline(
    cli: Callable[..., CliResult], suite: Path, db: Path
) -> None:
    base_id = baseline_main(cli, suite, db)
    result = run(cli, suite, db, "--prompt", "noise", "--prompt", "degraded", "--baseline", "main")
    assert result.exit_code == 1  # the worst cell's
    assert result.stdout.count(f"Regression gate PASSED against baseline {base_id}") == 1
    assert result.stdout.count(f"Regression gate FAILED against baseline {base_id}") == 1
    cells = {r.prompt_version: r for r in open_store(db).list_runs() if r.group_id is not None}
    assert cells["noise"].summary.baseline.exit_code == 0
    assert cells["degraded"].summary.baseline.exit_code == 1


def test_compare_two_runs_and_a_group(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    matrix = run(cli, suite, db, "--prompt", "v1", "--prompt", "degraded", "--prompt", "noise")
    assert matrix.exit_code == 1
    runs = {r.prompt_version: r for r in open_store(db).list_runs()}
    group = runs["v1"].group_id
    assert group is not None

    pair = cli(
        "compare",
        runs["v1"].run_id,
        runs["degraded"].run_id,
        "--db",
        str(db),
        "--summary-md",
        str(tmp_path / "c.md"),
    )
    assert pair.exit_code == 0, pair.stderr
    lines = pair.stdout.splitlines()
    head = next(line for line in lines if line.startswith("pass rate"))
    assert head.split()[2:5] == ["75.0%", "45.0%", "-30.0"]
    assert "worse" in head and "4.9e-04" in head
    field_row = next(line for line in lines if line.startswith("field json_fields:answer: accuracy"))
    assert "worse" in field_row
    assert "Flipped: 12 pass→fail, 0 fail→pass" in pair.stdout
    assert "Fields (json_fields): P/R/F1" in pair.stdout  # both runs' micro and macro figures
    assert '    A: {"answer": "a0"}' in pair.stdout and '    B: {"answer": "wrong"}' in pair.stdout
    assert "| pass rate | 75.0% | 45.0% | -30.0 pts |" in (tmp_path / "c.md").read_text()

    grouped = cli("compare", group[:-2], "--db", str(db))
    assert grouped.exit_code == 0, grouped.stderr
    assert f"group {group}: 3 runs, compared with {runs['v1'].run_id}" in grouped.stdout
    rows = {
        line.split()[0]: line
        for line in grouped.stdout.splitlines()
        if line.split()[:1] in (["degraded"], ["noise"])
    }
    assert "-30.0 pts" in rows["degraded"] and "worse" in rows["degraded"]
    assert "+0.0 pts" in rows["noise"] and "no significant difference" in rows["noise"]

    assert cli("compare", runs["v1"].run_id, "--db", str(db)).exit_code == 2  # a run is not a group
    # a baseline name stands for its run, as `run --baseline` reads it (docs/distributed.md)
    assert cli("baseline", "set", "main", runs["v1"].run_id, "--db", str(db)).exit_code == 0
    named = cli("compare", "main", runs["degraded"].run_id, "--db", str(db))
    assert named.exit_code == 0, named.stderr
    assert named.stdout.splitlines()[0] == pair.stdout.splitlines()[0]
    unknown = cli("compare", "release-9", "latest", "--db", str(db))
    assert unknown.exit_code == 2 and "no baseline 'release-9' of suite" in unknown.stderr
    listing = cli("baseline", "list", "--db", str(db))
    assert listing.exit_code == 0


def test_a_run_scored_differently_from_its_baseline_cannot_pass_on_it(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    # a candidate 12 cases worse, whose suite loosened its case rule: every case now "passes"
    base_id = baseline_main(cli, suite, db)
    loosened = "gate: {min_pass_rate: 0.95, case_pass: weighted, case_threshold: 0.0}\n"
    suite.write_text(suite.read_text().replace("gate: {min_pass_rate: 0.95}\n", loosened))
    md = tmp_path / "summary.md"
    result = run(cli, suite, db, "--prompt", "degraded", "--baseline", "main", "--summary-md", str(md))
    assert result.exit_code == 3, result.stdout + result.stderr
    assert f"not comparable with baseline {base_id}" in result.stdout
    assert "--allow-scoring-change" in result.stdout
    assert "could not be judged against its baseline (exit 3)" in md.read_text()
    assert "too many provider errors" not in md.read_text()
    # asked to, it gates on the comparison all the same
    allowed = run(cli, suite, db, "--prompt", "degraded", "--baseline", "main", "--allow-scoring-change")
    assert allowed.exit_code == 0, allowed.stdout
    assert f"Regression gate PASSED against baseline {base_id}" in allowed.stdout


def test_compare_summary_md_lists_the_flips_the_terminal_shows(
    cli: Callable[..., CliResult], suite: Path, db: Path, tmp_path: Path
) -> None:
    assert run(cli, suite, db, "--prompt", "v1", "--prompt", "linked").exit_code == 1
    runs = {r.prompt_version: r for r in open_store(db).list_runs()}
    a, b = runs["v1"].run_id, runs["linked"].run_id
    md = tmp_path / "c.md"
    two = cli("compare", a, b, "--db", str(db), "--summary-md", str(md), "--flips", "2")
    assert two.exit_code == 0, two.stderr
    assert [line.split()[1] for line in two.stdout.splitlines() if line.startswith("  pass→fail")] == [
        "c27",
        "c28",
    ]
    text = md.read_text(encoding="utf-8")
    assert "**Flipped cases**: 3 pass→fail, 0 fail→pass (top 2)" in text
    # the same two cases, the model's link and mention broken by a word joiner as in every cell
    linked = '{"answer": "see @\u2060octocat at https\u2060://evil.example"}'
    assert [line for line in text.splitlines() if "| pass→fail |" in line] == [
        f'| c{i} | pass→fail |  | {{"answer": "a{i}"}} | {linked} |' for i in (27, 28)
    ]

    none = cli("compare", a, b, "--db", str(db), "--summary-md", str(md), "--flips", "0")
    assert none.exit_code == 0, none.stderr
    text = md.read_text(encoding="utf-8")
    assert "**Flipped cases**: 3 pass→fail, 0 fail→pass (none listed)" in text
    assert "| case | change |" not in text and "No case changed verdict." not in text

    # a group's summary: each cell against the reference, its flips as many as --flips says
    group = runs["v1"].group_id
    assert group is not None
    grouped = cli("compare", group, "--db", str(db), "--summary-md", str(md), "--flips", "1")
    assert grouped.exit_code == 0, grouped.stderr
    text = md.read_text(encoding="utf-8")
    assert "**Flipped cases**: 3 pass→fail, 0 fail→pass (top 1)" in text
    assert [line.split(" | ")[0] for line in text.splitlines() if "| pass→fail |" in line] == ["| c27"]


def test_every_run_of_a_comparison_may_be_a_baseline_name(
    cli: Callable[..., CliResult], suite: Path, db: Path
) -> None:
    assert run(cli, suite, db, "--prompt", "v1", "--prompt", "linked").exit_code == 1
    runs = {r.prompt_version: r for r in open_store(db).list_runs()}
    a, b = runs["v1"].run_id, runs["linked"].run_id
    assert cli("baseline", "set", "main", a, "--db", str(db)).exit_code == 0
    # report's RUN is compare's A: a name, read for the other run's suite, as `evalkit compare main B`
    named = cli("report", "main", "--compare", b, "--db", str(db))
    assert named.exit_code == 0, named.stderr
    assert named.stdout.strip() == f"report written to reports/{a}-vs-{b}.html"
    assert cli("report", b, "--compare", "main", "--db", str(db)).stdout.strip() == (
        f"report written to reports/{b}-vs-{a}.html"
    )
    assert cli("report", "main", "--db", str(db)).stdout.strip() == f"report written to reports/{a}.html"
    # a group's reference cell too
    group = runs["v1"].group_id
    assert group is not None
    assert cli("baseline", "set", "candidate", b, "--db", str(db)).exit_code == 0
    grouped = cli("compare", group, "--reference", "candidate", "--db", str(db))
    assert grouped.exit_code == 0, grouped.stderr
    assert f"group {group}: 2 runs, compared with {b}" in grouped.stdout

    # an unknown name: the one line `evalkit compare` gives, wherever it is passed
    unknown = (
        "evalkit: error: no baseline 'release-9' of suite 'loop' and no run 'release-9' "
        "(see `evalkit baseline list` and `evalkit runs`)"
    )
    for args in (
        ("compare", "release-9", b),
        ("compare", b, "release-9"),
        ("report", "release-9", "--compare", b),
        ("report", b, "--compare", "release-9"),
        ("compare", group, "--reference", "release-9"),
    ):
        result = cli(*args, "--db", str(db))
        assert result.exit_code == 2, args
        assert result.stderr.strip() == unknown, args

"""A case without `expected` under a scorer that compares with one is refused when the suite is checked,
unless the scorer is configured not to need it, skips the case, or the case awaits a person (mined)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import ConfigError
from evalkit.scorers.base import ScoreContext, needs_expected, scorers
from evalkit.suite.lint import lint_suite
from evalkit.suite.loading import load_suite
from tests.conftest import CliResult

SUITE = """name: s
target:
  model: python:nowhere:fn
cases: [cases.jsonl]
scorers:
{scorers}"""
ANSWERED = {"id": "a", "input": {"question": "hi"}, "expected": "x"}
UNANSWERED = {"id": "b", "input": {"question": "yo"}}


def check(make_suite: Callable[..., Path], scorers_yaml: str, cases: list[dict[str, Any]]) -> int:
    suite = load_suite(make_suite(SUITE.format(scorers=scorers_yaml), cases))
    return suite.check_cases(None)


@pytest.mark.parametrize(
    ("scorer", "label"),
    [
        ("  - name: fuzzy\n", "'fuzzy' (fuzzy)"),
        ("  - name: exact\n    args: {field: title}\n", "'exact' (exact)"),
        ("  - name: json_fields\n    id: fields\n", "'fields' (json_fields)"),
        ("  - name: contains\n", "'contains' (contains)"),  # default: the expected text
        ("  - name: tool_call\n", "'tool_call' (tool_call)"),
        ("  - name: tagged\n    args: {inner: {name: fuzzy}}\n", "'tagged' (tagged)"),
        ("  - name: semantic_similarity\n", "'semantic_similarity' (semantic_similarity)"),
        ("  - name: pairwise_judge\n    args: {model: openai/j}\n", "'pairwise_judge' (pairwise_judge)"),
    ],
)
def test_a_case_without_expected_is_refused_with_file_line_and_scorer(
    make_suite: Callable[..., Path], scorer: str, label: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        check(make_suite, scorer, [ANSWERED, UNANSWERED])
    assert caught.value.line == 2 and caught.value.path is not None
    assert caught.value.path.name == "cases.jsonl"
    assert (
        f"case 'b' has no `expected`, but scorer {label} compares the output with it" in caught.value.message
    )


@pytest.mark.parametrize(
    "scorer",
    [
        "  - name: contains\n    args: {value: hello}\n",  # its own needle: no expected needed
        "  - name: tool_call\n    args: {name: lookup}\n",  # the tool's name only
        "  - name: regex\n    args: {pattern: h}\n",
        "  - name: tagged\n",
        "  - name: tagged\n    args: {inner: {name: json_valid}}\n",
        "  - name: llm_judge\n    args: {model: openai/j, rubric: Be kind.}\n",  # a reference is optional
    ],
)
def test_a_scorer_configured_without_expected_accepts_the_case(
    make_suite: Callable[..., Path], scorer: str
) -> None:
    assert check(make_suite, scorer, [ANSWERED, UNANSWERED]) == 2


def test_mined_cases_awaiting_a_person_and_verified_only_skips_are_not_refused(
    make_suite: Callable[..., Path],
) -> None:
    mined = {**UNANSWERED, "source": "mined", "verified": False}
    assert check(make_suite, "  - name: fuzzy\n", [ANSWERED, mined]) == 2
    # a golden case someone marked unverified is skipped by a verified_only scorer
    unverified = {**UNANSWERED, "verified": False}
    assert check(make_suite, "  - name: fuzzy\n    verified_only: true\n", [ANSWERED, unverified]) == 2
    # verified_only does not skip a verified case: it still needs its expected output
    with pytest.raises(ConfigError, match="case 'b' has no `expected`"):
        check(make_suite, "  - name: fuzzy\n    verified_only: true\n", [ANSWERED, UNANSWERED])


def test_a_case_s_own_scorer_needs_its_expected_output_too(make_suite: Callable[..., Path]) -> None:
    own = {**UNANSWERED, "scorers": [{"name": "fuzzy", "id": "close"}]}
    with pytest.raises(ConfigError, match=r"scorer 'close' \(fuzzy\)") as caught:
        check(make_suite, "  - name: json_valid\n", [ANSWERED, own])
    assert caught.value.line == 2


def test_lint_says_error_for_golden_cases_and_warning_for_mined_ones(make_suite: Callable[..., Path]) -> None:
    mined = {"id": "m", "input": {"question": "mined"}, "source": "mined", "verified": False}
    path = make_suite(SUITE.format(scorers="  - name: fuzzy\n"), [ANSWERED, UNANSWERED, mined])
    findings = {f.rule: f for f in lint_suite(load_suite(path)).findings}
    assert findings["expected-missing"].severity == "error" and findings["expected-missing"].line == 2
    assert (
        "1 case(s) have no expected output, but scorer 'fuzzy' (fuzzy)"
        in findings["expected-missing"].message
    )
    assert findings["expected-pending"].severity == "warning" and findings["expected-pending"].line == 3
    assert "could not score them" in findings["expected-pending"].message
    assert "cases" not in findings  # the same problem is not reported twice


def test_a_plugin_declares_its_need_when_it_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.scorers import base

    for name in ("test_needs_reference", "test_bare_plugin"):  # removed again after the test
        monkeypatch.setitem(scorers._items, name, None)
        monkeypatch.setitem(base._expected_needs, name, False)

    @base.scorer("test_needs_reference", needs_expected=lambda args: not args.get("reference_free"))
    def factory(reference_free: bool = False) -> Any:
        return lambda ctx: ctx

    def bare(**_: Any) -> Callable[[ScoreContext], Any]:
        return lambda ctx: ctx

    bare.needs_expected = True  # type: ignore[attr-defined]
    scorers.register("test_bare_plugin", bare)  # a plug-in registering without the decorator
    assert needs_expected("test_needs_reference", {})
    assert not needs_expected("test_needs_reference", {"reference_free": True})
    assert needs_expected("test_bare_plugin", {})
    assert not needs_expected("no_such_scorer", {})


def test_run_refuses_before_any_call(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = make_suite(SUITE.format(scorers="  - name: fuzzy\n"), [ANSWERED, UNANSWERED])
    result = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"evalkit: error: {path.parent / 'cases.jsonl'}:2: case 'b' has no `expected`, but scorer 'fuzzy' "
        "(fuzzy) compares the output with it: add the case's expected output"
    )
    assert "Cases" not in result.stdout  # no case was run


def test_lint_exits_2_where_run_refuses_and_only_warns_of_a_mined_case(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`evalkit lint` in CI must not pass (exit 1, "quality") a suite `evalkit run` refuses as bad
    input (exit 2): the same exit code, and the same file and line."""
    path = make_suite(SUITE.format(scorers="  - name: fuzzy\n"), [ANSWERED, UNANSWERED])
    cases = path.parent / "cases.jsonl"
    linted = cli("lint", str(path))
    assert linted.exit_code == 2, linted.stdout + linted.stderr
    assert (
        f"{cases}:2: error expected-missing: 1 case(s) have no expected output, but scorer 'fuzzy' "
        "(fuzzy) compares with it (first: case 'b'); `evalkit run` refuses them"
    ) in linted.stdout.splitlines()
    assert linted.stdout.splitlines()[-1].endswith(
        ": 1 error(s), 0 warning(s); `evalkit run` refuses this suite (exit 2)"
    )
    ran = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert ran.exit_code == 2 and f"{cases}:2: case 'b' has no `expected`" in ran.stderr
    # a mined case awaiting a person is run (its comparison skipped): a warning, as before
    mined = {**UNANSWERED, "source": "mined", "verified": False}
    pending = make_suite(SUITE.format(scorers="  - name: fuzzy\n"), [ANSWERED, mined], name="pending")
    assert cli("lint", str(pending)).exit_code == 0
    assert cli("lint", str(pending), "--strict").exit_code == 1


def test_a_run_keeps_cases_awaiting_their_expected_output_out_of_the_gate(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A weekly suite's mined cases have no expected output yet: the comparing scorer skips them,
    and they neither count as errors against max_error_rate (exit 3) nor pass on the other
    scorers alone."""
    mined = [
        {"id": f"m{i}", "input": {"question": "q"}, "source": "mined", "verified": False} for i in range(3)
    ]
    golden = {"id": "a", "input": {"question": "x"}, "expected": "echo x"}
    (tmp_path / "echo_target.py").write_text("def answer(question):\n    return 'echo ' + question\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite_yaml = SUITE.replace("python:nowhere:fn", "python:echo_target:answer")
    only_fuzzy = make_suite(suite_yaml.format(scorers="  - name: fuzzy\n"), [golden, *mined])
    result = cli("run", str(only_fuzzy), "--db", str(tmp_path / "a.duckdb"), "--no-progress")
    assert result.exit_code == 0, result.stdout + result.stderr  # 3 errors of 4 were exit 3
    assert "3 awaiting an expected output (kept out of the gate" in result.stdout
    assert (
        "Awaiting an expected output (kept out of the gate: a scorer that compares with one skipped "
        "them, and no other failed them): 3 cases: m0, m1, m2" in result.stdout
    )
    # with another scorer they are scored by it, but a pass on it alone is no pass of the case
    both = make_suite(
        suite_yaml.format(scorers="  - name: fuzzy\n  - name: contains\n    args: {value: echo}\n"),
        [golden, *mined],
    )
    again = cli("run", str(both), "--db", str(tmp_path / "b.duckdb"), "--no-progress")
    assert again.exit_code == 0, again.stdout + again.stderr
    assert "Cases 4: 4 passed, 0 failed, 0 errors" in again.stdout
    from evalkit.store import open_store

    summary = open_store(tmp_path / "b.duckdb").get_run("latest").summary
    assert summary is not None and summary.gate_counts is not None
    assert summary.gate_counts.results == 1 and summary.awaiting_expected == ["m0", "m1", "m2"]
    # but a case another scorer failed has failed, whatever the missing comparison would say
    failing = make_suite(
        suite_yaml.format(scorers="  - name: fuzzy\n  - name: contains\n    args: {value: nowhere}\n"),
        [golden, *mined],
    )
    failed = cli("run", str(failing), "--db", str(tmp_path / "c.duckdb"), "--no-progress")
    assert failed.exit_code == 1, failed.stdout + failed.stderr
    counted = open_store(tmp_path / "c.duckdb").get_run("latest").summary
    assert counted is not None and counted.gate_counts is not None
    assert counted.gate_counts.results == 4 and counted.awaiting_expected == []


def test_only_a_candidate_skips_the_comparison_a_verified_case_without_expected_is_an_error(
    make_suite: Callable[..., Path],
) -> None:
    """`rescore` reads stored cases without the load-time check: a verified case without expected
    must stay the comparing scorer's error, not pass on the other scorers."""
    import asyncio

    from evalkit.cases import Case
    from evalkit.results import OutputRecord
    from evalkit.run.evaluate import score_case

    suite = load_suite(
        make_suite(
            SUITE.format(scorers="  - name: fuzzy\n  - name: contains\n    args: {value: x}\n"), [ANSWERED]
        )
    )
    output = OutputRecord(status="ok", text="x")
    verified = asyncio.run(score_case(suite, Case(id="v", input={"question": "q"}), output))
    assert [(row.scorer, row.error is not None) for row in verified] == [("fuzzy", True), ("contains", False)]
    pending = Case(id="p", input={"question": "q"}, verified=False)
    assert [row.scorer for row in asyncio.run(score_case(suite, pending, output))] == ["contains"]


def test_rescore_never_passes_a_verified_case_without_expected_on_the_other_scorers(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run stored a golden case without `expected` (no scorer compared with one then); rescoring
    it with a suite that now has fuzzy must not count it as passed on `contains` alone: the run
    refuses that suite, and the rescore leaves the case unjudged, fuzzy's error."""
    from evalkit.store import open_store

    (tmp_path / "echo_rescore.py").write_text("def answer(question):\n    return 'echo ' + question\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite_yaml = SUITE.replace("python:nowhere:fn", "python:echo_rescore:answer")
    golden = {"id": "a", "input": {"question": "x"}, "expected": "echo x"}
    contains = "  - name: contains\n    args: {value: echo}\n"
    path = make_suite(suite_yaml.format(scorers=contains), [golden, UNANSWERED])
    db = str(tmp_path / "r.duckdb")
    assert cli("run", str(path), "--db", db, "--no-progress").exit_code == 0
    parent = open_store(db).get_run("latest").run_id

    path.write_text(suite_yaml.format(scorers=contains + "  - name: fuzzy\n"))
    assert cli("run", str(path), "--db", str(tmp_path / "x.duckdb"), "--no-progress").exit_code == 2
    result = cli("rescore", parent, "--suite", str(path), "--db", db, "--no-progress")  # as edited
    assert "Cases 2: 1 passed, 0 failed, 1 error ·" in result.stdout, result.stdout
    assert "b [error] fuzzy: could not score (case has no expected output)" in result.stdout
    assert result.exit_code == 3  # 1 of 2 cases could not be judged: no quality verdict
    store = open_store(db)
    verdicts = store.case_results(store.get_run("latest").run_id).set_index("case_id")["verdict"]
    assert verdicts.to_dict() == {"a": "pass", "b": "error"}

    # a failure on another scorer stands under case_pass: all, whatever the comparison would say
    failing = "  - name: contains\n    args: {value: nowhere}\n  - name: fuzzy\n"
    path.write_text(suite_yaml.format(scorers=failing))
    failed = cli("rescore", parent, "--suite", str(path), "--db", db, "--no-progress")
    assert failed.exit_code == 1 and "Cases 2: 0 passed, 2 failed, 0 errors" in failed.stdout
    # their weighted mean alone is no verdict either: the missing score could lift it
    path.write_text(suite_yaml.format(scorers=failing) + "gate: {case_pass: weighted}\n")
    assert cli("rescore", parent, "--suite", str(path), "--db", db, "--no-progress").exit_code == 3
    store = open_store(db)
    assert store.case_results(store.get_run("latest").run_id)["verdict"].tolist()[1] == "error"

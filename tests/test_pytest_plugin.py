"""The pytest plugin, in real pytest sessions (pytester) against the loopback server.

The plugin is registered through the ``pytest11`` entry point, so the inner sessions load it the way
an engineer's ``pytest --evalkit suites/listings`` would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import duckdb  # noqa: F401  (see below)
import pandas  # noqa: F401
import pyarrow  # noqa: F401
import pytest
import scipy.stats  # noqa: F401  (evalkit compare, which the baseline tests run in-process)

from evalkit.store import load_run, open_store
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.conftest import REPO, CliResult, loopback_suite, write_cases

pytest_plugins = ["pytester"]
# pytester removes the modules a test imported first when the test ends; native extensions cannot be
# imported twice in one process, so the ones the assertions read results with are imported up front.

CASES = [
    {"id": "good-1", "input": {"question": "capital of France?"}, "expected": {"answer": "Paris"}},
    {
        "id": "good-2",
        "input": {"question": "capital of Italy?"},
        "expected": {"answer": "Rome"},
        "tags": ["critical"],
    },
    {"id": "bad-1", "input": {"question": "capital of Spain?"}, "expected": {"answer": "Madrid"}},
    {"id": "bad-2", "input": {"question": "capital of Peru?"}, "expected": {"answer": "Lima"}},
]
ANSWERS = {"France": "Paris", "Italy": "Rome", "Spain": "Barcelona", "Peru": "Cusco"}
SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def capitals(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"]
    country = next((c for c in ANSWERS if c in question), None)
    return json.dumps({"answer": ANSWERS[country] if country else "Nowhere"})


@pytest.fixture
def server() -> Iterator[LoopbackOpenAI]:
    with LoopbackOpenAI(responder=capitals) as s:
        yield s


def write_suite(root: Path, base_url: str, cases: list[dict[str, Any]] = CASES, gate: str = "") -> Path:
    """A suite directory under ``root`` (the pytester directory)."""
    suite_dir = root / "loop"
    (suite_dir / "prompts").mkdir(parents=True, exist_ok=True)
    (suite_dir / "prompts" / "v1.j2").write_text(
        "[system]\nAnswer in JSON.\n[user]\n{{ question }}\n", encoding="utf-8"
    )
    write_cases(suite_dir / "cases.jsonl", cases)
    (suite_dir / "suite.yaml").write_text(
        loopback_suite(base_url, scorers=SCORERS, gate=gate), encoding="utf-8"
    )
    return suite_dir


def run_pytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """``pytest --evalkit ...`` in a fresh process, exactly as an engineer runs it.

    (In-process pytester runs drop the modules they imported when they end, which would unload
    evalkit's scorer modules behind its registry's back.)
    """
    return pytester.runpytest_subprocess(
        "--evalkit", "--evalkit-db", str(pytester.path / "r.duckdb"), "-p", "no:cacheprovider", *args
    )


def test_plugin_is_registered_and_imports_nothing_heavy() -> None:
    plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert plugins.get("evalkit") == "evalkit.pytest_plugin"
    heavy = ["litellm", "duckdb", "pandas", "pyarrow", "jinja2", "pydantic", "aiohttp", "evalkit.run.runner"]
    code = f"import sys, evalkit.pytest_plugin, evalkit.testing; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_without_the_flag_suites_are_not_collected(pytester: pytest.Pytester, server: LoopbackOpenAI) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = pytester.runpytest_subprocess(str(suite_dir), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert server.stats.requests == 0 and not (pytester.path / ".evalkit").exists()


def test_one_item_per_case_named_by_its_id(pytester: pytest.Pytester, server: LoopbackOpenAI) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    result = run_pytest(pytester, str(suite_dir), "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [f"loop/suite.yaml::{c['id']}" for c in CASES]
    assert server.stats.requests == 0  # collecting calls nothing


def test_failing_cases_fail_with_their_reasons_and_the_run_is_stored(
    pytester: pytest.Pytester, server: LoopbackOpenAI
) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    result = run_pytest(pytester, str(suite_dir), "-rf")
    result.assert_outcomes(passed=2, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*_ case bad-1 _*",
            "case bad-1 failed, score 0.00 in run loop-*",
            "  json_fields: 0/1 fields ok; answer: 'Barcelona' != 'Madrid'",
            '  output:   {"answer": "Barcelona"}',
            '  expected: {"answer": "Madrid"}',
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert server.stats.requests == 4

    store = open_store(pytester.path / "r.duckdb")
    run = store.get_run("latest")
    assert run.status == "complete" and run.suite_name == "loop"
    assert run.kind == "full"  # every case selected
    assert sorted(load_run(run.run_id, store).outputs["case_id"]) == sorted(c["id"] for c in CASES)
    result.stdout.fnmatch_lines(
        [
            f"run {run.run_id} (loop, prompt v1, openai/loopback) in *: 2 passed, 2 failed, 0 errors; gate FAILED*"
        ]
    )


def test_k_runs_only_the_selected_cases(pytester: pytest.Pytester, server: LoopbackOpenAI) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    result = run_pytest(pytester, str(suite_dir), "-k", "good")
    result.assert_outcomes(passed=2, deselected=2)
    assert result.ret == pytest.ExitCode.OK
    assert server.stats.requests == 2
    tables = load_run("latest", pytester.path / "r.duckdb")
    assert sorted(tables.outputs["case_id"]) == ["good-1", "good-2"]
    assert open_store(pytester.path / "r.duckdb").get_run("latest").kind == "subset"  # kept out of trends

    by_tag = run_pytest(pytester, str(suite_dir), "-k", "critical")  # tags are keywords
    by_tag.assert_outcomes(passed=1, deselected=3)


def test_x_stops_the_run_and_keeps_it_incomplete(pytester: pytest.Pytester) -> None:
    cases = [
        {"id": "first-bad", "input": {"question": "capital of Spain?"}, "expected": {"answer": "Madrid"}}
    ]
    cases += [
        {
            "id": f"more-{i:02d}",
            "input": {"question": f"capital of France? ({i})"},
            "expected": {"answer": "Paris"},
        }
        for i in range(40)
    ]
    with LoopbackOpenAI(responder=capitals, latency=0.2) as server:
        suite_dir = write_suite(pytester.path, server.base_url, cases)
        result = run_pytest(pytester, str(suite_dir), "-x", "--evalkit-concurrency", "2")
        requests = server.stats.requests
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert requests < len(cases)  # the rest of the suite was never called
    run = open_store(pytester.path / "r.duckdb").get_run("latest")
    assert run.status == "incomplete"
    assert 1 <= len(load_run(run.run_id, pytester.path / "r.duckdb").outputs) < len(cases)
    result.stdout.fnmatch_lines(
        [f"run {run.run_id} * stopped early, stored as incomplete with * of 41 cases"]
    )


def test_provider_errors_are_errors_not_failures(pytester: pytest.Pytester) -> None:
    with LoopbackOpenAI(responder=capitals, faults=Faults(error_500=1.0)) as server:
        suite_dir = write_suite(pytester.path, server.base_url, CASES[:2])
        result = run_pytest(pytester, str(suite_dir))
    result.assert_outcomes(errors=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "case good-1 errored (an infrastructure error, not a quality failure) in run loop-*",
            "  error: *500*",
        ]
    )
    assert "Traceback" not in result.stdout.str() and "CaseError" not in result.stdout.str()


def test_quarantined_cases_are_expected_failures(pytester: pytest.Pytester, server: LoopbackOpenAI) -> None:
    suite_dir = write_suite(pytester.path, server.base_url, gate="gate: {quarantine: [bad-1, bad-2]}\n")
    result = run_pytest(pytester, str(suite_dir))
    result.assert_outcomes(passed=2, xfailed=2)
    assert result.ret == pytest.ExitCode.OK


def test_a_broken_suite_is_a_one_line_collection_error(
    pytester: pytest.Pytester, server: LoopbackOpenAI
) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    text = (suite_dir / "suite.yaml").read_text().replace("name: json_fields", "name: json_fieldz")
    (suite_dir / "suite.yaml").write_text(text)
    result = run_pytest(pytester, str(suite_dir))
    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's code for errors during collection
    result.stdout.fnmatch_lines(
        ["evalkit: error: *loop/suite.yaml:*: scorers.0: unknown scorer 'json_fieldz'*"]
    )
    assert server.stats.requests == 0


def test_suites_and_ordinary_tests_run_together(pytester: pytest.Pytester, server: LoopbackOpenAI) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    pytester.makepyfile(
        test_by_hand=f"""
        from evalkit.testing import assert_case

        def test_scored_by_hand():
            assert_case(output='{{"answer": "Paris"}}', expected={{"answer": "Paris"}},
                        scorers=[{{"name": "json_fields", "args": {{"fields": {{"answer": {{"match": "exact"}}}}}}}}])

        def test_run_by_hand():
            assert_case({str(suite_dir)!r}, input={{"question": "capital of Peru?"}}, expected={{"answer": "Lima"}})
        """
    )
    result = run_pytest(pytester, str(suite_dir), "test_by_hand.py")
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        ["*CaseFailure: case * failed, score 0.00", "*json_fields: 0/1 fields ok; answer: 'Cusco' != 'Lima'"]
    )


@pytest.mark.embedded
def test_flagship_subset_on_the_embedded_model(pytester: pytest.Pytester) -> None:
    """`pytest --evalkit suites/listings -k ...` on SmolLM2-135M: one item per case, reasons, exit codes."""
    pytest.importorskip(
        "llama_cpp", reason="the embedded model needs the [local] extra (.ci/setup installs it)"
    )
    flagship = REPO / "suites" / "listings"
    n_cases = sum(1 for line in (REPO / "golden" / "listings.jsonl").read_text().splitlines() if line.strip())
    chosen = ["empty-description-02", "non-english-04"]
    result = run_pytest(
        pytester, str(flagship), "-k", " or ".join(chosen), "--evalkit-concurrency", "1", "-v"
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("deselected") == n_cases - len(chosen)
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(chosen)  # quality verdicts, no errors
    # one line per case; their order is pytest's reporting order, which this test does not fix
    for case_id in chosen:
        result.stdout.fnmatch_lines([f"*suites/listings/suite.yaml::{case_id} *"])
    failed = outcomes.get("failed", 0)
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if failed else pytest.ExitCode.OK)
    # SmolLM2 files this board game under Grocery (deterministic: temperature 0, greedy decoding)
    result.stdout.fnmatch_lines(
        ["case empty-description-02 failed, score *", "  fields: */6 fields ok; category: *"]
    )

    tables = load_run("latest", pytester.path / "r.duckdb")
    assert tables.run["model"][0] == "local/smollm2-135m" and tables.run["status"][0] == "complete"
    assert sorted(tables.outputs["case_id"]) == sorted(chosen)


def test_xdist_workers_are_refused(pytester: pytest.Pytester, server: LoopbackOpenAI) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    # what pytest-xdist sets on a worker's config (xdist itself is not installed here)
    pytester.makeconftest(
        "import pytest\n\n@pytest.hookimpl(tryfirst=True)\ndef pytest_configure(config):\n    config.workerinput = {}\n"
    )
    result = run_pytest(pytester, str(suite_dir))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--evalkit runs cases with evalkit's own concurrency; drop pytest-xdist's -n*"]
    )
    assert server.stats.requests == 0


def test_a_baseline_decides_the_session_as_evalkit_run_does(
    pytester: pytest.Pytester, server: LoopbackOpenAI, cli: Callable[..., CliResult]
) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    db = pytester.path / "r.duckdb"
    run_pytest(pytester, str(suite_dir)).assert_outcomes(passed=2, failed=2)
    base_id = open_store(db).get_run("latest").run_id
    assert cli("baseline", "set", "main", base_id, "--db", str(db)).exit_code == 0

    def evalkit_run(*extra: str) -> int:
        args = ("run", str(suite_dir), "--db", str(db), "--no-progress", "--baseline", "main", *extra)
        return cli(*args).exit_code

    # the same answers: the failing cases are still reported, but nothing regressed
    same = run_pytest(pytester, str(suite_dir), "--evalkit-baseline", "main")
    same.assert_outcomes(passed=2, failed=2)
    assert same.ret == pytest.ExitCode.OK == evalkit_run()
    same.stdout.fnmatch_lines(
        [f"regression gate PASSED against baseline {base_id}: no significant regression * (exit 0)"]
    )
    summary = open_store(db).get_run("latest").summary
    assert summary is not None and summary.baseline is not None and summary.baseline.passed is True

    # the case tagged critical flips to fail
    server.responder = lambda body: capitals(body).replace("Rome", "Milan")
    broken = run_pytest(pytester, str(suite_dir), "--evalkit-baseline", "main", "--evalkit-no-cache")
    broken.assert_outcomes(passed=1, failed=3)
    assert broken.ret == pytest.ExitCode.TESTS_FAILED == evalkit_run("--no-cache")
    broken.stdout.fnmatch_lines(
        [
            f"regression gate FAILED against baseline {base_id}: "
            "*1 case(s) tagged 'critical' flipped to fail: good-2 (exit 1)"
        ]
    )

    # an unknown baseline stops every case before any call
    before = server.stats.requests
    unknown = run_pytest(pytester, str(suite_dir), "--evalkit-baseline", "release-9")
    unknown.assert_outcomes(errors=4)
    assert unknown.ret == pytest.ExitCode.TESTS_FAILED
    unknown.stdout.fnmatch_lines(
        ["*evalkit: error: no baseline 'release-9' of suite * and no run 'release-9'*"]
    )
    assert server.stats.requests == before


def test_a_passing_baseline_does_not_hide_other_failing_tests(
    pytester: pytest.Pytester, server: LoopbackOpenAI, cli: Callable[..., CliResult]
) -> None:
    suite_dir = write_suite(pytester.path, server.base_url)
    db = pytester.path / "r.duckdb"
    run_pytest(pytester, str(suite_dir))
    assert cli("baseline", "set", "main", "latest", "--db", str(db)).exit_code == 0
    pytester.makepyfile(test_plain="def test_broken():\n    assert False\n")
    result = run_pytest(pytester, str(suite_dir), "test_plain.py", "--evalkit-baseline", "main")
    result.assert_outcomes(passed=2, failed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["regression gate PASSED against baseline *"])
    # a module that fails to collect never ran: a green baseline does not make the session pass
    pytester.makepyfile(test_broken_import="import no_such_module_anywhere\n")
    collected = run_pytest(
        pytester,
        str(suite_dir),
        "test_broken_import.py",
        "--evalkit-baseline",
        "main",
        "--continue-on-collection-errors",
    )
    assert collected.ret == pytest.ExitCode.TESTS_FAILED


def test_a_scorer_that_could_not_score_fails_the_session(
    pytester: pytest.Pytester, server: LoopbackOpenAI
) -> None:
    """The cases passed on the scorers that worked, so every test was green and the session exited
    0, while the suite's gate said the run could not be judged (exit 3 from `evalkit run`). (An
    expected text, not the object json_fields compares field by field.)"""
    suite_dir = write_suite(
        pytester.path, server.base_url, cases=[{**c, "expected": "text"} for c in CASES[:2]]
    )
    text = (suite_dir / "suite.yaml").read_text()
    (suite_dir / "suite.yaml").write_text(text.replace(SCORERS, "  - name: json_valid\n" + SCORERS))
    result = run_pytest(pytester, str(suite_dir))
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*gate FAILED: *scorer json_fields could not score 2 of 2 results*"])


def test_a_critical_case_deleted_from_the_suite_fails_the_session(
    pytester: pytest.Pytester, server: LoopbackOpenAI, cli: Callable[..., CliResult]
) -> None:
    """Deleting the critical case used to pass the session without a word (the gate judged only the
    cases both runs hold)."""
    suite_dir = write_suite(pytester.path, server.base_url)
    db = pytester.path / "r.duckdb"
    run_pytest(pytester, str(suite_dir))
    base_id = open_store(db).get_run("latest").run_id
    assert cli("baseline", "set", "main", base_id, "--db", str(db)).exit_code == 0
    write_cases(suite_dir / "cases.jsonl", [c for c in CASES if c["id"] != "good-2"])

    deleted = run_pytest(pytester, str(suite_dir), "--evalkit-baseline", "main")
    deleted.assert_outcomes(passed=1, failed=2)
    assert deleted.ret == pytest.ExitCode.TESTS_FAILED
    deleted.stdout.fnmatch_lines(
        [
            f"regression gate FAILED against baseline {base_id}: 1 case(s) tagged 'critical' in baseline "
            f"{base_id} are missing from this run (deleted or renamed in the suite, so not judged): "
            "good-2 (passed there);*(exit 1)"
        ]
    )
    accepted = run_pytest(
        pytester, str(suite_dir), "--evalkit-baseline", "main", "--evalkit-allow-removed-critical", "good-2"
    )
    assert accepted.ret == pytest.ExitCode.OK
    accepted.stdout.fnmatch_lines(["regression gate PASSED against baseline *accepted with*good-2*"])
    # -k chooses a subset: it cannot tell the deleted case from one it left out, and says so
    chosen = run_pytest(pytester, str(suite_dir), "--evalkit-baseline", "main", "-k", "good-1 or bad-1")
    assert chosen.ret == pytest.ExitCode.OK
    chosen.stdout.fnmatch_lines(["regression gate PASSED against baseline *not checked for removal*"])

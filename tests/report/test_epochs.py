"""Runs with several epochs in the reports: results counted as results, cases judged by their majority."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit.analysis.compare import compare_runs
from evalkit.gate.regression import decide_regression
from evalkit.report.html import write_report
from evalkit.report.markdown import run_markdown
from evalkit.results import GateDecision, RunRecord
from evalkit.store import Store, open_store
from evalkit.suite.spec import GateSpec
from tests.report.test_html import case_data
from tests.runs import Outcome, case_result, run_record

# per case, the verdict of each of three epochs in run A and in run B
A = {
    "steady": "ppp",
    "majority-flip": "ppp",  # B fails 2 of 3 but passes its first epoch: a flip
    "first-epoch-flip": "ppp",  # B fails its first epoch only: no flip
    "first-epoch-fail": "fpp",  # A fails its first epoch only: no flip
    "fixed": "fff",
    "all-errors": "eee",  # A has no verdict: left out of the comparison, not a flip
    "one-error": "epp",  # the errored epoch does not vote: A passes
}
B = {
    "steady": "ppp",
    "majority-flip": "pff",
    "first-epoch-flip": "fpp",
    "first-epoch-fail": "ppp",
    "fixed": "ppp",
    "all-errors": "ppp",
    "one-error": "ppp",
}
VERDICTS = {"p": "pass", "f": "fail", "e": "error"}


def store_epochs(store: Store, run_id: str, prompt: str, cases: dict[str, str], minutes: int) -> RunRecord:
    """A finished run whose cases have one result per letter of their verdicts (one letter, one epoch)."""
    record = run_record(run_id, prompt=prompt, minutes=minutes).model_copy(update={"n_cases": len(cases)})
    store.create_run(record)
    store.add_results(
        run_id,
        [
            case_result(Outcome(case_id=case_id, verdict=VERDICTS[v]), epoch=epoch)
            for case_id, verdicts in cases.items()
            for epoch, v in enumerate(verdicts)
        ],
    )
    repeat = max(len(verdicts) for verdicts in cases.values())
    summary = store.summarize(run_id).model_copy(update={"repeat": repeat})
    store.finish_run(run_id, status="complete", summary=summary)
    return store.get_run(run_id)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, RunRecord, RunRecord, str]:
    root = tmp_path_factory.mktemp("epochs")
    store = open_store(root / "r.duckdb")
    a = store_epochs(store, "run-a", "v1", A, 0)
    b = store_epochs(store, "run-b", "v2", B, 5)
    html = write_report(store, a, b, path=root / "report.html").read_text()
    return store, a, b, html


def test_case_table_flips_are_the_comparisons(runs: tuple[Store, RunRecord, RunRecord, str]) -> None:
    store, a, b, html = runs
    comparison = compare_runs(store, a, b)
    expected = {f.case_id: f.direction for f in comparison.flips}
    assert expected == {"majority-flip": "pass→fail", "fixed": "fail→pass"}
    cases = {c["id"]: c for c in case_data(html)["cases"]}
    assert {case_id: c["flip"] for case_id, c in cases.items() if c["flip"]} == expected
    assert "Flipped cases: 1 pass→fail, 1 fail→pass" in html
    assert '<option value="flipped">flipped (2)</option>' in html
    # each side's verdict is its majority over the epochs, its score the mean
    assert {case_id: [side["v"] for side in c["s"]] for case_id, c in cases.items()} == {
        "steady": ["pass", "pass"],
        "majority-flip": ["pass", "fail"],
        "first-epoch-flip": ["pass", "pass"],
        "first-epoch-fail": ["pass", "pass"],
        "fixed": ["fail", "pass"],
        "all-errors": ["error", "pass"],
        "one-error": ["pass", "pass"],
    }
    assert cases["majority-flip"]["s"][1]["sc"] == pytest.approx(1 / 3, abs=1e-4)
    assert cases["majority-flip"]["why"] == "passed 1 of 3 epochs"
    assert cases["fixed"]["why"] == "passed 0 of 3 epochs; first epoch: exact: answer differs from expected"
    assert (
        cases["all-errors"]["why"]
        == "passed 0 of 3 epochs, 3 errored; first epoch: error: HTTP 503 from provider"
    )
    assert '<option value="failing">failures (3)</option>' in html  # majority-flip, fixed, all-errors
    assert '<option value="errors">errors (1)</option>' in html
    assert "majority verdict over its epochs" in html


def test_runs_table_counts_results_and_cases(runs: tuple[Store, RunRecord, RunRecord, str]) -> None:
    html = runs[3]
    table = html.split('<h2 id="runs">', 1)[1].split("</table>", 1)[0]
    assert "<th>results</th>" in table and "<th>cases</th>" not in table
    assert table.count('<td class="num">21 (7 cases x 3 epochs)</td>') == 2


def test_single_epoch_runs_table_counts_cases(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    a = store_epochs(store, "run-a", "v1", {"one": "p", "two": "f"}, 0)
    html = write_report(store, a, path=tmp_path / "one.html").read_text()
    table = html.split('<h2 id="runs">', 1)[1].split("</table>", 1)[0]
    assert "<th>cases</th>" in table and '<td class="num">2</td>' in table


def test_markdown_summary_counts_results_and_cases(runs: tuple[Store, RunRecord, RunRecord, str]) -> None:
    store, a, b, _ = runs
    assert b.summary is not None
    gated = b.summary.model_copy(update={"gate": GateDecision(passed=True, exit_code=0, reasons=[])})
    counted = "21 results (7 cases x 3 epochs): 18 passed, 3 failed, 0 errors"
    assert re.search(rf"Run `run-b` · {re.escape(counted)} · pass rate", run_markdown(b, gated))
    comparison = compare_runs(store, a, b)
    decision = decide_regression(comparison, GateSpec())
    against = run_markdown(b, b.summary, comparison=comparison, decision=decision)
    assert f") · {counted}." in against
    assert " cases: " not in against
    # the cases the gate left out are named, as the terminal names them
    kept_out = gated.model_copy(update={"flaky": ["one", "two"], "quarantined": ["one", "two"]})
    for text in (
        run_markdown(b, kept_out),
        run_markdown(b, kept_out, comparison=comparison, decision=decision),
    ):
        assert "Epochs 3 · flaky cases 2: one, two" in text
        assert "**Quarantined** (kept out of the gate): one, two" in text


def test_single_epoch_markdown_summary_counts_cases(tmp_path: Path) -> None:
    store = open_store(tmp_path / "r.duckdb")
    run = store_epochs(store, "run-a", "v1", {"one": "p", "two": "f"}, 0)
    assert run.summary is not None
    summary = run.summary.model_copy(update={"gate": GateDecision(passed=False, exit_code=1, reasons=[])})
    assert "Run `run-a` · 2 cases: 1 passed, 1 failed, 0 errors · pass rate 50.0%" in run_markdown(
        run, summary
    )


def test_single_run_case_table_has_majority_verdicts(
    runs: tuple[Store, RunRecord, RunRecord, str], tmp_path: Path
) -> None:
    store, _, b, _ = runs
    html = write_report(store, b, path=tmp_path / "b.html").read_text()
    cases = {c["id"]: c for c in case_data(html)["cases"]}
    assert cases["majority-flip"]["s"][0]["v"] == "fail" and cases["first-epoch-flip"]["s"][0]["v"] == "pass"
    assert '<option value="failing">failures (1)</option>' in html and 'value="flipped"' not in html

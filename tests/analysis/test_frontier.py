"""The model frontier: Pareto marks, the paired test against the best cell, the recommendation."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.analysis.frontier import CellStats, build_frontier, dominates
from evalkit.analysis.frontier_cells import field_slot_counts, group_frontier, micro_f1_interval
from evalkit.store import open_store
from tests.runs import Outcome, run_record, store_run

N = 50


def cell(
    run_id: str, passes: list[bool], cost: float | None, p95: float | None, model: str = "m"
) -> CellStats:
    verdicts = {f"c{i:02d}": ok for i, ok in enumerate(passes)}
    return CellStats(
        run_id=run_id,
        prompt_version="v1",
        model=model,
        scored=len(verdicts),
        passed=sum(passes),
        cost_per_1k=cost,
        p95_ms=p95,
        case_passed=verdicts,
    )


def first(k: int) -> list[bool]:
    """The first k of N cases pass."""
    return [i < k for i in range(N)]


def test_a_dominated_cell_is_not_marked_and_names_who_dominates_it() -> None:
    strong = cell("strong", first(40), cost=1.0, p95=100.0)
    worse_everywhere = cell("weak", first(35), cost=2.0, p95=200.0)
    worse_on_cost_only = cell("pricey", first(40), cost=3.0, p95=100.0)  # equal on two, worse on one
    frontier = build_frontier([strong, worse_everywhere, worse_on_cost_only])
    assert frontier.cell("strong").pareto
    assert not frontier.cell("weak").pareto
    assert frontier.cell("weak").dominated_by == ("strong",)
    assert not frontier.cell("pricey").pareto
    assert frontier.cell("pricey").dominated_by == ("strong",)


def test_identical_points_are_all_on_the_frontier_and_trade_offs_too() -> None:
    a = cell("a", first(40), cost=1.0, p95=100.0)
    twin = cell("twin", first(40), cost=1.0, p95=100.0)
    faster = cell("faster", first(30), cost=1.0, p95=50.0)  # worse quality, better latency: a trade-off
    frontier = build_frontier([a, twin, faster])
    assert [c.pareto for c in frontier.cells] == [True, True, True]
    assert not dominates(a, twin) and not dominates(twin, a)


def test_an_overlapping_cheaper_cell_is_recommended_and_a_clearly_worse_one_is_not() -> None:
    best = cell("best", first(45), cost=10.0, p95=900.0, model="big")
    # 43 of 50 on the same first cases: 2 discordant pairs, McNemar p = 0.5
    close = cell("close", first(43), cost=2.0, p95=400.0, model="mid")
    # 20 of 50, the cheapest and fastest: on the frontier, but clearly worse (p < 1e-6)
    cheap = cell("cheap", first(20), cost=0.5, p95=100.0, model="tiny")
    frontier = build_frontier([best, close, cheap])

    assert frontier.best == "best"
    assert [c.pareto for c in frontier.cells] == [True, True, True]
    assert frontier.cell("close").p_vs_best == pytest.approx(0.5)
    assert frontier.cell("close").not_worse
    assert frontier.cell("close").diff_vs_best == pytest.approx(-0.04)
    assert frontier.cell("cheap").p_vs_best is not None and frontier.cell("cheap").p_vs_best < 1e-6
    assert not frontier.cell("cheap").not_worse
    assert frontier.recommended == "close"
    text = frontier.recommendation()
    assert text.startswith("Cheapest not significantly worse than the best (v1 · big, 90.0%): v1 · mid")
    assert "McNemar exact p = 0.500 on 50 paired cases, alpha 0.05" in text


def test_the_test_is_paired_not_on_the_overall_rates() -> None:
    # `swapped` fails 10 cases the best passes and passes 8 it fails: 18 discordant pairs split
    # 10/8 are no evidence; `lost` fails 12 the best passes and passes none it fails: that is
    best = cell("best", first(40), cost=10.0, p95=900.0)
    swapped = cell("swapped", [10 <= i < 48 for i in range(N)], cost=1.0, p95=900.0)
    lost = cell("lost", [12 <= i < 40 for i in range(N)], cost=0.5, p95=900.0)
    frontier = build_frontier([best, swapped, lost])
    assert frontier.cell("swapped").paired == N
    assert frontier.cell("swapped").not_worse
    assert not frontier.cell("lost").not_worse  # 12 pass→fail, 0 fail→pass: p = 0.00049
    assert frontier.recommended == "swapped"


def test_the_best_is_recommended_when_every_cheaper_cell_is_worse_and_ties_go_to_lower_p95() -> None:
    best = cell("best", first(45), cost=1.0, p95=500.0)
    equal_but_faster = cell("quick", first(45), cost=1.0, p95=300.0)
    worse = cell("worse", first(10), cost=0.1, p95=100.0)
    frontier = build_frontier([best, equal_but_faster, worse])
    assert frontier.best == "quick"  # highest rate; on a tie, the cheaper, then the faster
    assert frontier.recommended == "quick"
    assert frontier.recommendation().endswith("v1 · m itself, at $1.0000 per 1,000 cases.")
    assert not frontier.cell("best").pareto  # `quick` is as good and faster


def test_unknown_cost_or_latency_counts_as_worst_and_is_never_recommended() -> None:
    known = cell("known", first(40), cost=5.0, p95=100.0)
    unknown = cell("unknown", first(40), cost=None, p95=None)
    frontier = build_frontier([known, unknown])
    assert frontier.cell("unknown").dominated_by == ("known",)
    assert frontier.recommended == "known"
    alone = build_frontier([unknown, cell("worse", first(10), cost=1.0, p95=100.0)])
    assert alone.best == "unknown" and alone.recommended is None
    assert alone.recommendation() == (
        "Best: v1 · m (80.0%); no cell not significantly worse than it has a known cost."
    )


def test_micro_f1_and_its_bootstrap_interval() -> None:
    # per case: (right, stated, to find); pooled 6 right of 8 stated and 10 to find: F1 = 12/18
    cases = [(2, 2, 2), (2, 3, 3), (1, 2, 3), (1, 1, 2)]
    f1, low, high = micro_f1_interval(cases, seed=1)
    assert f1 == pytest.approx(12 / 18)
    assert low is not None and high is not None and low < f1 < high
    assert micro_f1_interval(cases, seed=1) == (f1, low, high)  # seeded
    assert micro_f1_interval([]) == (None, None, None)


def test_group_frontier_from_stored_runs(tmp_path: Path) -> None:
    store = open_store(tmp_path / "e.duckdb")
    cells = {
        "big": ([i < 45 for i in range(N)], 0.010, 900.0),
        "mid": ([i < 43 for i in range(N)], 0.002, 400.0),
        "tiny": ([i < 20 for i in range(N)], 0.0005, 100.0),
    }
    runs = []
    for minute, (model, (passes, cost, latency)) in enumerate(cells.items()):
        outcomes = [
            Outcome(
                f"c{i:02d}",
                "pass" if ok else "fail",
                cost_usd=cost,
                latency_ms=latency,
                fields={"answer": ok},
            )
            for i, ok in enumerate(passes)
        ]
        outcomes.append(Outcome("c99", "error"))  # an error is not a quality failure: left out
        record = run_record(f"r-{model}", model=model, group_id="g1", minutes=minute)
        runs.append(store_run(store, record, outcomes))

    frontier = group_frontier(store, runs)
    big, mid = frontier.cell("r-big").stats, frontier.cell("r-mid").stats
    assert (big.scored, big.passed) == (N, 45)
    assert big.pass_low == pytest.approx(0.7864, abs=1e-3) and big.pass_high == pytest.approx(
        0.9565, abs=1e-3
    )
    assert big.cost_per_1k == pytest.approx(1000 * 0.010 * N / (N + 1))  # the errored case cost nothing
    assert big.p95_ms == pytest.approx(900.0)
    assert big.f1 == pytest.approx(2 * 45 / 100)  # 45 right of 50 stated and 50 to find
    assert mid.f1 is not None and mid.f1_low is not None and mid.f1_low < mid.f1
    assert [c.pareto for c in frontier.cells] == [True, True, True]
    assert frontier.best == "r-big"
    assert frontier.recommended == "r-mid"


def test_the_f1_interval_does_not_depend_on_the_order_the_database_returned_rows_in() -> None:
    """PostgreSQL with a linguistic collation sorts `Beta-3` before `alpha_1`; DuckDB does not. The
    bootstrap draws cases by position, so the same slots gave another interval on each store."""
    import pandas as pd

    rows = []
    for i, case_id in enumerate(["Beta-3", "alpha_1", "A9", "_x", "b", "C-2", "a10", "zz"]):
        rows += [{"case_id": case_id, "status": "match" if i % 3 else "mismatch", "slot": None}]
        rows += [{"case_id": case_id, "status": "missing" if i % 2 else "match", "slot": None}]
    frame = pd.DataFrame(rows)
    shuffled = frame.iloc[::-1].reset_index(drop=True)
    assert field_slot_counts(frame) == field_slot_counts(shuffled)
    assert micro_f1_interval(field_slot_counts(frame)) == micro_f1_interval(field_slot_counts(shuffled))


def test_a_cell_that_errored_past_its_gate_is_never_best_nor_recommended() -> None:
    """A pipeline that crashed on the 20 hard cases of 40 is 100% on the rest: it is shown, its
    errors said, but the gate could not judge its run, so it cannot top the group."""
    from dataclasses import replace

    from evalkit.report.frontier import cell_note, frontier_markdown, pass_rate_text

    crashes = replace(cell("crashes", [True] * 20, cost=1.0, p95=10.0), errors=20, max_error_rate=0.1)
    answers = replace(cell("answers", [i < 30 for i in range(40)], cost=2.0, p95=10.0), max_error_rate=0.1)
    frontier = build_frontier([crashes, answers])
    assert frontier.best == frontier.recommended == "answers"
    assert not frontier.cell("crashes").not_worse
    assert cell_note(frontier, "crashes") == "not judged: 20 of 40 cases errored (max_error_rate 10%)"
    assert pass_rate_text(crashes) == "100.0% · 20 errored"
    assert "20 errored" in frontier_markdown(frontier)
    # within its gate's limit (4 of 40), a cell's errors are said and it is judged as before
    few = replace(cell("few", [True] * 36, cost=1.0, p95=10.0), errors=4, max_error_rate=0.1)
    assert build_frontier([few, answers]).best == "few"


def test_a_cell_that_could_not_be_judged_dominates_no_cell_and_is_not_on_the_frontier() -> None:
    """The crashing pipeline's 100% of the easy half, at no cost and 2 ms, was marked ◆ and pushed
    the best and recommended cell off the frontier (printed `·` beside "best, recommended")."""
    from dataclasses import replace

    crashes = replace(cell("crashes", [True] * 10, cost=0.0, p95=2.0), errors=20, max_error_rate=0.1)
    answers = replace(cell("answers", [i < 10 for i in range(30)], cost=3.3, p95=120.0), max_error_rate=0.1)
    running = replace(cell("running", [True] * 5, cost=0.0, p95=1.0), finished=False)
    frontier = build_frontier([crashes, answers, running])
    assert frontier.best == frontier.recommended == "answers"
    assert frontier.cell("answers").pareto and frontier.cell("answers").dominated_by == ()
    assert not frontier.cell("crashes").pareto and not frontier.cell("running").pareto
    assert frontier.cell("crashes").dominated_by == ()  # off the frontier for being unjudged, not dominated
    alone = build_frontier([crashes, running])
    assert alone.best is None and not any(c.pareto for c in alone.cells)


def test_a_cell_whose_stored_gate_could_not_judge_it_is_never_best(tmp_path: Path) -> None:
    """A run whose scorer could not score most results exited 3 with few provider errors: the
    frontier reads the verdict its gate stored rather than re-deriving one from the error rate."""
    from evalkit.report.frontier import cell_note
    from evalkit.results import GateDecision

    store = open_store(tmp_path / "e.duckdb")
    runs = []
    for minute, (model, k) in enumerate({"broken": 50, "sound": 40}.items()):
        outcomes = [Outcome(f"c{i:02d}", "pass" if i < k else "fail") for i in range(N)]
        record = run_record(
            f"r-{model}", model=model, group_id="g1", minutes=minute, gate={"max_error_rate": 0.1}
        )
        runs.append(store_run(store, record, outcomes))
    reason = "scorer 'fields' could not score 30 of 50 results (60%), more than max_error_rate 10%"
    summary = store.summarize("r-broken").model_copy(
        update={"gate": GateDecision(passed=False, exit_code=3, reasons=[reason])}
    )
    store.finish_run("r-broken", status="complete", summary=summary)
    runs[0] = store.get_run("r-broken")
    frontier = group_frontier(store, runs)
    assert frontier.best == frontier.recommended == "r-sound"
    assert cell_note(frontier, "r-broken") == f"not judged (exit 3): {reason}"
    # a run still in progress is not judged either: its pass rate is not its last
    store.finish_run("r-broken", status="running", summary=summary)
    unfinished = group_frontier(store, [store.get_run("r-broken"), runs[1]])
    assert unfinished.best == "r-sound"
    assert cell_note(unfinished, "r-broken") == "not judged: the run has not finished"


def test_a_python_targets_cost_is_unknown_and_it_is_not_recommended_as_the_cheaper_cell(
    tmp_path: Path,
) -> None:
    """A pipeline's own model calls are not seen: its cell read $0.0000 per 1,000 cases and was
    recommended as the cheapest, beside a run table that says `$0.0000 + the target's own calls`."""
    store = open_store(tmp_path / "e.duckdb")
    runs = []
    for minute, (model, cost) in enumerate({"openai/m": 0.002, "python:pipeline:run": 0.0}.items()):
        outcomes = [Outcome(f"c{i:02d}", "pass" if i < 40 else "fail", cost_usd=cost) for i in range(N)]
        runs.append(
            store_run(store, run_record(f"r{minute}", model=model, group_id="g1", minutes=minute), outcomes)
        )
    summary = store.summarize("r1").model_copy(update={"unmetered_target": "python:pipeline:run"})
    store.finish_run("r1", status="complete", summary=summary)
    runs[1] = store.get_run("r1")
    frontier = group_frontier(store, runs)
    assert frontier.cell("r1").stats.cost_per_1k is None
    assert frontier.cell("r0").stats.cost_per_1k == pytest.approx(2.0)
    assert frontier.recommended == "r0"
    # compare A B reads the same cases: no cost per case, so no "better" for the pipeline's $0
    from evalkit.analysis.compare import compare_outcomes
    from evalkit.analysis.outcomes import load_outcomes

    pipeline = load_outcomes(store, runs[1])
    assert {case.cost_usd for case in pipeline.cases.values()} == {None}
    cost = compare_outcomes(load_outcomes(store, runs[0]), pipeline).metric(
        "usage", "usage", "cost per case (USD)"
    )
    assert cost is None or cost.verdict not in ("better", "worse"), cost

"""Paired statistics and verdicts of evalkit.analysis.compare, checked against independent computations."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from evalkit.analysis.compare import compare_outcomes
from evalkit.analysis.outcomes import CaseOutcome, RunOutcomes
from evalkit.analysis.paired_stats import mcnemar_exact, paired_bootstrap
from tests.runs import run_record


def exact_two_sided(b: int, c: int) -> float:
    """McNemar's exact p-value from first principles: twice the smaller binomial tail at p = 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def table(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Paired pass/fail lists with the given 2x2 table (A = rows, B = columns)."""
    a = [True] * both + [True] * a_only + [False] * b_only + [False] * neither
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return a, b


@pytest.mark.parametrize(
    ("both", "a_only", "b_only", "neither"),
    [(10, 1, 9, 5), (30, 0, 0, 15), (0, 3, 3, 0), (50, 12, 2, 8), (5, 25, 10, 0), (100, 0, 7, 3)],
)
def test_mcnemar_exact_matches_binomial_tails(both: int, a_only: int, b_only: int, neither: int) -> None:
    a, b = table(both, a_only, b_only, neither)
    result = mcnemar_exact(a, b)
    assert (result.both_pass, result.a_only, result.b_only, result.both_fail) == (
        both,
        a_only,
        b_only,
        neither,
    )
    assert result.p_value == pytest.approx(exact_two_sided(a_only, b_only), rel=1e-12)
    assert result.rate_b - result.rate_a == pytest.approx((b_only - a_only) / len(a))


def test_mcnemar_textbook_values() -> None:
    # 1 vs 9 discordant pairs: 2 * (1 + 10) / 1024
    assert mcnemar_exact(*table(0, 1, 9, 0)).p_value == pytest.approx(22 / 1024)
    # all discordant pairs one way, 7 of them: 2 / 128
    assert mcnemar_exact(*table(20, 0, 7, 20)).p_value == pytest.approx(2 / 128)
    # concordant pairs never move the p-value
    assert mcnemar_exact(*table(1000, 4, 4, 1000)).p_value == pytest.approx(1.0)


def test_bootstrap_is_seeded_and_reproducible() -> None:
    rng = random.Random(3)
    a = [rng.random() for _ in range(80)]
    b = [x + rng.gauss(0.02, 0.1) for x in a]
    first = paired_bootstrap(a, b, seed=11)
    assert paired_bootstrap(a, b, seed=11) == first
    assert paired_bootstrap(a, b, seed=12) != first
    assert first.low < first.diff < first.high
    assert first.diff == pytest.approx(sum(b) / len(b) - sum(a) / len(a))


def test_bootstrap_ci_covers_the_true_difference_on_synthetic_data() -> None:
    true_diff = -0.05
    rng = random.Random(20240607)
    covered = 0
    trials = 200
    for trial in range(trials):
        a = [rng.gauss(0.7, 0.15) for _ in range(150)]
        b = [x + true_diff + rng.gauss(0.0, 0.1) for x in a]
        ci = paired_bootstrap(a, b, seed=trial, resamples=1000)
        covered += ci.low <= true_diff <= ci.high
    # a 95% interval should cover the truth in about 95% of samples (binomial sd ~1.5%)
    assert 0.90 <= covered / trials <= 0.99
    # and on one large sample it is tight around the truth and excludes "no difference"
    a = [rng.gauss(0.7, 0.15) for _ in range(2000)]
    b = [x + true_diff + rng.gauss(0.0, 0.1) for x in a]
    ci = paired_bootstrap(a, b, seed=1)
    assert ci.low <= true_diff <= ci.high and ci.high < 0 and ci.high - ci.low < 0.02


def test_bootstrap_with_identical_differences_is_a_point() -> None:
    ci = paired_bootstrap([0.5, 0.25, 1.0], [0.5, 0.25, 1.0])
    assert (ci.low, ci.diff, ci.high) == (0.0, 0.0, 0.0) and not ci.excludes_zero


def outcomes(run_id: str, rows: list[dict[str, Any]]) -> RunOutcomes:
    cases = {}
    for row in rows:
        outcome = CaseOutcome(**row)
        cases[outcome.case_id] = outcome
    return RunOutcomes(run=run_record(run_id), cases=cases)


def case(case_id: str, passed: bool | None, score: float | None = None, **extra: Any) -> dict[str, Any]:
    score = (1.0 if passed else 0.0) if score is None and passed is not None else score
    return {"case_id": case_id, "passed": passed, "score": score, **extra}


def test_compare_pairs_cases_and_leaves_out_errors_and_unpaired() -> None:
    a = outcomes(
        "a",
        [case(f"c{i}", True, output=f"A{i}") for i in range(30)] + [case("err", True), case("only-a", True)],
    )
    b = outcomes(
        "b",
        [case(f"c{i}", i >= 12, output=f"B{i}", tags=("critical",) if i == 0 else ()) for i in range(30)]
        + [case("err", None), case("only-b", False)],
    )
    result = compare_outcomes(a, b, alpha=0.05, min_effect=0.02, seed=5)
    head = result.headline
    assert (result.paired, result.errored, result.only_a, result.only_b) == (30, 1, 1, 1)
    assert head.a == 1.0 and head.b == pytest.approx(18 / 30)
    assert head.p_value == pytest.approx(exact_two_sided(12, 0))
    assert head.verdict == "worse"
    assert head.ci is not None and head.ci.high < 0
    assert len(result.regressions) == 12 and not result.improvements
    flip = next(f for f in result.flips if f.case_id == "c0")
    assert (flip.output_a, flip.output_b, flip.tags) == ("A0", "B0", ["critical"])


def test_small_or_insignificant_changes_are_no_significant_difference() -> None:
    a = outcomes("a", [case(f"c{i}", i % 2 == 0) for i in range(40)])
    # two cases move each way: the pass rate is unchanged
    b = outcomes("b", [case(f"c{i}", (i % 2 == 0) != (i < 4)) for i in range(40)])
    result = compare_outcomes(a, b)
    assert result.headline.verdict == "no significant difference"
    assert result.headline.p_value == pytest.approx(1.0)
    assert len(result.flips) == 4
    # a significant but tiny change is held back by min_effect
    many_a = outcomes("a", [case(f"c{i}", i >= 10) for i in range(2000)])
    many_b = outcomes("b", [case(f"c{i}", True) for i in range(2000)])
    assert compare_outcomes(many_a, many_b).headline.verdict == "better"
    assert compare_outcomes(many_a, many_b, min_effect=0.01).headline.verdict == "no significant difference"


def test_per_scorer_field_and_usage_metrics() -> None:
    a_rows, b_rows = [], []
    for i in range(50):
        a_rows.append(
            case(
                f"c{i}",
                True,
                scorers={"schema": (True, 1.0), "fields": (True, 0.9)},
                fields={"fields:title": True, "fields:price": True},
                cost_usd=0.001,
                tokens=100,
                latency_ms=200.0 + i,
            )
        )
        b_rows.append(
            case(
                f"c{i}",
                i >= 20,
                scorers={"schema": (True, 1.0), "fields": (i >= 20, 0.9 if i >= 20 else 0.4)},
                fields={"fields:title": True, "fields:price": i >= 20},
                cost_usd=0.002,
                tokens=100,
                latency_ms=100.0 + i,
            )
        )
    result = compare_outcomes(outcomes("a", a_rows), outcomes("b", b_rows), min_effect=0.02)
    assert result.metric("scorer", "schema", "pass rate").verdict == "no significant difference"  # type: ignore[union-attr]
    fields_score = result.metric("scorer", "fields", "mean score")
    assert fields_score is not None and fields_score.verdict == "worse"
    assert fields_score.diff == pytest.approx(-0.5 * 20 / 50)
    assert result.metric("field", "fields:price", "accuracy").verdict == "worse"  # type: ignore[union-attr]
    assert result.metric("field", "fields:title", "accuracy").verdict == "no significant difference"  # type: ignore[union-attr]
    cost = result.metric("usage", "usage", "cost per case (USD)")
    latency = result.metric("usage", "usage", "latency per case (ms)")
    tokens = result.metric("usage", "usage", "tokens per case")
    assert cost is not None and cost.verdict == "worse" and not cost.higher_is_better
    assert latency is not None and latency.verdict == "better" and latency.diff == pytest.approx(-100.0)
    assert tokens is not None and tokens.verdict == "no significant difference"


def test_epochs_a_flip_shows_an_epoch_with_the_cases_verdict_and_the_rule_is_said(tmp_path: Any) -> None:
    """With --repeat 3, case c0 of run A fails epochs 1 and 2 and passes epoch 0; of run B it passes
    all three. A's majority is fail: the flip must show A's failing output and its reason, not
    epoch 0's passing one (identical outputs on both sides, with no reason)."""
    from evalkit.analysis.compare import compare_runs
    from evalkit.analysis.outcomes import load_outcomes
    from evalkit.store import open_store
    from tests.runs import Outcome, case_result

    store = open_store(tmp_path / "r.duckdb")
    verdicts = {"a": ["pass", "fail", "fail"], "b": ["pass", "pass", "pass"]}
    runs = {}
    for name, per_epoch in verdicts.items():
        record = run_record(name, minutes=len(runs)).model_copy(update={"config": {"run": {"repeat": 3}}})
        store.create_run(record)
        results = [
            case_result(Outcome("c0", v, output=f'{{"qty": {epoch}}}'), epoch)
            for epoch, v in enumerate(per_epoch)
        ]
        results += [case_result(Outcome(f"ok{i}", "pass"), e) for i in range(3) for e in range(3)]
        store.add_results(name, results)
        store.finish_run(name, status="complete", summary=store.summarize(name))
        runs[name] = store.get_run(name)
    shown = load_outcomes(store, runs["a"]).cases["c0"]
    assert shown.passed is False and shown.output == '{"qty": 1}'
    assert shown.reasons == ("exact: answer differs from expected",)
    result = compare_runs(store, runs["a"], runs["b"])
    (flip,) = result.flips
    assert (flip.output_a, flip.output_b) == ('{"qty": 1}', '{"qty": 0}')
    assert result.epochs_note is not None and "majority of its 3 epochs" in result.epochs_note

"""Honest comparisons: Holm-adjusted p-values, significant usage verdicts, and runs scored differently."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from evalkit.analysis.compare import Comparison, compare_outcomes
from evalkit.analysis.multiplicity import holm, signed_rank_p
from evalkit.analysis.outcomes import CaseOutcome, RunOutcomes
from evalkit.cli.compare import print_comparison
from tests.runs import run_record

N_FIELDS = 51


def test_holm_matches_hand_computed_values() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def noisy_run(run_id: str, rng: random.Random, accuracy: list[float], n_cases: int = 300) -> RunOutcomes:
    """A run whose field i is right with probability accuracy[i], case by case, independently."""
    cases = {}
    for c in range(n_cases):
        fields = {f"fields:attr{i:02d}": rng.random() < p for i, p in enumerate(accuracy)}
        passed = all(fields.values())
        cases[f"c{c}"] = CaseOutcome(
            case_id=f"c{c}",
            passed=passed,
            score=sum(fields.values()) / len(fields),
            scorers={"fields": (passed, sum(fields.values()) / len(fields))},
            fields=fields,
            latency_ms=100 + rng.gauss(0, 5),
            cost_usd=0.001,
        )
    return RunOutcomes(run=run_record(run_id), cases=cases)


def flagged(comparison: Comparison) -> list[str]:
    return [m.label for m in comparison.metrics if m.verdict in ("better", "worse") and m.kind != "cases"]


def test_signed_rank_p_is_exact_for_a_few_changed_pairs_among_many_unchanged() -> None:
    """8 cases each 0.5 lower, 32 unchanged: an exact test of the 8 changed pairs gives at least
    2/2^8; the normal approximation SciPy uses when handed the zeros gave 0.0047."""
    a = [1.0] * 40
    b = [0.5] * 8 + [1.0] * 32
    assert signed_rank_p(a, b) == pytest.approx(2 / 2**8)
    assert signed_rank_p(a, b) == signed_rank_p(a[:8], b[:8])  # the unchanged pairs change nothing
    assert signed_rank_p(a, a) == 1.0


def test_two_runs_of_the_same_noise_process_flag_no_field_in_19_of_20_trials() -> None:
    rng = random.Random(15)
    accuracy = [rng.uniform(0.55, 0.97) for _ in range(N_FIELDS)]
    clean = raw_flags = 0
    for _ in range(20):
        comparison = compare_outcomes(
            noisy_run("a", rng, accuracy), noisy_run("b", rng, accuracy), resamples=400
        )
        clean += not flagged(comparison)
        raw_flags += any(
            m.p_value is not None and m.p_value < 0.05 for m in comparison.metrics if m.kind == "field"
        )
        field_ps = [m for m in comparison.metrics if m.kind == "field"]
        assert len(field_ps) == N_FIELDS and all(m.p_adjusted is not None for m in field_ps)
        assert all(m.p_adjusted >= m.p_value for m in field_ps if m.p_adjusted and m.p_value)  # type: ignore[operator]
    assert clean >= 19
    assert raw_flags >= 10  # unadjusted, the same data flag some field in most trials (19 of 20 here)


def test_a_real_field_change_survives_the_adjustment() -> None:
    rng = random.Random(4)
    accuracy = [0.8] * N_FIELDS
    better = list(accuracy)
    better[7] = 0.98
    comparison = compare_outcomes(noisy_run("a", rng, accuracy), noisy_run("b", rng, better), resamples=400)
    verdicts = {m.name: m.verdict for m in comparison.metrics if m.kind == "field"}
    assert verdicts["fields:attr07"] == "better"
    assert sum(v != "no significant difference" for v in verdicts.values()) == 1


def shifted(run: RunOutcomes, run_id: str, latency_shift: float) -> RunOutcomes:
    cases = {
        k: replace(c, latency_ms=(c.latency_ms or 0) + latency_shift, cost_usd=c.cost_usd)
        for k, c in run.cases.items()
    }
    return RunOutcomes(run=run_record(run_id), cases=cases)


def test_latency_verdicts_need_significance_and_a_visible_difference() -> None:
    base = noisy_run("a", random.Random(1), [0.9] * 3)
    tiny = compare_outcomes(base, shifted(base, "b", -0.2), resamples=400)
    latency = next(m for m in tiny.metrics if m.metric.startswith("latency"))
    assert latency.p_value is not None and latency.p_value < 1e-6  # every case 0.2 ms faster
    assert latency.verdict == "no significant difference"  # but "+0 ms, better" is not a finding
    faster = compare_outcomes(base, shifted(base, "b", -20), resamples=400)
    assert next(m for m in faster.metrics if m.metric.startswith("latency")).verdict == "better"
    noise = compare_outcomes(base, noisy_run("b", random.Random(2), [0.9] * 3), resamples=400)
    assert next(m for m in noise.metrics if m.metric.startswith("latency")).verdict == (
        "no significant difference"
    )


def with_scorers(run: RunOutcomes, run_id: str, scorers: list[dict[str, object]]) -> RunOutcomes:
    record = run_record(run_id)
    record = record.model_copy(update={"config": {**record.config, "scorers": scorers}})
    return RunOutcomes(run=record, cases=run.cases)


def test_rescored_under_a_relaxed_scorer_is_not_called_better(capsys: pytest.CaptureFixture[str]) -> None:
    strict = [{"name": "json_fields", "id": "fields", "args": {"default": {"threshold": 0.9}}, "weight": 1}]
    relaxed = [{"name": "json_fields", "id": "fields", "args": {"default": {"threshold": 0.5}}, "weight": 1}]
    a = with_scorers(noisy_run("a", random.Random(3), [0.6] * 4), "a", strict)
    b_outcomes = noisy_run("b", random.Random(3), [0.95] * 4)  # the same outputs scored more leniently
    b = with_scorers(b_outcomes, "b", relaxed)
    refused = compare_outcomes(a, b, resamples=400)
    assert not refused.comparable
    assert refused.headline.verdict == "not comparable"
    assert all(m.verdict in ("not comparable", "n/a") for m in refused.metrics if m.kind != "usage")
    assert "scorer 'fields': args.default.threshold 0.9 -> 0.5" in refused.warnings[0]
    print_comparison(refused)
    shown = capsys.readouterr().out
    assert "WARNING: the runs were scored differently" in shown and "--allow-scoring-change" in shown
    asked = compare_outcomes(a, b, resamples=400, allow_scoring_change=True)
    assert asked.headline.verdict == "better" and asked.warnings  # still stated plainly
    same = compare_outcomes(a, with_scorers(b_outcomes, "b", strict), resamples=400)
    assert same.comparable and not same.warnings


def test_changed_expected_outputs_make_scores_incomparable() -> None:
    a = noisy_run("a", random.Random(5), [0.9] * 2, n_cases=20)
    cases = dict(a.cases)
    cases["c3"] = replace(cases["c3"], expected_json='{"brand": "Sony"}')
    b = RunOutcomes(run=run_record("b"), cases=cases)
    comparison = compare_outcomes(a, b, resamples=200)
    assert not comparison.comparable
    assert any("1 paired case(s) have a different expected output" in w for w in comparison.warnings)


def test_regression_gate_output_states_a_scoring_change(capsys: pytest.CaptureFixture[str]) -> None:
    from evalkit.cli.compare import print_decision
    from evalkit.gate.regression import decide_regression
    from evalkit.suite.spec import GateSpec

    relaxed = [{"name": "exact", "id": "answer", "args": {"case_sensitive": False}}]
    a = with_scorers(noisy_run("a", random.Random(8), [0.9] * 2, n_cases=40), "a", [{"name": "exact"}])
    b = with_scorers(noisy_run("b", random.Random(9), [0.9] * 2, n_cases=40), "b", relaxed)
    comparison = compare_outcomes(a, b, resamples=200)
    print_decision(comparison, decide_regression(comparison, GateSpec()))
    shown = capsys.readouterr().out
    assert "WARNING: the runs were scored differently: scorer 'answer' only in B" in shown

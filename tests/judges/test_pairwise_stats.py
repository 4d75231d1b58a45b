"""Win rate, sign test, position bias and calibration figures against hand-computed examples."""

from __future__ import annotations

import math

import pytest

from evalkit.judges.pairwise_stats import order_calibration, sign_test, wilson_interval, win_rate

Z95 = 1.959963984540054


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    denominator = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denominator
    return centre - half, centre + half


def test_win_rate_of_a_small_comparison() -> None:
    stats = win_rate(
        ["b", "b", "b", "a", "tie", None],
        consistent=[True, True, False, True, False, None],
        first_slot_answers=[1, 1, 2, 1, 2, 0],
        ids=["c1", "c2", "c3", "c4", "c5", "c6"],
    )
    assert (stats.n, stats.wins, stats.losses, stats.ties, stats.errors) == (5, 3, 1, 1, 1)
    assert stats.win_rate == pytest.approx(0.75)
    assert (stats.ci_low, stats.ci_high) == pytest.approx(wilson_by_hand(3, 4))
    assert stats.win_rate_ties_half == pytest.approx(3.5 / 5)
    # two-sided binomial, 3 wins of 4 decisive: P(X >= 3) + P(X <= 1) = (4 + 1 + 4 + 1) / 16
    assert stats.sign_test_p == pytest.approx(10 / 16)
    assert stats.position_agreement == pytest.approx(3 / 5)
    assert stats.inconsistent == ["c3", "c5"]
    assert stats.first_slot_share == pytest.approx(7 / 10)  # 7 of the 10 answers of judged items


def test_sign_test_and_wilson_by_hand() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(10, 0) == pytest.approx(2 / 2**10)
    assert sign_test(6, 2) == pytest.approx(2 * (1 + 8 + 28) / 256)
    assert wilson_interval(9, 10) == pytest.approx(wilson_by_hand(9, 10))
    with pytest.raises(ValueError):
        wilson_interval(0, 0)


def test_all_ties_have_no_win_rate() -> None:
    stats = win_rate(["tie"] * 4, consistent=[False] * 4, first_slot_answers=[2] * 4)
    assert stats.win_rate is None and stats.ci_low is None and stats.sign_test_p == 1.0
    assert stats.position_agreement == 0.0 and stats.first_slot_share == 1.0


def test_order_calibration_by_hand() -> None:
    gold = ["1", "1", "2", "2", "1"]
    first = ["1", "1", "1", "2", "2"]  # output 1 shown first
    second = ["1", "2", "2", "2", None]  # output 2 shown first; the last item got no verdict
    combined = ["1", "2", "2", "2", None]
    c = order_calibration(gold, first, second, combined)
    assert (c.n_items, c.n_errors) == (5, 1)
    assert c.accuracy_first_order == pytest.approx(3 / 5)
    assert c.accuracy_second_order == pytest.approx(3 / 5)
    assert c.mean_accuracy == pytest.approx(3 / 5)
    assert c.combined_accuracy == pytest.approx(3 / 5)
    assert c.position_agreement == pytest.approx(2 / 5)  # items 0 and 3
    assert c.both_correct == pytest.approx(2 / 5)
    # kappa on the 4 judged items: gold 1,1,2,2 vs 1,2,2,2: p_o = 3/4, p_e = (2*1 + 2*3)/16 = 1/2
    assert c.kappa == pytest.approx((0.75 - 0.5) / 0.5)
    # first slot: "1" with output 1 first (3 items) + "2" with output 2 first (3 items), of 9 answers
    assert c.first_slot_share == pytest.approx(6 / 9)
    assert c.combined_counts == {"1": 1, "2": 3, "error": 1}


def test_a_first_slot_judge_calibrates_at_half_per_order_and_zero_agreement() -> None:
    gold = ["1", "2", "1", "2"]
    c = order_calibration(gold, ["1"] * 4, ["2"] * 4, ["tie"] * 4)
    assert c.accuracy_first_order == 0.5 and c.accuracy_second_order == 0.5
    assert c.position_agreement == 0.0 and c.both_correct == 0.0 and c.combined_accuracy == 0.0
    assert c.first_slot_share == 1.0
    assert c.kappa == pytest.approx(0.0)  # the judge's one label agrees only by chance
    with pytest.raises(ValueError):
        order_calibration(gold, ["1"], ["2"], ["tie"])

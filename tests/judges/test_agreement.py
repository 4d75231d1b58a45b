"""Agreement statistics against figures worked out by hand."""

from __future__ import annotations

import pytest

from evalkit.judges.agreement import (
    cohen_kappa,
    confusion_matrix,
    expected_calibration_error,
    observed_agreement,
    recall,
    reliability_table,
)


def test_kappa_hand_computed_two_labels() -> None:
    # 10 items: both say yes 4, both no 3, A yes/B no 2, A no/B yes 1.
    a = ["y"] * 4 + ["n"] * 3 + ["y"] * 2 + ["n"]
    b = ["y"] * 4 + ["n"] * 3 + ["n"] * 2 + ["y"]
    # p_o = 7/10; A says y 6/10, B says y 5/10 -> p_e = .6*.5 + .4*.5 = .5; kappa = (.7-.5)/.5 = .4
    assert observed_agreement(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_hand_computed_three_labels_with_ties() -> None:
    human = ["A", "A", "A", "B", "B", "B", "tie", "tie"]
    judge = ["A", "A", "B", "B", "B", "A", "tie", "B"]
    # p_o = 5/8; human A3 B3 T2, judge A3 B4 T1 -> p_e = (9 + 12 + 2)/64 = 23/64
    p_e = 23 / 64
    assert cohen_kappa(human, judge) == pytest.approx((5 / 8 - p_e) / (1 - p_e))


def test_kappa_perfect_chance_and_undefined() -> None:
    assert cohen_kappa(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    # agreement exactly at chance: p_o = .5, p_e = .5
    assert cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == pytest.approx(0.0)
    assert cohen_kappa(["a", "a"], ["a", "a"]) is None  # p_e = 1: undefined
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_confusion_matrix_and_rates() -> None:
    ref = ["pass", "pass", "pass", "fail", "fail"]
    pred = ["pass", "fail", "pass", "fail", "pass"]
    cm = confusion_matrix(ref, pred, labels=["pass", "fail"])
    assert cm.counts == [[2, 1], [1, 1]]
    assert cm.count("fail", "pass") == 1
    assert cm.total == 5
    assert recall(ref, pred, "pass") == pytest.approx(2 / 3)  # TPR
    assert recall(ref, pred, "fail") == pytest.approx(1 / 2)  # TNR
    assert recall(ref, pred, "tie") is None
    with pytest.raises(ValueError):
        confusion_matrix(["x"], ["y"], labels=["x"])


def test_ece_hand_computed() -> None:
    # bins of width 0.5: (0,.5] holds .2 .4 (1 of 2 correct), (.5,1] holds .6 .8 1.0 (2 of 3 correct)
    conf = [0.2, 0.4, 0.6, 0.8, 1.0]
    ok = [False, True, True, False, True]
    table = reliability_table(conf, ok, bins=2)
    assert [b.count for b in table] == [2, 3]
    assert table[0].mean_confidence == pytest.approx(0.3)
    assert table[0].accuracy == pytest.approx(0.5)
    assert table[1].mean_confidence == pytest.approx(0.8)
    assert table[1].accuracy == pytest.approx(2 / 3)
    # ECE = 2/5 * |.5 - .3| + 3/5 * |.6667 - .8| = .08 + .08 = .16
    assert expected_calibration_error(conf, ok, bins=2) == pytest.approx(0.16)


def test_ece_edges() -> None:
    assert expected_calibration_error([], []) is None
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    # zero confidence lands in the first bin; 0.1 exactly is the upper edge of the first of ten bins
    table = reliability_table([0.0, 0.1, 0.1000001], [False, False, True], bins=10)
    assert [b.count for b in table[:2]] == [2, 1]
    with pytest.raises(ValueError):
        reliability_table([1.5], [True])

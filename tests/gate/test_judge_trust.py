"""`evalkit calibrate`'s verdict on a judge: trusted, usable or refused, with the thresholds applied."""

from __future__ import annotations

import pytest

from evalkit.errors import UsageError
from evalkit.gate.judge_trust import TrustBar, TrustFigures, TrustThresholds, judge_trust
from evalkit.judges.calibration import JudgeVerdict, build_report
from evalkit.judges.labelled import LabelledItem, LabelledSet


def test_gpt4_on_llmbar_natural_is_trusted_and_chatgpt_on_adversarial_is_refused() -> None:
    # LLMBar paper figures: GPT-4 vanilla on Natural 93.5% accuracy, 97% positional agreement
    gpt4 = judge_trust(
        TrustFigures(accuracy=0.935, accuracy_name="mean accuracy over orders", agreement=0.97, kappa=0.87)
    )
    assert gpt4.verdict == "trusted"
    assert gpt4.line() == (
        "verdict: trusted (mean accuracy over orders 93.5% >= 85%; positional agreement 97% >= 90%; kappa 0.87 >= 0.60)"
    )
    # ChatGPT vanilla on Adversarial is below a coin flip
    chatgpt = judge_trust(TrustFigures(accuracy=0.27, agreement=0.8, kappa=-0.4))
    assert chatgpt.verdict == "refused" and "below chance (50%)" in chatgpt.line()


def test_one_order_can_be_usable_never_trusted() -> None:
    one_order = TrustFigures(accuracy=0.95, kappa=0.9)  # positional agreement not measured
    decision = judge_trust(one_order)
    assert decision.verdict == "usable"
    assert "positional agreement not measured" in decision.line()
    assert judge_trust(TrustFigures(accuracy=0.70, kappa=0.2)).verdict == "refused"  # kappa < 0.30
    assert judge_trust(TrustFigures(accuracy=None)).verdict == "refused"


def test_a_graded_judge_has_no_orders_and_can_be_trusted() -> None:
    # positional agreement is a pairwise judge's figure: a pass/fail judge is trusted on the others
    graded = judge_trust(TrustFigures(accuracy=1.0, kappa=1.0, agreement_applies=False))
    assert graded.verdict == "trusted"
    assert graded.line() == "verdict: trusted (accuracy 100% >= 85%; kappa 1.00 >= 0.60)"
    assert judge_trust(TrustFigures(accuracy=0.75, kappa=0.5, agreement_applies=False)).verdict == "usable"


def test_a_graded_calibration_report_says_its_figures_have_no_orders() -> None:
    items = [
        LabelledItem(id=f"i{n}", request="q", output="x", label=label)
        for n, label in enumerate(["pass", "fail"] * 4)
    ]
    labelled = LabelledSet(name="d", mode="graded", items=items)
    report = build_report(
        labelled, {i.id: JudgeVerdict(label=i.label) for i in items}, judge_model="m", rubric_hash="h"
    )
    assert report.trust_figures().agreement_applies is False
    assert judge_trust(report.trust_figures()).verdict == "trusted"


def test_thresholds_are_overridable_and_checked() -> None:
    figures = TrustFigures(accuracy=0.80, agreement=0.92, kappa=0.62)
    assert judge_trust(figures).verdict == "usable"
    lenient = TrustThresholds(trusted=TrustThresholds().trusted.override("accuracy=0.8", "--trusted-at"))
    assert lenient.trusted == TrustBar(accuracy=0.8, agreement=0.90, kappa=0.60)
    assert judge_trust(figures, lenient).verdict == "trusted"
    for bad in ("accuracy", "precision=0.9", "accuracy=1.5", "kappa=x"):
        with pytest.raises(UsageError, match="--trusted-at"):
            TrustThresholds().trusted.override(bad, "--trusted-at")


def test_kappa_shows_its_unanswered_items_and_too_many_refuse_the_judge() -> None:
    items = [
        LabelledItem(id=f"i{n}", request="q", output="x", label=label)
        for n, label in enumerate(["pass", "fail"] * 100)
    ]
    labelled = LabelledSet(name="d", mode="graded", items=items)

    def verdict(unanswered: int) -> str:
        answers = {i.id: JudgeVerdict(label=i.label) for i in items[unanswered:]}
        report = build_report(labelled, answers, judge_model="m", rubric_hash="h")
        return judge_trust(report.trust_figures()).line()

    assert verdict(0) == "verdict: trusted (accuracy 100% >= 85%; kappa 1.00 >= 0.60)"
    assert verdict(6) == (
        "verdict: trusted (accuracy 97% >= 85%; kappa 1.00 (on 194 of 200 labelled items; 6 unanswered) >= 0.60)"
    )
    # 90% right counting the 20 unanswered as wrong, and kappa 1.00 on the other 180: not a kappa to trust
    assert verdict(20) == (
        "verdict: refused (kappa 1.00 on 180 of 200 labelled items; 20 unanswered (10%, more than the 5% "
        "of the labelled items a kappa may leave out), usable needs >= 0.30)"
    )


def test_a_share_just_past_the_limit_does_not_read_as_the_limit() -> None:
    from evalkit.gate.judge_trust import too_many_unanswered

    assert (
        too_many_unanswered(199, 210) == "5.2%, more than the 5% of the labelled items a kappa may leave out"
    )
    assert too_many_unanswered(190, 200) is None  # exactly 5%


def test_a_figure_short_of_a_bar_never_reads_as_the_bar() -> None:
    """849 of 999 right is 84.98%: printed at one decimal it was "accuracy 85% < 85% trusted"."""
    from evalkit.gate.judges import JudgeRequirement, check_requirements

    figures = TrustFigures(
        accuracy=849 / 999, kappa=0.5996, agreement_applies=False, n_items=999, n_judged=999
    )
    assert (
        judge_trust(figures).line()
        == "verdict: usable (accuracy 84.98% < 85% trusted; kappa 0.5996 < 0.60 trusted)"
    )
    both = TrustFigures(accuracy=0.95, agreement=0.89995, kappa=0.9, n_items=999, n_judged=999)
    assert judge_trust(both).line() == "verdict: usable (positional agreement 89.995% < 90% trusted)"
    # a figure clear of the bar keeps its usual precision
    clear = TrustFigures(accuracy=0.698, kappa=0.493, agreement_applies=False, n_items=999, n_judged=999)
    assert (
        judge_trust(clear).line()
        == "verdict: usable (accuracy 69.8% < 85% trusted; kappa 0.49 < 0.60 trusted)"
    )
    # and so does the gate's min_kappa
    req = JudgeRequirement(scorer="s", judge_model="m", rubric_hash="h", min_kappa=0.6)
    (check,) = check_requirements([req], {("m", "h"): {"kappa": 0.5996, "n_items": 999, "n_judged": 999}})
    assert check.status == "below"
    assert "at kappa 0.5996 on all 999 labelled items, below min_kappa 0.60" in check.message

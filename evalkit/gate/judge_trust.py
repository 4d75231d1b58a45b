"""Whether a calibrated judge may be trusted: ``verdict: trusted|usable|refused`` of ``evalkit calibrate``.

A calibration is judged on three figures against two bars (each a minimum per figure):

- **accuracy**: for a pairwise judge shown both orders, the mean of the two orders' accuracies (what
  LLMBar and MT-Bench report); otherwise the share of items judged right, judge errors counted wrong;
- **positional agreement**: the share of pairs whose two orders named the same winner (pairwise
  judges shown both orders; not measured otherwise);
- **Cohen's kappa** of the judge's decision against the human labels, on the items the judge
  answered (an item it abstained on, errored on or gave no verdict for is left out of kappa, and
  counted wrong in accuracy). Every kappa is shown with what it rests on (``kappa 0.71 on 180 of 200
  labelled items; 20 unanswered``), and one that leaves more than ``MAX_UNANSWERED`` (5%) of the
  labelled items unanswered meets no kappa minimum: not the bars here, not a scorer's ``min_kappa``.

``trusted`` meets every minimum of the trusted bar; ``usable`` every minimum of the usable bar;
anything else, or accuracy below chance (50%: a coin), is ``refused``. A figure that was not
measured cannot meet a bar that asks for it, except positional agreement at the usable level: a
pairwise judge shown one order can be usable, never trusted. A graded (pass/fail) judge has no
orders: positional agreement does not apply to it. The defaults put GPT-4 on LLMBar Natural (93%
accuracy, 97% positional agreement) at trusted and ChatGPT on LLMBar Adversarial (below chance) at
refused; ``--trusted-at``/``--usable-at`` override them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from evalkit.errors import UsageError

TrustVerdict = Literal["trusted", "usable", "refused"]
CHANCE = 0.5
# The share of labelled items a kappa may leave unanswered and still count against a minimum: past
# it, the items the judge answered are no longer the set its kappa is claimed for.
MAX_UNANSWERED = 0.05
_FIGURES = {"accuracy": "accuracy", "agreement": "positional agreement", "kappa": "kappa"}


class TrustBar(BaseModel):
    """Minimums of one level; None asks nothing of that figure."""

    accuracy: float | None = None
    agreement: float | None = None  # positional agreement
    kappa: float | None = None

    def describe(self) -> str:
        return ", ".join(
            f"{_FIGURES[k]} >= {_show(k, v)}" for k, v in self.model_dump().items() if v is not None
        )

    def override(self, text: str | None, flag: str) -> TrustBar:
        """This bar with ``accuracy=0.9,agreement=0.95,kappa=0.7`` (any of them) applied."""
        if not text:
            return self
        values = self.model_dump()
        for part in text.split(","):
            key, sep, raw = part.partition("=")
            key = key.strip()
            try:
                number = float(raw)
            except ValueError:
                number = float("nan")  # fails the range check below
            low = -1.0 if key == "kappa" else 0.0
            if not sep or key not in _FIGURES or not low <= number <= 1.0:
                raise UsageError(
                    f"{flag}: expected FIGURE=NUMBER with FIGURE one of accuracy, agreement, kappa "
                    f"(accuracy and agreement in 0..1, kappa in -1..1), got {part!r}"
                )
            values[key] = number
        return TrustBar(**values)


def kappa_basis(n_judged: int | None, n_items: int | None) -> str:
    """What a kappa rests on: ``on 180 of 200 labelled items; 20 unanswered`` ("" when not known)."""
    if n_judged is None or n_items is None:
        return ""
    if n_judged >= n_items:
        return f"on all {n_items} labelled items"
    return f"on {n_judged} of {n_items} labelled items; {n_items - n_judged} unanswered"


def too_many_unanswered(n_judged: int | None, n_items: int | None) -> str | None:
    """Why a kappa cannot meet a minimum (more than MAX_UNANSWERED of its items unanswered), or None."""
    if n_judged is None or n_items is None or n_items <= 0:
        return None
    share = (n_items - n_judged) / n_items
    if share <= MAX_UNANSWERED:
        return None
    shown = f"{share * 100:.1f}".rstrip("0").rstrip(".")  # 11 of 210 is 5.2%, not a "5%" over 5%
    return f"{shown}%, more than the {MAX_UNANSWERED:.0%} of the labelled items a kappa may leave out"


def show_kappa(
    kappa: float | None, n_judged: int | None, n_items: int | None, *, below: float | None = None
) -> str:
    """``kappa 0.71 on 180 of 200 labelled items; 20 unanswered`` (``kappa undefined ...`` when it is).

    With ``below`` (a minimum it is compared with), a kappa under it is never shown as equal to it."""
    basis = kappa_basis(n_judged, n_items)
    if kappa is None:
        shown = "undefined"
    else:
        shown = short_of(kappa, below, 2) if below is not None else f"{kappa:.2f}"
    return f"kappa {shown} {basis}" if basis else f"kappa {shown}"


def short_of(value: float, minimum: float, digits: int, *, percent: bool = False) -> str:
    """``value`` with ``digits`` decimals, or as many more as it takes not to read as the ``minimum``
    it falls short of: an accuracy of 849/999 against 85% is 84.98%, not "85% < 85%"."""

    def show(number: float, places: int) -> str:
        return f"{number:.{places}%}" if percent else f"{number:.{places}f}"

    places = digits
    while value < minimum and show(value, places) == show(minimum, places) and places < digits + 6:
        places += 1
    return show(value, places)


class TrustThresholds(BaseModel):
    """The two bars (defaults documented in docs/judge.md)."""

    trusted: TrustBar = TrustBar(accuracy=0.85, agreement=0.90, kappa=0.60)
    usable: TrustBar = TrustBar(accuracy=0.65, agreement=0.75, kappa=0.30)

    def describe(self) -> str:
        return f"trusted at {self.trusted.describe()}; usable at {self.usable.describe()}"


class TrustFigures(BaseModel):
    """What a calibration measured (None: not measured, or undefined)."""

    accuracy: float | None
    accuracy_name: str = "accuracy"  # what the accuracy is, as printed
    agreement: float | None = None
    kappa: float | None = None  # on the items the judge answered
    agreement_applies: bool = True  # False for a graded (pass/fail) judge: no pairs, no orders
    n_items: int | None = None  # labelled items (None: not known)
    n_judged: int | None = None  # of them, the ones the judge answered (what kappa rests on)


class TrustDecision(BaseModel):
    """The verdict on a judge, the figures it rests on and the thresholds applied."""

    verdict: TrustVerdict
    figures: TrustFigures
    thresholds: TrustThresholds
    reasons: list[str]

    def line(self) -> str:
        """``verdict: usable (accuracy 69.8% < 85% trusted; positional agreement not measured)``."""
        return f"verdict: {self.verdict} ({'; '.join(self.reasons)})"


def judge_trust(figures: TrustFigures, thresholds: TrustThresholds | None = None) -> TrustDecision:
    """Decide trusted / usable / refused (see the module docstring). Pure."""
    thresholds = thresholds or TrustThresholds()
    if figures.accuracy is None:
        return TrustDecision(
            verdict="refused", figures=figures, thresholds=thresholds, reasons=["no item was judged"]
        )
    if figures.accuracy < CHANCE:
        reason = f"{figures.accuracy_name} {figures.accuracy:.1%} is below chance ({CHANCE:.0%})"
        return TrustDecision(verdict="refused", figures=figures, thresholds=thresholds, reasons=[reason])
    trusted = _shortfalls(figures, thresholds.trusted, "trusted", unmeasured_ok=False)
    if not trusted:
        return TrustDecision(
            verdict="trusted",
            figures=figures,
            thresholds=thresholds,
            reasons=_met(figures, thresholds.trusted),
        )
    usable = _shortfalls(figures, thresholds.usable, "usable", unmeasured_ok=True)
    if not usable:
        return TrustDecision(verdict="usable", figures=figures, thresholds=thresholds, reasons=trusted)
    return TrustDecision(verdict="refused", figures=figures, thresholds=thresholds, reasons=usable)


def _value(figures: TrustFigures, key: str) -> float | None:
    value: float | None = getattr(figures, key)
    return value


def _name(figures: TrustFigures, key: str) -> str:
    return figures.accuracy_name if key == "accuracy" else _FIGURES[key]


def _shortfalls(figures: TrustFigures, bar: TrustBar, level: str, *, unmeasured_ok: bool) -> list[str]:
    out = []
    for key, minimum in bar.model_dump().items():
        if minimum is None or (key == "agreement" and not figures.agreement_applies):
            continue
        value = _value(figures, key)
        unanswered = too_many_unanswered(figures.n_judged, figures.n_items) if key == "kappa" else None
        if unanswered is not None:
            shown = show_kappa(value, figures.n_judged, figures.n_items)
            out.append(f"{shown} ({unanswered}), {level} needs >= {_show(key, minimum)}")
        elif value is None:
            if key == "agreement" and unmeasured_ok:
                continue
            what = "not measured (judge each pair in both orders)" if key == "agreement" else "undefined"
            out.append(f"{_name(figures, key)} {what}, {level} needs >= {_show(key, minimum)}")
        elif value < minimum:
            out.append(f"{_shown(figures, key, minimum)} < {_show(key, minimum)} {level}")
    return out


def _shown(figures: TrustFigures, key: str, short_of_bar: float | None = None) -> str:
    """A figure as the verdict line names it; kappa with the unanswered items it leaves out, if any.

    ``short_of_bar``: the minimum it misses, which it must not be shown as equal to."""
    shown = f"{_name(figures, key)} {_show(key, _value(figures, key), short_of_bar)}"
    n_items, n_judged = figures.n_items, figures.n_judged
    if key == "kappa" and n_items is not None and n_judged is not None and n_judged < n_items:
        shown += f" ({kappa_basis(n_judged, n_items)})"
    return shown


def _met(figures: TrustFigures, bar: TrustBar) -> list[str]:
    return [
        f"{_shown(figures, key)} >= {_show(key, minimum)}"
        for key, minimum in bar.model_dump().items()
        if minimum is not None and (key != "agreement" or figures.agreement_applies)
    ]


def _show(key: str, value: float | None, short_of_bar: float | None = None) -> str:
    if value is None:
        return "n/a"
    bar = value if short_of_bar is None else short_of_bar
    if key == "kappa":
        return short_of(value, bar, 2)
    return short_of(value, bar, 1, percent=True).replace(".0%", "%")

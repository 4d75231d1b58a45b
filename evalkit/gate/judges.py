"""What the gate makes of a suite's judges: each ``llm_judge`` scorer against its current calibrations.

The calibration itself (agreement with human labels, kappa, the trust verdict) is measured by
:mod:`evalkit.judges.calibration` and stored, one current calibration per labelled set (dataset);
here a scorer's ``min_kappa`` and ``calibration: warn|fail`` are checked against every one of them:
the weakest kappa counts, and a judge ``evalkit calibrate`` refused on any set is below its bar. A
kappa is measured on the items the judge answered; one that left more than
:data:`evalkit.gate.judge_trust.MAX_UNANSWERED` of its labelled items unanswered does not reach
``min_kappa`` whatever its value, and every message says what the kappa rests on (``kappa 0.71 on
180 of 200 labelled items; 20 unanswered``). :func:`evalkit.gate.suite.apply_judge_checks` folds
the checks into the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from evalkit.gate.judge_trust import show_kappa, too_many_unanswered


class JudgeRequirement(BaseModel):
    """What a suite's judge scorer asks of one of its judge models."""

    scorer: str
    judge_model: str
    rubric_hash: str
    min_kappa: float | None
    on_failure: Literal["warn", "fail"] = "warn"
    # the same model and rubric calibrated as a pairwise judge shown both orders (keyed by its prompt hash)
    also_hashes: list[str] = []

    @property
    def keys(self) -> list[tuple[str, str]]:
        """Every (judge model, hash) a calibration of this judge and rubric may be stored under."""
        return [(self.judge_model, h) for h in [self.rubric_hash, *self.also_hashes]]


class JudgeCheck(BaseModel):
    """A judge requirement against the latest stored calibration."""

    requirement: JudgeRequirement
    kappa: float | None = None  # the weakest of its current calibrations
    n_items: int | None = None  # labelled items of that calibration
    n_judged: int | None = None  # of them, the ones the judge answered (what the kappa rests on)
    calibrated: bool = False
    calibration_id: str | None = None  # the calibration the kappa comes from
    datasets: list[str] = []  # the labelled sets it is calibrated on
    refused_on: list[str] = []  # sets on which `evalkit calibrate` refused the judge
    status: Literal["ok", "uncalibrated", "below", "unchecked"] = "unchecked"

    @property
    def message(self) -> str:
        r = self.requirement
        who = f"judge {r.judge_model!r} of scorer {r.scorer!r} (rubric {r.rubric_hash})"
        if self.status == "uncalibrated":
            return (
                f"{who} has no calibration against human labels; run `evalkit calibrate` before trusting it"
            )
        on = f" (calibrated on {', '.join(self.datasets)})" if self.datasets else ""
        if self.status == "below" and self.refused_on:
            return f"{who} was refused by `evalkit calibrate` on {', '.join(self.refused_on)}"
        kappa = show_kappa(self.kappa, self.n_judged, self.n_items, below=r.min_kappa)
        if self.status == "below":
            floor = f"{r.min_kappa:.2f}" if r.min_kappa is not None else "-"
            unanswered = too_many_unanswered(self.n_judged, self.n_items)
            if unanswered is not None:
                return f"{who} agrees with humans at {kappa} ({unanswered}), so below min_kappa {floor}{on}"
            return f"{who} agrees with humans at {kappa}, below min_kappa {floor}{on}"
        return f"{who}: {kappa}"


def judge_requirements(scorers: Sequence[Mapping[str, Any]]) -> list[JudgeRequirement]:
    """The judge requirements of a suite's scorer specs (as in ``SuiteFile.scorers`` or a run's config)."""
    out = []
    for spec in scorers:
        if spec.get("name") == "pairwise_judge":
            out += _pairwise_requirement(spec)
            continue
        if spec.get("name") != "llm_judge":
            continue
        # the judges' modules only for a suite that has one (a run of the others never loads them)
        from evalkit.judges.graded import rubric_hash
        from evalkit.judges.pairwise import PairwiseJudge

        args = spec.get("args") or {}
        rubric = args.get("rubric")
        if not isinstance(rubric, str):
            continue
        models = args.get("model")
        for model in [models] if isinstance(models, str) else list(models or []):
            out.append(
                JudgeRequirement(
                    scorer=spec.get("id") or "llm_judge",
                    judge_model=model,
                    rubric_hash=rubric_hash(rubric),
                    min_kappa=args.get("min_kappa"),
                    on_failure=args.get("calibration", "warn"),
                    also_hashes=[
                        PairwiseJudge(model=model, rubric=rubric, verdict=method).prompt_hash
                        for method in ("logprobs", "text")
                    ],
                )
            )
    return out


def _pairwise_requirement(spec: Mapping[str, Any]) -> list[JudgeRequirement]:
    """A ``pairwise_judge`` scorer's judge, keyed as `evalkit calibrate --orders both` stores it."""
    from evalkit.judges.pairwise import DEFAULT_PAIRWISE_RUBRIC, PairwiseJudge

    args = spec.get("args") or {}
    model = args.get("model")
    if not isinstance(model, str):
        return []
    rubric = args.get("rubric") if isinstance(args.get("rubric"), str) else DEFAULT_PAIRWISE_RUBRIC
    judge = PairwiseJudge(model=model, rubric=rubric, verdict=args.get("verdict", "auto"))
    return [
        JudgeRequirement(
            scorer=spec.get("id") or "pairwise_judge",
            judge_model=model,
            rubric_hash=judge.prompt_hash,
            min_kappa=args.get("min_kappa"),
            on_failure=args.get("calibration", "warn"),
        )
    ]


def check_requirements(
    requirements: Sequence[JudgeRequirement],
    calibrations: Mapping[tuple[str, str], Mapping[str, Any] | Sequence[Mapping[str, Any]]],
) -> list[JudgeCheck]:
    """Each requirement against the current calibrations of its (judge model, rubric hash). Pure.

    A key maps to one calibration or to one per dataset. No calibration at all is ``uncalibrated``;
    the weakest kappa under ``min_kappa`` (or undefined, or resting on too few answered items: see
    :func:`evalkit.gate.judge_trust.too_many_unanswered`), or a ``refused`` trust verdict on any
    dataset, is ``below``.
    """
    checks = []
    for req in requirements:
        found: list[Mapping[str, Any]] = []
        for key in req.keys:
            value = calibrations.get(key)
            found += [value] if isinstance(value, Mapping) else list(value or [])
        if not found:
            checks.append(JudgeCheck(requirement=req, status="uncalibrated"))
            continue
        weakest = min(found, key=calibration_weakness)
        kappa = weakest.get("kappa")
        refused = [str(c.get("dataset")) for c in found if c.get("trust") == "refused"]
        unanswered = too_many_unanswered(weakest.get("n_judged"), weakest.get("n_items")) is not None
        below = bool(refused) or (
            req.min_kappa is not None and (kappa is None or kappa < req.min_kappa or unanswered)
        )
        checks.append(
            JudgeCheck(
                requirement=req,
                kappa=kappa,
                n_items=weakest.get("n_items"),
                n_judged=weakest.get("n_judged"),
                calibrated=True,
                calibration_id=weakest.get("calibration_id"),
                datasets=list(dict.fromkeys(str(c.get("dataset")) for c in found if c.get("dataset"))),
                refused_on=refused,
                status="below" if below else "ok",
            )
        )
    return checks


def calibration_weakness(calibration: Mapping[str, Any]) -> float:
    """Sort key of the weakest calibration: too many items unanswered first, then the lowest kappa."""
    if too_many_unanswered(calibration.get("n_judged"), calibration.get("n_items")) is not None:
        return -3.0
    kappa = calibration.get("kappa")
    return -2.0 if kappa is None else float(kappa)


def judge_checks(scorers: Sequence[Mapping[str, Any]], store: Any) -> list[JudgeCheck]:
    """Check a suite's judge scorers (their specs as dicts) against the calibrations in ``store``."""
    requirements = judge_requirements(scorers)
    if not requirements:
        return []
    from evalkit.store.calibrations import current_calibrations

    calibrations = current_calibrations(store, [key for r in requirements for key in r.keys])
    return check_requirements(requirements, calibrations)

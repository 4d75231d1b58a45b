"""Whether one finished run (a run, a matrix cell, a merged run) passes: its own gate, or its baseline.

A run's suite gate (:mod:`evalkit.gate.suite`) decides on its own. Gated on a baseline, the
comparison with that baseline (:mod:`evalkit.gate.regression`, and the pairwise criterion of
:mod:`evalkit.gate.pairwise` when the suite sets ``gate.pairwise``) replaces the absolute pass rate,
except for a run that could not be judged. :class:`RunVerdict` holds both; the console, the markdown
summary and the exit code of ``evalkit run``, ``evalkit merge``, :func:`evalkit.run_suite` and
``pytest --evalkit`` are all rendered from it. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalkit.errors import ExitCode
from evalkit.gate.suite import GateDecision
from evalkit.results import RunRecord, exit_code_with_baseline
from evalkit.suite.spec import GateSpec

# the comparison's modules are imported when a run has a baseline (~0.1 s otherwise spent by every run)
if TYPE_CHECKING:
    from evalkit.analysis.compare import Comparison
    from evalkit.analysis.pairwise_runs import PairwiseComparison
    from evalkit.gate.regression import RegressionDecision
    from evalkit.store import Store


@dataclass
class BaselineCheck:
    """A run compared with its baseline: the comparison, the decision, the pairwise judging if any.

    ``decision`` already holds the pairwise criterion's verdict (its reasons prefixed ``pairwise:``);
    it is what the run's stored summary keeps as ``baseline``.
    """

    baseline: RunRecord
    comparison: Comparison
    decision: RegressionDecision
    pairwise: PairwiseComparison | None = None


@dataclass
class RunVerdict:
    """Whether a run passes: its suite gate's decision and, gated on a baseline, the baseline check."""

    run: RunRecord
    gate: GateDecision
    baseline: BaselineCheck | None = None

    @property
    def exit_code(self) -> int:
        """The suite gate's code, or the baseline decision's for a run that could be judged."""
        if self.baseline is None:
            return int(self.gate.exit_code)
        return exit_code_with_baseline(self.gate, self.baseline.decision.exit_code)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    @property
    def baseline_applied(self) -> bool:
        """Whether the baseline comparison decided (a run that could not be judged keeps its own code)."""
        return self.baseline is not None and int(self.gate.exit_code) in (ExitCode.OK, ExitCode.GATE_FAILED)

    @property
    def headline(self) -> str:
        """What the exit code means, in a few words: the one phrase every rendering uses."""
        code = self.exit_code
        if code == ExitCode.INFRASTRUCTURE:
            if self.baseline_applied:  # the run itself was fine: its comparison could not decide
                return "could not be judged against its baseline"
            if any(reason.startswith("scorer ") for reason in self.gate.reasons):
                return "could not be judged: a scorer could not score"
            return "could not be judged: too many provider errors"
        if code == ExitCode.INCOMPLETE:
            return "incomplete: stopped by its budget"
        if code not in (ExitCode.OK, ExitCode.GATE_FAILED):
            return "stopped"
        if self.baseline_applied:
            if self.gate.judge_failures:
                return "a judge the suite requires calibrated is not"
            if code == ExitCode.OK:
                return "no significant regression"
            if self.baseline is not None and self.baseline.decision.failed_on_removed_critical_only:
                return "critical cases removed"
            new_only = self.baseline is not None and self.baseline.decision.failed_on_new_cases_only
            return "new cases below the gate" if new_only else "regression"
        return "gate passed" if code == ExitCode.OK else "gate failed"

    @property
    def reasons(self) -> list[str]:
        """Why the run exits as it does: the deciding gate's reasons (and why a baseline did not decide)."""
        if self.baseline is None:
            return list(self.gate.reasons)
        if self.baseline_applied:  # the judges the comparison leans on are checked all the same
            return [*self.baseline.decision.reasons, *self.gate.judge_failures]
        return [
            *self.gate.reasons,
            f"the comparison with baseline {self.baseline.decision.baseline_run_id} does not decide a run "
            f"that could not be judged (it said: {'; '.join(self.baseline.decision.reasons)})",
        ]


def worst_exit_code(verdicts: Sequence[RunVerdict]) -> int:
    """The exit code of several runs (a matrix, merged cells): the worst one's."""
    return max(verdict.exit_code for verdict in verdicts)


def resolve_baseline(store: Store, suite_name: str, ref: str | RunRecord) -> RunRecord:
    """The baseline run ``ref`` names: a run record as is, else a baseline name of the suite, a run id
    or a unique prefix. Meant to be called before anything runs, so a bad name costs no call."""
    from evalkit.store.baselines import BaselineStore

    if isinstance(ref, RunRecord):
        return ref
    return BaselineStore(store).resolve(suite_name, ref)


def check_baseline(
    store: Store,
    gate: GateSpec,
    baseline: RunRecord,
    run: RunRecord,
    *,
    base_dir: Path | None = None,
    allow_scoring_change: bool = False,
    allow_removed_critical: Collection[str] = (),
) -> BaselineCheck:
    """Compare a finished run with its baseline, apply the regression gate (and ``gate.pairwise``, judged
    with calls relative to ``base_dir``), and record the decision in the run's stored summary.
    ``allow_removed_critical``: ids of critical cases the baseline holds that were deleted on purpose."""
    from evalkit.gate.pairwise import fold_into_regression, judge_against_baseline
    from evalkit.gate.regression import check_against_baseline
    from evalkit.store.baselines import BaselineStore

    comparison, decision = check_against_baseline(
        store,
        baseline,
        run,
        gate,
        allow_scoring_change=allow_scoring_change,
        allow_removed_critical=allow_removed_critical,
    )
    pairwise = None
    if gate.pairwise is not None:
        pairwise = judge_against_baseline(store, gate.pairwise, baseline, store.get_run(run.run_id), base_dir)
        if pairwise is not None and pairwise.gate is not None:
            decision = fold_into_regression(decision, pairwise.gate)
    BaselineStore(store).record_check(run.run_id, decision.model_dump(mode="json"))
    return BaselineCheck(baseline=baseline, comparison=comparison, decision=decision, pairwise=pairwise)


def gate_on_baseline(
    store: Store,
    gate: GateSpec,
    run: RunRecord,
    decision: GateDecision,
    baseline: RunRecord | None,
    *,
    base_dir: Path | None = None,
    allow_removed_critical: Collection[str] = (),
) -> RunVerdict:
    """The verdict of a finished run with its suite gate's ``decision``: checked against ``baseline``
    when there is one (see :func:`check_baseline`)."""
    if baseline is None:
        return RunVerdict(run=run, gate=decision)
    check = check_baseline(
        store, gate, baseline, run, base_dir=base_dir, allow_removed_critical=allow_removed_critical
    )
    return RunVerdict(run=run, gate=decision, baseline=check)

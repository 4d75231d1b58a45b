"""A prompts x models matrix: every combination runs over the same cases, one run per cell, grouped.

The cells share the response cache and a group id (``evalkit compare GROUP`` compares them). Each
cell is gated like a single run (on a baseline, when given); the matrix fails with its worst cell's
exit code. The cells are recorded with the group before the first one runs, so a matrix stopped
part-way (a signal, an error) is known to be incomplete. ``evalkit run`` with several
``--prompt``/``--model`` values is a thin shell around :func:`run_matrix`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from evalkit.errors import ConfigError, ExitCode, UsageError
from evalkit.gate.cells import resolve_baseline, worst_exit_code
from evalkit.results import RunRecord
from evalkit.run.budget import require_capped_gate, require_priced
from evalkit.run.evaluate import prepare_target
from evalkit.run.runner import (
    ResultCallback,
    RunOptions,
    RunOutcome,
    StartCallback,
    gate_outcome,
    new_run_id,
    run_suite,
)
from evalkit.store import Store
from evalkit.store.groups import GroupCell, record_group_cells
from evalkit.suite.loading import Suite

CellCallback = Callable[[RunOutcome], None]


@dataclass
class MatrixOutcome:
    """The runs of a matrix (one, for a plain run), in the order they ran."""

    cells: list[RunOutcome]
    group_id: str | None  # None for a single run

    @property
    def exit_code(self) -> int:
        """The worst cell's exit code."""
        return worst_exit_code([cell.verdict for cell in self.cells])


def matrix_cells(
    suite: Suite, options: RunOptions, prompts: Sequence[str], models: Sequence[str]
) -> list[RunOptions]:
    """The options of each cell (models outer, prompts inner); several cells share a new group id.

    No prompt (or model) means the suite's, or ``options``'s. ``resume`` finishes one run, so it
    cannot be combined with several cells.
    """
    cell_prompts: list[str | None] = list(prompts) or [options.prompt]
    cell_models: list[str | None] = list(models) or [options.model]
    pairs = [(p, m) for m in cell_models for p in cell_prompts]
    if options.resume and len(pairs) > 1:
        raise UsageError(
            "--resume continues one run; it cannot be combined with several --prompt/--model values"
        )
    group = new_run_id(f"{suite.name}-matrix") if len(pairs) > 1 else None
    return [replace(options, prompt=p, model=m, group_id=group) for p, m in pairs]


def unused_target_problem(suite: Suite, cells: Sequence[RunOptions]) -> ConfigError | None:
    """What is wrong with the file of the suite's own ``http:`` target when no cell runs it (each
    cell's ``--model`` replaces it): those runs never read it, so it does not stop them, but it is
    worth a warning. None when a cell runs that target (that cell refuses it, see
    :func:`prepare_target`)."""
    model = suite.config.target.model
    if any(c.resume or (c.model or model) == model for c in cells):
        return None
    from evalkit.providers.http_target import http_spec_problem

    return http_spec_problem(model, suite.base_dir)


def run_matrix(
    suite: Suite,
    store: Store,
    cells: Sequence[RunOptions],
    *,
    baseline: RunRecord | str | None = None,
    on_start: StartCallback | None = None,
    on_result: ResultCallback | None = None,
    on_cell: CellCallback | None = None,
    allow_scoring_change: bool = False,
    allow_removed_critical: Sequence[str] = (),
) -> MatrixOutcome:
    """Run each cell (see :func:`matrix_cells`) and gate it on ``baseline`` when given.

    The baseline is resolved before anything runs. ``on_start``/``on_result`` are those of
    :func:`evalkit.run.runner.run_suite` for each cell; ``on_cell`` sees each cell's outcome as soon
    as it ran, before it is compared with the baseline (that happens once every cell ran).
    """
    reference = resolve_baseline(store, suite.name, baseline) if baseline is not None else None
    if reference is not None:  # recorded with each run: the command that runs it again gates the same way
        gate = {
            "baseline_run": reference.run_id,
            "allow_scoring_change": allow_scoring_change,
            "allow_removed_critical": list(allow_removed_critical),
        }
        cells = [replace(options, baseline_gate=gate) for options in cells]
    # every cell's target and models, before the first cell spends (a resume: its run's)
    planned = []
    for options in cells:
        if reference is not None:  # its pairwise judge's calls come after the runs: refused before them
            require_capped_gate(suite.config.gate, options.budget_usd)
        if not options.resume:
            target = prepare_target(suite, options.model, options.prompt, options.timeout)
            if options.budget_usd is not None:
                require_priced(target.model, [s.spec for s in suite.scorers])
            planned.append(GroupCell(target.prompt.name if target.prompt else None, target.model))
    group_id = cells[0].group_id if cells else None
    if group_id is not None:  # a matrix stopped part-way can then say which cells never started
        record_group_cells(store, group_id, planned)
    # one --budget caps the whole matrix: each cell gets what the cells before it left, and once the
    # budget stops a cell the others are not started (the group then says so, as after a signal)
    budget = cells[0].budget_usd if group_id is not None else None
    outcomes: list[RunOutcome] = []
    for options in cells:
        if budget is not None:
            if outcomes and outcomes[-1].exit_code == ExitCode.INCOMPLETE:
                break
            spent = sum(outcome.summary.cost_usd for outcome in outcomes)
            options = replace(options, budget_usd=max(0.0, budget - spent))
        outcome = run_suite(suite, store, options, on_result=on_result, on_start=on_start)
        if on_cell is not None:
            on_cell(outcome)
        outcomes.append(outcome)
    gated = [
        gate_outcome(
            suite,
            store,
            outcome,
            reference,
            allow_scoring_change=allow_scoring_change,
            allow_removed_critical=allow_removed_critical,
        )
        for outcome in outcomes
    ]
    return MatrixOutcome(cells=gated, group_id=group_id)

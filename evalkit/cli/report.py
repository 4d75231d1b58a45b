"""``evalkit report``: a self-contained HTML report of a run, or of two runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from evalkit.cli.app import app
from evalkit.cli.options import BootstrapSeedOption, DbOption


@app.command()
def report(
    run: str = typer.Argument(
        "latest",
        metavar="RUN",
        help="Run id, unique prefix, 'latest' or baseline name. Or a run group (a prompts x models "
        "matrix): its model frontier page.",
    ),
    compare: str | None = typer.Option(
        None,
        "--compare",
        help="A second run, shown side by side and compared with RUN, either named as `evalkit compare "
        "RUN RUN2` names them (RUN is the reference A; a baseline name is one of the other run's suite).",
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output file (default: reports/<run>[-vs-<run2>].html, reports/<group>.html).",
    ),
    seed: BootstrapSeedOption = 0,
    db: DbOption = None,
) -> None:
    """Write one self-contained HTML file (charts inline, no external assets): summary, charts, a case
    table filterable to failures with word-level diffs, judge explanations and the prompt versions.

    For a run group: the model frontier (pass rate with its 95% interval, cost per 1,000 cases, p95
    latency, the Pareto cells, the cheapest cell not significantly worse than the best) and its chart;
    none for a group whose matrix was stopped before each of its cells started (exit 4)."""
    from evalkit.cli.console import out as console
    from evalkit.errors import UsageError
    from evalkit.report.html import write_report
    from evalkit.store import open_store
    from evalkit.store.baselines import BaselineStore

    store = open_store(db, must_exist=True)
    names = BaselineStore(store)  # runs named as `evalkit compare` names them
    other = None
    try:
        if compare:
            record, other = names.run_pair(run, compare)
        else:
            record = names.run_named(run)
    except UsageError:
        group = _group_runs(store, run)
        if group is None or compare is not None:
            raise
        _write_group_report(store, group, out, seed)
        return
    if other is not None and other.run_id == record.run_id:
        raise UsageError(f"--compare names the same run {record.run_id}")
    try:
        path = write_report(store, record, other, path=out, seed=seed)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report: {exc.strerror or exc}", path=out or exc.filename
        ) from None
    console.print(f"report written to {path}")


def _group_runs(store: Any, ref: str) -> list[Any] | None:
    """The runs of group ``ref``, or None when it names no group (the run's error is then the one
    shown); a prefix of several groups is that error."""
    from evalkit.store.groups import NoSuchGroup, group_runs

    if ref == "latest":
        return None
    try:
        return group_runs(store, ref)
    except NoSuchGroup:
        return None


def _write_group_report(store: Any, runs: list[Any], out: Path | None, seed: int) -> None:
    from evalkit.analysis.frontier_cells import gate_alpha, group_frontier
    from evalkit.cli.console import out as console
    from evalkit.errors import UsageError
    from evalkit.report.frontier import write_group_report
    from evalkit.run.signals import incomplete_group
    from evalkit.store.groups import IncompleteGroup

    group_id = runs[0].group_id
    if incomplete := incomplete_group(store, group_id, runs):  # its page is a frontier: no best of a part
        raise IncompleteGroup(
            f"{incomplete}; no frontier page is written (`evalkit compare {group_id}` compares the cells that ran)"
        )
    frontier = group_frontier(store, runs, alpha=gate_alpha(runs[0]), seed=seed)
    try:
        path = write_group_report(frontier, group_id=group_id, suite=runs[0].suite_name, path=out)
    except OSError as exc:
        raise UsageError(
            f"cannot write the report: {exc.strerror or exc}", path=out or exc.filename
        ) from None
    console.print(f"report of group {group_id} written to {path}")

"""Reading stored results: ``evalkit runs``, ``evalkit show`` and ``evalkit schema``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DbOption, RunArgument, StoredSuiteArgument

if TYPE_CHECKING:
    pass


@app.command()
def runs(
    suite: str | None = typer.Option(None, "--suite", "-s", help="Only runs of this suite (by name)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    db: DbOption = None,
) -> None:
    """List stored runs, newest first."""
    from rich.table import Table

    from evalkit.cli.console import out, pct
    from evalkit.report.formatting import cases_cell, gate_outcome
    from evalkit.store import open_store

    records = open_store(db, must_exist=True).list_runs(suite=suite, limit=limit)
    table = Table(box=None, show_edge=False, pad_edge=False)
    columns = (
        "run",
        "suite",
        "prompt",
        "model",
        "kind",
        "started (UTC)",
        "status",
        "cases",
        "pass rate",
        "gate",
    )
    for col in columns:
        table.add_column(col)
    for r in records:
        summary = r.settled_summary  # none for a run in progress: not the figures of its stopped part
        code = summary.exit_code if summary is not None else None  # the baseline's, where it decided
        outcome = None if code is None else gate_outcome(code)  # a stopped run failed no gate
        verdict = "" if outcome is None else outcome if outcome == "pass" else f"{outcome} ({code})"
        table.add_row(
            r.run_id,
            r.suite_name,
            r.prompt_version or "-",
            r.model,
            r.kind + (f" {r.shard}" if r.shard else ""),
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            cases_cell(r),
            pct(summary.pass_rate if summary is not None else None),
            verdict,
        )
    out.print(table)


@app.command()
def show(
    run: RunArgument = "latest",
    all_cases: bool = typer.Option(False, "--all", help="Show passing cases too."),
    case: list[str] | None = typer.Option(None, "--case", help="Only this case id (repeatable)."),
    full: bool = typer.Option(False, "--full", help="Do not shorten long inputs and outputs."),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1),
    db: DbOption = None,
) -> None:
    """Explain a run's failures: each scorer's reason, and the output against the expected output
    (and the run's tokens, cost and calls, with the share of the prompt the provider served from its
    cache when it reported one)."""
    from evalkit.analysis.failures import explain_cases
    from evalkit.cli.console import out, pct, print_case
    from evalkit.store import open_store

    store = open_store(db, must_exist=True)
    record = store.get_run(run)
    verdicts = None if (all_cases or case) else ("fail", "error")
    cases = explain_cases(store, record.run_id, verdicts=verdicts, limit=limit, case_ids=case)
    settled = record.settled_summary
    rate = settled.pass_rate if settled is not None else None
    out.print(
        f"{record.run_id} · {record.suite_name} · prompt {record.prompt_version or '-'} "
        f"({record.prompt_hash or '-'}) · {record.model} · {record.status} · pass rate {pct(rate)}",
    )
    if not case:
        from evalkit.cli.console import print_prompt_cache
        from evalkit.report.formatting import calls_text, usage_text

        if settled is not None:  # tokens and cost ("at least" where calls went uncounted), and why
            out.print(usage_text(settled, stopped=record.status != "complete"))
            if settled.calls is not None:
                out.print(calls_text(settled.calls))
        print_prompt_cache({"": record})
        from evalkit.analysis.field_metrics import field_metrics_of_counts
        from evalkit.cli.field_table import print_field_metrics

        print_field_metrics(
            field_metrics_of_counts(store.field_slot_counts(record.run_id)),
            limit=None if all_cases else 15,
            config=record.config,
        )
    if not cases:
        out.print("no failing cases" if verdicts else "no cases match")
    for explanation in cases:
        print_case(explanation, full=full)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the suite file (point your editor's YAML plugin at it)."""
    from evalkit.suite.spec import suite_json_schema

    typer.echo(json.dumps(suite_json_schema(), indent=2))


@app.command()
def flaky(
    suite: StoredSuiteArgument,
    runs: int = typer.Option(20, "--runs", min=1, help="How many of the suite's latest runs to look at."),
    db: DbOption = None,
) -> None:
    """Cases that both passed and failed within a run (see `run --repeat`), across recent runs."""
    from rich.table import Table

    from evalkit.cli.console import out, pct
    from evalkit.cli.suite_ref import stored_suite_name
    from evalkit.store import open_store

    store = open_store(db, must_exist=True)
    name = stored_suite_name(store, suite)  # a suite path, or a stored name; unknown: exit 2
    history = store.flaky_history(name, runs=runs)
    if history.empty:
        out.print(f"no flaky cases in the last {runs} runs of {name!r}")
        return
    table = Table(box=None, show_edge=False, pad_edge=False)
    for col in ("case", "flaky in runs", "of runs", "pass rate"):
        table.add_column(col)
    for row in history.itertuples(index=False):
        table.add_row(row.case_id, str(int(row.flaky_runs)), str(int(row.runs)), pct(row.pass_rate))
    out.print(table)

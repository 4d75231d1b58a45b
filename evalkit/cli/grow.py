"""Growing a suite: ``evalkit generate``, ``evalkit review``, ``evalkit mine`` and ``evalkit weekly``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from evalkit.cli.app import app
from evalkit.cli.options import (
    DbOption,
    LogsOption,
    LogTableOption,
    MinedCasesOption,
    ProgressOption,
    SuitePathArgument,
    WeeksOption,
)

if TYPE_CHECKING:
    from evalkit.candidates import Candidate, Generation
    from evalkit.grow.generate import GenerationReport
    from evalkit.grow.review import ReviewOutcome
    from evalkit.store import Store
    from evalkit.suite.loading import Suite


@app.command()
def generate(
    suite: SuitePathArgument,
    n: int = typer.Option(20, "--n", "-n", min=1, help="Candidates wanted (at most 3 calls per candidate)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Generator model (default: generate.model)."
    ),
    family: list[str] | None = typer.Option(
        None, "--family", "-f", help="Edge-case family to ask for (repeatable; default: all of the suite's)."
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        min=0.0,
        max=100.0,
        help="Near-duplicate similarity, 0-100 (default: the suite's generate.dedup_threshold, 90 unless set).",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Sampling seed of the first call (then +1 per call)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Generator calls in flight."),
    db: DbOption = None,
) -> None:
    """Have an LLM write edge-case candidates from the suite's cases, schema and guidelines.

    Candidates that render with the prompt, follow the output schema and are not near-duplicates
    are stored for review (`evalkit review SUITE`); nothing is added to the suite yet.
    """
    import signal

    from evalkit.cli.console import out
    from evalkit.errors import ExitCode
    from evalkit.grow.generate import generate_sync
    from evalkit.run.signals import RunInterrupted
    from evalkit.store import open_store
    from evalkit.store.growth import GrowthStore
    from evalkit.suite.loading import load_suite

    loaded = load_suite(suite)
    store = open_store(db)
    known = len(GrowthStore(store).generations(loaded.name))
    try:
        report = generate_sync(
            loaded,
            store,
            n=n,
            model=model,
            families=family,
            threshold=threshold,
            seed=seed,
            concurrency=concurrency,
        )
    except KeyboardInterrupt:  # typer would end it with 130 and not a word of what was kept
        stopped = GrowthStore(store).generations(loaded.name)[known:]
        kept = (
            f"{stopped[-1].candidates} candidates stored for review; generation {stopped[-1].generation_id} "
            f"recorded: {generation_usage_text(stopped[-1])}"
            if stopped
            else "no call was made, nothing stored"
        )
        raise RunInterrupted(signal.SIGINT, f"generate stopped by SIGINT: {kept}") from None
    out.print(
        f"{loaded.name}: {len(report.stored)} new candidates from {report.calls} calls to {report.model} "
        f"({len(report.invalid)} invalid, {len(report.duplicates)} near-duplicates, {len(report.errors)} failed calls)",
    )
    if report.usage is not None:
        out.print(generation_usage_text(report.usage))
    for c in report.stored:
        out.print(f"  + {c.candidate_id} [{c.family}] from {c.provenance['parent_case']}")
    _print_rejections(report)
    if report.stored:
        out.print(f"Review them with: evalkit review {suite}")
    if report.every_answer_invalid:  # the calls worked; what they wrote failed the checks: not a success
        typer.echo(
            f"evalkit: every answer of {report.model} was invalid, so there are no candidates (exit 1)",
            err=True,
        )
        raise typer.Exit(int(ExitCode.GATE_FAILED))


def generation_usage_text(usage: Generation) -> str:
    """The generator's calls, tokens and cost, as `evalkit run` prints a run's (no response cache:
    generation asks anew every time), e.g. ``Calls 9 requests (0 retries, 0 failed) · Tokens 1,234
    in / 310 out · cost $0.0004``; a generator without a price shows ``cost unknown (no price for M)``."""
    from evalkit.report.formatting import calls_text, run_cost_cell

    return (
        f"{calls_text(usage.call_counts, cache=False)} · "
        f"Tokens {usage.prompt_tokens:,} in / {usage.completion_tokens:,} out · cost {run_cost_cell(usage)}"
    )


REJECTIONS_SHOWN = 10  # of each kind; the rest are counted


def _print_rejections(report: GenerationReport) -> None:
    """Why answers were dropped (the first few of each kind) and why calls failed (grouped by reason)."""
    from collections import Counter

    from evalkit.cli.console import out

    for label, rejections in (("invalid", report.invalid), ("duplicate", report.duplicates)):
        for r in rejections[:REJECTIONS_SHOWN]:
            out.print(f"  - {label} [{r.family}] from {r.parent}: {r.reason}")
        if len(rejections) > REJECTIONS_SHOWN:
            out.print(f"  - +{len(rejections) - REJECTIONS_SHOWN} more {label}")
    if report.errors:
        reasons = Counter(r.reason for r in report.errors).most_common()
        grouped = "; ".join(f"{reason} x{count}" for reason, count in reasons)
        out.print(f"  - {len(report.errors)} failed calls: {grouped}")


@app.command()
def review(
    suite: SuitePathArgument,
    accept: list[str] | None = typer.Option(
        None, "--accept", "-a", help="Accept this candidate id (repeatable)."
    ),
    reject: list[str] | None = typer.Option(
        None, "--reject", "-r", help="Reject this candidate id (repeatable)."
    ),
    accept_all: bool = typer.Option(False, "--accept-all", help="Accept every pending candidate."),
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Go through pending candidates one by one, asking for each."
    ),
    status: str = typer.Option("pending", "--status", help="List candidates with this status, or 'all'."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="Recorded in accepted cases' provenance."),
    db: DbOption = None,
) -> None:
    """List generated candidates; accept or reject them by id, all at once, or interactively.

    Accepted candidates are appended, unverified, to the suite's generated-case file
    (generate.cases_file) with their provenance; a case already there is never written twice.
    """
    from evalkit.grow.review import decide, pending
    from evalkit.store import open_store
    from evalkit.suite.loading import load_suite

    loaded = load_suite(suite)
    store = open_store(db)
    if interactive:
        _review_interactively(loaded, store, reviewer)
        return
    ids_in = list(accept or [])
    if accept_all:
        ids_in += [c.candidate_id for c in pending(loaded, store) if c.candidate_id not in ids_in]
    if ids_in or reject:
        outcome = decide(loaded, store, accept=ids_in, reject=list(reject or []), reviewer=reviewer)
        _print_outcome(outcome)
        _hint_unlisted(loaded, outcome.case_file if outcome.accepted else None)
        return
    _list_candidates(pending(loaded, store, status=None if status == "all" else status))


def _list_candidates(candidates: list[Candidate]) -> None:
    from evalkit.cli.console import clip, out

    if not candidates:
        out.print("no candidates")
        return
    for c in candidates:
        parent = c.provenance.get("parent_case")
        out.print(
            f"{c.candidate_id} [{c.status}] family {c.family}" + (f", from {parent}" if parent else ""),
        )
        out.print(f"  input:    {clip(c.input)}")
        out.print(f"  expected: {clip(c.expected)}")
    out.print(f"{len(candidates)} candidates")


def _hint_unlisted(loaded: Suite, path: Path | None) -> None:
    """Cases written to a file the suite does not list would never run: say so."""
    from evalkit.grow.review import listed_in_suite

    if path is not None and not listed_in_suite(loaded, path):
        typer.echo(
            f"evalkit: note: {path.name} is not in the suite's `cases:` list; add it there so these cases run",
            err=True,
        )


def _print_outcome(outcome: ReviewOutcome) -> None:
    from evalkit.cli.console import out

    if outcome.accepted:
        out.print(
            f"accepted {len(outcome.accepted)}, appended to {outcome.case_file}: {', '.join(outcome.accepted)}"
        )
    if outcome.already_present:
        out.print(f"already in the suite (not written again): {', '.join(outcome.already_present)}")
    if outcome.rejected:
        out.print(f"rejected {len(outcome.rejected)}: {', '.join(outcome.rejected)}")


def _review_interactively(loaded: Suite, store: Store, reviewer: str | None) -> None:
    from evalkit.cli.console import out
    from evalkit.grow.review import decide, pending

    candidates = pending(loaded, store)
    if not candidates:
        out.print("no pending candidates")
        return
    for i, c in enumerate(candidates, start=1):
        out.print(
            f"[{i}/{len(candidates)}] {c.candidate_id}  family {c.family}  from {c.provenance.get('parent_case')}",
        )
        out.print(f"  input:    {json.dumps(c.input, ensure_ascii=False)}")
        out.print(f"  expected: {json.dumps(c.expected, ensure_ascii=False)}")
        answer = ""
        while answer not in ("a", "r", "s", "q"):
            answer = typer.prompt("[a]ccept, [r]eject, [s]kip or [q]uit?", default="s").strip().lower()[:1]
        if answer == "q":
            break
        if answer == "s":
            continue
        key = "accept" if answer == "a" else "reject"
        _print_outcome(decide(loaded, store, reviewer=reviewer, **{key: [c.candidate_id]}))


@app.command()
def mine(
    suite: SuitePathArgument,
    logs: LogsOption,
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only records newer than this: 7d, 12h, 2w, today (UTC) or an ISO 8601 date/time (UTC unless offset).",
    ),
    n: MinedCasesOption = None,
    table: LogTableOption = None,
    db: DbOption = None,
) -> None:
    """Turn production failures into new cases: scrub PII, cluster, dedupe, add representatives.

    Failures are provider errors, schema violations, human corrections, negative feedback and low
    judge scores. Mining the same records twice adds nothing.
    """
    from evalkit.grow.mining import mine as mine_logs
    from evalkit.store import open_store
    from evalkit.suite.loading import load_suite

    loaded = load_suite(suite)
    report = mine_logs(loaded, open_store(db), logs, since=since, n=n, table=table)
    from evalkit.cli.mining_summary import print_mining

    print_mining(loaded.name, report)
    _hint_unlisted(loaded, report.case_file if report.added else None)


@app.command()
def weekly(
    suite: SuitePathArgument,
    logs: LogsOption,
    since: str | None = typer.Option(
        None,
        "--since",
        help="Mine records newer than this: 7d, 12h, 2w, today (UTC) or an ISO 8601 date/time (UTC unless "
        "offset). Default: 7d, or every record (those mined before skipped) when the suite maps no "
        "mining.fields.timestamp.",
    ),
    n: MinedCasesOption = None,
    table: LogTableOption = None,
    weeks: WeeksOption = 12,
    out: Path = typer.Option(Path("reports"), "--out", "-o", help="Directory for the trend CSV and HTML."),
    webhook: str | None = typer.Option(
        None,
        "--webhook",
        envvar="EVALKIT_WEBHOOK_URL",
        help="Slack-compatible incoming-webhook URL for a summary ($EVALKIT_WEBHOOK_URL).",
        show_envvar=False,
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", min=1, help="Fixed calls in flight for the run."
    ),
    progress: ProgressOption = True,
    db: DbOption = None,
) -> None:
    """The weekly job: mine the logs → run the suite → trend report → optional webhook post.

    Exits with the run's gate code. A failing webhook is reported on stderr and changes neither the
    exit code nor anything stored.
    """
    from evalkit.analysis.failures import explain_cases
    from evalkit.cli.console import out as console
    from evalkit.cli.console import print_summary, progress_bar
    from evalkit.cli.mining_summary import print_mining
    from evalkit.cli.trend import print_regressions
    from evalkit.grow.weekly import run_weekly
    from evalkit.results import RunRecord
    from evalkit.run.runner import RunOptions, RunOutcome
    from evalkit.store import open_store

    store = open_store(db)
    bar = progress_bar(progress)
    task = bar.add_task("weekly run", total=None)

    def run_start(run: RunRecord, total: int, done: int) -> None:
        bar.start()  # the run's bar, below what was mined
        bar.update(task, total=total, completed=done)

    def stop_bar() -> None:  # one never started would still end stderr's line: a blank line
        if bar.live.is_started:
            bar.stop()

    def run_done(outcome: RunOutcome) -> None:  # said before the trend, whose writing may fail
        stop_bar()
        failures = explain_cases(store, outcome.run.run_id, limit=10)
        print_summary(outcome.run, outcome.summary, failures, 10)

    try:
        result = run_weekly(
            suite,
            store,
            logs,
            since=since,
            n=n,
            table=table,
            weeks=weeks,
            out_dir=out,
            webhook=webhook,
            options=RunOptions(concurrency=concurrency),
            on_run_start=run_start,
            on_result=lambda _: bar.advance(task),
            on_mined=print_mining,  # said before the run, which may be stopped or fail
            on_run_done=run_done,
        )
    finally:
        stop_bar()
    console.print(f"Trend report: {result.csv_path} and {result.html_path}")
    print_regressions(result.trend.regressions)
    if result.webhook_error:
        typer.echo(
            f"evalkit: warning: {result.webhook_error} (the job's results are stored; exit code unchanged)",
            err=True,
        )
    elif result.webhook_posted:
        console.print("Posted the summary to the webhook.")
    raise typer.Exit(int(result.run.decision.exit_code))

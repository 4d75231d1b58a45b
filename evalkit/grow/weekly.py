"""The weekly job as one command: ``evalkit weekly SUITE --logs ...`` = mine → run → trend → notify.

1. mine the logs of the window (default: the last 7 days; every record, those mined before skipped,
   when the suite maps no time column) into the suite's mined-case file, once the
   suite is known to be runnable (what would refuse the run refuses the job before anything is written);
2. run the suite, mined cases included, through :func:`evalkit.run.runner.run_suite`;
3. write the trend report (CSV + HTML) over the last ``weeks`` weeks;
4. optionally post a short summary to a Slack-compatible incoming webhook (``{"text": ...}``).

The exit code is the run's gate decision. A webhook that fails (refused, times out, answers an
error) is reported and changes nothing: not the exit code, not what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from evalkit.analysis.trend import TrendQuery, TrendReport, build_trend
from evalkit.analysis.trend_runs import DEFAULT_KINDS
from evalkit.grow.mining import MiningReport, mine, mining_spec
from evalkit.report.trend import write_trend
from evalkit.run.evaluate import prepare_target
from evalkit.run.runner import RunOptions, RunOutcome, run_suite
from evalkit.store import Store
from evalkit.suite.loading import load_suite

WEBHOOK_TIMEOUT = 10.0
DEFAULT_SINCE = "7d"  # the window mined when the suite maps the log's time column and none is given


@dataclass
class WeeklyOutcome:
    """What the weekly job did, step by step."""

    mining: MiningReport
    run: RunOutcome
    trend: TrendReport
    csv_path: Path
    html_path: Path
    summary: str
    webhook_error: str | None = None  # None: posted (or no webhook configured)
    webhook_posted: bool = False


def summary_text(
    suite: str, mining: MiningReport, outcome: RunOutcome, trend: TrendReport, html: Path
) -> str:
    """The short message posted to the webhook (Slack mrkdwn-friendly plain text)."""
    s = outcome.summary
    gate = s.gate
    if gate is not None and gate.passed:
        verdict = "passed"
    else:
        verdict = f"FAILED (exit {gate.exit_code if gate is not None else None})"
    # the figures the gate decided on: cases awaiting an expected output (a pass on the other scorers
    # alone is no pass) and quarantined ones are kept out of them, and said apart
    counted = s.gate_counts or s
    rate = counted.pass_rate
    awaiting = len(s.awaiting_expected)
    quarantined = s.results - counted.results - awaiting  # the suite's list names cases it may not have
    kept_out = (f"; {awaiting} awaiting an expected output" if awaiting else "") + (
        f"; {quarantined} quarantined" if quarantined > 0 else ""
    )
    lines = [
        f"evalkit weekly · {suite}: gate {verdict}, pass rate {'n/a' if rate is None else f'{rate:.1%}'} "
        f"over {counted.results} cases ({counted.errors} errors{kept_out}) · run {outcome.run.run_id}",
        f"Mined {mining.failures} new production failures in {mining.clusters} clusters; "
        f"added {len(mining.added)} cases ({mining.covered} clusters already covered"
        + (f", {mining.over_limit} over the limit left for the next run" if mining.over_limit else "")
        + ").",
    ]
    if mining.bad_corrections:  # a person has to fix them before they can become cases
        shown = ", ".join(f.where for f in mining.bad_corrections[:5])
        more = len(mining.bad_corrections) - 5
        lines.append(
            f"{len(mining.bad_corrections)} record(s) with a correction that breaks the output schema, "
            f"not made cases (fix them in the log): {shown}" + (f" and {more} more" if more > 0 else "")
        )
    flagged = [r for r in trend.regressions if r.week == trend.weeks[-1]]
    if flagged:
        lines.append(
            "Regressions this week: "
            + "; ".join(f"{r.kind} {r.name} {r.baseline:.0%} → {r.value:.0%}{r.note}" for r in flagged[:5])
        )
    lines.append(f"Trend report: {html}")
    return "\n".join(lines)


def post_webhook(url: str, text: str, *, timeout: float = WEBHOOK_TIMEOUT) -> str | None:
    """POST ``{"text": text}`` to a Slack-compatible incoming webhook; the error, or None when it worked.

    The URL is a secret (it lets anyone post), so errors name only its host.
    """
    import httpx

    host = urlsplit(url).netloc or "(no host)"
    try:
        response = httpx.post(url, json={"text": text}, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"webhook {host}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'failed'}"
    except ValueError as exc:  # not a URL httpx can post to
        return f"webhook: invalid URL: {exc}"
    if response.status_code >= 300:
        return f"webhook {host}: HTTP {response.status_code} {response.text[:200]!r}"
    return None


def run_weekly(
    suite_path: Path | str,
    store: Store,
    logs: Sequence[str],
    *,
    since: str | None = None,
    n: int | None = None,
    table: str | None = None,
    weeks: int = 12,
    out_dir: Path = Path("reports"),
    webhook: str | None = None,
    options: RunOptions | None = None,
    on_run_start: Any = None,
    on_result: Any = None,
    on_mined: Callable[[str, MiningReport], None] | None = None,
    on_run_done: Callable[[RunOutcome], None] | None = None,
) -> WeeklyOutcome:
    """Mine, run, report and (optionally) notify; see the module docstring.

    ``on_mined(suite_name, report)`` sees what was mined before the run starts, so it can be said
    even when the run is then stopped (Ctrl-C, SIGTERM) or fails; ``on_run_done(outcome)`` sees the
    run's outcome before the trend report is written, which may fail in turn.
    """
    options = options or RunOptions()
    suite = load_suite(suite_path)
    spec = mining_spec(suite)
    # what would refuse the run (an unknown model vendor, an unset API key variable, a case the
    # prompt cannot render) refuses the job before mining writes a case or records a log id
    target = prepare_target(suite, options.model, options.prompt, options.timeout)
    suite.check_cases(target.prompt)
    out_dir.mkdir(parents=True, exist_ok=True)  # a file in its way is said now, not after the run
    if since is None and spec.fields.timestamp:
        since = DEFAULT_SINCE  # without a time column, every record: those mined before are skipped
    mining = mine(suite, store, logs, since=since, n=n, table=table)
    if on_mined is not None:
        on_mined(suite.name, mining)
    suite = load_suite(suite_path)  # again, so the cases just mined are part of the run
    outcome = run_suite(suite, store, options, on_result=on_result, on_start=on_run_start)
    if on_run_done is not None:
        on_run_done(outcome)
    # the series of the run just made: its prompt version, model and kind
    run = outcome.run
    kinds = tuple(dict.fromkeys((*DEFAULT_KINDS, run.kind)))
    query = TrendQuery(weeks=weeks, prompt=run.prompt_version, model=run.model, kinds=kinds)
    trend = build_trend(store, suite.name, query)
    csv_path, html_path = write_trend(trend, out_dir)
    text = summary_text(suite.name, mining, outcome, trend, html_path)
    result = WeeklyOutcome(mining, outcome, trend, csv_path, html_path, text)
    if webhook:
        result.webhook_error = post_webhook(webhook, text)
        result.webhook_posted = result.webhook_error is None
    return result

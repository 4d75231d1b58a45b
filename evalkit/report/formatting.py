"""How compared metrics are written, the same in the terminal, the markdown summary and the HTML report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evalkit.analysis.caching import prompt_cache_text
from evalkit.errors import ExitCode

if TYPE_CHECKING:  # the comparison's statistics are not loaded to print a run's summary
    from evalkit.analysis.compare import MetricComparison


@dataclass(frozen=True)
class MetricCells:
    """One metric row as text: A, B, the difference, its interval, the p-value and the verdict."""

    label: str
    a: str
    b: str
    diff: str
    ci: str
    p: str
    verdict: str
    n: int
    p_adjusted: str = "-"  # Holm-adjusted p (every metric but the headline pass rate)


def metric_cells(m: MetricComparison, paired: int | None = None) -> MetricCells:
    """Text for one compared metric, in the unit that suits it (rates in points, usage in its unit).

    With ``paired`` (the comparison's paired cases), a metric measured on fewer of them says on how
    many in its label: latency leaves out answers from the cache, a scorer the cases it did not score.
    """
    value: Callable[[float], str]
    delta: Callable[[float], str]
    if m.metric in ("pass rate", "accuracy"):
        value, delta = _pct, _points
    elif m.metric.startswith("cost"):
        value, delta = (lambda v: f"${v:.6f}"), (lambda v: f"{v:+.6f}")
    elif m.metric.startswith("tokens"):
        value, delta = (lambda v: f"{v:,.1f}"), (lambda v: f"{v:+,.1f}")
    elif m.metric.startswith("latency"):
        value, delta = (lambda v: f"{v:,.0f} ms"), (lambda v: f"{v:+,.0f} ms")
    else:
        value, delta = (lambda v: f"{v:.3f}"), (lambda v: f"{v:+.3f}")
    ci = "-"
    if m.ci is not None:
        ci = f"[{delta(m.ci.low)}, {delta(m.ci.high)}]"
    label = m.label
    if paired is not None and 0 < m.n < paired:
        label = f"{label} ({m.n} of {paired} pairs)"
    return MetricCells(
        label=label,
        a="n/a" if m.a is None else value(m.a),
        b="n/a" if m.b is None else value(m.b),
        diff="n/a" if m.diff is None else delta(m.diff),
        ci=ci,
        p=pvalue(m.p_value),
        verdict=m.verdict,
        n=m.n,
        p_adjusted=pvalue(m.p_adjusted),
    )


def pvalue(value: float | None) -> str:
    """A p-value to three significant digits (scientific below 0.001); a dash when there is none."""
    if value is None:
        return "-"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.1e}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


CELL = 160  # characters of an output shown in a table cell

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# GitHub links bare URLs, www. names and e-mail addresses by itself (cmark-gfm's autolink extension),
# and reads an @-mention in the rendered text, where the entity &#64; is a plain "@" again: no escape
# stops either. A WORD JOINER (U+2060, invisible) after the "@" of a name or address, and inside
# "http://", "https://", "ftp://" and "www.", does.
_WORD_JOINER = "\u2060"
_AUTOLINKED = re.compile(r"(?i)(?:https?|ftp)(?=://)|www(?=\.)|@(?=[a-z0-9])")


def cell(value: Any, limit: int = CELL) -> str:
    """Untrusted text as one safe markdown table cell: one line, clipped, markup, links and mentions
    neutralised (what it shows reads the same)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _AUTOLINKED.sub(lambda found: found.group(0) + _WORD_JOINER, text)
    return _MD_SPECIAL.sub(r"\\\1", text)


def milliseconds(value: float | None) -> str:
    """A latency: ``850 ms``, ``1.25 s``, ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def run_cost_cell(summary: Any) -> str:
    """A run's spend in a table of runs: ``$T``, ``n/a`` without a summary, and no figure for a run
    that called a model without a price (its calls count as $0: the sum is not what it cost) or
    whose embedding calls no cost counts (``uncounted_models``). What
    the response cache served is said beside it (``$0.0006 + $0.0083 from the cache``): the run paid
    less, its results did not cost less (``compare`` counts them at their first cost). ``at least
    $T`` when calls went uncounted (:func:`lower_bound`)."""
    if summary is None:
        return "n/a"
    if summary.unpriced_models:
        return unknown_cost(summary.unpriced_models)
    if getattr(summary, "uncounted_models", None):
        return f"unknown ({', '.join(summary.uncounted_models)} not counted)"
    saved = getattr(summary, "saved_cost_usd", None) or 0.0
    cached = f" + ${saved:.4f} from the cache" if saved >= 0.00005 else ""
    spent = f"{lower_bound(summary)}${summary.cost_usd:.4f}"
    if getattr(summary, "unmetered_target", None):
        return f"{spent}{cached} + the target's own calls"
    return f"{spent}{cached}"


def count_text(n: int, word: str) -> str:
    """``1 error``, ``2 errors``: a count with its noun (an English plural in -s)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def unknown_cost(unpriced_models: Sequence[str]) -> str:
    """``unknown (no price for M)``: a cost whose calls to models litellm's price map has no price
    for counted as $0, so its sum is not what they cost."""
    return f"unknown (no price for {', '.join(unpriced_models)})"


def judge_spend_text(calls: int, cost_usd: float, unpriced_models: Sequence[str]) -> str:
    """A pairwise comparison's judge spend: ``N requests, $T``, or for a judge without a price
    ``N requests, cost unknown (no price for M)`` (its calls counted as $0)."""
    spend = f"cost {unknown_cost(unpriced_models)}" if unpriced_models else f"${cost_usd:.4f}"
    return f"{calls:,} requests, {spend}"


def cases_cell(run: Any) -> str:
    """A run's cases in a table of runs, or for a run stopped early how many of its planned results
    it has (``0/12``): its pass rate is over those alone."""
    s = run.settled_summary
    if run.status == "complete" or s is None:
        return str(run.n_cases)
    planned = run.n_cases * max(s.repeat, 1)
    return f"{s.results}/{planned}" + (" results" if s.repeat > 1 else "")


def epochs_text(summary: Any, name: Callable[[str], str] = str) -> str | None:
    """``Epochs 3 · flaky cases 2: c1, c7`` for a run of several epochs or with flaky cases (at most
    eight named, each through ``name``), else None."""
    if summary.repeat <= 1 and not summary.flaky:
        return None
    flaky = summary.flaky
    listed = ", ".join(name(c) for c in flaky[:8]) + (" …" if len(flaky) > 8 else "")
    return f"Epochs {summary.repeat} · flaky cases {len(flaky)}" + (f": {listed}" if flaky else "")


def usage_text(summary: Any, *, stopped: bool = False) -> str:
    """A run summary's usage line: its tokens, cost and latency. The tokens are the target's; the
    judge's calls are in the cost only, so with a judge the line says whose tokens they are.
    ``stopped``: the run is not complete (see :func:`cost_text`)."""
    return (
        f"Tokens {lower_bound(summary)}{summary.prompt_tokens:,} in / {summary.completion_tokens:,} out"
        f"{' (target)' if summary.judged else ''} · {cost_text(summary, stopped=stopped)} · "
        f"latency p50 {milliseconds(summary.latency_p50_ms)}, p95 {milliseconds(summary.latency_p95_ms)}"
    )


def calls_text(calls: Any, *, cache: bool = True) -> str:
    """A ``CallCounts``'s line: requests, retries and failures, the response cache's hits and misses
    (``cache=False``: calls that do not use it), judge calls and backoffs; with calls no figure counts
    (:func:`uncounted_calls`: timed-out attempts among them), ``at least`` where it applies and why."""
    # requests in flight at a stop are counted as requests: only their tokens and cost are not
    lost = getattr(calls, "unreported_shards", 0) or getattr(calls, "killed_parts", 0)
    return (
        f"Calls {'at least ' if lost else ''}{calls.requests:,} requests "
        f"({calls.retries:,} {'retry' if calls.retries == 1 else 'retries'}, {calls.failed_calls:,} failed)"
        + (f" · cache {calls.cache_hits:,} hits / {calls.cache_misses:,} misses" if cache else "")
        + (f" · judge calls {calls.judge_calls:,}" if calls.judge_calls else "")
        + (f" · rate-limit backoffs {calls.rate_limit_backoffs}" if calls.rate_limit_backoffs else "")
        + "".join(f" · {why}" for why in uncounted_calls(calls))
    )


def _plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


# Why each counter of ``evalkit.results.UNCOUNTED`` makes a run's figures lower bounds, for a count n
_WHY_UNCOUNTED: dict[str, Callable[[int], str]] = {
    "unreported_shards": lambda n: (
        f"{n} Ray shard task(s) ended before reporting their last calls (a worker died, or the"
        " run stopped them): those calls are in no figure, so the counts, tokens and cost are lower bounds"
    ),
    "timed_out": lambda n: (
        f"{n:,} {_plural(n, 'attempt', 'attempts')} timed out: a provider may still finish and bill an"
        " attempt evalkit stopped waiting for, so the tokens and cost are lower bounds"
    ),
    "in_flight_at_stop": lambda n: (
        f"{n:,} {_plural(n, 'request was', 'requests were')} in flight when the run stopped: their cost"
        " is not known (a provider may still bill them), so the tokens and cost are lower bounds"
    ),
    "killed_parts": lambda n: (
        f"{n} {_plural(n, 'earlier part of the run was', 'earlier parts of the run were')} killed before"
        " recording the last calls: those calls are in no figure, so the counts, tokens and cost are"
        " lower bounds"
    ),
}


def uncounted_calls(calls: Any) -> list[str]:
    """Why some of a run's calls are in none of its figures, which are then lower bounds (one reason
    per counter of :meth:`evalkit.results.CallCounts.uncounted` above 0, the rule
    ``RunSummary.cost_at_least`` follows); ``[]`` when every call is counted."""
    uncounted = getattr(calls, "uncounted", None)
    return [_WHY_UNCOUNTED[name](n) for name, n in (uncounted() if uncounted is not None else {}).items()]


def gate_outcome(code: int) -> str:
    """What a run's stored exit code says of its gate: ``pass``, ``fail``, or, for a run stopped
    (``--budget``, Ctrl-C, SIGTERM) or one that could not be judged, neither: ``stopped``, ``not
    judged``. The runs list and the report's run table word it alike."""
    if code == ExitCode.OK:
        return "pass"
    if code in (ExitCode.INCOMPLETE, ExitCode.INTERRUPTED, ExitCode.TERMINATED):
        return "stopped"
    if code == ExitCode.INFRASTRUCTURE:
        return "not judged"
    return "fail"


def lower_bound(summary: Any) -> str:
    """``at least `` for a run whose tokens and cost miss some calls (``RunSummary.cost_at_least``,
    why: :func:`uncounted_calls`), so they are lower bounds; else ``""``."""
    return "at least " if getattr(summary, "cost_at_least", False) else ""


def cost_text(summary: Any, *, stopped: bool = False) -> str:
    """A run summary's spend: ``cost $T (target $a, judge $b)`` (``cost at least $T`` when calls went
    uncounted: :func:`lower_bound`), what of it went to answers no
    stored result holds (``· $u of it (N in / M out tokens) on answers not stored as results yet``:
    a run ``stopped`` before its end, or answers asked for again), the models it has no price for
    (``· no price for M (counted as $0)``), ``· cache saved $s``, and the provider's prompt cache
    when it reported cached prompt tokens (``· prompt cache N tokens (S%) · saved $x``).

    Summaries stored before the split (version 1) have no judge figure: their cost is the target's.
    """
    cost = f"cost {lower_bound(summary)}${summary.cost_usd:.4f}"
    if summary.judge_cost_usd is None:
        text = f"{cost} (target; judge not recorded)"
    else:
        target = summary.target_cost_usd if summary.target_cost_usd is not None else summary.cost_usd
        text = f"{cost} (target ${target:.4f}, judge ${summary.judge_cost_usd:.4f})"
    if getattr(summary, "unstored_cost_usd", None) is not None:
        text += f" · {_unstored_text(summary, stopped)}"
    if summary.unpriced_models:  # in the cost at $0: said, rather than a spend that looks known
        text += f" · no price for {', '.join(summary.unpriced_models)} (counted as $0)"
    if getattr(summary, "unmetered_target", None):  # a pipeline's own model calls: not seen, not counted
        text += f" · {summary.unmetered_target}'s own model calls are not counted"
    if getattr(summary, "uncounted_models", None):  # semantic_similarity's embeddings: outside the call path
        text += f" · the embedding calls to {', '.join(summary.uncounted_models)} are not counted"
    if summary.saved_cost_usd:
        text += f" · cache saved ${summary.saved_cost_usd:.4f}"
    cached = prompt_cache_text(summary)  # "" when the provider reported no cached prompt tokens
    return text + (f" · {cached}" if cached else "")


def _unstored_text(summary: Any, stopped: bool) -> str:
    """What of a run's cost (and tokens) went to answers no stored result holds, and why."""
    tokens_in, tokens_out = summary.unstored_prompt_tokens or 0, summary.unstored_completion_tokens or 0
    tokens = f" ({tokens_in:,} in / {tokens_out:,} out tokens)" if tokens_in or tokens_out else ""
    why = (
        "not stored as results yet (`--resume` reuses the cached ones without paying again)"
        if stopped
        else "no stored result holds (asked for again: after a stop, or by a resubmitted Ray shard)"
    )
    return f"${summary.unstored_cost_usd:.4f} of it{tokens} on answers {why}"

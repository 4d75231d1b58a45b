"""The provider's prompt cache in a run: how much of the prompt it served, what that saved, and how
that compares with the cache-stable prefix ``evalkit lint`` estimates for the prompt.

Providers that cache prompt prefixes (OpenAI, Anthropic, Gemini) report the prompt tokens they read
from their cache; evalkit stores them per result and charges them at the cache-read price (see
:mod:`evalkit.providers.prices`). Runs whose provider reports nothing have nothing to show, and the
texts here are empty for them, so the CLI and the reports stay quiet.
"""

from __future__ import annotations

from itertools import islice

from evalkit.errors import EvalkitError
from evalkit.results import RunRecord, RunSummary


def prompt_cache_text(summary: RunSummary | None) -> str:
    """``prompt cache 12,288 tokens (62.5% of prompt tokens sent, saved $0.0009)``, then the judge's
    (``the judge's prompt cache 9,216 tokens (saved $0.0007)``), or ``""`` when the provider reported
    no cached prompt tokens (or the summary predates recording them). Cached tokens of a model
    without a cache-read price are charged at the input price, and the text says so."""
    if summary is None:
        return ""
    parts = []
    if summary.cached_prompt_tokens:
        notes = [] if summary.cached_share is None else [f"{summary.cached_share:.1%} of prompt tokens sent"]
        whose = "the target's prompt cache" if summary.judged else "prompt cache"
        parts.append(
            _cache_text(
                whose,
                summary.cached_prompt_tokens,
                summary.cache_write_tokens,
                summary.prompt_cache_saved_usd,
                notes,
            )
        )
    if summary.judge_cached_prompt_tokens:
        parts.append(
            _cache_text(
                "the judge's prompt cache",
                summary.judge_cached_prompt_tokens,
                summary.judge_cache_write_tokens,
                summary.judge_prompt_cache_saved_usd,
                [],
            )
        )
    return " · ".join(parts)


def _cache_text(whose: str, cached: int, written: int | None, saved: float | None, notes: list[str]) -> str:
    if written:
        notes.append(f"{written:,} written")
    if saved:
        notes.append(f"saved ${saved:.4f}")
    else:  # an unpriced model, or one whose price map entry has no cache-read price
        notes.append("no saving priced: no cache-read price known, charged as input")
    return f"{whose} {cached:,} tokens ({', '.join(notes)})"


def compare_text(a: RunSummary | None, b: RunSummary | None) -> str:
    """Both runs' cached share and savings, ``prompt cache: A 0.0% ($0.0000 saved) · B 62.5% ...``,
    or ``""`` when neither run's provider reported cached prompt tokens."""
    if not ((a and a.cached_prompt_tokens) or (b and b.cached_prompt_tokens)):
        return ""

    def side(summary: RunSummary | None) -> str:
        if summary is None or summary.cached_prompt_tokens is None:
            return "not recorded"
        share = "n/a" if summary.cached_share is None else f"{summary.cached_share:.1%}"
        return f"{share} (${summary.prompt_cache_saved_usd or 0.0:.4f} saved)"

    return f"prompt cache: A {side(a)} · B {side(b)}"


def stable_prefix_share(run: RunRecord) -> float | None:
    """The share of the run's prompt that ``evalkit lint`` estimates is identical for every case (its
    cache-stable prefix), from the suite file the run was made from; None when that cannot be had
    faithfully: no prompt, or the run's suite file is not found unchanged from this directory."""
    if run.prompt_version is None:
        return None
    from evalkit.suite.lint import SAMPLE_CASES, prefix_stats
    from evalkit.suite.recorded import run_suite_note

    suite, _ = run_suite_note(run)  # the run's suite file, unchanged since, or no estimate
    if suite is None:
        return None
    try:
        prompt = suite.prompts.get(run.prompt_version)
        if prompt is None or prompt.hash != run.prompt_hash:
            return None
        cases = islice(suite.iter_cases(), SAMPLE_CASES)  # as lint samples them
        stats = prefix_stats(prompt, [c.input for c in cases], suite.output_schema)
    except EvalkitError:
        return None
    return stats.share if stats is not None else None


def estimate_text(run: RunRecord, measured: RunSummary | None) -> str:
    """``measured cached share 62.5% vs stable-prefix estimate 71.0% (evalkit lint)``, or ``""`` when the
    run's provider reported no cached tokens or the estimate is not available."""
    if measured is None or not measured.cached_prompt_tokens or measured.cached_share is None:
        return ""
    estimate = stable_prefix_share(run)
    if estimate is None:
        return ""
    return (
        f"measured cached share {measured.cached_share:.1%} vs stable-prefix estimate {estimate:.1%} "
        "(evalkit lint)"
    )

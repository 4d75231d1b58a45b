"""How the prompt cache of a run is put in words, and lint's stable-prefix estimate for a run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from evalkit.analysis.caching import compare_text, estimate_text, prompt_cache_text, stable_prefix_share
from evalkit.results import RunRecord, RunSummary
from evalkit.suite.loading import load_suite

SUITE = (
    "name: s\ntarget:\n  model: openai/x\n  api_base: http://127.0.0.1:9/v1\n  prompts: {v1: prompts/v1.j2}\n"
    "cases: [cases.jsonl]\nscorers:\n  - name: exact\n"
)
PROMPT = "[system]\n" + "Fixed rules for every case. " * 20 + "\n[user]\n{{ question }}\n"
CASES = [{"id": f"c{i}", "input": {"question": f"question number {i}"}, "expected": "x"} for i in range(3)]


def test_nothing_is_said_when_the_provider_reported_nothing() -> None:
    assert prompt_cache_text(None) == ""
    assert prompt_cache_text(RunSummary()) == ""  # stored before it was recorded
    assert prompt_cache_text(RunSummary(cached_prompt_tokens=0, cached_share=0.0)) == ""
    assert compare_text(RunSummary(), RunSummary(cached_prompt_tokens=0)) == ""


def test_cached_share_writes_and_savings() -> None:
    summary = RunSummary(
        cached_prompt_tokens=12288,
        cached_share=0.625,
        cache_write_tokens=2048,
        prompt_cache_saved_usd=0.00092,
    )
    assert prompt_cache_text(summary) == (
        "prompt cache 12,288 tokens (62.5% of prompt tokens sent, 2,048 written, saved $0.0009)"
    )
    assert compare_text(RunSummary(), summary) == ("prompt cache: A not recorded · B 62.5% ($0.0009 saved)")
    # with a judge, the figures are said to be the target's: the judge's calls are not in them
    judged = summary.model_copy(update={"judge_cost_usd": 0.01})
    assert prompt_cache_text(judged).startswith("the target's prompt cache 12,288 tokens (")


def test_cached_tokens_without_a_cache_read_price_say_so() -> None:
    summary = RunSummary(cached_prompt_tokens=2048, cached_share=0.5, prompt_cache_saved_usd=0.0)
    assert prompt_cache_text(summary) == (
        "prompt cache 2,048 tokens (50.0% of prompt tokens sent, no saving priced: no cache-read price "
        "known, charged as input)"
    )


def run_of(suite_path: Path, prompt_hash: str | None) -> RunRecord:
    """A run of the suite file as it is (its hash), unless the file is gone."""
    suite_hash = load_suite(suite_path).source_hash if suite_path.is_file() else "0123456789ab"
    return RunRecord(
        run_id="r",
        suite_name="s",
        suite_path=str(suite_path),
        suite_hash=suite_hash,
        prompt_version="v1",
        prompt_hash=prompt_hash,
        model="openai/x",
        started_at=datetime(2026, 1, 1),
    )


def test_the_estimate_comes_from_the_suite_file_while_its_prompt_is_unchanged(
    make_suite: Callable[..., Path],
) -> None:
    path = make_suite(SUITE, CASES, prompt=PROMPT)
    prompt_hash = load_suite(path).prompts["v1"].hash
    share = stable_prefix_share(run_of(path, prompt_hash))
    assert share is not None and 0.8 < share < 1.0  # the rules are shared, the questions differ
    measured = RunSummary(cached_prompt_tokens=100, cached_share=0.5)
    assert estimate_text(run_of(path, prompt_hash), measured) == (
        f"measured cached share 50.0% vs stable-prefix estimate {share:.1%} (evalkit lint)"
    )
    assert stable_prefix_share(run_of(path, "0123456789ab")) is None  # the prompt changed since the run
    assert stable_prefix_share(run_of(path.parent / "gone.yaml", prompt_hash)) is None
    edited = run_of(path, prompt_hash)
    path.write_text(path.read_text() + "# edited since the run\n")  # another suite file than the run's
    assert stable_prefix_share(edited) is None
    assert estimate_text(run_of(path, prompt_hash), RunSummary(cached_prompt_tokens=0)) == ""

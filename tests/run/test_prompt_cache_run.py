"""Cached prompt tokens end to end: a suite whose cases share a long system prompt, run against the
loopback server (which caches repeated prefixes as OpenAI does), stored in a real DuckDB file, priced
at the cache-read price and shown by run, show, compare and the report; a provider that reports no
cached tokens shows nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.providers.prices import call_cost
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite
from tests.run.test_runner import SCORERS, answer, cases, run

PRICED = "openai/gpt-4o-mini"  # litellm's map prices its cache reads at half the input price
RULES = "Answer with a JSON object holding the answer to the question. " * 80  # ~1,240 tokens, shared
PROMPT = f"[system]\n{RULES}\n[user]\n{{{{ question }}}}\n"
N = 10


def suite_for(make_suite: Callable[..., Path], server: LoopbackOpenAI, name: str) -> Path:
    text = loopback_suite(server.base_url, scorers=SCORERS).replace("openai/loopback", PRICED)
    return make_suite(text, cases(N), prompt=PROMPT, name=name)


def uncached_cost(server: LoopbackOpenAI) -> float:
    """What the server's replies would cost at the model's full prices, from the usage it reported."""
    total = 0.0
    for body in server.stats.bodies:
        prompt = max(1, sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4)
        total += call_cost(PRICED, prompt, max(1, len(answer(body)) // 4))
    return total


def test_cases_sharing_a_long_system_prompt_are_charged_the_cached_price(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer) as server:
        suite = suite_for(make_suite, server, "cached")
        done = run(cli, suite, db)
        assert done.exit_code == 0, done.stdout + done.stderr
        full_price = uncached_cost(server)
    store = open_store(db)
    record = store.get_run("latest")
    frame = store.case_results(record.run_id)
    with store._connection() as con:  # the stored columns themselves
        rows = con.execute(
            "SELECT cached_prompt_tokens, prompt_tokens, completion_tokens, cost_usd, prompt_cache_saved_usd "
            "FROM outputs WHERE run_id = ? ORDER BY case_id",
            (record.run_id,),
        )
    cached = sorted(int(r[0]) for r in rows)
    # the first request to arrive filled the cache; every other one found the shared prefix in it
    assert cached[0] == 0 and cached[1:] == [1152] * (N - 1)
    for tokens, prompt, completion, cost, saved in rows:
        assert cost == pytest.approx(call_cost(PRICED, prompt, completion, tokens))
        assert saved == pytest.approx(call_cost(PRICED, prompt, completion) - cost)
    stored_cost = float(frame["cost_usd"].sum())
    saved = sum(float(r[4]) for r in rows)
    read_discount = 1152 * (N - 1) * (0.15e-6 - 0.075e-6)  # gpt-4o-mini: $0.15/M in, $0.075/M cached
    assert saved == pytest.approx(read_discount)
    assert full_price - stored_cost == pytest.approx(saved)  # cheaper than uncached by exactly that

    summary = record.summary
    assert summary is not None
    sent = int(frame["prompt_tokens"].sum())
    assert summary.cached_prompt_tokens == 1152 * (N - 1)
    assert summary.cached_share == pytest.approx(1152 * (N - 1) / sent)
    assert summary.prompt_cache_saved_usd == pytest.approx(saved)
    assert summary.cost_usd == pytest.approx(stored_cost)
    stored = json.loads(_summary_json(db, record.run_id))
    assert stored["cached_prompt_tokens"] == 1152 * (N - 1)  # in runs.summary_json for SQL readers

    share = f"{summary.cached_share:.1%}"
    assert (
        f"prompt cache {1152 * (N - 1):,} tokens ({share} of prompt tokens sent, saved ${saved:.4f})"
        in done.stdout
    )
    assert f"measured cached share {share} vs stable-prefix estimate" in done.stdout
    shown = cli("show", record.run_id, "--db", str(db))
    assert f"prompt cache {1152 * (N - 1):,} tokens ({share} of prompt tokens sent, saved" in shown.stdout
    assert f"measured cached share {share} vs stable-prefix estimate" in shown.stdout
    html = tmp_path / "report.html"
    reported = cli("report", record.run_id, "--db", str(db), "--out", str(html))
    assert reported.exit_code == 0, reported.stdout + reported.stderr
    assert f"prompt cache {1152 * (N - 1):,} tokens ({share}" in html.read_text(encoding="utf-8")


def test_a_provider_reporting_no_cached_tokens_shows_nothing_and_compare_shows_both(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer, cache_min_tokens=None) as silent:
        quiet = run(cli, suite_for(make_suite, silent, "silent"), db)
    assert quiet.exit_code == 0, quiet.stdout + quiet.stderr
    store = open_store(db)
    a = store.get_run("latest")
    assert a.summary is not None and a.summary.cached_prompt_tokens == 0
    assert a.summary.prompt_cache_saved_usd == 0
    assert "prompt cache" not in quiet.stdout and "stable-prefix" not in quiet.stdout
    shown = cli("show", a.run_id, "--db", str(db))
    assert "prompt cache" not in shown.stdout
    html = tmp_path / "quiet.html"
    cli("report", a.run_id, "--db", str(db), "--out", str(html))
    assert "prompt cache" not in html.read_text(encoding="utf-8")

    with LoopbackOpenAI(responder=answer) as server:
        loud = run(cli, suite_for(make_suite, server, "cached"), db, "--no-cache")
    assert loud.exit_code == 0, loud.stdout + loud.stderr
    b = open_store(db).get_run("latest")
    assert b.summary is not None and b.summary.cached_share is not None
    compared = cli("compare", a.run_id, b.run_id, "--db", str(db))
    assert compared.exit_code == 0, compared.stdout + compared.stderr
    line = next(x for x in compared.stdout.splitlines() if x.startswith("prompt cache:"))
    assert line == (
        f"prompt cache: A 0.0% ($0.0000 saved) · B {b.summary.cached_share:.1%} "
        f"(${b.summary.prompt_cache_saved_usd:.4f} saved)"
    )
    assert (
        f"B: measured cached share {b.summary.cached_share:.1%} vs stable-prefix estimate" in compared.stdout
    )
    assert "A: measured" not in compared.stdout  # nothing measured in A


def _summary_json(db: Path, run_id: str) -> str:
    store = open_store(db)
    with store._connection() as con:
        return str(con.execute("SELECT summary_json FROM runs WHERE run_id = ?", (run_id,))[0][0])


def test_an_anthropic_suite_asks_for_its_prefix_to_be_cached(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``target.cache_prefix: true`` reaches the Anthropic request; without it nothing is cached."""
    from evalkit.testing.vendor_servers import LoopbackAnthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback")
    model = "anthropic/claude-haiku-4-5-20251001"
    shares = {}
    for marked in (False, True):
        with LoopbackAnthropic(responder=answer) as server:
            text = loopback_suite(
                server.base_url, scorers=SCORERS, extra_target="  cache_prefix: true\n" if marked else ""
            ).replace("openai/loopback", model)
            suite = make_suite(text, cases(N), prompt=PROMPT, name=f"anthropic-{marked}")
            done = run(cli, suite, tmp_path / f"{marked}.duckdb", "--concurrency", "1")  # in turn: one write
            assert done.exit_code == 0, done.stdout + done.stderr
        summary = open_store(tmp_path / f"{marked}.duckdb").get_run("latest").summary
        shares[marked] = (summary.cached_prompt_tokens or 0, summary.cache_write_tokens or 0)
        assert ("prompt cache" in done.stdout) is marked
    assert shares[False] == (0, 0)
    cached, written = shares[True]
    assert written > 0 and cached == written * (
        N - 1
    )  # the first case wrote the system prompt, the rest read it


def test_the_judges_prompt_cache_is_recorded_as_the_targets_is(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A judge whose long rubric the provider caches: its cached tokens and savings are stored per
    result, summed in the summary and printed apart from the target's (which has none here)."""
    from evalkit.testing.prompt_cache import PrefixCache
    from tests.run.test_judge_spend import verdict

    scorers = (
        "  - name: llm_judge\n    args:\n"
        f"      rubric: {json.dumps(RULES)}\n"
        f"      model: {PRICED}\n"
        "      api_base: {judge}\n"
    )
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer) as target, LoopbackOpenAI(responder=verdict) as judge:
        text = loopback_suite(target.base_url, scorers=scorers.replace("{judge}", judge.base_url))
        done = run(cli, make_suite(text.replace("openai/loopback", PRICED), cases(N)), db, "-c", "1")
        assert done.exit_code == 0, done.stdout + done.stderr
        replay = PrefixCache()  # what the judge's server reported, call by call (in arrival order)
        judge_cached = [replay.lookup_and_remember(prompt_text(body), PRICED) for body in judge.stats.bodies]
    assert judge_cached[0] == 0 and all(tokens > 0 for tokens in judge_cached[1:])
    store = open_store(db)
    record = store.get_run("latest")
    with store._connection() as con:
        rows = con.execute(
            "SELECT cached_prompt_tokens, judge_cached_prompt_tokens, judge_prompt_cache_saved_usd "
            "FROM outputs WHERE run_id = ?",
            (record.run_id,),
        )
    assert all(int(r[0]) == 0 for r in rows)  # the target's short prompts were never cached
    saved = sum(judge_cached) * (0.15e-6 - 0.075e-6)  # gpt-4o-mini: $0.15/M in, $0.075/M cached
    assert sum(int(r[1]) for r in rows) == sum(judge_cached)
    assert sum(float(r[2]) for r in rows) == pytest.approx(saved)
    summary = record.summary
    assert summary is not None and summary.judge_cached_prompt_tokens == sum(judge_cached)
    assert summary.judge_prompt_cache_saved_usd == pytest.approx(saved)
    assert f"the judge's prompt cache {sum(judge_cached):,} tokens (saved ${saved:.4f})" in done.stdout


def prompt_text(body: dict[str, object]) -> str:
    messages = body.get("messages")
    assert isinstance(messages, list)
    return "".join(str(m.get("content", "")) for m in messages)

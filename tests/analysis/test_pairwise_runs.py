"""`evalkit compare A B --judge`: two stored runs judged case by case in both orders, the gate, the report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.judges.pairwise_stats import wilson_interval
from evalkit.store import open_store
from evalkit.store.pairwise import PairwiseStore
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.judges.test_pairwise import content_text, first_slot_logprobs, first_slot_text

N = 6
CASES = [{"id": f"c{i}", "input": {"question": f"question {i}"}, "expected": "x"} for i in range(N)]


def suite_yaml(base_url: str, gate: str = "") -> str:
    return (
        "name: pw\n"
        "target:\n"
        "  model: openai/loopback\n"
        f"  api_base: {base_url}\n"
        "  prompts: {v1: prompts/v1.j2, v2: prompts/v2.j2}\n"
        "  prompt: v1\n"
        "cases: [cases.jsonl]\n"
        "scorers:\n  - name: exact\n"
        f"{gate}"
    )


def make_pw_suite(make_suite: Callable[..., Path], base_url: str, gate: str = "") -> Path:
    path = make_suite(suite_yaml(base_url, gate), CASES, prompt="[user]\nShort: {{ question }}\n")
    (path.parent / "prompts" / "v2.j2").write_text("[user]\nLong: {{ question }}\n")
    return path


def serve(judge: Callable[[dict[str, Any]], str], good: str = "Long:") -> Callable[[dict[str, Any]], str]:
    """The target answers well to the prompt holding ``good``; requests to model "judge" go to ``judge``."""

    def responder(body: dict[str, Any]) -> str:
        if body.get("model") == "judge":
            return judge(body)
        text = body["messages"][-1]["content"]
        return json.dumps({"answer": ("good answer to " if good in text else "bad answer to ") + text[-10:]})

    return responder


def two_runs(cli: Any, suite: Path, db: Path, *extra: str) -> tuple[str, str]:
    for version in ("v1", "v2"):
        result = cli("run", str(suite), "--prompt", version, "--db", str(db), "--no-progress", *extra)
        assert result.exit_code in (0, 1), result.stderr
    runs = open_store(db).list_runs()
    by_version = {r.prompt_version: r.run_id for r in runs}
    return by_version["v1"], by_version["v2"]


def test_content_judge_prefers_the_better_run(cli: Any, make_suite: Any, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(logprobs=False) as server:
        server.responder = serve(content_text)
        run_a, run_b = two_runs(cli, make_pw_suite(make_suite, server.base_url), db)
        before = server.stats.requests
        md = tmp_path / "summary.md"
        result = cli(
            "compare", run_a, run_b, "--judge", "openai/judge", "--judge-api-base", server.base_url,
            "--db", str(db), "--summary-md", str(md),
        )  # fmt: skip
        judge_calls = server.stats.requests - before
    assert result.exit_code == 0, result.stderr
    low, high = wilson_interval(N, N)
    out = result.stdout
    assert f"B wins {N}, A wins 0, ties 0" in out
    assert f"B's win rate over A 100.0% (95% CI {low:.1%} to {high:.1%}" in out
    assert f"sign test p = {2 / 2**N:.3g}" in out
    assert "Position agreement 100.0% (same winner in both orders)" in out
    # no logprobs from this server: one probe (the other calls wait for its answer), then text verdicts
    assert judge_calls == 1 + 2 * N
    assert f"Judge spend: {judge_calls} requests, cost unknown (no price for openai/judge)" in out
    summary = md.read_text()
    assert "**Pairwise judge**" in summary and "| 100.0% (95% CI" in summary
    stored = PairwiseStore(open_store(db)).latest(run_a, run_b)
    assert stored is not None and stored["wins"] == N and stored["position_agreement"] == 1.0
    assert {v["winner"] for v in stored["verdicts"]} == {"b"}
    assert all(v["reasoning_ab"] and v["reasoning_ba"] for v in stored["verdicts"])


def test_judge_spend_is_priced_printed_and_stored(cli: Any, make_suite: Any, tmp_path: Path) -> None:
    """The judge's calls are not part of either run, so the comparison reports what they cost."""
    from evalkit.providers.prices import call_cost

    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(logprobs=False) as server:
        server.responder = lambda body: (
            content_text(body) if body["model"] == "gpt-4o-mini" else serve(content_text)(body)
        )
        run_a, run_b = two_runs(cli, make_pw_suite(make_suite, server.base_url), db)
        before = server.stats.requests
        result = cli(
            "compare", run_a, run_b, "--judge", "openai/gpt-4o-mini", "--judge-api-base", server.base_url,
            "--db", str(db),
        )  # fmt: skip
        judge_calls = server.stats.requests - before
    assert result.exit_code == 0, result.stderr
    stored = PairwiseStore(open_store(db)).latest(run_a, run_b)
    assert stored is not None
    spend = stored["summary"]["cost_usd"]
    assert stored["summary"]["calls"] == judge_calls == 1 + 2 * N
    # every call has a prompt: at least one token each at gpt-4o-mini's input price
    assert spend >= judge_calls * call_cost("openai/gpt-4o-mini", 1, 0) > 0
    assert f"Judge spend: {judge_calls} requests, ${spend:.4f}" in result.stdout


def test_first_slot_judge_fails_a_gate_that_asks_for_position_agreement(
    cli: Any, make_suite: Any, tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(top_logprobs=first_slot_logprobs) as server:
        server.responder = serve(first_slot_text)
        gate = (
            "gate:\n  pairwise:\n    judge: openai/judge\n"
            f"    api_base: {server.base_url}\n"
            "    min_win_rate: 0.5\n    min_position_agreement: 0.8\n    calibration: fail\n"
        )
        run_a, run_b = two_runs(cli, make_pw_suite(make_suite, server.base_url, gate), db)
        result = cli("compare", run_a, run_b, "--judge", "openai/judge", "--db", str(db))
    assert result.exit_code == 1, result.stdout + result.stderr
    out = result.stdout
    assert f"B wins 0, A wins 0, ties {N}" in out and "win rate n/a (no decisive case)" in out
    assert "Position agreement 0.0%" in out and "first-slot answers 100.0%" in out
    assert f"decided by log-probabilities {N} of {N}" in out
    assert "Pairwise gate FAILED" in out and "below min_position_agreement 80%" in out
    assert "has no calibration against human labels" in out
    assert f"Orders disagree on {N} case(s)" in out


def test_pairwise_gate_warns_by_default(cli: Any, make_suite: Any, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(top_logprobs=first_slot_logprobs) as server:
        server.responder = serve(first_slot_text)
        gate = f"gate:\n  pairwise:\n    judge: openai/judge\n    api_base: {server.base_url}\n    min_kappa: 0.5\n"
        run_a, run_b = two_runs(cli, make_pw_suite(make_suite, server.base_url, gate), db)
        result = cli("compare", run_a, run_b, "--judge", "openai/judge", "--db", str(db))
    assert result.exit_code == 0, result.stderr
    assert "Pairwise gate passed" in result.stdout and "WARNING:" in result.stdout


def test_run_with_baseline_fails_when_the_judge_prefers_the_baseline(
    cli: Any, make_suite: Any, tmp_path: Path
) -> None:
    """Both runs fail `exact` everywhere (no regression in pass rate), but every v2 output is worse."""
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(logprobs=False) as server:
        server.responder = serve(content_text, good="Short:")
        gate = (
            "gate:\n  min_pass_rate: 0\n  pairwise:\n    judge: openai/judge\n"
            f"    api_base: {server.base_url}\n    min_win_rate: 0.5\n"
        )
        suite = make_pw_suite(make_suite, server.base_url, gate)
        assert cli("run", str(suite), "--prompt", "v1", "--db", str(db), "--no-progress").exit_code == 0
        assert cli("baseline", "set", "main", "latest", "--db", str(db)).exit_code == 0
        result = cli(
            "run", str(suite), "--prompt", "v2", "--db", str(db), "--no-progress", "--baseline", "main"
        )
    assert result.exit_code == 1, result.stdout + result.stderr
    assert f"B wins 0, A wins {N}, ties 0" in result.stdout
    assert "significantly below min_win_rate 50%" in result.stdout
    run = open_store(db).get_run("latest")
    assert any("pairwise:" in r for r in run.summary.baseline.reasons)


def test_a_judge_without_a_price_has_an_unknown_spend_not_zero(
    cli: Any, make_suite: Any, tmp_path: Path
) -> None:
    """gate.pairwise's judge "openai/judge" is in no price map: its calls count as $0. The run
    under --baseline, `compare --judge` (terminal and --summary-md) and the HTML report said
    "$0.0000" as if the judge were free; they say the cost is unknown and why, and the stored
    comparison names the model, as a run's summary does (``unpriced_models``)."""
    db = tmp_path / "r.duckdb"
    no_price = "cost unknown (no price for openai/judge)"
    with LoopbackOpenAI(logprobs=False) as server:
        server.responder = serve(content_text)
        gate = f"gate:\n  min_pass_rate: 0\n  pairwise:\n    judge: openai/judge\n    api_base: {server.base_url}\n"
        suite = make_pw_suite(make_suite, server.base_url, gate)
        assert cli("run", str(suite), "--prompt", "v1", "--db", str(db), "--no-progress").exit_code == 0
        assert cli("baseline", "set", "main", "latest", "--db", str(db)).exit_code == 0
        before = server.stats.requests
        gated_md = tmp_path / "gated.md"
        gated = cli(
            "run", str(suite), "--prompt", "v2", "--db", str(db), "--no-progress", "--baseline", "main",
            "--summary-md", str(gated_md),
        )  # fmt: skip
        calls = server.stats.requests - before - N  # the run's own N target calls, then the judge's
        runs = {r.prompt_version: r.run_id for r in open_store(db).list_runs()}
        run_a, run_b = runs["v1"], runs["v2"]
        md = tmp_path / "summary.md"
        compared = cli(
            "compare", run_a, run_b, "--judge", "openai/judge", "--db", str(db), "--summary-md", str(md)
        )
    assert gated.exit_code == 0, gated.stdout + gated.stderr
    assert compared.exit_code == 0, compared.stdout + compared.stderr
    assert f"Judge spend: {calls} requests, {no_price}" in gated.stdout
    assert f"Judge spend: {calls} requests, {no_price}" in compared.stdout
    assert f"judge spend {calls} requests, {no_price}" in md.read_text()
    # the run's own summary for CI shows the judging its pairwise gate decided on
    assert "**Pairwise judge** `openai/judge`" in gated_md.read_text()
    assert f"judge spend {calls} requests, {no_price}" in gated_md.read_text()
    for out in (gated.stdout, compared.stdout, md.read_text(), gated_md.read_text()):
        assert "requests, $" not in out
    stored = PairwiseStore(open_store(db)).latest(run_a, run_b)
    assert stored is not None and stored["summary"]["calls"] == calls
    assert stored["summary"]["unpriced_models"] == ["openai/judge"] and stored["summary"]["cost_usd"] == 0
    page = tmp_path / "report.html"
    assert cli("report", run_a, "--compare", run_b, "--out", str(page), "--db", str(db)).exit_code == 0
    html = page.read_text()
    assert f"judge spend {calls} requests, {no_price}" in html and "requests, $" not in html


def test_a_comparison_stored_before_its_unpriced_judge_was_recorded_shows_no_spend_figure() -> None:
    """Comparisons stored before ``unpriced_models`` was kept read it from the price map: a judge
    without a price now had none then."""
    from evalkit.report.pairwise import pairwise_view

    def stored(judge_model: str) -> dict[str, Any]:
        summary = {"stats": {}, "calls": 13, "cost_usd": 0.0}
        return {
            "comparison_id": "c", "judge_model": judge_model, "prompt_hash": "h", "verdict_method": "auto",
            "created_at": None, "summary": summary, "verdicts": [],
        }  # fmt: skip

    unknown = pairwise_view(stored("openai/judge"))
    priced = pairwise_view(stored("openai/gpt-4o-mini"))
    assert unknown is not None and unknown["spend"] == "13 requests, cost unknown (no price for openai/judge)"
    assert priced is not None and priced["spend"] == "13 requests, $0.0000"


def test_report_shows_pairwise_verdicts_with_reasons_as_text(
    cli: Any, make_suite: Any, tmp_path: Path
) -> None:
    def judge(body: dict[str, Any]) -> str:
        reply = json.loads(content_text(body))
        reply["reasoning"] = "<script>alert(1)</script> " + reply["reasoning"]
        return json.dumps(reply)

    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(logprobs=False) as server:
        server.responder = serve(judge)
        run_a, run_b = two_runs(cli, make_pw_suite(make_suite, server.base_url), db)
        assert cli(
            "compare", run_a, run_b, "--judge", "openai/judge", "--judge-api-base", server.base_url, "--db", str(db)
        ).exit_code == 0  # fmt: skip
    page = tmp_path / "report.html"
    result = cli("report", run_a, "--compare", run_b, "--out", str(page), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    html = page.read_text()
    assert 'id="pairwise"' in html and "Pairwise judge: openai/judge, both orders" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Response A is the good one." in html
    assert "<script>alert(1)" not in html
    assert html.count('class="pairwise-case"') == N
    # retried 500s count too; a judge litellm has no price for counted as $0: unknown, not $0
    assert re.search(r"judge spend \d+ requests, cost unknown \(no price for openai/judge\)", html)


def test_judge_needs_two_runs(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    open_store(str(db))
    result = cli("compare", "some-group", "--judge", "openai/judge", "--db", str(db))
    assert result.exit_code == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("verdict", ["sometimes"])
def test_bad_verdict_method_is_a_usage_error(cli: Any, make_suite: Any, tmp_path: Path, verdict: str) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI() as server:
        server.responder = serve(content_text)
        run_a, run_b = two_runs(cli, make_pw_suite(make_suite, server.base_url), db)
        result = cli(
            "compare", run_a, run_b, "--judge", "openai/judge", "--judge-verdict", verdict, "--db", str(db)
        )
    assert result.exit_code == 2 and "--judge-verdict" in result.stderr

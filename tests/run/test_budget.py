"""``--budget`` is a hard cap, measured against the loopback server with a model litellm prices."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.providers.base import CompletionRequest
from evalkit.providers.prices import call_cost
from evalkit.report.formatting import run_cost_cell
from evalkit.run.call_plan import case_cost_model
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, scorer
from evalkit.store import open_store
from evalkit.store.baselines import BaselineStore
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite, one_error_line
from tests.run.test_runner import SCORERS, cases, run

PRICED = "openai/gpt-4o-mini"  # in litellm's price map: the loopback's answers cost real (simulated) money
PADDING = " " * 1200  # ~300 completion tokens by the loopback's count (under max_tokens 512)


def long_answer(body: dict[str, Any]) -> str:
    """The right answer (q12 -> a12), padded so that each call costs about $0.0002."""
    return json.dumps({"answer": "a" + body["messages"][-1]["content"][1:]}) + PADDING


# a passing verdict from a case's own judge
JUDGED = json.dumps({"reasoning": "ok", "score": 8, "pass": True, "confidence": 0.9})


def unplanned_judge_suite(make_suite: Callable[..., Path], target_url: str, judge_url: str, n: int) -> Path:
    """``n`` priced cases (:func:`long_answer`), each with its own gpt-4o judge, which no plan made
    before the case is dispatched counts: each answer fits ``--budget 0.002``, its judge does not."""
    own_judge = {
        "name": "llm_judge",
        "id": "own_judge",
        "args": {"rubric": "Right value.", "model": "openai/gpt-4o", "api_base": judge_url},
    }
    text = loopback_suite(target_url, scorers=SCORERS).replace("openai/loopback", PRICED)
    return make_suite(text, [{**case, "scorers": [own_judge]} for case in cases(n)])


def spent_on_the_wire(server: LoopbackOpenAI) -> float:
    """What the server's replies cost at the model's price, from the bodies it received."""
    total = 0.0
    for body in server.stats.bodies:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body["messages"])
        total += call_cost(PRICED, max(1, prompt_chars // 4), max(1, len(long_answer(body)) // 4))
    return total


def tokens_on_the_wire(server: LoopbackOpenAI) -> tuple[int, int]:
    """The prompt and completion tokens the server's replies reported, from the bodies it received."""
    prompt = sum(
        max(1, sum(len(str(m.get("content", ""))) for m in b["messages"]) // 4) for b in server.stats.bodies
    )
    return prompt, sum(max(1, len(long_answer(body)) // 4) for body in server.stats.bodies)


def test_budget_is_a_hard_cap_and_the_run_resumes(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    budget = 0.002
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server:
        text = loopback_suite(server.base_url, scorers=SCORERS).replace("openai/loopback", PRICED)
        suite = make_suite(text, cases(50))
        worst = case_cost_model(PRICED, {"max_tokens": 512}, []).target_worst(_first_request(suite))
        # adaptive concurrency (up to 64 in flight): the old check let every case through
        stopped = run(cli, suite, db, "--budget", str(budget))
        requests_at_stop = server.stats.requests
        wire = spent_on_the_wire(server)
        assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
        store = open_store(db)
        run_ = store.get_run("latest")
        frame = store.case_results(run_.run_id)
        assert run_.status == "incomplete" and 0 < len(frame) < 50
        assert requests_at_stop == len(frame)  # nothing dispatched is lost or unrecorded
        stored_spend = float(frame["cost_usd"].sum())
        assert stored_spend > 0 and abs(stored_spend - wire) < 1e-9  # the store holds what was spent
        assert run_.summary is not None and run_.summary.cost_usd == pytest.approx(stored_spend)
        assert stored_spend <= budget  # worst cases were reserved: under the cap, not just near it
        assert budget - stored_spend < 2 * worst  # ... and it stopped only when the next case could not fit
        assert f"Cases {len(frame)} of 50: " in stopped.stdout  # not "Cases 12", as if the suite had 12
        line = next(x for x in stopped.stdout.splitlines() if "stopped at the budget" in x)
        assert f"stopped at the budget of ${budget:.4f}: spent ${stored_spend:.4f}" in line
        assert f"--resume {run_.run_id} --db {db}" in line and "(exit 4)" in line  # as it can be typed
        assert (
            run_.summary.gate is not None
            and f"--resume {run_.run_id} --db {db}`" in run_.summary.gate.reasons[0]
        )
        # `evalkit runs` says how many of the 50 cases the stopped run's pass rate is over
        listed = cli("runs", "--db", str(db)).stdout
        row = next(x for x in listed.splitlines() if run_.run_id in x)
        assert f" {len(frame)}/50 " in row, row
        resumed = run(cli, suite, db, "--resume", run_.run_id)
    assert resumed.exit_code == 0, resumed.stdout
    run_ = open_store(db).get_run(run_.run_id)
    assert run_.status == "complete" and len(open_store(db).case_results(run_.run_id)) == 50


def _first_request(suite: Path) -> Any:
    from evalkit.run.evaluate import prepare_target

    loaded = load_suite(suite)
    target = prepare_target(loaded, None, None)
    return target.request(next(iter(loaded.iter_cases())))


def test_a_budget_below_one_case_dispatches_nothing(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=long_answer) as server:
        text = loopback_suite(server.base_url, scorers=SCORERS).replace("openai/loopback", PRICED)
        suite = make_suite(text, cases(5))
        stopped = run(cli, suite, tmp_path / "r.duckdb", "--budget", "0.00004")
        assert server.stats.requests == 0  # one case's worst case (512 tokens out) is ~$0.0003
    assert stopped.exit_code == 4
    assert "Cases 0 of 5: 0 passed, 0 failed, 0 errors" in stopped.stdout
    # a cap below a hundredth of a cent is printed as it is, not as $0.0000
    assert (
        "stopped at the budget of $0.00004: spent $0.0000" in stopped.stdout and "--resume" in stopped.stdout
    )


def test_a_case_that_will_not_be_sent_reserves_nothing_against_the_budget(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A scanned PDF placed as its empty text layer is the case's error without a call, but it
    reserved a call's worst case: under a budget below that, the run stopped (exit 4, "stopped at
    the budget") without recording it, though it would cost nothing."""
    scan_under_a_budget_below_one_call(make_suite, cli, tmp_path)


def scan_under_a_budget_below_one_call(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, *extra: str
) -> None:
    """Run a suite of one scanned PDF placed as its text under a budget below one call: its error is
    recorded, nothing is sent and the run is not stopped at the budget (``extra``: ``--ray local``)."""
    from tests.providers.test_file_inputs import write_scanned_invoice

    with LoopbackOpenAI(responder=long_answer) as server:
        text = loopback_suite(server.base_url, scorers="  - name: json_valid\n").replace(
            "openai/loopback", PRICED
        )
        scan = {"id": "scan", "input": {"doc": {"$file": "docs/scan.pdf"}}}
        suite = make_suite(text, [scan], prompt="[user]\nRead the invoice.\n{{ doc }}\n")
        write_scanned_invoice(suite.parent / "docs" / "scan.pdf")
        done = run(cli, suite, tmp_path / "r.duckdb", "--budget", "0.00004", *extra)
        assert server.stats.requests == 0
    assert done.exit_code == 3, done.stdout + done.stderr  # its error: the verdict cannot be trusted
    assert "stopped at the budget" not in done.stdout
    store = open_store(tmp_path / "r.duckdb")
    run_ = store.get_run("latest")
    (row,) = store.case_results(run_.run_id, frame=False)
    assert (row.case_id, row.verdict, run_.status) == ("scan", "error", "complete")
    assert row.error is not None and row.error.startswith("scan.pdf has no text layer")


def test_the_judges_calls_count_against_the_budget(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from tests.run.test_judge_spend import panel_suite, verdict

    budget = 0.1  # a case's worst case is ~$0.045 (gpt-4o judging at 600 tokens, re-asks included)
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as target, LoopbackOpenAI(responder=verdict) as judge:
        suite = make_suite(panel_suite(target, judge), cases(40))
        stopped = run(cli, suite, db, "--budget", str(budget))
        assert judge.stats.requests > 0
    assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
    store = open_store(db)
    run_ = store.get_run("latest")
    frame = store.case_results(run_.run_id)
    assert 0 < len(frame) < 40
    target_spend = float(frame["cost_usd"].sum())
    judge_spend = float(frame["judge_cost_usd"].sum())
    assert judge_spend > target_spend > 0  # a 2-judge, 2-repeat panel costs more than the target
    assert target_spend + judge_spend <= budget  # both were reserved before each case was dispatched
    assert run_.summary is not None and run_.summary.cost_usd == pytest.approx(target_spend + judge_spend)
    assert f"judge ${judge_spend:.4f}" in stopped.stdout


def test_a_budget_refuses_models_without_a_price_before_any_call(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A model litellm's map does not price costs $0 by evalkit's count: no cap could hold on it.
    Refused, naming the model, before a call is made or a run stored (target, judge, matrix cell)."""
    from tests.run.test_judge_spend import verdict

    db = tmp_path / "r.duckdb"
    judge_scorers = SCORERS + (
        "  - name: llm_judge\n    args:\n      rubric: Right value.\n"
        "      model: openai/house-judge-v9\n      api_base: JUDGE_URL\n"
    )
    with LoopbackOpenAI(responder=long_answer) as server, LoopbackOpenAI(responder=verdict) as judge:
        unpriced_target = make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(3))
        refused = [
            run(cli, unpriced_target, db, "--budget", "1"),
            run(cli, unpriced_target, db, "--budget", "1", "--model", PRICED, "--model", "openai/loopback"),
        ]
        text = loopback_suite(server.base_url, scorers=judge_scorers.replace("JUDGE_URL", judge.base_url))
        judged = make_suite(text.replace("openai/loopback", PRICED), cases(3))
        refused.append(run(cli, judged, db, "--budget", "1"))
        assert server.stats.requests == 0 and judge.stats.requests == 0
        unbudgeted = run(cli, unpriced_target, db)  # without --budget it runs, and says the cost is unknown
    for result, model in zip(
        refused,
        [
            "openai/loopback (the target)",
            "openai/loopback (the target)",
            "openai/house-judge-v9 (scorer 'llm_judge')",
        ],
        strict=True,
    ):
        assert (
            f"--budget cannot cap calls to {model}: the installed litellm's price map has no price for it"
            in one_error_line(result, 2, "")
        )
    assert unbudgeted.exit_code == 0, unbudgeted.stdout + unbudgeted.stderr
    assert len(open_store(db).list_runs()) == 1  # the refused invocations stored nothing


def test_a_budget_refuses_unpriced_judges_nested_in_tagged_or_of_a_case_before_any_call(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A judge inside a ``tagged`` scorer, or among a case's own scorers, is called as the suite's
    judges are: under --budget one without a price is refused up front (exit 2, one line naming
    the scorer and the model), not discovered case by case after the target was paid for."""
    from tests.run.test_judge_spend import verdict

    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server, LoopbackOpenAI(responder=verdict) as judge:
        house_judge = {"rubric": "Right value.", "model": "openai/house-judge-v9", "api_base": judge.base_url}
        inner = json.dumps({"name": "llm_judge", "args": house_judge})
        tagged = f"  - name: tagged\n    id: fmt\n    args: {{untagged: answer, inner: {inner}}}\n"
        nested_scorers = SCORERS + tagged
        nested = make_suite(
            loopback_suite(server.base_url, scorers=nested_scorers).replace("openai/loopback", PRICED),
            cases(3),
            name="nested",
        )
        own = cases(3)
        own[1]["scorers"] = [{"name": "llm_judge", "id": "tone", "args": house_judge}]
        own[2]["scorers"] = [{"name": "tagged", "id": "fmt", "args": {"inner": json.loads(inner)}}]
        per_case = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS).replace("openai/loopback", PRICED),
            own,
            name="own",
        )
        refused = [
            run(cli, nested, db, "--budget", "1"),
            run(cli, nested, db, "--budget", "1", "--model", PRICED, "--model", "openai/gpt-4o"),
            run(cli, per_case, db, "--budget", "1"),
        ]
        assert server.stats.requests == 0 and judge.stats.requests == 0
        unbudgeted = run(cli, nested, db)  # without --budget it runs, and says the judge's cost is unknown
        assert judge.stats.requests == 3

    def refusal(scorer: str) -> str:
        return (
            f"--budget cannot cap calls to openai/house-judge-v9 (scorer {scorer!r}): the installed "
            "litellm's price map has no price for it, so the calls would count as $0"
        )

    for result in refused:
        one_error_line(result, 2, "")
    assert refusal("fmt") in refused[0].stderr and refusal("fmt") in refused[1].stderr
    # the first case that calls it, at its line of the case file
    case_line = f"{per_case.parent / 'cases.jsonl'}:2: case 'c0001': "
    assert case_line + refusal("tone") in refused[2].stderr
    assert unbudgeted.exit_code == 0, unbudgeted.stdout + unbudgeted.stderr
    assert "no price for openai/house-judge-v9 (counted as $0)" in unbudgeted.stdout
    assert len(open_store(db).list_runs()) == 1  # the refused invocations stored nothing


def test_a_run_says_a_cases_own_unpriced_judge_counted_as_zero(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A judge among a case's own scorers is called and counted as $0 like the suite's: the summary
    (printed, markdown and ``runs.summary_json``) listed only the target's and the suite's judges'
    models without a price, so its spend read as a known $0. So did a re-score of the run."""
    from tests.run.test_judge_spend import verdict

    db = tmp_path / "r.duckdb"
    md = tmp_path / "summary.md"
    with LoopbackOpenAI(responder=long_answer) as server, LoopbackOpenAI(responder=verdict) as judge:
        own = cases(3)
        house_judge = {"rubric": "Right value.", "model": "openai/house-judge-v9", "api_base": judge.base_url}
        own[1]["scorers"] = [{"name": "llm_judge", "id": "tone", "args": house_judge}]
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS).replace("openai/loopback", PRICED), own
        )
        ran = run(cli, suite, db, "--summary-md", str(md))
        assert judge.stats.requests == 1
        rescored = cli("rescore", "latest", "--db", str(db), "--no-cache", "--no-progress")
        assert judge.stats.requests == 2
    for result in (ran, rescored):
        assert result.exit_code == 0, result.stdout + result.stderr
        assert "no price for openai/house-judge-v9 (counted as $0)" in result.stdout
    assert "no price for openai/house-judge-v9" in md.read_text()
    for record in open_store(db).list_runs():
        assert record.summary is not None and record.summary.unpriced_models == ["openai/house-judge-v9"]


def test_a_budget_refuses_semantic_similarity_on_litellm_embeddings_before_any_call(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """semantic_similarity's litellm embeddings go straight to litellm, not through the call path:
    no cost counts them, so --budget ran them uncapped. It is refused up front (exit 2, one line
    naming the scorer and the model), the suite's scorer, one nested in ``tagged`` and a case's own."""
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server, LoopbackOpenAI() as embedder:
        similar = {"model": "openai/text-embedding-3-small", "api_base": embedder.base_url, "threshold": 0.1}
        inner = json.dumps({"name": "semantic_similarity", "args": similar})
        suite_level = (
            SCORERS + f"  - name: semantic_similarity\n    id: sim\n    args: {json.dumps(similar)}\n"
        )
        nested = SCORERS + f"  - name: tagged\n    id: fmt\n    args: {{untagged: answer, inner: {inner}}}\n"
        own = cases(3)
        own[2]["scorers"] = [{"name": "semantic_similarity", "id": "close", "args": similar}]

        def priced(scorers: str, rows: list[dict[str, Any]], name: str) -> Path:
            text = loopback_suite(server.base_url, scorers=scorers).replace("openai/loopback", PRICED)
            return make_suite(text, rows, name=name)

        suites = [
            priced(suite_level, cases(3), "top"),
            priced(nested, cases(3), "nested"),
            priced(SCORERS, own, "own"),
        ]
        refused = [run(cli, suite, db, "--budget", "1") for suite in suites]
        assert server.stats.requests == 0 and embedder.stats.requests == 0
        unbudgeted = run(cli, suites[0], db)  # without --budget it runs, and embeds on the server
        assert embedder.stats.requests == 3
        own_run = run(cli, suites[2], db)  # a case's own scorer embeds too

    def refusal(scorer: str) -> str:
        return (
            f"--budget cannot cap scorer {scorer!r}'s embedding calls to openai/text-embedding-3-small: "
            "semantic_similarity calls litellm's embeddings outside evalkit's call path, so no cost "
            "counts them; use model local/all-minilm-l6-v2 (offline, free) or run without --budget"
        )

    for result in refused:
        one_error_line(result, 2, "")
    assert refusal("sim") in refused[0].stderr and refusal("fmt") in refused[1].stderr
    own_line = f"{suites[2].parent / 'cases.jsonl'}:3: case 'c0002': "
    assert own_line + refusal("close") in refused[2].stderr
    assert unbudgeted.exit_code == 0, unbudgeted.stdout + unbudgeted.stderr
    # what those embeddings cost is in no figure: each run says so, and stores it
    not_counted = "the embedding calls to openai/text-embedding-3-small are not counted"
    assert not_counted in unbudgeted.stdout and not_counted in own_run.stdout
    stored = open_store(db).list_runs()  # the refused invocations stored nothing
    assert [r.summary.uncounted_models for r in stored if r.summary] == [
        ["openai/text-embedding-3-small"]
    ] * 2
    # tables of runs (compare, matrix, studio) give no sum for them: it would not be what they cost
    assert run_cost_cell(stored[0].summary) == "unknown (openai/text-embedding-3-small not counted)"


def test_a_budget_with_a_baseline_refuses_the_gates_pairwise_judge_before_any_call(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """With --baseline, gate.pairwise's judge judges every case in both orders after the run, on
    calls no reservation covered: --budget let them run past the cap. It is refused up front (exit
    2, one line naming the judge); --budget without --baseline, where the judge is not called, runs."""
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server, LoopbackOpenAI() as judge:
        gate = (
            f"gate:\n  min_pass_rate: 0\n  pairwise:\n    judge: {PRICED}\n    api_base: {judge.base_url}\n"
        )
        text = loopback_suite(server.base_url, scorers=SCORERS, gate=gate).replace("openai/loopback", PRICED)
        suite = make_suite(text, cases(3))
        first = run(cli, suite, db, "--budget", "1")  # no baseline: no pairwise judging to cap
        assert first.exit_code == 0, first.stdout + first.stderr
        assert cli("baseline", "set", "main", "latest", "--db", str(db)).exit_code == 0
        before = server.stats.requests
        refused = [
            run(cli, suite, db, "--budget", "1", "--baseline", "main", "--no-cache"),
            run(
                cli,
                suite,
                db,
                "--budget",
                "1",
                "--baseline",
                "main",
                "--no-cache",
                "--model",
                PRICED,
                "--model",
                "openai/gpt-4o",
            ),
        ]
        assert server.stats.requests == before and judge.stats.requests == 0
        unbudgeted = run(cli, suite, db, "--baseline", "main", "--no-cache")
        assert judge.stats.requests > 0  # without --budget the judge is called after the run
    for result in refused:
        one_error_line(result, 2, "")
        assert (
            f"--budget cannot cap gate.pairwise's judge {PRICED}: with --baseline it judges every case "
            "against the baseline after the run, outside the budget" in result.stderr
        )
    assert unbudgeted.exit_code in (0, 1, 3), unbudgeted.stdout + unbudgeted.stderr
    assert len(open_store(db).list_runs()) == 2  # the refused invocations stored nothing


def test_run_suite_refuses_a_budget_with_the_gates_pairwise_judge_before_any_call(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """The library refuses it as the CLI does: ``run_suite(..., baseline=...)`` under a budget with
    gate.pairwise's billed judge raises before the run, so neither the target nor the judge is
    called and no run is stored; without the budget the judge is called after the run."""
    from evalkit import RunOptions, run_suite
    from evalkit.errors import UsageError

    store = open_store(tmp_path / "r.duckdb")
    with LoopbackOpenAI(responder=long_answer) as server, LoopbackOpenAI() as judge:
        gate = (
            f"gate:\n  min_pass_rate: 0\n  pairwise:\n    judge: {PRICED}\n    api_base: {judge.base_url}\n"
        )
        text = loopback_suite(server.base_url, scorers=SCORERS, gate=gate).replace("openai/loopback", PRICED)
        suite = load_suite(make_suite(text, cases(3)))
        first = run_suite(suite, store, RunOptions(budget_usd=1))  # no baseline: no pairwise judging
        BaselineStore(store).set("main", first.run)
        before = server.stats.requests
        with pytest.raises(UsageError) as refused:
            run_suite(suite, store, RunOptions(budget_usd=1, use_cache=False), baseline="main")
        assert server.stats.requests == before and judge.stats.requests == 0
        assert len(store.list_runs()) == 1  # nothing of the refused run was stored
        run_suite(suite, store, RunOptions(use_cache=False), baseline="main")
        assert judge.stats.requests > 0  # the suite's judge is real: unbudgeted, it is called
    assert str(refused.value).startswith(
        f"--budget cannot cap gate.pairwise's judge {PRICED}: with --baseline it judges every case "
        "against the baseline after the run, outside the budget"
    )


def test_a_shard_run_resumes_its_own_cases_only(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    from evalkit.run.sharding import Shard

    db = tmp_path / "r.duckdb"
    shard = Shard.parse("2/3")
    with LoopbackOpenAI(responder=long_answer) as server:
        text = loopback_suite(server.base_url, scorers=SCORERS).replace("openai/loopback", PRICED)
        suite = make_suite(text, cases(60))
        owned = {c.id for c in load_suite(suite).iter_cases() if shard.accepts(c)}
        stopped = run(cli, suite, db, "--shard", "2/3", "--budget", "0.001")
        assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
        run_ = open_store(db).get_run("latest")
        assert run_.kind == "shard" and run_.status == "incomplete"
        other = run(cli, suite, db, "--resume", run_.run_id, "--shard", "1/3")
        assert other.exit_code == 2 and "is shard 2/3: resume it without --shard" in other.stderr
        resumed = run(cli, suite, db, "--resume", run_.run_id)  # the command the stop printed
    assert resumed.exit_code == 0, resumed.stdout + resumed.stderr
    stored = {r[0] for r in open_store(db).completed_keys(run_.run_id)}
    assert stored == owned and len(server.stats.bodies) == len(owned)  # no case of another shard


def test_the_budget_holds_when_a_replayed_output_is_longer_than_any_reply_bound(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A `replay:` (or `python:`, `http:`) target has no max_tokens: the judges' calls are
    reserved again on the output itself before they are made, and the cap holds."""
    cases_ = [{"id": f"c{i}", "input": {"q": f"q{i}"}, "expected": "a long essay"} for i in range(10)]
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases_))
    essay = "word " * 12_000  # ~30k tokens by the generous bound, far over a 4,096-token reply
    (tmp_path / "rec.jsonl").write_text(
        "".join(json.dumps({"id": c["id"], "output": essay}) + "\n" for c in cases_)
    )
    budget = 0.02  # a few cases' judging at what it costs; the reply bound would reserve too little
    with LoopbackOpenAI(
        responder=lambda body: json.dumps({"reasoning": "ok", "score": 8, "pass": True, "confidence": 0.9})
    ) as judge:
        (tmp_path / "suite.yaml").write_text(
            "name: essays\ntarget:\n  model: replay:rec.jsonl\ncases: [cases.jsonl]\nscorers:\n"
            "  - name: llm_judge\n    args:\n      rubric: The essay is long.\n"
            f"      model: {PRICED}\n      api_base: {judge.base_url}\n"
        )
        stopped = cli(
            "run",
            str(tmp_path / "suite.yaml"),
            "--db",
            str(tmp_path / "r.duckdb"),
            "--no-progress",
            "--budget",
            str(budget),
        )
        asked = judge.stats.requests
    assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
    run_ = open_store(tmp_path / "r.duckdb").get_run("latest")
    assert run_.summary is not None and 0 < run_.summary.cost_usd <= budget
    stored = len(open_store(tmp_path / "r.duckdb").completed_keys(run_.run_id))
    assert 0 < stored < len(cases_) and asked >= stored  # stopped part-way, every stored case judged
    assert run_.summary.errors == 0


def test_the_worst_case_reserved_is_at_the_service_tier_asked_for() -> None:
    """A run asking for the priority tier is billed at its prices: reserving at standard ones let
    the spend reach 2.5x the cap on some models."""
    from evalkit.providers.base import CompletionRequest

    request = CompletionRequest(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "x" * 400}])
    standard = case_cost_model("openai/gpt-4o-mini", {"max_tokens": 100}, []).target_worst(request)
    priority = case_cost_model("openai/gpt-4o-mini", {"max_tokens": 100, "service_tier": "priority"}, [])
    assert priority.target_worst(request) > standard
    prompt_bound = round((priority.target_worst(request) - 100 * 1e-06) / 2.5e-07)  # priority prices
    assert call_cost("openai/gpt-4o-mini", prompt_bound, 100, tier="priority") == pytest.approx(
        priority.target_worst(request)
    )


@scorer("test_budget_second_opinion")
def second_opinion(api_base: str) -> ScoreFn:
    """A custom scorer that asks a priced model through evalkit's call path (``ctx.complete``)."""

    async def score(ctx: ScoreContext) -> Score:
        assert ctx.complete is not None
        request = CompletionRequest(
            model="openai/gpt-4o",
            messages=[{"role": "user", "content": f"Is {ctx.output} right?"}],
            params={"max_tokens": 1000},
            api_base=api_base,
        )
        reply = await ctx.complete(request)
        return Score(value=1.0, passed=True, reason=reply.text[:20])

    return score


def test_a_custom_scorers_model_calls_are_reserved_against_the_budget(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Only llm_judge and pairwise_judge calls are known before a case is dispatched; every other
    call through the call path reserves its own worst case before it is sent, so the cap holds."""
    budget = 0.03  # a second opinion costs ~$0.003 (300 tokens out at gpt-4o's price), at worst $0.01
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as target, LoopbackOpenAI(responder=long_answer) as judge:
        scorers = f"  - name: test_budget_second_opinion\n    args: {{api_base: {judge.base_url}}}\n"
        text = loopback_suite(target.base_url, scorers=scorers).replace("openai/loopback", PRICED)
        stopped = run(cli, make_suite(text, cases(40)), db, "--budget", str(budget))
        assert judge.stats.requests > 0
        wire = spent_on_the_wire(target) + sum(
            call_cost(
                "openai/gpt-4o",
                max(1, sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4),
                max(1, len(long_answer(body)) // 4),
            )
            for body in judge.stats.bodies
        )
    assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
    store = open_store(db)
    run_ = store.get_run("latest")
    frame = store.case_results(run_.run_id)
    assert 0 < len(frame) < 40
    judge_spend = float(frame["judge_cost_usd"].sum())
    spend = float(frame["cost_usd"].sum()) + judge_spend
    assert judge_spend > 0 and spend <= wire <= budget  # the custom scorer's calls were reserved too
    # the run's cost is what it spent: its stored results, and the answers of cases left unscored
    assert run_.summary is not None and run_.summary.cost_usd == pytest.approx(wire)
    unstored = run_.summary.unstored_cost_usd
    assert unstored == pytest.approx(wire - spend) if wire - spend > 1e-9 else unstored is None


def test_a_cases_own_judge_is_reserved_against_the_budget(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The cost model plans the suite's judges only; a judge a case carries itself went unreserved
    because of its name, and a $0.01 budget was spent 57 times over."""
    budget = 0.01
    db = tmp_path / "r.duckdb"
    verdict = json.dumps({"reasoning": "ok" + PADDING, "score": 8, "pass": True, "confidence": 0.9})
    with (
        LoopbackOpenAI(responder=long_answer) as target,
        LoopbackOpenAI(responder=lambda body: verdict) as judge,
    ):
        judged = [
            {
                **case,
                "scorers": [
                    {
                        "name": "llm_judge",
                        "id": "own_judge",
                        "args": {
                            "rubric": "Right value.",
                            "model": "openai/gpt-4o",
                            "api_base": judge.base_url,
                        },
                    }
                ],
            }
            for case in cases(40)
        ]
        text = loopback_suite(target.base_url, scorers=SCORERS).replace("openai/loopback", PRICED)
        stopped = run(cli, make_suite(text, judged), db, "--budget", str(budget))
        judged_on_the_wire = sum(
            call_cost(
                "openai/gpt-4o",
                max(1, sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4),
                max(1, len(verdict) // 4),
            )
            for body in judge.stats.bodies
        )
        wire = spent_on_the_wire(target) + judged_on_the_wire
    assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
    # the cap holds on the wire (the judge's calls are reserved one by one, after their case was
    # dispatched: with this budget they may not fit beside the target's, and the cases wait for --resume)
    assert 0 < wire <= budget


def test_a_stopped_run_counts_the_answers_it_paid_for_and_did_not_store(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Each case's answer fits the budget, its own judge (gpt-4o, unplanned) does not: the run stops
    with no result stored and every answer paid for, kept in the response cache for --resume. Its
    Tokens/cost line read `cost $0.0000` beside a stop line saying `spent $0.0009`; it counts what
    was spent (and says how much of it no stored result holds), and the resumptions count it once."""
    db = tmp_path / "r.duckdb"
    with (
        LoopbackOpenAI(responder=long_answer) as target,
        LoopbackOpenAI(responder=lambda body: JUDGED) as judge,
    ):
        suite = unplanned_judge_suite(make_suite, target.base_url, judge.base_url, 5)
        stopped = run(cli, suite, db, "--budget", "0.002")
        spent, (tokens_in, tokens_out) = spent_on_the_wire(target), tokens_on_the_wire(target)
        assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
        assert target.stats.requests == 5 and judge.stats.requests == 0 and spent > 0
        store = open_store(db)
        run_id = store.get_run("latest").run_id
        assert store.case_results(run_id).empty  # nothing stored: every case awaits its judge
        usage = next(x for x in stopped.stdout.splitlines() if x.startswith("Tokens"))
        assert (
            f"Tokens {tokens_in:,} in / {tokens_out:,} out · cost ${spent:.4f} (target ${spent:.4f}" in usage
        )
        assert (
            f"· ${spent:.4f} of it ({tokens_in:,} in / {tokens_out:,} out tokens) on answers not stored"
            in usage
        )
        assert f"stopped at the budget of $0.0020: spent ${spent:.4f} (target ${spent:.4f}" in stopped.stdout
        summary = store.get_run(run_id).summary  # stored as printed
        assert summary is not None and summary.cost_usd == pytest.approx(spent)
        assert summary.target_cost_usd == pytest.approx(spent) and summary.unstored_cost_usd == pytest.approx(
            spent
        )
        assert (summary.prompt_tokens, summary.completion_tokens) == (tokens_in, tokens_out)

        # resumed under the same budget: the cached answers cost nothing again, the judges still do not fit
        again = run(cli, suite, db, "--resume", run_id, "--budget", "0.002")
        assert again.exit_code == 4 and target.stats.requests == 5 and judge.stats.requests == 0
        assert (
            f"spent $0.0000 (target $0.0000, judge $0.0000) in this invocation, ${spent:.4f} by the run"
            in again.stdout
        )
        summary = open_store(db).get_run(run_id).summary
        assert summary is not None and summary.cost_usd == pytest.approx(spent)  # counted once, not twice
        assert (summary.prompt_tokens, summary.completion_tokens) == (tokens_in, tokens_out)

        finished = run(cli, suite, db, "--resume", run_id)
        judged = sum(
            call_cost(
                "openai/gpt-4o",
                max(1, sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4),
                max(1, len(JUDGED) // 4),
            )
            for body in judge.stats.bodies
        )
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert target.stats.requests == 5 and judge.stats.requests == 5  # the answers came from the cache
    run_ = open_store(db).get_run(run_id)
    summary = run_.summary
    assert run_.status == "complete" and summary is not None and summary.unstored_cost_usd is None
    assert summary.cost_usd == pytest.approx(spent + judged)  # every part's spend, each counted once
    assert summary.target_cost_usd == pytest.approx(spent) and summary.judge_cost_usd == pytest.approx(judged)
    assert (summary.prompt_tokens, summary.completion_tokens) == (tokens_in, tokens_out)
    assert f"cost ${spent + judged:.4f} (target ${spent:.4f}, judge ${judged:.4f})" in finished.stdout


def test_a_matrix_shares_one_budget_and_does_not_start_the_cells_it_cannot_pay_for(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """``--budget`` is a hard cap on the whole invocation: a matrix's cells share it, each getting what
    the cells before it left, and the cells after the one it stopped are not started (said by name),
    where each cell used to get the whole budget again."""
    budget = 0.0018  # one cell of six cases (~$0.0012) and part of a second
    models = (PRICED, "openai/gpt-4o-mini-2024-07-18", "openai/gpt-4.1-nano")
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(6))
        args = [arg for model in models for arg in ("--model", model)]
        stopped = run(cli, suite, db, "--budget", str(budget), "-c", "2", *args)
        wire = spent_on_the_wire(server)
    assert stopped.exit_code == 4, stopped.stdout + stopped.stderr
    runs = [r for r in open_store(db).list_runs() if r.group_id is not None]
    assert sorted(r.model for r in runs) == sorted(models[:2])  # the third never started
    spent = sum(r.summary.cost_usd for r in runs if r.summary is not None)
    assert 0 < spent <= budget and wire <= budget, (spent, wire)
    note = next(line for line in stopped.stdout.splitlines() if "stopped: 2 of 3 cells started" in line)
    assert f"not started: v1 x {models[2]}" in note and "its --budget ran out" in note

"""Shards on a real local Ray session: same results as a local run, cache, budget, a worker killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

SCORERS = "  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"


def cases(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"c{i:04d}", "input": {"question": f"q{i}"}, "expected": {"answer": f"a{i}"}} for i in range(n)
    ]


def answer(body: dict[str, Any]) -> str:
    """Right for even questions, wrong for odd ones, always the same."""
    i = int(body["messages"][-1]["content"][1:])
    return json.dumps({"answer": f"a{i}" if i % 2 == 0 else "wrong"})


def comparable(db: Path) -> list[tuple[Any, ...]]:
    store = open_store(db)
    frame = store.case_results(store.get_run("latest").run_id)
    return sorted(
        zip(
            frame["case_id"], frame["epoch"], frame["verdict"], frame["score"], frame["raw_text"], strict=True
        )
    )


@pytest.fixture
def suite(make_suite: Callable[..., Path]) -> Callable[[LoopbackOpenAI, int], Path]:
    def build(server: LoopbackOpenAI, n: int) -> Path:
        return make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0.4}\n"), cases(n)
        )

    return build


def test_ray_run_equals_local_run_and_uses_the_cache(
    ray_session: Any, suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer) as server:
        path = suite(server, 250)
        local = cli(
            "run", str(path), "--db", str(tmp_path / "local.duckdb"), "--no-progress", "--concurrency", "8"
        )
        on_ray = cli(
            "run",
            str(path),
            "--db",
            str(tmp_path / "ray.duckdb"),
            "--no-progress",
            "--concurrency",
            "8",
            "--ray",
            "local",
        )
        assert server.stats.requests == 500
        sharded = open_store(tmp_path / "ray.duckdb").get_run("latest")
        assert sharded.summary.calls.requests == 250  # every request a worker sent is counted
        again = cli("run", str(path), "--db", str(tmp_path / "ray.duckdb"), "--no-progress", "--ray", "local")
        assert server.stats.requests == 500  # answered from the driver's cache: nothing sent to Ray
    assert local.exit_code == on_ray.exit_code == again.exit_code == 0
    assert "Cases 250: 125 passed, 125 failed, 0 errors" in on_ray.stdout
    assert comparable(tmp_path / "local.duckdb") == comparable(tmp_path / "ray.duckdb")
    run = open_store(tmp_path / "ray.duckdb").get_run("latest")
    assert run.summary.calls.cache_hits == 250 and run.summary.calls.requests == 0


def test_a_ray_run_counts_every_call_of_its_shards_as_a_local_run_does(
    ray_session: Any, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Every counter of the Calls line travels with the shards' batches: judge calls, 429s and cache
    misses included, not only those of the calls the driver made itself."""
    from evalkit.run.call_counts import CALL_COUNTERS

    def judge_or_answer(body: dict[str, Any]) -> str:
        if "rubric" in json.dumps(body["messages"]).lower():
            return json.dumps({"reasoning": "fine", "score": 8, "pass": True, "confidence": 0.9})
        return answer(body)

    def every_7th_first_attempt_429(body: dict[str, Any], seen: int) -> str | None:
        question = body["messages"][-1]["content"]
        return "429" if question.startswith("q") and int(question[1:]) % 7 == 0 and seen == 1 else None

    with LoopbackOpenAI(responder=answer) as server:  # workers started, evalkit imported in them
        warm = make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(10), name="warm")
        assert cli("run", str(warm), "--db", str(tmp_path / "warm.duckdb"), "--ray", "local").exit_code in (
            0,
            1,
        )
    counted: dict[str, tuple[Any, int, str]] = {}
    for name, ray in (("local", ()), ("ray", ("--ray", "local"))):
        with LoopbackOpenAI(
            responder=judge_or_answer, fault_plan=every_7th_first_attempt_429, latency=0.02
        ) as server:
            judge = (
                "  - name: llm_judge\n    args:\n      rubric: The answer is right.\n"
                f"      model: openai/loopback\n      api_base: {server.base_url}\n"
            )
            path = make_suite(loopback_suite(server.base_url, scorers=SCORERS + judge), cases(300), name=name)
            db = str(tmp_path / f"{name}.duckdb")
            result = cli("run", str(path), "--db", db, "--no-progress", "--concurrency", "8", *ray)
            assert result.exit_code in (0, 1), result.stdout + result.stderr
            judged = sum("rubric" in json.dumps(b["messages"]).lower() for b in server.stats.bodies)
        calls_line = next(line for line in result.stdout.splitlines() if line.startswith("Calls "))
        summary = open_store(db).get_run("latest").summary
        counted[name] = (summary.calls, judged, calls_line)
    assert summary.ray.shards > 0 and summary.ray.calls_on_driver < 300  # the shards made calls
    (local, local_judged, local_line), (sharded, judged, line) = counted["local"], counted["ray"]
    assert judged == local_judged == 300 and sharded.judge_calls == judged
    assert sharded.rate_limited == local.rate_limited == 43 and sharded.cache_misses == 600
    assert {k: getattr(sharded, k) for k in CALL_COUNTERS} == {k: getattr(local, k) for k in CALL_COUNTERS}
    assert line == local_line


def _kill_shard_workers() -> bool:
    """SIGKILL the Ray worker processes running a shard (their process title names the task).

    Every one of them: a title can lag behind its task, so a worker that has just sent its shard's last
    batch may still read run_shard; killing it alone would leave nothing to resubmit."""
    killed = False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\x00", b" ")
        except OSError:
            continue
        if title.startswith(b"ray::run_shard"):
            os.kill(int(pid), signal.SIGKILL)
            killed = True
    return killed


def test_a_worker_killed_mid_run_loses_nothing_and_stores_nothing_twice(
    ray_session: Any, suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """No result is lost or stored twice; the calls the killed worker made after its last batch
    cannot be counted, and the summary says its call counts, tokens and cost are lower bounds."""
    killed = threading.Event()
    lock = threading.Lock()
    outcome: list[bool] = []

    def kill() -> None:
        # a busy machine can start a shard's worker late: look for one until it shows (polling for a
        # condition, not waiting for time to pass), or give up after a while
        deadline = time.monotonic() + 30
        while not (found := _kill_shard_workers()) and time.monotonic() < deadline:
            time.sleep(0.02)
        outcome.append(found)

    armed = threading.Event()

    def answer_then_kill(body: dict[str, Any]) -> str:
        # once some results are in, kill a worker that is running a shard (once). Early enough that
        # no shard (100 cases, two at a time) can have finished: a worker still titled run_shard just
        # after its last result would be killed with nothing left to resubmit.
        with lock:
            if armed.is_set() and server.stats.requests >= 30 and not killed.is_set():
                killed.set()
                threading.Thread(target=kill).start()
        return answer(body)

    with LoopbackOpenAI(responder=answer_then_kill, latency=0.02) as server:
        path = suite(server, 400)
        # A first run warms the workers (evalkit imported, this suite loaded). Otherwise the driver
        # makes the first calls itself while they warm up, and on a busy machine it can make all of
        # them before any shard starts: there would be no shard to kill.
        warm = cli("run", str(path), "--db", str(tmp_path / "warm.duckdb"), "--no-progress", "--ray", "local")
        assert warm.exit_code == 0, warm.stdout + warm.stderr
        server.stats.requests = 0
        armed.set()
        disturbed = cli(
            "run",
            str(path),
            "--db",
            str(tmp_path / "ray.duckdb"),
            "--no-progress",
            "--no-cache",
            "--concurrency",
            "8",
            "--ray",
            "local",
        )
        assert killed.is_set() and outcome == [True]
        sent = server.stats.requests
        calm = cli(
            "run",
            str(path),
            "--db",
            str(tmp_path / "local.duckdb"),
            "--no-progress",
            "--no-cache",
            "--concurrency",
            "8",
        )
    assert disturbed.exit_code == calm.exit_code == 0, disturbed.stdout + disturbed.stderr
    store = open_store(tmp_path / "ray.duckdb")
    frame = store.case_results(store.get_run("latest").run_id)
    assert len(frame) == 400 and frame["case_id"].is_unique  # every case exactly once
    summary = store.get_run("latest").summary
    assert summary.ray.shard_retries >= 1  # the killed shard was resubmitted
    assert comparable(tmp_path / "ray.duckdb") == comparable(tmp_path / "local.duckdb")
    # The killed worker's calls since its last batch are in no counter (601 counted, 616 sent, once):
    # the summary says its figures are lower bounds rather than print them as exact
    assert summary.calls.unreported_shards >= 1 and summary.calls.requests <= sent
    lines = disturbed.stdout.splitlines()
    calls_line = next(line for line in lines if line.startswith("Calls "))
    assert calls_line.startswith(f"Calls at least {summary.calls.requests:,} requests (")
    assert "Ray shard task(s) ended before reporting their last calls" in calls_line
    usage = next(line for line in lines if line.startswith("Tokens "))
    assert usage.startswith("Tokens at least ") and " · cost at least $" in usage


def test_a_stopped_ray_run_stores_every_result_the_driver_received(
    ray_session: Any, suite: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal stops a Ray run as it stops a local one: every result handed to the writer (here, each
    one ``on_result`` saw) is committed, also those still buffered for the next commit, and the stored
    summary has the run's shard figures."""
    import asyncio

    from evalkit.run.runner import RunOptions, execute_run
    from evalkit.run.signals import RunInterrupted
    from evalkit.suite.loading import load_suite

    # no pre-warming, so the driver makes no calls itself: every result comes from a shard's batch
    monkeypatch.setattr("evalkit.run.runner._prewarm_ray", lambda *args: [])
    handed: list[str] = []

    def on_result(result: Any) -> None:
        handed.append(result.case.id)
        if len(handed) == 40:  # well inside a commit's second: buffered, not yet stored
            os.kill(os.getpid(), signal.SIGINT)

    store = open_store(tmp_path / "r.duckdb")
    with LoopbackOpenAI(responder=answer, latency=0.02) as server:
        options = RunOptions(ray="local", concurrency=8, use_cache=False)
        loaded = load_suite(suite(server, 400))
        with pytest.raises(RunInterrupted) as stopped:
            asyncio.run(execute_run(loaded, store, options, on_result=on_result))
    run = store.get_run("latest")
    kept = {case_id for case_id, _ in store.completed_keys(run.run_id)}
    # a result is handed over before on_result sees it: the one the signal cut short is kept too
    assert set(handed) <= kept and len(kept) <= len(handed) + 1 and len(kept) < 400
    assert run.status == "incomplete" and f"{len(kept)} of 400 results kept" in stopped.value.message
    # its summary has the shard figures a complete run's has (400 calls in shards of 100)
    assert run.summary is not None and run.summary.ray is not None
    assert (run.summary.ray.shards, run.summary.ray.calls_on_driver) == (4, 0)
    # the shards it cancelled had calls they never reported: its counts are marked lower bounds
    assert run.summary.calls is not None and run.summary.calls.unreported_shards >= 1


def test_budget_stops_a_ray_run_cleanly(
    ray_session: Any, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answer, latency=0.05) as server:
        # max_tokens 16: a case's worst case (~$1.2e-5) lets a few cases into the $5e-5 budget
        text = loopback_suite(
            server.base_url, scorers=SCORERS, extra_target="  params: {max_tokens: 16}\n"
        ).replace("openai/loopback", "openai/gpt-4o-mini")
        path = make_suite(text, cases(600))
        result = cli(
            "run",
            str(path),
            "--db",
            str(tmp_path / "r.duckdb"),
            "--no-progress",
            "--budget",
            "0.00005",
            "--concurrency",
            "4",
            "--ray",
            "local",
        )
    assert result.exit_code == 4, result.stdout + result.stderr
    store = open_store(tmp_path / "r.duckdb")
    run = store.get_run("latest")
    frame = store.case_results(run.run_id)
    assert run.status == "incomplete" and 0 < len(frame) < 600 and frame["case_id"].is_unique
    # a hard cap on Ray too: each shard spends at most its share of what was left when it started
    assert 0 < run.summary.cost_usd <= 0.00005, run.summary.cost_usd
    assert frame["cost_usd"].sum() == pytest.approx(run.summary.cost_usd)
    # the stop names the shard's share that ran out, and how much of the budget is left overall
    left = f"${0.00005 - run.summary.cost_usd:.8f}".rstrip("0")
    reason = run.summary.gate.reasons[0]
    assert (
        f"than what was left of its shard's share of the budget ({left} of $0.00005 left overall)" in reason
    )


def test_a_case_that_will_not_be_sent_reserves_nothing_of_a_shards_budget(
    ray_session: Any, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A shard reserved a call's worst case for a case that is its error without a call (a scan
    placed as its empty text layer), and stopped at the budget without recording it."""
    from tests.run.test_budget import scan_under_a_budget_below_one_call

    scan_under_a_budget_below_one_call(make_suite, cli, tmp_path, "--ray", "local")


def test_prewarm_loads_the_suite_on_a_worker_per_cpu(
    ray_session: Any, suite: Callable[..., Path], tmp_path: Path
) -> None:
    """Each pre-warming task imports evalkit and loads the suite in a worker process, not the driver."""
    from evalkit.run.evaluate import prepare_target
    from evalkit.run.ray_warmup import prewarm
    from evalkit.run.runner import RunOptions
    from evalkit.suite.loading import load_suite

    with LoopbackOpenAI() as server:
        loaded = load_suite(suite(server, 10))
        refs = prewarm(loaded, prepare_target(loaded, None, None), RunOptions(ray="local"))
        pids = ray_session.get(refs, timeout=120)
        assert server.stats.requests == 0  # warming calls no model
    assert len(pids) == 2 and os.getpid() not in pids


@pytest.mark.parametrize(
    ("n", "size", "slots", "sizes"),
    [
        (2000, 250, 25, [250] * 8),
        (1949, 244, 25, [250] * 6 + [225, 224]),  # two workers end within one call of each other
        (130, 100, 64, [128, 2]),
        (7, 100, 3, [7]),
    ],
)
def test_equal_shards_cover_the_work_in_order_in_whole_rounds(
    n: int, size: int, slots: int, sizes: list[int]
) -> None:
    from evalkit.run.ray_executor import equal_shards

    work = [(f"c{i}", 0) for i in range(n)]
    shards = equal_shards(work, size, slots)
    assert [key for shard in shards for key in shard] == work  # every call once, in order
    assert [len(shard) for shard in shards] == sizes
    # no shard but the last ends on a part-filled round
    assert all(len(shard) % slots == 0 for shard in shards[:-1])


def test_the_budget_caps_the_judges_of_answers_the_driver_has_cached(
    ray_session: Any, make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The driver answers cached cases itself: their judges' calls are held to the budget too."""

    def judge_or_answer(body: dict[str, Any]) -> str:
        if "rubric" in json.dumps(body["messages"]).lower():
            return json.dumps({"reasoning": "fine", "score": 8, "pass": True, "confidence": 0.9})
        return answer(body)

    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI(responder=judge_or_answer) as server:

        def suite_with(rubric: str) -> str:
            judge = (
                f"  - name: llm_judge\n    args:\n      rubric: {rubric}\n"
                f"      model: openai/gpt-4o-mini\n      api_base: {server.base_url}\n"
            )
            return loopback_suite(server.base_url, scorers=SCORERS + judge).replace(
                "openai/loopback", "openai/gpt-4o-mini"
            )

        path = make_suite(suite_with("The answer is right."), cases(40))
        assert cli("run", str(path), "--db", db, "--no-progress").exit_code in (0, 1)
        path.write_text(suite_with("The answer is right and short."))  # new judge calls, cached answers
        budget = 0.002  # the 40 judge calls cost ~$0.003
        capped = cli("run", str(path), "--db", db, "--no-progress", "--budget", str(budget), "--ray", "local")
    assert capped.exit_code == 4, capped.stdout + capped.stderr
    run = open_store(db).get_run("latest")
    assert run.summary is not None and 0 < run.summary.cost_usd <= budget, run.summary.cost_usd

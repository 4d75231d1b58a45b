"""The calls the driver of a Ray run makes while its workers warm up: within the run's concurrency,
and a hung one holds back no shard (on a real local Ray session and the loopback server)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.testing.faults import Faults
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite
from tests.run.test_distributed import SCORERS, answer, cases

N = 300
CONCURRENCY = 8


def _ready_once_hung(started: str, hung: str) -> bool:
    """Stands in for the workers' pre-warming: done once the server holds the hung call (the
    driver has called it), so the workers become ready while that call is open."""
    Path(started).touch()
    deadline = time.monotonic() + 120
    while not Path(hung).exists() and time.monotonic() < deadline:  # polling for a condition
        time.sleep(0.01)
    return True


def _hang_first_case(hung: Path) -> Callable[[dict[str, Any], int], str | None]:
    """A fault plan: the first attempt of case c0000 (question q0) hangs; it marks ``hung``."""

    def plan(body: dict[str, Any], seen: int) -> str | None:
        if body["messages"][-1]["content"] == "q0" and seen == 1:
            hung.touch()
            return "hang"
        return None

    return plan


def _warming_until_hung(ray: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run's pre-warming replaced by a task that is done once the hung call is open; returns
    the file the fault plan marks. The task is running before the run starts."""
    started, hung = tmp_path / "gate-started", tmp_path / "hung"
    gate = ray.remote(num_cpus=0, max_retries=0)(_ready_once_hung).remote(str(started), str(hung))
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert started.exists()
    monkeypatch.setattr("evalkit.run.runner._prewarm_ray", lambda *args: [gate])
    return hung


def test_a_hung_call_on_the_driver_holds_back_no_shard(
    ray_session: Any, make_suite: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's first call hangs as the workers become ready. The shards start beside it with
    the other slots: every other case completes while it is still open (the server lets it go only
    then), the run never has more than --concurrency calls in flight, and no shard calls c0000.
    Before, every shard waited for the driver's calls to end: c0000 came right after the driver's
    own results and no shard result before it, 30 s later (the hang's end here, the first
    attempt's whole --timeout in real life)."""
    from evalkit.run.runner import RunOptions, execute_run
    from evalkit.suite.loading import load_suite

    hung = _warming_until_hung(ray_session, tmp_path, monkeypatch)
    handed: list[str] = []

    def on_result(result: Any) -> None:
        handed.append(result.case.id)
        if len(handed) == N - 1 and "c0000" not in handed:
            server.release_hung()

    store = open_store(tmp_path / "r.duckdb")
    plan = _hang_first_case(hung)
    with LoopbackOpenAI(
        responder=answer, latency=0.02, fault_plan=plan, faults=Faults(hang_seconds=30)
    ) as server:
        loaded = load_suite(make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(N)))
        options = RunOptions(ray="local", concurrency=CONCURRENCY)
        outcome = asyncio.run(execute_run(loaded, store, options, on_result=on_result))
        stats = server.stats
    summary = outcome.run.summary
    assert outcome.run.status == "complete" and summary is not None and summary.ray is not None
    assert summary.ray.calls_on_driver >= 1 and summary.ray.shards >= 1
    # every other result came while c0000's call was open, then c0000's (its retry answered)
    assert len(handed) == N and handed.index("c0000") == N - 1, handed.index("c0000")
    assert stats.by_outcome["hang"] == 1 and stats.requests == N + 1  # c0000 twice, by the driver
    assert stats.max_in_flight <= CONCURRENCY, stats.max_in_flight
    frame = store.case_results(outcome.run.run_id)
    assert len(frame) == N and frame["case_id"].is_unique


def test_a_signal_cancels_the_drivers_hung_call_before_the_last_commit(
    ray_session: Any, make_suite: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped while the driver's call hangs and the shards run does not wait for that call:
    it is cancelled, nothing of it is stored, and every result handed over is."""
    from evalkit.run.runner import RunOptions, execute_run
    from evalkit.run.signals import RunInterrupted
    from evalkit.suite.loading import load_suite

    hung = _warming_until_hung(ray_session, tmp_path, monkeypatch)
    handed: list[str] = []

    def on_result(result: Any) -> None:
        handed.append(result.case.id)
        if len(handed) == N // 3:  # more than the driver's calls: shards are running
            os.kill(os.getpid(), signal.SIGINT)

    store = open_store(tmp_path / "r.duckdb")
    plan = _hang_first_case(hung)
    with LoopbackOpenAI(
        responder=answer, latency=0.02, fault_plan=plan, faults=Faults(hang_seconds=60)
    ) as server:
        loaded = load_suite(make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(N)))
        with pytest.raises(RunInterrupted):
            asyncio.run(
                execute_run(loaded, store, RunOptions(ray="local", concurrency=CONCURRENCY), on_result)
            )
        assert server.stats.by_outcome["hang"] == 1 and "c0000" not in handed
    run = store.get_run("latest")
    kept = {case_id for case_id, _ in store.completed_keys(run.run_id)}
    assert run.status == "incomplete" and "c0000" not in kept
    assert set(handed) <= kept and len(kept) <= len(handed) + 1 < N
    assert run.summary is not None and run.summary.ray is not None and run.summary.ray.calls_on_driver >= 1


def test_a_run_stopped_while_the_workers_warm_counts_the_drivers_calls(
    ray_session: Any, make_suite: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal while the workers still warm up (here they never become ready): the stored summary
    counts the calls the driver made (it said 0: the count was taken only once they were ready)."""
    from evalkit.run.runner import RunOptions, execute_run
    from evalkit.run.signals import RunInterrupted
    from evalkit.suite.loading import load_suite

    never = _warming_until_hung(ray_session, tmp_path, monkeypatch)  # no call hangs: never ready
    handed: list[str] = []

    def on_result(result: Any) -> None:
        handed.append(result.case.id)
        if len(handed) == 20:
            os.kill(os.getpid(), signal.SIGINT)

    store = open_store(tmp_path / "r.duckdb")
    try:
        with LoopbackOpenAI(responder=answer, latency=0.02) as server:
            loaded = load_suite(make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(N)))
            options = RunOptions(ray="local", concurrency=CONCURRENCY)
            with pytest.raises(RunInterrupted):
                asyncio.run(execute_run(loaded, store, options, on_result))
            sent = server.stats.requests
    finally:
        never.touch()  # the stand-in warming task ends
    summary = store.get_run("latest").summary
    assert summary is not None and summary.ray is not None and summary.ray.shards == 0
    assert summary.ray.calls_on_driver >= sent >= 20, (summary.ray.calls_on_driver, sent)


class Warming:
    """Stands in for ``ray.wait``: the workers are ready from the ``ready_from``-th check on."""

    def __init__(self, ready_from: int) -> None:
        self.ready_from, self.checks = ready_from, 0

    def wait(self, refs: list[Any], num_returns: int, timeout: float) -> tuple[list[Any], list[Any]]:
        self.checks += 1
        return (refs if self.checks >= self.ready_from else []), []


def test_the_driver_calls_until_the_workers_are_warm(make_suite: Callable[..., Path]) -> None:
    """While the pre-warming tasks run, the driver makes calls itself, within the run's concurrency,
    and stops dispatching once they are done (here after the 7th readiness check)."""
    from evalkit.providers.calls import ConcurrencyLimit, ModelCaller
    from evalkit.run.driver_calls import DriverCalls
    from evalkit.run.evaluate import evaluate_case, prepare_target
    from evalkit.suite.loading import load_suite

    delivered: list[Any] = []

    with LoopbackOpenAI(latency=0.05, responder=answer) as server:
        loaded = load_suite(make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(20)))
        caller = ModelCaller(loaded.base_dir, limit=ConcurrencyLimit(2, maximum=2, adaptive=False))
        work = [(case, 0) for case in loaded.iter_cases()]

        async def go() -> int:
            target = prepare_target(loaded, None, None)

            async def call(case: Any, epoch: int) -> None:
                delivered.append(await evaluate_case(loaded, target, caller, case, epoch))

            try:
                driver = DriverCalls(2, call)
                made = await driver.call_until_warm(Warming(7), ["ref"], work)
                await driver.finish()
                return made
            finally:
                await caller.aclose()

        made = asyncio.run(go())
        assert server.stats.requests == 5 and server.stats.max_in_flight <= 2
    # the first check is the grace for already-warm workers; checks 2-6 each let one call go
    assert made == 5 and sorted(r.case.id for r in delivered) == [f"c{i:04d}" for i in range(5)]
    assert all(r.verdict in ("pass", "fail") for r in delivered)


def test_shards_take_the_slots_the_drivers_calls_leave() -> None:
    """A shard takes its whole share from the slots the driver's calls do not hold; while they are
    within a normal latency (here: none has ended, so there is no estimate) the next one waits for
    its share; once the call still open is taken as hung, it starts with the slots that are free."""
    from types import SimpleNamespace

    from evalkit.run.driver_calls import DriverCalls

    async def go() -> list[int]:
        answered = {name: asyncio.Event() for name in ("c0", "c1")}

        async def call(case: Any, epoch: int) -> None:
            await answered[case.id].wait()

        driver = DriverCalls(4, call)
        work = [(SimpleNamespace(id=name), 0) for name in ("c0", "c1", "c2")]
        assert await driver.call_until_warm(Warming(4), ["ref"], work) == 2  # c0 and c1 in flight
        widths = [await driver.take(2)]  # the two slots they leave
        waiting = asyncio.create_task(driver.take(2))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()  # no slot free, and the driver's calls are not taken as hung
        answered["c1"].set()  # one slot back; c0 is taken as hung after PATIENCE_FLOOR (1 s)
        widths.append(await waiting)
        driver.give_back(widths[0])
        widths.append(await driver.take(2))  # c0 still holds its slot: 4 - 1 - 1 free
        answered["c0"].set()
        await driver.finish()
        driver.give_back(widths[1])
        driver.give_back(widths[2])
        widths.append(await driver.take(4))  # every slot back
        return widths

    assert asyncio.run(go()) == [2, 1, 2, 4]

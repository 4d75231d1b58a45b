"""A bug in one case's task stops the run and is raised: the run never goes on without that case
and calls itself complete, with figures that leave the case out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import evalkit.run.local_loop as local_loop
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite
from tests.run.test_runner import SCORERS, answer, cases


class Bug(Exception):
    """Stands for an unexpected error in evalkit's own code while a case is evaluated."""


def test_a_case_task_that_fails_early_stops_the_run_and_is_raised(
    make_suite: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = local_loop.evaluate_case

    async def buggy(suite: Any, target: Any, caller: Any, case: Any, *args: Any, **kwargs: Any) -> Any:
        if case.id == "c0001":  # fails at once, long before the run's last case
            raise Bug("a bug while evaluating c0001")
        return await real(suite, target, caller, case, *args, **kwargs)

    monkeypatch.setattr(local_loop, "evaluate_case", buggy)
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=answer) as server:
        suite = load_suite(make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(40)))
        with pytest.raises(Bug, match="c0001"):
            run_suite(suite, open_store(db), RunOptions(concurrency=4))
    run = open_store(db).get_run("latest")
    # kept as a part of a run (resumable once the bug is fixed), not a complete run short of a case
    assert run.status == "incomplete"
    assert "c0001" not in set(open_store(db).case_results(run.run_id)["case_id"])

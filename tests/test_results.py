"""Run records: the one constructor of a new run, and what a run summary stores."""

from __future__ import annotations

from datetime import datetime, timezone

from evalkit import __version__
from evalkit.results import (
    SUMMARY_SCHEMA_VERSION,
    CallCounts,
    GateDecision,
    RunRecord,
    RunSummary,
)


def new_run(**overrides: object) -> RunRecord:
    fields: dict[str, object] = {
        "suite_name": "listings",
        "suite_path": "suites/listings/suite.yaml",
        "suite_hash": "h",
        "prompt_version": "v1",
        "prompt_hash": "p",
        "model": "openai/m",
        "params": {"temperature": 0.0},
        "git_commit": None,
        "n_cases": 3,
        "config": {"run": {"repeat": 1}},
    }
    return RunRecord.new(**(fields | overrides))  # type: ignore[arg-type]


def test_a_new_run_gets_a_fresh_id_starts_now_and_has_no_summary() -> None:
    before = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    a, b = new_run(), new_run()
    assert a.run_id.startswith("listings-") and a.run_id != b.run_id
    assert a.status == "running" and a.summary is None and a.finished_at is None
    assert a.started_at.tzinfo is None and a.started_at >= before  # naive UTC, as stored
    assert (a.evalkit_version, a.group_id, a.parent_run_id) == (__version__, None, None)
    assert (a.model, a.n_cases, a.config) == ("openai/m", 3, {"run": {"repeat": 1}})


def test_a_new_run_keeps_a_given_start_and_version() -> None:
    run = new_run(started_at=datetime(2026, 1, 2), evalkit_version="0.0.9", parent_run_id="r-1")
    assert (run.started_at, run.evalkit_version, run.parent_run_id) == (datetime(2026, 1, 2), "0.0.9", "r-1")


def test_a_summary_stores_the_keys_it_was_given_and_its_version() -> None:
    summary = RunSummary(results=2, passed=1, failed=1, pass_rate=0.5).model_copy(
        update={
            "calls": CallCounts(requests=2, cache_hits=0),
            "gate": GateDecision(passed=False, exit_code=1, reasons=["low"]),
        }
    )
    assert summary.stored() == {
        "results": 2,
        "passed": 1,
        "failed": 1,
        "pass_rate": 0.5,
        "calls": {"requests": 2, "cache_hits": 0},
        "gate": {"passed": False, "exit_code": 1, "reasons": ["low"], "warnings": [], "judge_failures": []},
        "schema_version": SUMMARY_SCHEMA_VERSION,
    }
    assert RunSummary.model_validate(summary.stored()) == summary

"""A model litellm's price map has no price for is counted at $0: every place that shows a run's
cost says so instead of a spend that looks known (summary, matrix and group tables, frontier).
(``--budget`` refuses such a run: tests/run/test_budget.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite
from tests.run.test_budget import PRICED, long_answer
from tests.run.test_runner import SCORERS, cases, run


def test_the_summary_names_the_models_it_has_no_price_for(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server:
        unpriced_text = loopback_suite(server.base_url, scorers=SCORERS)
        unpriced = run(cli, make_suite(unpriced_text, cases(3)), db)
        priced = run(cli, make_suite(unpriced_text.replace("openai/loopback", PRICED), cases(3)), db)
    assert "cost $0.0000 (target $0.0000, judge $0.0000) · no price for openai/loopback (counted as $0)" in (
        unpriced.stdout
    )
    assert "no price for" not in priced.stdout and "cost $0.00" in priced.stdout
    store = open_store(db)
    first, second = sorted(store.list_runs(), key=lambda r: r.started_at)
    assert first.summary is not None and first.summary.unpriced_models == ["openai/loopback"]
    assert second.summary is not None and second.summary.unpriced_models == []


def test_tables_and_the_frontier_show_no_figure_for_an_unpriced_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=long_answer) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS), cases(12))
        matrix = run(cli, suite, db, "--model", "openai/loopback", "--model", PRICED)
    assert matrix.exit_code == 0, matrix.stdout + matrix.stderr
    unpriced_row = next(
        line for line in matrix.stdout.splitlines() if " openai/loopback " in line and "%" in line
    )
    assert "unknown (no price for openai/loopback)" in unpriced_row and "$0.0000" not in unpriced_row
    group = next(r.group_id for r in open_store(db).list_runs() if r.group_id)
    compared = cli("compare", group, "--db", str(db))
    assert compared.exit_code == 0, compared.stdout + compared.stderr
    frontier = compared.stdout.split("Model frontier")[1]
    cell = next(line for line in frontier.splitlines() if "openai/loopback " in line)
    assert re.search(r"\]\s+n/a\s", cell)  # its cost per 1,000 cases is unknown, not $0
    assert f"Cheapest not significantly worse than the best (v1 · {PRICED}" in frontier
    assert "itself" in frontier  # the unpriced cell is not recommended as the cheaper one

"""`evalkit compare GROUP` of a matrix stopped before each of its cells started: said incomplete,
the cells that never started named, no best cell picked among the cells that ran (exit 4)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evalkit.store import open_store
from evalkit.store.groups import GroupCell, record_group_cells
from tests.conftest import CliResult, one_error_line
from tests.runs import Outcome, run_record, store_run

GROUP = "s-matrix-1"
# models outer, prompts inner, as `evalkit run -p v1 -p v2 -m big -m tiny` runs them
PLANNED = [GroupCell("v1", "big"), GroupCell("v2", "big"), GroupCell("v1", "tiny"), GroupCell("v2", "tiny")]


def stored_group(db: Path, ran: int, *, recorded: bool = True) -> None:
    """A matrix of PLANNED whose first ``ran`` cells have a run (the rest never started)."""
    store = open_store(db)
    if recorded:
        record_group_cells(store, GROUP, PLANNED)
    for minute, cell in enumerate(PLANNED[:ran]):
        outcomes = [Outcome(f"c{i:02d}", "pass" if i < 40 + minute else "fail") for i in range(50)]
        record = run_record(
            f"r{minute}", prompt=cell.prompt_version, model=cell.model, group_id=GROUP, minutes=minute
        )
        store_run(store, record, outcomes)


def test_compare_of_an_incomplete_group_names_the_cells_that_never_started_and_picks_no_best(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "e.duckdb"
    stored_group(db, ran=3)
    summary = tmp_path / "summary.md"
    result = cli("compare", "latest", "--db", str(db), "--summary-md", str(summary))
    said = (
        f"group {GROUP} is incomplete: 3 of 4 cells started; not started: v2 x tiny; a matrix does "
        "not resume: run it again"
    )
    error = one_error_line(result, 4, said)
    assert error.endswith("no model frontier nor best cell: only the cells that ran were compared")
    assert "--prompt v1 --prompt v2 --model big --model tiny" in error
    # the cells that ran are still compared with the reference, under the warning
    assert result.stdout.startswith(f"WARNING: {said}")
    assert "r1" in result.stdout and "r2" in result.stdout
    assert "Model frontier" not in result.stdout and "best" not in result.stdout.lower()
    assert summary.read_text(encoding="utf-8").startswith(f"**WARNING: {said}")


def test_compare_of_a_group_of_which_one_cell_started_says_it_is_incomplete(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "e.duckdb"
    stored_group(db, ran=1)
    result = cli("compare", GROUP, "--db", str(db))
    one_error_line(
        result,
        4,
        f"group {GROUP} is incomplete: 1 of 4 cells started; not started: v2 x big, v1 x tiny, v2 x tiny;",
    )


def test_report_of_an_incomplete_group_writes_no_frontier_page(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "e.duckdb"
    stored_group(db, ran=3)
    page = tmp_path / "group.html"
    result = cli("report", GROUP, "--db", str(db), "-o", str(page))
    error = one_error_line(
        result, 4, f"group {GROUP} is incomplete: 3 of 4 cells started; not started: v2 x tiny;"
    )
    assert error.endswith(
        f"no frontier page is written (`evalkit compare {GROUP}` compares the cells that ran)"
    )
    assert not page.exists()


def test_a_whole_group_and_one_made_before_its_cells_were_recorded_compare_as_before(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    whole = tmp_path / "whole.duckdb"
    stored_group(whole, ran=4)
    older = tmp_path / "older.duckdb"
    stored_group(older, ran=3, recorded=False)  # nothing says what it set out to run
    for db in (whole, older):
        result = cli("compare", GROUP, "--db", str(db))
        assert result.exit_code == 0, result.stderr
        assert "incomplete" not in result.stdout and "Model frontier" in result.stdout

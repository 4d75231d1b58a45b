"""`evalkit compare GROUP` and `evalkit report GROUP` show the model frontier of a stored matrix."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.store import open_store
from tests.conftest import CliResult, one_error_line
from tests.runs import Outcome, run_record, store_run

N = 50
# model -> (cases passed: the first k, USD per case, latency ms)
CELLS = {
    "big": (45, 0.010, 900.0),
    "mid": (43, 0.002, 400.0),
    "tiny": (20, 0.0005, 100.0),
    "pricey": (44, 0.012, 950.0),  # worse, dearer and slower than big: dominated
}


@pytest.fixture
def matrix(tmp_path: Path) -> Path:
    db = tmp_path / "e.duckdb"
    store = open_store(db)
    for minute, (model, (k, cost, latency)) in enumerate(CELLS.items()):
        outcomes = [
            Outcome(f"c{i:02d}", "pass" if i < k else "fail", cost_usd=cost, latency_ms=latency)
            for i in range(N)
        ]
        store_run(
            store, run_record(f"r-{model}", model=model, group_id="s-matrix-1", minutes=minute), outcomes
        )
    return db


def test_compare_group_prints_the_frontier_and_names_the_cheapest_not_worse_cell(
    cli: Callable[..., CliResult], matrix: Path
) -> None:
    summary = matrix.parent / "summary.md"
    result = cli("compare", "s-matrix", "--db", str(matrix), "--summary-md", str(summary))
    assert result.exit_code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    rows = {w[4]: " ".join(w) for w in lines if w[:1] in (["◆"], ["·"]) and w[4].startswith("r-")}
    assert set(rows) == {"r-big", "r-mid", "r-tiny", "r-pricey"}
    assert rows["r-big"].startswith("◆") and "90.0% [78.6, 95.7]" in rows["r-big"]
    assert "$10.0000" in rows["r-big"] and "900 ms" in rows["r-big"] and "best" in rows["r-big"]
    assert rows["r-pricey"].startswith("·")  # dominated by big
    assert rows["r-tiny"].startswith("◆") and rows["r-tiny"].endswith("-50.0 pts 6.0e-08 worse")
    assert "not worse, recommended" in rows["r-mid"]
    assert (
        "Cheapest not significantly worse than the best (v1 · big, 90.0%): v1 · mid, 86.0% at $2.0000 "
        "per 1,000 cases against $10.0000 (McNemar exact p = 0.500 on 50 paired cases, alpha 0.05)."
    ) in result.stdout
    markdown = summary.read_text(encoding="utf-8")
    assert "### Model frontier" in markdown
    assert (
        "| ◆ | v1 · mid | 86.0% [73.8, 93.0] | $2.0000 | 400 ms | -4.0 pts | 0.5 | not worse, recommended |"
        in markdown
    )
    assert (
        "| · | v1 · pricey | 88.0% [76.2, 94.4] | $12.0000 | 950 ms | -2.0 pts | 1 | not worse |" in markdown
    )


def test_report_of_a_group_is_the_frontier_page(
    cli: Callable[..., CliResult], matrix: Path, tmp_path: Path
) -> None:
    page = tmp_path / "out" / "group.html"
    result = cli("report", "s-matrix-1", "--db", str(matrix), "-o", str(page))
    assert result.exit_code == 0, result.stderr
    assert f"report of group s-matrix-1 written to {page}" in result.stdout
    html = page.read_text(encoding="utf-8")
    rows = re.findall(r"<tr class=\"([a-z ]+)\">\s*(.*?)</tr>", html, re.S)
    cells = {
        re.findall(r"<td[^>]*>(.*?)</td>", body)[3]: (kind, re.findall(r"<td[^>]*>(.*?)</td>", body))
        for kind, body in rows
    }
    assert cells["r-mid"][0] == "pareto recommended"
    assert cells["r-mid"][1][4:] == [
        "86.0% [73.8, 93.0]",
        "$2.0000",
        "400 ms",
        "-4.0 pts",
        "0.5",
        "not worse, recommended",
    ]
    assert cells["r-pricey"][0] == "dominated" and cells["r-pricey"][1][0] == "·"
    assert cells["r-tiny"][1][-1] == "worse"
    assert "Cheapest not significantly worse than the best (v1 · big, 90.0%): v1 · mid" in html
    assert '<img src="data:image/png;base64,' in html
    assert "micro F1" not in html  # the suite scores no fields

    assert cli("report", "s-matrix-1", "--compare", "r-big", "--db", str(matrix)).exit_code == 2
    missing = cli("report", "nothing-like-it", "--db", str(matrix))
    assert missing.exit_code == 2 and "no run 'nothing-like-it'" in missing.stderr


def test_a_prefix_of_two_groups_is_called_ambiguous_by_report_and_compare(
    cli: Callable[..., CliResult], matrix: Path
) -> None:
    """`report` said "no baseline 's-matrix' of any suite and no run 's-matrix'" of a prefix two
    groups share, and both commands listed two groups as "a, b, ..." as if there were more."""
    store = open_store(matrix)
    store_run(store, run_record("r-other", group_id="s-matrix-2", minutes=9), [Outcome("c00", "pass")])
    for command in ("report", "compare"):
        error = one_error_line(cli(command, "s-matrix", "--db", str(matrix)), 2, "")
        assert error.endswith("group prefix 's-matrix' is ambiguous: s-matrix-1, s-matrix-2"), error


@pytest.mark.parametrize("alpha", ["0", "1"])
def test_an_alpha_of_0_or_1_is_refused(cli: Callable[..., CliResult], matrix: Path, alpha: str) -> None:
    """At --alpha 0 the frontier recommended `tiny` (40% against 90%, p = 6e-08) as "not
    significantly worse"; the suite's gate.regression_alpha already had to lie strictly inside."""
    result = cli("compare", "s-matrix-1", "--db", str(matrix), "--alpha", alpha)
    assert result.exit_code == 2 and "Recommend" not in result.stdout and "Cheapest" not in result.stdout
    assert f"compare: invalid value for '--alpha': {alpha} is not a significance level" in result.stderr


def test_group_table_puts_the_paired_rates_beside_their_difference(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The reference holds 40 cases (30 pass); the cell 36 of them, all passing. Its +27.8 points
    are over the 36 paired cases (72.2% -> 100.0%), not against the reference's 75.0%."""
    db = tmp_path / "g.duckdb"
    store = open_store(db)
    ref = [Outcome(f"c{i:02d}", "pass" if i < 30 else "fail") for i in range(40)]
    store_run(store, run_record("r-ref", model="ref", group_id="g-1"), ref)
    store_run(
        store,
        run_record("r-new", model="new", group_id="g-1", minutes=1),
        [Outcome(f"c{i:02d}", "pass") for i in range(4, 40)],
    )
    result = cli("compare", "g-1", "--db", str(db), "--reference", "r-ref")
    assert result.exit_code == 0, result.stderr
    (row,) = [line for line in result.stdout.splitlines() if " r-new " in line and "→" in line]
    assert "72.2% → 100.0% (+27.8 pts, 36 cases)" in row
    # the frontier's difference from the best (here the new cell) says the same paired count
    (ref_row,) = [
        line for line in result.stdout.splitlines() if " r-ref " in line and "pts" in line and "·" in line[:3]
    ]
    assert "-27.8 pts on 36 cases" in ref_row

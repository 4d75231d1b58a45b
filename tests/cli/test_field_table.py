"""The per-field figures printed by `evalkit run`, `show` and `compare` name the scorer they come from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.cli.field_table import scorer_title
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

CASES = [
    {"id": "w", "input": {"question": "widget?"}, "expected": [{"name": "Widget", "price": 9.99}]},
    {"id": "g", "input": {"question": "gadget?"}, "expected": [{"name": "Gadget", "price": 20}]},
]
TABLE_SCORER = "  - name: markdown_table\n    id: table\n    args: {key: name}\n"


def table_answer(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"]
    name, price = ("Widget", "9.99") if "widget" in question else ("Gadget", "25")
    return f"| name | price |\n|---|---|\n| {name} | {price} |"


def test_scorer_title_reads_the_run_config() -> None:
    config = {
        "scorers": [
            {"name": "json_fields", "id": "fields"},
            {"name": "markdown_table", "id": "table"},
            {"name": "tagged", "id": "answer", "args": {"inner": {"name": "json_fields"}}},
            {"name": "json_fields"},
        ]
    }
    assert scorer_title(["fields"], config) == "fields: json_fields"
    assert scorer_title(["table"], config) == "table: markdown_table"
    assert scorer_title(["answer", "json_fields"], config) == "answer: tagged json_fields, json_fields"
    assert scorer_title(["gone"], None) == "gone"


def test_run_show_and_compare_name_markdown_table_as_the_source_of_the_fields(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=table_answer) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=TABLE_SCORER), CASES)
        run = cli("run", str(suite), "--db", str(db), "--no-progress")
        again = cli("run", str(suite), "--db", str(db), "--no-progress", "--no-cache")
    assert run.exit_code == 1 and again.exit_code == 1, run.stdout  # the gadget's price is wrong
    assert "Fields (table: markdown_table, 4 slots): micro P 0.750" in run.stdout
    assert "json_fields" not in run.stdout
    first, second = (r.run_id for r in reversed(open_store(db).list_runs()))
    show = cli("show", first, "--db", str(db))
    assert "Fields (table: markdown_table, 4 slots)" in show.stdout
    pair = cli("compare", first, second, "--db", str(db))
    assert pair.exit_code == 0, pair.stderr
    assert "Fields (table: markdown_table): P/R/F1" in pair.stdout


def test_compare_field_figures_rest_on_the_paired_cases(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Run A holds a case run B lacks, answered wrongly: B's P/R/F1 on its 3 cases against A's on
    4 made A look worse on the very cases both answered the same way."""
    from tests.runs import Outcome, run_record, store_run

    db = tmp_path / "r.duckdb"
    store = open_store(db)
    same = [Outcome(f"c{i}", "pass", fields={"name": True, "price": True}) for i in range(3)]
    store_run(
        store, run_record("a"), [*same, Outcome("extra", "fail", fields={"name": False, "price": False})]
    )
    store_run(store, run_record("b", minutes=1), same)
    pair = cli("compare", "a", "b", "--db", str(db))
    assert pair.exit_code == 0, pair.stderr
    assert "P/R/F1 on the 3 paired cases" in pair.stdout
    rows = [line.split() for line in pair.stdout.splitlines() if line.strip()[:2] in ("A ", "B ")]
    figures = [row[1:] for row in rows if len(row) == 7]
    assert len(figures) == 2 and figures[0] == figures[1] == ["1.000"] * 6


def test_one_slot_is_one_slot(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI() as server:  # answers {"echo": <the question>}
        suite = make_suite(
            loopback_suite(server.base_url, scorers="  - name: json_fields\n"),
            [{"id": "a", "input": {"question": "hi"}, "expected": {"echo": "hi"}}],
        )
        run = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "Fields (json_fields, 1 slot): micro P 1.000" in run.stdout

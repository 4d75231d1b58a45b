"""``replay:`` targets: recorded outputs from JSONL, CSV, Parquet and DuckDB, joined to the cases."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evalkit.errors import ConfigError
from evalkit.results import CaseResult
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from tests.conftest import CliResult, one_error_line

CASES = [
    {"id": "a", "input": {"sku": "S1", "title": "red mug"}, "expected": {"title": "Red Mug"}},
    {"id": "b", "input": {"sku": "S2", "title": "blue hat"}, "expected": {"title": "Blue Hat"}},
    {"id": "c", "input": {"sku": "S3", "title": "odd sock"}, "expected": {"title": "Odd Sock"}},
]
# c has no recording; b's is wrong
RECORDED = [("a", "S1", {"title": "Red Mug"}), ("b", "S2", {"title": "Blue cap"})]


def make_suite(root: Path, model: str, extra_files: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    for name, text in (extra_files or {}).items():
        (root / name).write_text(text)
    path = root / "suite.yaml"
    path.write_text(
        f"name: rp\ntarget:\n  model: {model}\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: json_fields\n    args: {fields: {title: {match: exact}}}\n"
        "gate: {min_pass_rate: 0.3, max_error_rate: 0.5}\n"
    )
    return path


def run(suite_path: Path, db: Path, **options: Any) -> tuple[dict[str, CaseResult], Any]:
    results: dict[str, CaseResult] = {}
    outcome = run_suite(
        load_suite(suite_path),
        open_store(db),
        RunOptions(**options),
        on_result=lambda r: results.__setitem__(r.case.id, r),
    )
    return results, outcome


def assert_replayed(results: dict[str, CaseResult]) -> None:
    assert results["a"].verdict == "pass" and json.loads(results["a"].output.text or "") == {
        "title": "Red Mug"
    }
    assert results["b"].verdict == "fail"
    assert results["c"].verdict == "error"
    assert results["c"].output.error is not None and "no recording for case 'c'" in results["c"].output.error


def write_jsonl(path: Path) -> None:
    path.write_text("".join(json.dumps({"id": i, "sku": s, "output": o}) + "\n" for i, s, o in RECORDED))


def test_jsonl_recordings_join_on_the_case_id(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    write_jsonl(tmp_path / "s" / "rec.jsonl")
    results, outcome = run(make_suite(tmp_path / "s", "replay:rec.jsonl"), tmp_path / "r.duckdb")
    assert_replayed(results)
    assert outcome.run.model == "replay:rec.jsonl"
    assert "baseline_label" not in outcome.run.config["run"]
    # recorded outputs took no time we know of: no latency figure, rather than 0 ms
    assert outcome.summary.latency_p50_ms is None and outcome.summary.latency_p95_ms is None
    from evalkit.analysis.outcomes import load_outcomes

    replayed = load_outcomes(open_store(tmp_path / "r.duckdb"), outcome.run)
    assert replayed.latency_p50_ms is None and all(c.latency_ms is None for c in replayed.cases.values())


def test_csv_recordings_with_a_declared_key_and_output_column(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    with (root / "rec.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["listing_sku", "answer"])
        for _, sku, output in RECORDED:
            writer.writerow([sku, json.dumps(output)])
    spec = "source: rec.csv\nkey: listing_sku\ncase_key: sku\noutput: answer\n"
    results, _ = run(make_suite(root, "replay:rec.yaml", {"rec.yaml": spec}), tmp_path / "r.duckdb")
    assert results["a"].verdict == "pass" and results["b"].verdict == "fail"
    assert results["c"].output.error == "no recording for sku 'S3' in rec.csv"


def test_a_spreadsheets_byte_order_mark_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    """An export saved by Excel starts with a BOM: the run stopped on "recording has no column 'id'
    (columns: \ufeffid, output)", a column that looked present."""
    root = tmp_path / "s"
    root.mkdir()
    with (root / "rec.csv").open("w", encoding="utf-8-sig", newline="") as handle:  # -sig: the BOM
        writer = csv.writer(handle)
        writer.writerow(["id", "output"])
        writer.writerows((case_id, json.dumps(output)) for case_id, _, output in RECORDED)
    assert (root / "rec.csv").read_bytes().startswith(b"\xef\xbb\xbfid,output")
    results, _ = run(make_suite(root, "replay:rec.csv"), tmp_path / "r.duckdb")
    assert_replayed(results)


def test_parquet_recordings(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    table = pa.table({"id": [r[0] for r in RECORDED], "output": [json.dumps(r[2]) for r in RECORDED]})
    pq.write_table(table, root / "rec.parquet")
    results, _ = run(make_suite(root, "replay:rec.parquet"), tmp_path / "r.duckdb")
    assert_replayed(results)


def test_duckdb_query_recordings_read_relative_to_the_spec(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    con = duckdb.connect(str(root / "logs.duckdb"))
    con.execute("CREATE TABLE answers (case_id TEXT, answer TEXT, day INT)")
    for i, (case_id, _, output) in enumerate(RECORDED):
        con.execute("INSERT INTO answers VALUES (?, ?, ?)", [case_id, json.dumps(output), i])
    con.execute("INSERT INTO answers VALUES ('c', 'stale', -1)")  # filtered out by the query
    con.close()
    spec = (
        "database: logs.duckdb\nquery: SELECT case_id AS id, answer AS output FROM answers WHERE day >= 0\n"
    )
    results, _ = run(make_suite(root, "replay:rec.yaml", {"rec.yaml": spec}), tmp_path / "r.duckdb")
    assert_replayed(results)
    # a query reading files finds them next to the spec, whatever the working directory
    write_jsonl(root / "rec.jsonl")
    spec = """query: "SELECT id, output FROM read_json('rec.jsonl', columns={id: 'VARCHAR', output: 'VARCHAR'})"\n"""
    results, _ = run(make_suite(root, "replay:q.yaml", {"q.yaml": spec}), tmp_path / "r2.duckdb")
    assert_replayed(results)


def test_cached_by_the_recordings_content(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    write_jsonl(root / "rec.jsonl")
    suite = make_suite(root, "replay:rec.jsonl")
    db = tmp_path / "r.duckdb"
    first, _ = run(suite, db)
    again, _ = run(suite, db)
    assert not first["a"].output.cached and again["a"].output.cached
    # a new export: every answer is read again, the fixed one scored as recorded now
    (root / "rec.jsonl").write_text((root / "rec.jsonl").read_text().replace("Blue cap", "Blue Hat"))
    fresh, _ = run(suite, db)
    assert not fresh["a"].output.cached
    assert fresh["b"].verdict == "pass"


def test_bad_replay_specs_are_config_errors(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "rec.jsonl").write_text('{"id": "a", "output": "x"}\nnot json\n')
    with pytest.raises(ConfigError, match=r"rec\.jsonl:2: invalid JSON"):
        run(make_suite(root, "replay:rec.jsonl"), tmp_path / "r.duckdb")
    (root / "rec.jsonl").write_text('{"id": "a", "answer": "x"}\n')
    with pytest.raises(
        ConfigError, match=r"rec\.jsonl:1: recording has no column 'output' \(columns: id, answer\)"
    ):
        run(make_suite(root, "replay:rec.jsonl"), tmp_path / "r.duckdb")
    with pytest.raises(ConfigError, match=r"give either `source` .* or `query`"):
        run(make_suite(root, "replay:x.yaml", {"x.yaml": "key: id\n"}), tmp_path / "r.duckdb")
    # two recordings of one case: refused, not the last one silently scored
    (root / "rec.jsonl").write_text(
        '{"id": "a", "output": "HELLO"}\n{"id": "b", "output": "x"}\n{"id": "a", "output": "wrong"}\n'
    )
    with pytest.raises(
        ConfigError, match=r"rec\.jsonl:3: a second recording of 'a' \(the first at .*rec\.jsonl:1\)"
    ):
        run(make_suite(root, "replay:rec.jsonl"), tmp_path / "r.duckdb")


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("source: rec.jsonl\nkey: id\nouptut: answer\n", ":3: ouptut: unknown field"),
        ("source: rec.jsonl\nkey: [id\n", ":2: invalid YAML: expected ',' or ']'"),
        ("- source: rec.jsonl\n", ":1: a replay file must be a YAML mapping"),
        ("query: SELEC 1\n", ': query (in-memory DuckDB): Parser Error: syntax error at or near "SELEC"'),
        ("query: SELECT 'a' AS id\n", ": query (in-memory DuckDB) row 1: recording has no column 'output'"),
    ],
    ids=["unknown-field", "yaml-syntax", "not-a-mapping", "sql-syntax", "query-column"],
)
def test_a_bad_replay_file_is_one_line_naming_it_and_its_line(
    tmp_path: Path, cli: Callable[..., CliResult], spec: str, problem: str
) -> None:
    """These named no line, or no file at all ("replay query (in-memory DuckDB): ..."); a YAML
    syntax error was PyYAML's multi-line report squeezed into one."""
    root = tmp_path / "s"
    suite = make_suite(root, "replay:rec.yaml", {"rec.yaml": spec})
    write_jsonl(root / "rec.jsonl")
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert one_error_line(result, 2, f"{root / 'rec.yaml'}{problem}")
    assert not (tmp_path / "r.duckdb").exists()


def test_a_csv_row_whose_cells_do_not_match_the_header_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    # an unquoted comma: the extra cell is refused, not dropped with the rest of the row scored
    (root / "rec.csv").write_text('id,output\na,"{""title"": ""Red Mug""}",extra\nb,x\n')
    with pytest.raises(ConfigError, match=r"rec\.csv:2: row has 3 cells, the header has 2"):
        run(make_suite(root, "replay:rec.csv"), tmp_path / "r.duckdb")
    # a lost cell: refused, not replayed as a `null` output
    (root / "rec.csv").write_text("id,output\na,x\nb\n")
    with pytest.raises(ConfigError, match=r"rec\.csv:3: row has 1 cell, the header has 2"):
        run(make_suite(root, "replay:rec.csv"), tmp_path / "r.duckdb")


def test_a_baseline_replay_gets_an_error_rate_line_in_compare_and_the_report(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "s"
    root.mkdir()
    cases = [
        {"id": f"c{i:02d}", "input": {"title": f"item {i}"}, "expected": {"title": f"Item {i}"}}
        for i in range(20)
    ]
    # the humans get 5 of 20 wrong; the model (a python pipeline) 1
    human = [
        {"id": c["id"], "output": {"title": c["expected"]["title"] + ("!" if i < 5 else "")}}
        for i, c in enumerate(cases)
    ]
    (root / "humans.jsonl").write_text("".join(json.dumps(h) + "\n" for h in human))
    (root / "humans.yaml").write_text("source: humans.jsonl\nbaseline: human moderators\n")
    (root / "bl_pipe.py").write_text(
        "def clean(title):\n    return {'title': 'Item 0?' if title == 'item 0' else title.capitalize()}\n"
    )
    monkeypatch.syspath_prepend(str(root))
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    (root / "suite.yaml").write_text(
        "name: bl\ntarget:\n  model: python:bl_pipe:clean\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: json_fields\n    args: {fields: {title: {match: exact}}}\n"
        "gate: {min_pass_rate: 0.5}\n"
    )
    db = str(tmp_path / "r.duckdb")
    assert cli("run", str(root), "--db", db, "--no-progress", "--model", "replay:humans.yaml").exit_code == 0
    assert cli("run", str(root), "--db", db, "--no-progress").exit_code == 0
    runs = open_store(db).list_runs()
    human_run = next(r for r in runs if r.model == "replay:humans.yaml")
    model_run = next(r for r in runs if r.model == "python:bl_pipe:clean")
    assert human_run.config["run"]["baseline_label"] == "human moderators"
    summary = tmp_path / "summary.md"
    shown = cli("compare", human_run.run_id, model_run.run_id, "--db", db, "--summary-md", str(summary))
    assert shown.exit_code == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if x.startswith("Baseline:"))
    assert "human moderators 25.0% error (95% CI 11.2%-46.9%)" in line
    assert "python:bl_pipe:clean 5.0% (0.9%-23.6%) on 20 cases: -20.0 pts" in line
    assert "McNemar p=0.125" in line
    assert "**Baseline:** human moderators 25.0% error" in summary.read_text()
    # either order: the baseline is recognised as B too
    reverse = cli("compare", model_run.run_id, human_run.run_id, "--db", db)
    assert "human moderators 25.0% error" in reverse.stdout
    report = tmp_path / "report.html"
    made = cli("report", human_run.run_id, "--compare", model_run.run_id, "--db", db, "--out", str(report))
    assert made.exit_code == 0, made.stderr
    assert (
        'id="human-baseline"' in report.read_text() and "human moderators 25.0% error" in report.read_text()
    )


def test_a_replay_that_cannot_answer_any_case_fails_before_the_run(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """A case_key no case has, or a recordings file with nothing in it: every case errored with
    'no recording for ...' and the run exited 3."""
    root = tmp_path / "s"
    root.mkdir()
    write_jsonl(root / "rec.jsonl")
    (root / "empty.jsonl").write_text("")
    spec = "source: rec.jsonl\nkey: sku\ncase_key: nosuchvar\noutput: output\n"
    for model, files, message in (
        ("replay:bad_key.yaml", {"bad_key.yaml": spec}, "case_key 'nosuchvar' is not an input variable"),
        ("replay:empty.jsonl", {}, "no recordings in"),
    ):
        suite = make_suite(root, model, files)
        result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
        assert result.exit_code == 2 and message in result.stderr, result.stdout + result.stderr

"""``replay:`` scores the text as recorded: a value read through a type (DuckDB's guess from a CSV,
a Parquet decimal) whose text is not the recorded one is refused, not scored re-rendered."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evalkit.errors import ConfigError
from evalkit.store import open_store
from tests.conftest import CliResult, one_error_line
from tests.providers.test_file_inputs import run


def make_suite(root: Path, model: str, expected: dict[str, str], files: dict[str, str]) -> Path:
    """A suite whose cases expect these texts exactly (an `exact` scorer on text compares text)."""
    root.mkdir(parents=True, exist_ok=True)
    cases = [{"id": i, "input": {"n": i}, "expected": e} for i, e in expected.items()]
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    for name, text in files.items():
        (root / name).write_text(text)
    (root / "suite.yaml").write_text(
        f"name: rt\ntarget:\n  model: {model}\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: exact\ngate: {min_pass_rate: 1.0, max_error_rate: 1.0}\n"
    )
    return root / "suite.yaml"


PRICES = "listing_id,answer\nprice-a,1.50\nprice-b,2.25\n"


def test_a_csv_answer_duckdb_reads_as_a_number_is_refused_not_scored_as_1_5(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """read_csv guessed DOUBLE for the answers: the recorded 1.50 was scored as "1.5" and failed."""
    root = tmp_path / "s"
    spec = (
        "query: SELECT listing_id, answer FROM read_csv('exports/*.csv')\nkey: listing_id\noutput: answer\n"
    )
    suite = make_suite(root, "replay:rec.yaml", {"price-a": "1.50", "price-b": "2.25"}, {"rec.yaml": spec})
    (root / "exports").mkdir()
    (root / "exports" / "day1.csv").write_text(PRICES)
    db = tmp_path / "r.duckdb"
    refused = cli("run", str(suite), "--db", str(db), "--no-progress")
    line = one_error_line(
        refused, 2, f"{root / 'rec.yaml'}: query (in-memory DuckDB): column 'answer' is DOUBLE"
    )
    assert "read_csv(..., all_varchar=true)" in line and "CAST(answer AS VARCHAR)" in line
    assert not db.exists()
    # read as text, the answers are what the moderators wrote: both pass
    (root / "rec.yaml").write_text(spec.replace("'exports/*.csv'", "'exports/*.csv', all_varchar=true"))
    scored = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert scored.exit_code == 0, scored.stdout + scored.stderr
    store = open_store(db)
    stored = store.case_results(store.list_runs()[0].run_id, frame=False)
    assert stored.columns(["raw_text"]) == [["1.50", "2.25"]]


def test_a_key_duckdb_reads_as_a_number_is_refused_not_joined_to_another_case(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """Case 1.10's recording was read as DOUBLE 1.1 and scored as case 1.1's answer."""
    root = tmp_path / "s"
    spec = "query: SELECT id, output FROM read_csv('rec.csv')\n"
    expected = {"1.1": "A", "1.10": "B", "2.5": "C"}
    suite = make_suite(
        root, "replay:rec.yaml", expected, {"rec.yaml": spec, "rec.csv": "id,output\n1.10,B\n2.5,C\n"}
    )
    refused = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    one_error_line(
        refused, 2, f"{root / 'rec.yaml'}: query (in-memory DuckDB): column 'id' is DOUBLE, not text"
    )
    (root / "rec.yaml").write_text("query: SELECT id, output FROM read_csv('rec.csv', all_varchar=true)\n")
    results = run(suite, tmp_path / "r2.duckdb")
    assert results["1.10"].verdict == "pass" and results["2.5"].verdict == "pass"
    assert (
        results["1.1"].output.error is not None
        and "no recording for case '1.1'" in results["1.1"].output.error
    )


def test_a_null_answer_is_the_cases_error_not_the_text_null(tmp_path: Path) -> None:
    """An empty cell read by DuckDB is NULL: it was scored as the answer "null"."""
    root = tmp_path / "s"
    spec = "query: SELECT * FROM read_csv('rec.csv', all_varchar=true)\n"
    files = {"rec.yaml": spec, "rec.csv": "id,output\na,yes\nb,\n"}
    results = run(
        make_suite(root, "replay:rec.yaml", {"a": "yes", "b": "null"}, files), tmp_path / "r.duckdb"
    )
    assert results["a"].verdict == "pass"
    assert results["b"].verdict == "error" and results["b"].output.error == (
        "the recording of case 'b' in the replay query is null"
    )
    # a NULL key has no case to join: refused, not joined to a case named "None"
    (root / "rec.yaml").write_text("query: SELECT NULL::VARCHAR AS id, 'x' AS output\n")
    with pytest.raises(ConfigError, match=r"rec\.yaml: query \(in-memory DuckDB\) row 1: key 'id' is null"):
        run(root / "suite.yaml", tmp_path / "r2.duckdb")


def test_a_tables_own_typed_column_is_refused_with_the_cast_that_reads_it(tmp_path: Path) -> None:
    import duckdb

    root = tmp_path / "s"
    root.mkdir()
    con = duckdb.connect(str(root / "logs.duckdb"))
    con.execute('CREATE TABLE answers (id INTEGER, "the answer" DECIMAL(5, 2))')
    con.execute("INSERT INTO answers VALUES (7, 1.50)")
    con.close()
    spec = 'database: logs.duckdb\nquery: SELECT id::VARCHAR AS id, "the answer" FROM answers\noutput: the answer\n'
    suite = make_suite(root, "replay:rec.yaml", {"7": "1.50"}, {"rec.yaml": spec})
    with pytest.raises(
        ConfigError,
        match=r"query \(logs\.duckdb\): column 'the answer' is DECIMAL\(5,2\), not text.*"
        r'CAST\("the answer" AS VARCHAR\) if DECIMAL\(5,2\) is a table\'s own type$',
    ):
        run(suite, tmp_path / "r.duckdb")
    (root / "rec.yaml").write_text(
        spec.replace('"the answer" FROM', 'CAST("the answer" AS VARCHAR) AS "the answer" FROM')
    )
    assert run(suite, tmp_path / "r.duckdb")["7"].output.text == "1.50"


def write_parquet(path: Path, columns: dict[str, Any]) -> None:
    pq.write_table(pa.table(columns), path)


def test_parquet_integer_keys_are_declared_and_join_by_their_digits(tmp_path: Path) -> None:
    root = tmp_path / "s"
    suite = make_suite(root, "replay:rec.parquet", {"7": "x", "8": "y"}, {})
    write_parquet(root / "rec.parquet", {"id": pa.array([7, 8], pa.int64()), "output": ["x", "y"]})
    results = run(suite, tmp_path / "r.duckdb")
    assert results["7"].verdict == "pass" and results["8"].verdict == "pass"


@pytest.mark.parametrize(
    ("id_column", "output_column", "problem"),
    [
        (pa.array([7.0]), pa.array(["x"]), "column 'id' is double: a key must be text or an integer"),
        # a decimal was scored as the JSON string "\"1.50\"", a float32 1.1 as 1.100000023841858
        (
            pa.array(["7"]),
            pa.array([Decimal("1.50")], pa.decimal128(5, 2)),
            "column 'output' is decimal128(5, 2)",
        ),
        (pa.array(["7"]), pa.array([1.1], pa.float32()), "column 'output' is float"),
        (
            pa.array(["7"]),
            pa.array([{"at": 0}], pa.struct([("at", pa.timestamp("s"))])),
            "column 'output' is struct",
        ),
        (pa.array([None], pa.string()), pa.array(["x"]), "row 1: key 'id' is null"),
    ],
    ids=["float-key", "decimal-output", "float32-output", "timestamp-in-struct", "null-key"],
)
def test_parquet_columns_whose_text_is_not_exact_are_refused(
    tmp_path: Path, id_column: Any, output_column: Any, problem: str
) -> None:
    root = tmp_path / "s"
    suite = make_suite(root, "replay:rec.parquet", {"7": "x"}, {})
    write_parquet(root / "rec.parquet", {"id": id_column, "output": output_column})
    with pytest.raises(
        ConfigError, match=r"rec\.parquet:? " + problem.replace("(", r"\(").replace(")", r"\)")
    ):
        run(suite, tmp_path / "r.duckdb")


def test_parquet_values_with_exact_text_are_scored_and_a_null_output_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "s"
    suite = make_suite(root, "replay:rec.parquet", {"a": '{"n": 2, "ok": true, "p": 1.5}', "b": "null"}, {})
    row_type = pa.struct([("n", pa.int32()), ("ok", pa.bool_()), ("p", pa.float64())])
    output = pa.array([{"n": 2, "ok": True, "p": 1.5}, None], row_type)
    write_parquet(root / "rec.parquet", {"id": ["a", "b"], "output": output})
    results = run(suite, tmp_path / "r.duckdb")
    assert results["a"].output.text == '{"n": 2, "ok": true, "p": 1.5}' and results["a"].verdict == "pass"
    assert results["b"].output.error == "the recording of case 'b' in rec.parquet is null"


@pytest.mark.parametrize("key", ["7.0", "true", "null", "[7]"])
def test_a_jsonl_key_that_is_not_text_or_an_integer_is_refused(tmp_path: Path, key: str) -> None:
    """7.0 joined case "7.0", true case "True", null case "None"."""
    root = tmp_path / "s"
    suite = make_suite(
        root,
        "replay:rec.jsonl",
        {"7": "x"},
        {"rec.jsonl": f'{{"id": 7, "output": "x"}}\n{{"id": {key}, "output": "y"}}\n'},
    )
    with pytest.raises(
        ConfigError, match=rf"rec\.jsonl:2: key 'id' is {re.escape(key)}: a key must be text or an integer$"
    ):
        run(suite, tmp_path / "r.duckdb")


def test_a_parquet_category_column_is_its_values_text(tmp_path: Path) -> None:
    """pandas writes a categorical as a dictionary column: its values are strings."""
    root = tmp_path / "s"
    suite = make_suite(root, "replay:rec.parquet", {"a": "yes", "b": "no"}, {})
    answers = pa.array(["yes", "no"]).dictionary_encode()
    write_parquet(root / "rec.parquet", {"id": pa.array(["a", "b"]).dictionary_encode(), "output": answers})
    results = run(suite, tmp_path / "r.duckdb")
    assert results["a"].verdict == "pass" and results["b"].verdict == "pass"


def test_a_case_input_that_is_a_number_joins_no_recording(tmp_path: Path) -> None:
    """A case's `version: 1.10` is the number 1.1 once read: it took the recording of version 1.1."""
    root = tmp_path / "s"
    suite = make_suite(
        root, "replay:rec.yaml", {"a": "x"}, {"rec.yaml": "source: rec.jsonl\nkey: v\ncase_key: version\n"}
    )
    (root / "cases.jsonl").write_text('{"id": "a", "input": {"version": 1.10}, "expected": "x"}\n')
    (root / "rec.jsonl").write_text('{"v": "1.1", "output": "x"}\n')
    results = run(suite, tmp_path / "r.duckdb")
    assert results["a"].verdict == "error"
    assert (
        results["a"].output.error == "version 1.1 is a float, not text or an integer: it joins no recording"
    )

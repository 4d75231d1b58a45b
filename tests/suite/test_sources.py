"""CSV and Parquet case files through the suite's column mapping, with row numbers in errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from evalkit.errors import ConfigError
from evalkit.suite.loading import load_suite
from tests.conftest import CliResult

SUITE = """\
name: tab
target:
  model: python:tab_pipe:clean
cases:
{cases}scorers:
  - name: json_fields
    args: {{fields: {{title: {{match: exact}}}}}}
gate: {{min_pass_rate: 0.5}}
"""


def write_suite(root: Path, cases_yaml: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tab_pipe.py").write_text("def clean(title, **_):\n    return {'title': title.strip().title()}\n")
    path = root / "suite.yaml"
    path.write_text(SUITE.format(cases=cases_yaml))
    return path


def test_csv_with_a_column_mapping(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "sheet.csv").write_text(
        "\ufeffCase,Product title,Shop,Want,Labels\n"
        'c1,  red mug ,acme,"{""title"": ""Red Mug""}","html, critical"\n'
        ",,,,\n"  # a blank row, as spreadsheets export them
        'c2,blue hat,acme,"{""title"": ""Blue Cap""}",\n'
    )
    suite = load_suite(
        write_suite(
            root,
            "  - path: sheet.csv\n    columns: {id: Case, input: {title: Product title}, expected: Want, tags: Labels}\n",
        )
    )
    located = [(p.name, line, c) for p, line, c in suite.iter_located_cases()]
    assert [(name, line, c.id) for name, line, c in located] == [
        ("sheet.csv", 2, "c1"),
        ("sheet.csv", 4, "c2"),
    ]
    first = located[0][2]
    assert first.input == {"title": "  red mug "}
    assert first.expected == {"title": "Red Mug"}
    assert first.tags == ["html", "critical"]


def test_csv_default_mapping_and_expected_fields_from_columns(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "plain.csv").write_text("id,title,expected\np1,mug,Mug\n")
    (root / "fields.csv").write_text("title,want_title,want_amount\nhat,Hat,9.5\ncap,Cap,\n")
    suite = load_suite(
        write_suite(
            root,
            "  - plain.csv\n"
            "  - path: fields.csv\n"
            "    columns: {input: [title], expected: {title: want_title, price.amount: want_amount}}\n",
        )
    )
    plain, fields, blank = list(suite.iter_cases())
    assert blank.expected == {"title": "Cap", "price": {"amount": None}}  # a blank cell: no value
    assert (plain.id, plain.input, plain.expected) == ("p1", {"title": "mug"}, "Mug")
    assert fields.input == {"title": "hat"}
    assert fields.expected == {"title": "Hat", "price": {"amount": "9.5"}}
    assert fields.id.startswith("h")  # no id column: a hash of the input


def test_parquet_dates_are_iso_text_and_bytes_are_refused(tmp_path: Path) -> None:
    import datetime as dt

    root = tmp_path / "s"
    root.mkdir()
    when = dt.datetime(2026, 3, 5, 9, 30)
    pq.write_table(pa.table({"id": ["a"], "sold": [when], "day": [when.date()]}), root / "cases.parquet")
    (case,) = load_suite(write_suite(root, "  - cases.parquet\n")).iter_cases()
    assert case.input == {"sold": "2026-03-05T09:30:00", "day": "2026-03-05"}  # not datetime(...) reprs
    pq.write_table(pa.table({"id": ["a"], "blob": [b"ANS=1\xff"]}), root / "cases.parquet")
    with pytest.raises(ConfigError, match=r"cases\.parquet: row 1: column 'blob' holds bytes"):
        list(load_suite(write_suite(root, "  - cases.parquet\n")).iter_cases())


def test_parquet_cases_run_end_to_end(
    tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "s"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    table = pa.table(
        {
            "id": ["a", "b"],
            "title": ["red mug", "blue hat"],
            "expected": [json.dumps({"title": "Red Mug"}), json.dumps({"title": "Blue Cap"})],
            "tags": [["html"], []],
        }
    )
    pq.write_table(table, root / "cases.parquet")
    suite = write_suite(root, "  - cases.parquet\n")
    cases = list(load_suite(suite).iter_cases())
    assert cases[0].tags == ["html"] and cases[0].expected == {"title": "Red Mug"}
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "Cases 2: 1 passed, 1 failed, 0 errors" in result.stdout


@pytest.mark.parametrize(
    ("file", "write", "message"),
    [
        (
            "bad.csv",
            lambda p: p.write_text("id,title,expected\nok,mug,Mug\nnot ok!,hat,Hat\n"),
            "bad.csv:3: id: String should match pattern",
        ),
        (
            "cells.csv",
            lambda p: p.write_text("id,title\nok,mug,extra\n"),
            "cells.csv:2: 3 cells, the header has 2",
        ),
        (  # a short row is refused too: its missing cells are not empty values to call a model with
            "short.csv",
            lambda p: p.write_text("id,title,expected\nok,mug,Mug\nb\n"),
            "short.csv:3: 1 cells, the header has 3",
        ),
        (  # a bad byte is reported at its own line, not where the reader's buffer was
            "latin.csv",
            lambda p: p.write_bytes(
                b"id,title,expected\n" + b"".join(b"c%d,mug,Mug\n" % i for i in range(2000)) + b"x,caf\xe9\n"
            ),
            "latin.csv:2002: not valid UTF-8 (byte 0xe9 at column 6)",
        ),
        (
            "bad.parquet",
            lambda p: pq.write_table(
                pa.table({"id": ["ok", "not ok!"], "title": ["a", "b"], "expected": ["A", "B"]}), p
            ),
            "bad.parquet: row 2: id: String should match pattern",
        ),
        (
            "junk.parquet",
            lambda p: p.write_bytes(b"not parquet"),
            "junk.parquet: cannot read Parquet case file",
        ),
    ],
)
def test_a_bad_row_is_one_line_with_the_file_and_row(
    tmp_path: Path, cli: Callable[..., CliResult], file: str, write: Callable[[Path], None], message: str
) -> None:
    root = tmp_path / "s"
    root.mkdir()
    write(root / file)
    suite = write_suite(root, f"  - {file}\n")
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_a_mapping_naming_a_missing_column_is_an_error(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    root = tmp_path / "s"
    root.mkdir()
    (root / "sheet.csv").write_text("id,title\na,mug\n")
    suite = write_suite(root, "  - path: sheet.csv\n    columns: {expected: Want}\n")
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert (
        "sheet.csv: the column mapping names 'Want', which the file lacks (columns: id, title)"
        in result.stderr
    )

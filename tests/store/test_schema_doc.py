"""docs/store.md's table reference is what the migrations create: regenerated, never hand-edited."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.store.schema_doc import read_schema, render, update
from evalkit.store.schema_notes import TABLES, TableDoc

DOC = Path(__file__).resolve().parents[2] / "docs" / "store.md"


def test_docs_store_md_matches_the_migrations() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert update(text, render(read_schema())) == text, (
        "docs/store.md is out of date with evalkit/store/migrations: "
        "run `python -m evalkit.store.schema_doc` to regenerate it"
    )


def test_schema_is_read_with_the_migration_that_added_each_column() -> None:
    tables = {t.name: t for t in read_schema()}
    runs = {c.name: c for c in tables["runs"].columns}
    assert (runs["run_id"].type, runs["run_id"].nullable, runs["run_id"].since) == ("TEXT", False, 1)
    assert (runs["group_id"].nullable, runs["group_id"].since) == (True, 2)
    assert runs["params_json"].type == "TEXT" and runs["started_at"].type == "TIMESTAMP"
    assert tables["response_cache"].since == 2
    assert {c.name: c.type for c in tables["outputs"].columns}["latency_ms"] == "DOUBLE PRECISION"
    assert tables["outputs"].primary_key == ["run_id", "case_id", "epoch"]
    assert tables["judge_calibrations"].indexes == {"judge_calibrations_key": ["judge_model", "rubric_hash"]}
    assert tables["schema_migrations"].since == 0


def test_a_table_or_column_the_doc_describes_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = read_schema()
    monkeypatch.setitem(TABLES, "runs", TableDoc(row="run", columns={"no_such_column": "?"}))
    with pytest.raises(ValueError, match="no_such_column"):
        render(tables)
    monkeypatch.setitem(TABLES, "gone", TableDoc(row="?"))
    with pytest.raises(ValueError, match="gone"):
        render(tables)


def test_a_new_table_needs_a_description(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = read_schema()
    monkeypatch.delitem(TABLES, "baselines")
    with pytest.raises(ValueError, match="describe the new table"):
        render(tables)


def test_update_replaces_only_the_text_between_the_markers() -> None:
    from evalkit.store.schema_doc import BEGIN, END

    text = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    assert update(text, "new\n") == f"intro\n{BEGIN}\nnew\n\n{END}\noutro\n"
    with pytest.raises(ValueError, match="markers"):
        update("no markers here", "new\n")

"""`evalkit export` and `evalkit.store.load_run`: the files hold exactly the stored rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from evalkit.cases import Case, CaseSource
from evalkit.results import CaseResult, OutputRecord, RunRecord, RunSummary, ScoreRow
from evalkit.scorers.base import FieldScore
from evalkit.store import load_run, open_store
from tests.conftest import CliResult

KEYS = {
    "runs": "run_id",
    "cases": "case_id",
    "outputs": "case_id, epoch",
    "scores": "case_id, epoch, scorer",
    "field_scores": "case_id, epoch, scorer, field",
}


def record(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        suite_name="listings",
        suite_path="suites/listings/suite.yaml",
        suite_hash="abc",
        prompt_version="v2",
        prompt_hash="123",
        model="openai/x",
        params={"temperature": 0},
        evalkit_version="0.1.0",
        started_at=datetime(2026, 1, 1, 12, 0, 0),
        n_cases=3,
        config={"gate": {"min_pass_rate": 0.5}},
    )


def result(case_id: str, verdict: str, epoch: int = 0) -> CaseResult:
    ok = verdict != "error"
    case = Case(
        id=case_id,
        input={"listing": f"<b>Ünïcode</b> ✓ {case_id}"},
        expected={"title": "Kettle", "price": {"amount": 9.99}} if case_id != "no-expected" else None,
        tags=["html"],
        source=CaseSource.GOLDEN,
        provenance={"line": 3},
    )
    output = OutputRecord(
        status="ok" if ok else "error",
        text='{"title": "kettle"}' if ok else None,
        parsed={"title": "kettle"} if ok else None,
        extraction="strict" if ok else "none",
        error=None if ok else "503: down",
        latency_ms=12.5,
        prompt_tokens=10 if ok else 0,
        completion_tokens=5 if ok else 0,
        cost_usd=0.0001,
        attempts=1 if ok else 4,
    )
    scores = (
        [
            ScoreRow(
                scorer="fields",
                score=0.5,
                passed=verdict == "pass",
                weight=4,
                reason="1/2 fields ok",
                details={"compared": 2},
                fields=[
                    FieldScore(
                        field="title",
                        score=1.0,
                        passed=True,
                        status="match",
                        expected="Kettle",
                        actual="kettle",
                    ),
                    FieldScore(
                        field="price.amount", score=0.0, passed=False, status="missing", expected=9.99
                    ),
                ],
            ),
            ScoreRow(scorer="judge", score=0.0, passed=False, error="judge reply unparseable"),
        ]
        if ok
        else []
    )
    return CaseResult(
        case=case,
        epoch=epoch,
        output=output,
        scores=scores,
        verdict=verdict,  # type: ignore[arg-type]
        score=0.5 if ok else None,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database holding two runs, with NULLs, unicode, epochs, errors and field scores."""
    path = tmp_path / "r.duckdb"
    store = open_store(path)
    for run_id in ("listings-a", "listings-b"):
        store.create_run(record(run_id))
        store.add_results(
            run_id,
            [
                result("ok-1", "pass"),
                result("ok-1", "fail", epoch=1),
                result("down", "error"),
                result("no-expected", "fail"),
            ],
        )
        store.finish_run(run_id, status="complete", summary=RunSummary(pass_rate=0.33))
    return path


def stored_rows(db: Path, table: str, run_id: str) -> pd.DataFrame:
    """The rows as the database holds them, read without evalkit."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY {KEYS[table]}", [run_id]).df()


def test_load_run_returns_the_stored_rows(db: Path) -> None:
    tables = load_run("listings-a", db)
    assert tables.run_id == "listings-a"
    assert [name for name, _ in tables.items()] == list(KEYS)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, stored_rows(db, name, "listings-a"), obj=name)
    assert len(tables.outputs) == 4 and len(tables.field_scores) == 6
    assert set(tables.outputs["run_id"]) == {"listings-a"}
    assert tables.outputs.set_index(["case_id", "epoch"]).loc[("down", 0), "error"] == "503: down"
    assert load_run("latest", open_store(db)).run_id in {"listings-a", "listings-b"}


def test_parquet_export_round_trips(db: Path, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = cli("export", "listings-a", "--format", "parquet", "--out", str(out), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [str(out / f"{t}.parquet") for t in (*KEYS, "field_metrics")]
    for table in KEYS:
        reloaded = pd.read_parquet(out / f"{table}.parquet")
        pd.testing.assert_frame_equal(reloaded, stored_rows(db, table, "listings-a"), obj=table)
    outputs = pd.read_parquet(out / "outputs.parquet")
    assert outputs["score"].isna().sum() == 1 and outputs["error"].notna().sum() == 1
    assert json.loads(pd.read_parquet(out / "cases.parquet")["input_json"][0])["listing"].startswith(
        "<b>Ünïcode"
    )


def test_csv_and_jsonl_exports_hold_every_row_and_column(
    db: Path, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    for fmt in ("csv", "jsonl"):
        out = tmp_path / fmt
        assert cli("export", "listings-b", "-f", fmt, "-o", str(out), "--db", str(db)).exit_code == 0
        for table in KEYS:
            path = out / f"{table}.{fmt}"
            frame = pd.read_csv(path) if fmt == "csv" else pd.read_json(path, lines=True)
            expected = stored_rows(db, table, "listings-b")
            assert list(frame.columns) == list(expected.columns), (fmt, table)
            assert len(frame) == len(expected), (fmt, table)
            assert set(frame["run_id"]) == {"listings-b"}
    lines = (tmp_path / "jsonl" / "outputs.jsonl").read_text(encoding="utf-8").splitlines()
    down = next(json.loads(line) for line in lines if json.loads(line)["case_id"] == "down")
    assert down["score"] is None and down["error"] == "503: down"
    assert "Ünïcode" in (tmp_path / "jsonl" / "cases.jsonl").read_text(encoding="utf-8")


def test_export_defaults_to_latest_run_under_exports(
    db: Path, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("export", "--db", str(db))
    assert result.exit_code == 0, result.stderr
    run_id = open_store(db).get_run("latest").run_id
    assert (tmp_path / "exports" / run_id / "outputs.parquet").is_file()


def test_export_errors_are_one_line(db: Path, cli: Callable[..., CliResult], tmp_path: Path) -> None:
    bad_format = cli("export", "listings-a", "--format", "xlsx", "--db", str(db))
    assert (
        bad_format.exit_code == 2 and "--format 'xlsx': use one of parquet, csv, jsonl" in bad_format.stderr
    )
    no_run = cli("export", "nope", "--db", str(db))
    assert no_run.exit_code == 2 and "no run 'nope'" in no_run.stderr
    ambiguous = cli("export", "listings-", "--db", str(db))
    assert ambiguous.exit_code == 2 and "ambiguous" in ambiguous.stderr
    no_db = cli("export", "--db", str(tmp_path / "missing.duckdb"))
    assert no_db.exit_code == 2 and "no results database" in no_db.stderr
    assert not (tmp_path / "missing.duckdb").exists()


def test_jsonl_export_writes_field_metrics_with_a_micro_row(
    db: Path, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    out = tmp_path / "fm"
    assert cli("export", "listings-a", "-f", "jsonl", "-o", str(out), "--db", str(db)).exit_code == 0
    rows = [json.loads(line) for line in (out / "field_metrics.jsonl").read_text().splitlines()]
    assert list(rows[0]) == ["field", "nn", "nv", "vn", "vc", "vw", "precision", "recall", "f1"]
    by_field = {r["field"]: r for r in rows}
    assert list(by_field) == ["price.amount", "title", "*"]
    # rows stored without a slot class fall back on their status: match -> VC, missing -> VN
    assert by_field["title"]["vc"] == 3 and by_field["title"]["f1"] == 1.0
    assert by_field["price.amount"]["vn"] == 3 and by_field["price.amount"]["precision"] is None
    micro = by_field["*"]
    assert (micro["vc"], micro["vn"], micro["precision"], micro["recall"]) == (3, 3, 1.0, 0.5)
    assert micro["f1"] == pytest.approx(2 / 3)

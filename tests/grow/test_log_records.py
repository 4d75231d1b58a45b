"""Reading log timestamps and --since: what is accepted, and what is refused rather than misread."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import ConfigError, UsageError
from evalkit.grow.log_records import parse_since, parse_timestamp
from tests.conftest import CliResult, write_cases

NOW = datetime(2026, 11, 27, 12, 0)


@pytest.fixture
def los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process runs in a time zone 8 hours behind UTC."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-27T10:00:00+02:00", datetime(2026, 11, 27, 8, 0)),
        ("2026-11-27T10:00:00Z", datetime(2026, 11, 27, 10, 0)),
        ("2026-11-27 10:00:00", datetime(2026, 11, 27, 10, 0)),  # naive: UTC
        ("2016-03-25 22:59:23 +0000", datetime(2016, 3, 25, 22, 59, 23)),
        ("20241105", datetime(2024, 11, 5)),
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20)),
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20)),
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20)),
        ("1700000000000", datetime(2023, 11, 14, 22, 13, 20)),
        (datetime(2026, 11, 27, 10, tzinfo=timezone(timedelta(hours=-8))), datetime(2026, 11, 27, 18)),
    ],
)
def test_log_timestamps_the_docs_list_are_read(value: Any, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026",  # a year, not 2026 seconds after 1970
        2026,
        "999999999",  # 2001-09-09 is the earliest epoch time read
        999_999_999,
        "-1700000000",
        "now",  # the time of reading, not of the record
        " now ",
        "today",
        "yesterday",
        "soon",
        True,
    ],
)
def test_log_timestamps_that_would_be_misread_are_unreadable(value: Any) -> None:
    assert parse_timestamp(value) is None


def test_since_reads_durations_words_and_iso_8601_in_utc() -> None:
    assert parse_since("7d", NOW) == datetime(2026, 11, 20, 12, 0)
    assert parse_since("now", NOW) == NOW
    assert parse_since("today", NOW) == datetime(2026, 11, 27)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1)
    assert parse_since("2026-11-01T09:00:00+01:00", NOW) == datetime(2026, 11, 1, 8, 0)
    assert parse_since("2026-11-01T09:00:00Z", NOW) == datetime(2026, 11, 1, 9, 0)
    assert parse_since("1700000000", NOW) == datetime(2023, 11, 14, 22, 13, 20)


@pytest.mark.usefixtures("los_angeles")
def test_since_today_and_now_are_utc_whatever_the_local_time_zone() -> None:
    utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs(parse_since("now") - utc_now) < timedelta(seconds=5)  # type: ignore[operator]
    today = parse_since("today")
    assert today is not None and today.time() == datetime.min.time()
    assert today.date() in {utc_now.date(), (utc_now - timedelta(seconds=5)).date()}
    assert parse_timestamp("2026-11-27 10:00:00") == datetime(2026, 11, 27, 10, 0)


@pytest.mark.parametrize("value", ["2026", "12/11/2026", "11/12/2026", "Nov 5 2026", "999999999", "soon"])
def test_since_refuses_what_it_would_have_to_guess(value: str) -> None:
    with pytest.raises(UsageError, match=r"ISO 8601.*7d"):
        parse_since(value, NOW)


MINING = """\
name: shop
target: {model: openai/x, prompts: {v1: prompts/v1.j2}}
cases: [cases.jsonl, mined.jsonl]
scorers: [{name: exact}]
mining:
  fields: {id: request_id, timestamp: ts, output: response, feedback: rating, input: {title: title}}
"""


def test_mine_refuses_a_bare_year_and_counts_word_timestamps_unreadable(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    suite = make_suite(MINING, [{"id": "a", "input": {"title": "x"}, "expected": "y"}], prompt="{{ title }}")
    recent = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    rows = [
        {"request_id": f"r{i}", "ts": ts, "title": f"item {i} {word}", "response": "r", "rating": "bad"}
        for i, (ts, word) in enumerate(
            [(recent, "kettle"), ("2026", "lamp"), ("now", "drill"), ("today", "tent")]
        )
    ]
    log = write_cases(tmp_path / "log.jsonl", rows)
    db = str(tmp_path / "r.duckdb")
    refused = cli("mine", str(suite), "--logs", str(log), "--since", "2026", "--db", db)
    assert refused.exit_code == 2
    assert refused.stderr.count("\n") == 1 and "--since '2026'" in refused.stderr
    assert "ISO 8601" in refused.stderr and "7d" in refused.stderr
    refused = cli("mine", str(suite), "--logs", str(log), "--since", "12/11/2026", "--db", db)
    assert refused.exit_code == 2 and "--since '12/11/2026'" in refused.stderr

    result = cli("mine", str(suite), "--logs", str(log), "--since", "7d", "--db", db)
    assert result.exit_code == 0, result.stderr
    assert "unreadable timestamp 3" in result.stdout and "Added 1 cases" in result.stdout
    (case,) = [json.loads(line) for line in (suite.parent / "mined.jsonl").read_text().splitlines()]
    assert case["provenance"]["log_id"] == "r0"


@pytest.mark.parametrize(
    ("value", "day_first", "month_first"),
    [
        ("03/04/2026", datetime(2026, 4, 3), datetime(2026, 3, 4)),
        ("03.04.2026 09:30", datetime(2026, 4, 3, 9, 30), datetime(2026, 3, 4, 9, 30)),
        ("3-4-26", datetime(2026, 4, 3), datetime(2026, 3, 4)),  # a two-digit year is 20YY
        ("3/4/2026 10:15 PM", datetime(2026, 4, 3, 22, 15), datetime(2026, 3, 4, 22, 15)),
        ("03/04/2026 01:00:00+02:00", datetime(2026, 4, 2, 23), datetime(2026, 3, 3, 23)),
        ("13/04/2026", datetime(2026, 4, 13), None),  # no month 13: unreadable, as garbage is
        ("2026-03-04 10.15.30", None, None),  # a dotted time is not a second date
    ],
)
def test_a_date_with_day_and_month_as_numbers_is_read_in_the_order_the_suite_says(
    value: str, day_first: datetime | None, month_first: datetime | None
) -> None:
    assert parse_timestamp(value, "day_first") == day_first
    assert parse_timestamp(value, "month_first") == month_first


@pytest.mark.parametrize(
    "value", ["03/04/2026", "03.04.2026 09:30", "3-4-26", "13/04/2026", "10:15 03/04/2026"]
)
def test_a_date_with_day_and_month_as_numbers_is_refused_when_the_order_is_unsaid(value: str) -> None:
    with pytest.raises(ConfigError, match=r"which is the month\? use ISO 8601.*mining\.date_order"):
        parse_timestamp(value)


EUROPEAN = [  # 3 April 2026: pandas read it as 4 March, a month early and in another week
    {"request_id": "eu1", "ts": "2026-04-01T08:00:00Z", "title": "kettle", "response": "r", "rating": "bad"},
    {"request_id": "eu2", "ts": "03/04/2026 09:30", "title": "lamp shade", "response": "r", "rating": "bad"},
]


def test_mine_refuses_a_log_time_it_would_guess_and_reads_it_in_the_order_the_suite_says(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    import duckdb
    import pandas as pd

    from evalkit.store import open_store
    from evalkit.store.growth import GrowthStore

    suite = make_suite(MINING, [{"id": "a", "input": {"title": "x"}, "expected": "y"}], prompt="{{ title }}")
    mined = suite.parent / "mined.jsonl"
    db = tmp_path / "r.duckdb"
    first = write_cases(tmp_path / "first.jsonl", [{**EUROPEAN[0], "request_id": "iso", "title": "tent"}])
    assert cli("mine", str(suite), "--logs", str(first), "--db", str(db)).exit_code == 0
    stored_cases = mined.read_text()

    def stored_records() -> list[tuple[str, datetime | None]]:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute("SELECT log_id, logged_at FROM mined_records ORDER BY log_id").fetchall()

    before = stored_records()
    assert before == [("iso", datetime(2026, 4, 1, 8))]

    log = write_cases(tmp_path / "eu.jsonl", EUROPEAN)
    refused = cli("mine", str(suite), "--logs", str(log), "--db", str(db))
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert refused.stderr == (
        f"evalkit: error: {log}:2: timestamp '03/04/2026 09:30': which is the month? use ISO 8601 in the "
        "log (2026-11-01, 2026-11-01T09:00:00Z), or say its order in the suite: mining.date_order: "
        "day_first or month_first\n"
    )
    # the window check reads every record's time, failed or not; a CSV log names the record
    csv_log = tmp_path / "eu.csv"
    pd.DataFrame([{**EUROPEAN[1], "rating": "good"}]).to_csv(csv_log, index=False)
    refused = cli("mine", str(suite), "--logs", str(csv_log), "--since", "2026-01-01", "--db", str(db))
    assert refused.exit_code == 2 and refused.stderr.startswith(
        f"evalkit: error: {csv_log}: record 1: timestamp '03/04/2026 09:30': which is the month?"
    )
    assert mined.read_text() == stored_cases and stored_records() == before  # nothing written or lost

    suite.write_text(MINING + "  date_order: day_first\n")
    result = cli("mine", str(suite), "--logs", str(log), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    cases = {c["provenance"]["log_id"]: c for c in map(json.loads, mined.read_text().splitlines())}
    assert cases["eu2"]["provenance"]["logged_at"] == "2026-04-03T09:30:00Z"
    assert mined.read_text().startswith(stored_cases)
    weeks = GrowthStore(open_store(db)).failure_clusters_by_week("shop", datetime(2026, 1, 1))
    assert sorted(weeks["week"].dt.date.astype(str)) == ["2026-03-30"] * 3  # tent, kettle and lamp

"""Reading log timestamps and --since: what is accepted, and what is refused rather than misread."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import UsageError
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

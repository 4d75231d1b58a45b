"""Log records → failures: reading one production log record through the suite's field mapping,
scrubbing it, and deciding whether (and why) it failed. :mod:`evalkit.grow.mining` clusters the
failures this module finds and turns them into cases.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from evalkit.cases import content_id
from evalkit.errors import ConfigError, UsageError
from evalkit.grow.logfiles import JSONL_SUFFIXES
from evalkit.grow.neardup import input_text
from evalkit.grow.pii import PiiScrubber, without_placeholders
from evalkit.outputs import parse_output
from evalkit.suite.growth import DateOrder, MiningSpec
from evalkit.suite.loading import Suite

# Failure reasons, in the order a record's first reason is chosen.
REASONS = ("provider_error", "schema_violation", "correction", "negative_feedback", "low_judge_score")
_SINCE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# epoch seconds or milliseconds written as text; eight digits alone read as a date (20241105)
_EPOCH = re.compile(r"^\s*(?!\d{8}\s*$)[-+]?\d+(?:\.\d+)?\s*$")
# Epoch seconds before 2001-09-09 are not the time of a log record: a number that small is a year
# (2026), a count or a date in another unit, and reading it as 1970 would be wrong without a word.
EPOCH_FLOOR = 1e9
_SINCE_HINT = "use ISO 8601 (2026-11-01, 2026-11-01T09:00:00Z) or a duration like 7d, 12h, 2w"
# Day and month as numbers before the year (03/04/2026, 3.4.26, 03-04-2026): 3 April in Europe,
# 4 March in the US, and pandas reads it month-first. The order is the log's to say
# (mining.date_order); unsaid, such a time is refused rather than guessed.
_DAY_MONTH = re.compile(r"(?<![\d/.\-])(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.\-])")
_ORDER_HINT = (
    "use ISO 8601 in the log (2026-11-01, 2026-11-01T09:00:00Z), "
    "or say its order in the suite: mining.date_order: day_first or month_first"
)
COMPARED_WORDS = 80
_ERROR_CHARS = 200  # of a schema error quoted for a correction


class AmbiguousDateError(ConfigError):
    """A log time with the day and month as numbers before the year, in a log whose order is unsaid."""


@dataclass
class Failure:
    """One failing log record, scrubbed."""

    log_id: str
    source: str
    logged_at: datetime | None
    input: dict[str, Any]
    reasons: list[str]
    output: Any = None
    correction: Any = None
    feedback: Any = None
    text: str = ""  # normalised input text, for clustering and dedup
    cluster_id: str = ""
    pii: dict[str, int] = field(default_factory=dict)  # what scrubbing replaced: kind -> matches
    position: int = 0  # the record's line (a JSONL log) or number in its log
    # why the correction breaks the suite's output schema (one line): no right answer could pass
    # a case expecting it, so the record is listed for a person to fix rather than made a case
    correction_error: str | None = None

    @property
    def where(self) -> str:
        """The log file and the record's line (``log.jsonl:12``) or number (``log.csv: record 12``)."""
        if Path(self.source).suffix.lower() in JSONL_SUFFIXES:
            return f"{self.source}:{self.position}"
        return f"{self.source}: record {self.position}"


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``7d``, ``12h``, ``2w``, ``30m`` (before now), ``today`` or ``now`` (UTC), an ISO 8601 date/time
    (UTC unless it has an offset) or epoch seconds/milliseconds, as a naive UTC datetime.

    Anything else is refused rather than guessed at: ``12/11/2026`` (which is the month?), ``2026``
    (a year, or 2026 seconds after 1970?).
    """
    if value is None:
        return None
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    text = value.strip().lower()
    match = _SINCE.match(text)
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise UsageError(f"--since {value!r}: too far back (before the year 1)") from None
    if text == "now":
        return now
    if text == "today":
        return datetime.combine(now.date(), datetime.min.time())
    if _EPOCH.match(text):
        stamp = _from_epoch(float(text))
        if stamp is None:
            raise UsageError(f"--since {value!r}: not a time since 2001 in epoch seconds; {_SINCE_HINT}")
        return stamp
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"--since {value!r}: {_SINCE_HINT}") from None
    return _utc(parsed)


def parse_timestamp(value: Any, date_order: DateOrder | None = None) -> datetime | None:
    """A log timestamp (datetime, ISO text, epoch seconds or milliseconds) as naive UTC; None if unreadable.

    Epoch times before 2001 (``EPOCH_FLOOR``) and text without a digit (``now``, ``today``: the
    time of reading, not of the record) are unreadable. A date with the day and month as numbers
    before the year (``03/04/2026``; a two-digit year is 20YY) is read in ``date_order``; without
    one it raises :class:`AmbiguousDateError` rather than guess which number is the month.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and _EPOCH.match(value):  # every value of a CSV log is text
        value = float(value)
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(value)
    text = str(value).strip()
    if not any(c.isdigit() for c in text):
        return None
    matches = list(_DAY_MONTH.finditer(text))
    if not matches:
        return _pandas_time(text)
    if date_order is None:
        if _pandas_time(text) is None:
            return None
        raise AmbiguousDateError(f"timestamp {text!r}: which is the month? {_ORDER_HINT}")
    if len(matches) > 1:  # two dates in one time: the log is not what it says it is
        return None
    match = matches[0]
    first, second, year = int(match.group(1)), int(match.group(3)), int(match.group(4))
    day, month = (first, second) if date_order == "day_first" else (second, first)
    try:
        date = datetime(year + 2000 if len(match.group(4)) == 2 else year, month, day).date()
    except ValueError:  # 25/12/2026 month first: no date in the order the log says it uses
        return None
    stamp = _pandas_time(text[: match.start()] + date.isoformat() + text[match.end() :], utc=False)
    # pandas reads '2026-03-04 2030-10-15' (an ISO date and a dotted time rewritten) as some time
    return _utc(stamp) if stamp is not None and stamp.date() == date else None


def _pandas_time(text: str, *, utc: bool = True) -> datetime | None:
    import pandas as pd

    try:
        stamp = pd.Timestamp(text).to_pydatetime()
    except (ValueError, TypeError, OverflowError):
        return None
    if not isinstance(stamp, datetime):  # NaT
        return None
    return _utc(stamp) if utc else stamp


def _utc(stamp: datetime) -> datetime:
    """Naive UTC: an aware time converted, a naive one taken as UTC already."""
    return stamp.astimezone(timezone.utc).replace(tzinfo=None) if stamp.tzinfo is not None else stamp


def _from_epoch(value: float) -> datetime | None:
    """Epoch seconds, or milliseconds when the number is too big for seconds, as naive UTC;
    None before ``EPOCH_FLOOR`` or beyond the years a datetime holds."""
    seconds = value / 1000.0 if value > 1e11 else float(value)
    if not seconds >= EPOCH_FLOOR:  # NaN too
        return None
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None


def field_value(record: dict[str, Any], path: str) -> Any:
    """The value at a column name, or a dotted path into nested objects (JSON text is decoded on the way)."""
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except ValueError:
                return None
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _plain(value: Any) -> Any:
    """JSON-representable form of a value read from a log (timestamps, decimals, numpy scalars → text)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def is_blank(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str | list | dict) and not value)
        or (isinstance(value, str) and not value.strip())
    )


class RecordReader:
    """Turns raw log records into scrubbed :class:`Failure` s (or says why a record is skipped)."""

    def __init__(
        self, suite: Suite, spec: MiningSpec, variables: Sequence[str], scrubber: PiiScrubber
    ) -> None:
        self.suite = suite
        self.spec = spec
        self.variables = list(variables)
        self.scrubber = scrubber
        self.negative = {v.strip().lower() for v in spec.negative_feedback}
        self.validator: Any = None
        if suite.output_schema is not None:
            import jsonschema

            self.validator = jsonschema.validators.validator_for(suite.output_schema)(suite.output_schema)

    def input_of(self, record: dict[str, Any]) -> dict[str, Any] | None:
        mapping = self.spec.fields.input
        if isinstance(mapping, dict):
            values = {var: _plain(field_value(record, col)) for var, col in mapping.items()}
            return {k: ("" if v is None else v) for k, v in values.items()}
        value = _plain(field_value(record, mapping))
        if isinstance(value, str) and value.strip().startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, dict):
            return value
        if value is not None and len(self.variables) == 1:
            return {self.variables[0]: value}
        return None

    def reasons(self, output: Any, error: Any, feedback: Any, correction: Any, judge: Any) -> list[str]:
        found = []
        if not is_blank(error):
            found.append("provider_error")
        if self.validator is not None and not is_blank(output) and not found:
            value = output
            if isinstance(output, str):
                parsed = parse_output(output)
                value = parsed.value if parsed.found else None
            if value is None or next(iter(self.validator.iter_errors(value)), None) is not None:
                found.append("schema_violation")
        if not is_blank(correction):
            found.append("correction")
        ratings = feedback if isinstance(feedback, list) else [feedback]
        if any(r is not None and str(r).strip().lower() in self.negative for r in ratings):
            found.append("negative_feedback")
        if not is_blank(judge):
            try:
                if float(judge) < self.spec.min_judge_score:
                    found.append("low_judge_score")
            except (TypeError, ValueError):
                pass
        return found

    def time_of(self, value: Any, source: str, position: int) -> datetime | None:
        """A record's time (:func:`parse_timestamp` in ``mining.date_order``); a time it would have to
        guess at is refused with the log file and the record's line (JSONL) or number."""
        try:
            return parse_timestamp(value, self.spec.date_order)
        except AmbiguousDateError as exc:
            if Path(source).suffix.lower() in JSONL_SUFFIXES:
                raise AmbiguousDateError(exc.message, path=source, line=position) from None
            raise AmbiguousDateError(f"record {position}: {exc.message}", path=source) from None

    def read(self, record: dict[str, Any], source: str, position: int) -> Failure | str:
        """A scrubbed failure, or the reason the record is skipped (``"ok"`` when it did not fail)."""
        f = self.spec.fields

        def get(column: str | None) -> Any:
            return _plain(field_value(record, column)) if column else None

        raw_input = self.input_of(record)
        if raw_input is None:
            return "no input"
        reasons = self.reasons(
            get(f.output), get(f.error), get(f.feedback), get(f.correction), get(f.judge_score)
        )
        if not reasons:
            return "ok"
        self.scrubber.take_counts()  # what an earlier, skipped record held is not this one's
        case_input = self.scrubber.value(raw_input)
        missing = [v for v in self.variables if v not in case_input]
        if missing:
            return f"input lacks variable {missing[0]!r}"
        text = comparable_text(case_input)
        if not text:
            return "empty input"
        logged_at = self.time_of(field_value(record, f.timestamp), source, position) if f.timestamp else None
        raw_id = get(f.id)
        log_id = str(raw_id) if not is_blank(raw_id) else content_id(record)
        if self.scrubber.finds(log_id):  # an id that is itself personal data is stored hashed
            log_id = content_id(log_id)
        correction = self.scrubber.value(get(f.correction))
        if isinstance(correction, str) and self.suite.output_schema is not None:
            parsed = parse_output(correction)
            correction = parsed.value if parsed.found else correction
        correction = None if is_blank(correction) else correction
        output = self.scrubber.value(get(f.output))
        feedback = self.scrubber.value(
            [x for x in (get(f.feedback), get(f.feedback_text)) if not is_blank(x)]
        )
        return Failure(
            log_id=log_id,
            source=source,
            logged_at=logged_at,
            input=case_input,
            reasons=reasons,
            output=output,
            correction=correction,
            feedback=feedback or None,
            text=text,
            pii=self.scrubber.take_counts(),
            position=position,
            correction_error=self.schema_error(correction) if correction is not None else None,
        )

    def schema_error(self, value: Any) -> str | None:
        """How ``value`` (scrubbed: the message quotes it) breaks the output schema, in one line;
        None when it follows it or the suite has none."""
        if self.validator is None:
            return None
        import jsonschema

        error = jsonschema.exceptions.best_match(self.validator.iter_errors(value))
        if error is None:
            return None
        where = "/".join(str(part) for part in error.absolute_path)
        text = " ".join(f"{where + ': ' if where else ''}{error.message}".split())
        return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def comparable_text(case_input: dict[str, Any]) -> str:
    """What failures are clustered and deduplicated on: the normalised input without PII placeholders,
    its first COMPARED_WORDS words (enough to tell listings apart; long texts would make it slow)."""
    return " ".join(input_text(without_placeholders(case_input)).split()[:COMPARED_WORDS])

"""Read queries of the review studio (``evalkit view``): runs with their headline figures, one page of a
run's cases under filters, one case in full, and a case's history across runs.

Pages are cut in the database (``LIMIT``/``OFFSET`` over the filtered rows), so a 10,000-case run
costs the same per page as a 100-case one; a text search reads the rows the other filters leave and
matches the values a person reads in Python, as JSON is spelt differently by each database. Portable
SQL only, like the rest of the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from evalkit.results import RunRecord
from evalkit.store.columns import FIELD_COLUMNS, OUTPUT_COLUMNS, SCORE_COLUMNS
from evalkit.store.queries import Store
from evalkit.store.values import like_literal

PAGE_COLUMNS = (
    "case_id",
    "epoch",
    "verdict",
    "score",
    "status",
    "raw_text",
    "error",
    "latency_ms",
    "cost_usd",
    "tags_json",
    "source",
)


@dataclass(frozen=True)
class CaseQuery:
    """Which of a run's (case, epoch) rows to list. Empty strings filter nothing."""

    verdict: str = ""  # pass | fail | error
    scorer: str = ""  # rows this scorer failed
    field: str = ""  # rows where this field did not pass
    tag: str = ""
    source: str = ""  # golden | generated | mined
    text: str = ""  # the case id, a value of the input or the output contains it (case-insensitive)
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class CasePage:
    """One page of rows (dicts keyed by :data:`PAGE_COLUMNS`) and how many rows match in all."""

    total: int
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Facets:
    """What a run's cases can be filtered by."""

    scorers: list[str]
    fields: list[str]
    tags: list[str]
    sources: list[str]


def _like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it anywhere, its wildcards taken literally."""
    return f"%{like_literal(text)}%"


def suite_paths(store: Store) -> dict[str, str]:
    """Each suite's file as recorded by its newest run."""
    with store._connection() as con:
        rows = con.execute("SELECT suite_name, suite_path, started_at FROM runs ORDER BY started_at")
    return {name: path for name, path, _ in rows if path}


def run_count(store: Store) -> int:
    """How many runs the store holds (the runs list shows them a page at a time)."""
    with store._connection() as con:
        return int(con.execute("SELECT COUNT(*) FROM runs")[0][0])


def case_page(store: Store, run_id: str, query: CaseQuery) -> CasePage:
    """The rows of a run matching ``query``, one page of them, by case id and epoch."""
    where, params = ["o.run_id = ?"], [run_id]
    if query.verdict:
        where.append("o.verdict = ?")
        params.append(query.verdict)
    if query.source:
        where.append("c.source = ?")
        params.append(query.source)
    if query.tag:
        where.append("c.tags_json LIKE ? ESCAPE '\\'")
        params.append(_like(json.dumps(query.tag, ensure_ascii=False)))
    if query.scorer:
        where.append(
            "EXISTS (SELECT 1 FROM scores s WHERE s.run_id = o.run_id AND s.case_id = o.case_id "
            "AND s.epoch = o.epoch AND s.scorer = ? AND NOT s.passed AND s.error IS NULL)"
        )
        params.append(query.scorer)
    if query.field:
        where.append(
            "EXISTS (SELECT 1 FROM field_scores f WHERE f.run_id = o.run_id AND f.case_id = o.case_id "
            "AND f.epoch = o.epoch AND f.field = ? AND NOT f.passed)"
        )
        params.append(query.field)
    body = f"FROM outputs o JOIN cases c ON c.run_id = o.run_id AND c.case_id = o.case_id WHERE {' AND '.join(where)}"
    columns = ", ".join(("c." if col in ("tags_json", "source") else "o.") + col for col in PAGE_COLUMNS)
    if query.text:  # matched in Python, on the values a person reads (see _shown)
        with store._connection() as con:
            found = con.execute(f"SELECT {columns}, c.input_json {body} ORDER BY o.case_id, o.epoch", params)
        needle = query.text.casefold()
        matched = []
        for *values, input_json in found:
            row = dict(zip(PAGE_COLUMNS, values, strict=True))
            shown = _shown(row["case_id"], input_json, row["raw_text"], row["error"])
            if any(needle in text.casefold() for text in shown):
                matched.append(row)
        return CasePage(len(matched), matched[query.offset : query.offset + query.limit])
    with store._connection() as con:
        total = int(con.execute(f"SELECT COUNT(*) {body}", params)[0][0])
        rows = con.execute(
            f"SELECT {columns} {body} ORDER BY o.case_id, o.epoch LIMIT ? OFFSET ?",
            [*params, int(query.limit), int(query.offset)],
        )
    return CasePage(total, [dict(zip(PAGE_COLUMNS, row, strict=True)) for row in rows])


def _shown(case_id: str, input_json: str, raw_text: str | None, error: str | None) -> Iterator[str]:
    """What a text search looks in: the case id, the input's values, the output's values when it is
    JSON (else its text), and a failed call's error, as the pages show it. Not JSON's keys and
    punctuation: the cases of a suite share their keys, so a key (or a ``"``) would match every row."""
    yield case_id
    yield from _values(json.loads(input_json))
    if raw_text:
        try:
            yield from _values(json.loads(raw_text))
        except ValueError:
            yield raw_text
    if error:
        yield error


def _values(value: Any) -> Iterator[str]:
    """The values of a JSON value as text (strings as they are, numbers and booleans as JSON spells
    them), its keys and ``null`` left out."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _values(item)
    elif isinstance(value, str):
        yield value
    elif value is not None:
        yield json.dumps(value)


def run_facets(store: Store, run_id: str) -> Facets:
    """The scorers, fields, tags and sources present in a run."""
    with store._connection() as con:
        scorers = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT scorer FROM scores WHERE run_id = ? ORDER BY scorer", (run_id,)
            )
        ]
        fields = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT field FROM field_scores WHERE run_id = ? ORDER BY field", (run_id,)
            )
        ]
        tag_lists = con.execute("SELECT DISTINCT tags_json FROM cases WHERE run_id = ?", (run_id,))
        sources = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT source FROM cases WHERE run_id = ? ORDER BY source", (run_id,)
            )
        ]
    tags = sorted({str(tag) for (text,) in tag_lists for tag in json.loads(text or "[]")})
    return Facets(scorers, fields, tags, sources)


def case_detail(store: Store, run_id: str, case_id: str) -> dict[str, Any] | None:
    """A case of a run in full: its case row, every epoch's output, score and field-score rows."""
    with store._connection() as con:
        case = con.execute(
            "SELECT input_json, expected_json, tags_json, source, verified, provenance_json FROM cases "
            "WHERE run_id = ? AND case_id = ?",
            (run_id, case_id),
        )
        if not case:
            return None
        # plain rows, not DataFrames: a case page should not make the server load pandas (~100 MB)
        found = {
            name: [
                dict(zip(columns, row, strict=True))
                for row in con.execute(
                    f"SELECT {', '.join(columns)} FROM {name} WHERE run_id = ? AND case_id = ? ORDER BY {order}",
                    (run_id, case_id),
                )
            ]
            for name, columns, order in (
                ("outputs", OUTPUT_COLUMNS, "epoch"),
                ("scores", SCORE_COLUMNS, "epoch, scorer"),
                ("field_scores", FIELD_COLUMNS, "epoch, scorer, field"),
            )
        }
    input_json, expected_json, tags_json, source, verified, provenance_json = case[0]
    return {
        "input": json.loads(input_json),
        "expected": json.loads(expected_json) if expected_json is not None else None,
        "tags": json.loads(tags_json),
        "source": source,
        "verified": bool(verified),
        "provenance": json.loads(provenance_json),
        "outputs": found["outputs"],
        "scores": found["scores"],
        "fields": found["field_scores"],
    }


def case_history(store: Store, run: RunRecord, case_id: str, *, limit: int = 30) -> list[dict[str, Any]]:
    """The case's first-epoch outcome in the suite's runs, newest first."""
    with store._connection() as con:
        rows = con.execute(
            "SELECT r.run_id, r.started_at, r.prompt_version, r.model, o.verdict, o.score, o.raw_text "
            "FROM outputs o JOIN runs r ON r.run_id = o.run_id "
            "WHERE r.suite_name = ? AND o.case_id = ? AND o.epoch = 0 ORDER BY r.started_at DESC LIMIT ?",
            (run.suite_name, case_id, limit),
        )
    keys = ("run_id", "started_at", "prompt_version", "model", "verdict", "score", "raw_text")
    return [dict(zip(keys, row, strict=True)) for row in rows]

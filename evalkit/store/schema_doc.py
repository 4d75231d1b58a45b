"""The table reference of docs/store.md, generated from the migrations so the two cannot drift apart.

The tables, columns, types, primary keys and indexes are read from a fresh database migrated one
version at a time (so each column also says which migration added it); what a row and a column
mean comes from :data:`evalkit.store.schema_notes.TABLES`, the one place to describe them. Regenerate the doc with::

    python -m evalkit.store.schema_doc            # rewrites docs/store.md between the markers
    python -m evalkit.store.schema_doc --check    # exit 1 if docs/store.md is out of date

``tests/store/test_schema_doc.py`` runs the check. A migration that adds a table fails the
generator until the table is described there; a description of a column no migration creates fails it too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from evalkit.store.schema_notes import TABLES, TableDoc

BEGIN = "<!-- BEGIN generated schema: edit evalkit/store/schema_notes.py, then `python -m evalkit.store.schema_doc` -->"
END = "<!-- END generated schema -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "store.md"

# DuckDB reports types by its own names; the migrations spell them portably (PostgreSQL too).
_PORTABLE_TYPES = {"VARCHAR": "TEXT", "DOUBLE": "DOUBLE PRECISION"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    since: int  # the migration that added it


@dataclass(frozen=True)
class Table:
    name: str
    since: int
    columns: list[Column]
    primary_key: list[str]
    indexes: dict[str, list[str]]


def read_schema() -> list[Table]:
    """Every table the migrations create, read back from a fresh DuckDB migrated one version at a time."""
    from evalkit.store.duckdb import DuckDBBackend
    from evalkit.store.migrate import applied_versions, available_migrations, migrate

    added: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        backend = DuckDBBackend(Path(tmp) / "schema.duckdb")
        with backend.connect() as con:
            applied_versions(con)  # creates schema_migrations: "version 0"
            for version in [0, *(m.version for m in available_migrations())]:
                if version:
                    migrate(con, backend, target=version)
                for table, column in con.execute(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
                ):
                    added.setdefault((table, column), version)
            columns = con.execute(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
            )
            keys = {
                table: list(names)
                for table, names in con.execute(
                    "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                    "WHERE constraint_type = 'PRIMARY KEY'"
                )
            }
            indexes: dict[str, dict[str, list[str]]] = {}
            for name, table, expressions in con.execute(
                "SELECT index_name, table_name, expressions FROM duckdb_indexes() ORDER BY index_name"
            ):
                indexes.setdefault(table, {})[name] = [e.strip() for e in expressions.strip("[]").split(",")]
    tables: dict[str, list[Column]] = {}
    for table, column, data_type, nullable in columns:
        tables.setdefault(table, []).append(
            Column(
                column, _PORTABLE_TYPES.get(data_type, data_type), nullable == "YES", added[(table, column)]
            )
        )
    return [
        Table(name, min(c.since for c in cols), cols, keys.get(name, []), indexes.get(name, {}))
        for name, cols in tables.items()
    ]


def render(tables: list[Table]) -> str:
    """The generated part of docs/store.md: an index of the tables, then each table's columns."""
    by_name = {t.name: t for t in tables}
    undocumented = sorted(set(by_name) - set(TABLES))
    if undocumented:
        raise ValueError(
            f"describe the new table(s) {', '.join(undocumented)} in TABLES of evalkit.store.schema_notes"
        )
    gone = sorted(set(TABLES) - set(by_name))
    if gone:
        raise ValueError(
            f"TABLES of evalkit.store.schema_notes describes table(s) no migration creates: {', '.join(gone)}"
        )
    lines = [
        "| table | one row per |",
        "|---|---|",
        *(f"| [`{name}`](#{name}) | {doc.row} |" for name, doc in TABLES.items()),
    ]
    for name, doc in TABLES.items():
        lines += ["", *_render_table(by_name[name], doc)]
    return "\n".join(lines) + "\n"


def _render_table(table: Table, doc: TableDoc) -> list[str]:
    unknown = sorted(set(doc.columns) - {c.name for c in table.columns})
    if unknown:
        raise ValueError(f"TABLES[{table.name!r}] describes columns the table lacks: {', '.join(unknown)}")
    origin = (
        "Made by `evalkit/store/migrate.py` itself"
        if table.since == 0
        else f"Since migration {table.since:03d}"
    )
    key = ", ".join(f"`{c}`" for c in table.primary_key)
    lines = [
        f"### `{table.name}`",
        "",
        f"One row per {doc.row}. {origin}" + (f"; primary key ({key})." if key else "."),
    ]
    for index, columns in table.indexes.items():
        lines[-1] += f" Index `{index}` on ({', '.join(f'`{c}`' for c in columns)})."
    if doc.notes:
        lines[-1] += " " + doc.notes
    lines += ["", "| column | type | description |", "|---|---|---|"]
    for c in table.columns:
        description = doc.columns.get(c.name, "")
        if c.since != table.since:
            description = (description + " " if description else "") + f"(since migration {c.since:03d})"
        kind = c.type + ("" if c.nullable else " NOT NULL")
        lines.append(f"| `{c.name}` | {kind} | {description} |")
    return lines


def update(text: str, generated: str) -> str:
    """``text`` (docs/store.md) with the part between the markers replaced by ``generated``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"docs/store.md lacks the markers {BEGIN!r} ... {END!r}")
    return text[: start + len(BEGIN)] + "\n" + generated + "\n" + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evalkit.store.schema_doc", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the doc is out of date; write nothing"
    )
    parser.add_argument("doc", nargs="?", type=Path, default=DOC, help=f"default: {DOC}")
    args = parser.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    wanted = update(text, render(read_schema()))
    if wanted == text:
        return 0
    if args.check:
        print(f"{args.doc} is out of date: run `python -m evalkit.store.schema_doc`", file=sys.stderr)
        return 1
    args.doc.write_text(wanted, encoding="utf-8")
    print(f"rewrote the schema section of {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

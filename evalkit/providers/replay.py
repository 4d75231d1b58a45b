"""``replay:`` targets: score outputs recorded elsewhere (human moderators, production logs, another tool).

``replay:recorded.jsonl`` (or ``.csv``, ``.parquet``) reads one recording per row, joined to the
cases by ``id``, with the output in the ``output`` column. ``replay:recorded.yaml`` says more::

    source: moderators.parquet      # .jsonl, .csv or .parquet, relative to this file; or instead:
    database: logs.duckdb           # optional DuckDB file the query reads (default: an in-memory one)
    query: SELECT listing_id, answer FROM read_csv('exports/*.csv', all_varchar=true)  # any DuckDB SQL
    key: listing_id                 # the recording's column joined to the case (default: id)
    case_key: sku                   # what it is joined to: `id` (default) or one of the case's input variables
    output: answer                  # the column holding the output (default: output)
    baseline: human moderators      # a baseline: `compare` and the report show its error rate against the model's

A case without a recording is that case's ``error`` (not retried). The recordings' content (keys
and outputs, however they were read) is part of the cache key, so a new export is a new set of answers.
Paths inside a ``query`` resolve against this file's directory.

What is scored is the text as recorded: a query's key and output columns must be VARCHAR, since
a type DuckDB gives a column (guessed from a CSV: ``1.50`` as DOUBLE 1.5) renders other text than
was recorded; a Parquet file's declared types are taken where their text is exact (an integer key).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evalkit.errors import ConfigError, ProviderError
from evalkit.providers.base import Completion, CompletionRequest, Provider, provider, target_hashers
from evalkit.suite.textfile import json_objects
from evalkit.suite.yamlfile import load_yaml

RECORDING_SUFFIXES = (".jsonl", ".csv", ".parquet")


class ReplaySpec(BaseModel):
    """Where the recorded outputs are and how they join the cases."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, description="A .jsonl, .csv or .parquet file of recordings.")
    database: str | None = Field(default=None, description="DuckDB database file the query reads.")
    query: str | None = Field(default=None, description="DuckDB SQL returning the recordings.")
    key: str = Field(default="id", description="Recording column joined to the case.")
    case_key: str = Field(default="id", description="`id`, or the case input variable the key matches.")
    output: str = Field(default="output", description="Recording column holding the output.")
    baseline: str | None = Field(
        default=None, description="Label of a baseline these recordings are, e.g. `human moderators`."
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReplaySpec:
        if (self.source is None) == (self.query is None):
            raise ValueError("give either `source` (a file) or `query` (DuckDB SQL)")
        if self.database is not None and self.query is None:
            raise ValueError("`database` needs a `query`")
        return self


def _named_path(model: str, base_dir: Path | None) -> Path:
    return (base_dir or Path.cwd()) / model.removeprefix("replay:")


def load_replay_spec(model: str, base_dir: Path | None = None) -> tuple[ReplaySpec, Path]:
    """The spec a ``replay:`` model string names, and the directory its paths are relative to."""
    path = _named_path(model, base_dir)
    if path.suffix.lower() in RECORDING_SUFFIXES:
        return ReplaySpec(source=path.name), path.parent
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(
            f"target {model!r}: a replay names a .jsonl, .csv, .parquet or .yaml file", path=path
        )
    if not path.is_file():
        raise ConfigError(f"target {model!r}: file not found", path=path)
    located = load_yaml(path)  # a syntax error names its line
    if not isinstance(located.data, dict):
        raise ConfigError("a replay file must be a YAML mapping", path=path, line=1)
    try:
        return ReplaySpec.model_validate(located.data), path.parent
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = (
            "unknown field" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        )
        line = located.line_of(tuple(err["loc"]))
        raise ConfigError(f"{loc}: {msg}" if loc else msg, path=path, line=line) from None


def baseline_label(model: str, base_dir: Path | None = None) -> str | None:
    """The baseline label of a ``replay:`` target (None for other targets and unlabelled replays)."""
    if not model.startswith("replay:"):
        return None
    return load_replay_spec(model, base_dir)[0].baseline


def _rows(spec: ReplaySpec, root: Path, spec_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for every recording; ``where`` is ``file:line`` for errors (the spec file's
    ``query row N`` for a query's)."""
    if spec.query is not None:
        yield from _query_rows(spec, root, spec_path)
        return
    assert spec.source is not None
    path = root / spec.source
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            for line, row in json_objects(path, what="a recording", file="recordings file"):
                yield f"{path}:{line}", row
        elif suffix == ".csv":
            yield from _csv_rows(path)
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            _refuse_inexact_parquet_columns(spec, table.schema, path)
            for number, row in enumerate(table.to_pylist(), start=1):
                yield f"{path} row {number}", row
        else:
            raise ConfigError("recordings must be .jsonl, .csv or .parquet", path=path)
    except FileNotFoundError:
        raise ConfigError("recordings file not found", path=path) from None
    except (OSError, ValueError) as exc:  # pyarrow's errors are ValueError/OSError subclasses
        raise ConfigError(f"cannot read recordings: {exc}".replace("\n", " "), path=path) from None


def _csv_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a CSV file as header -> cell; a row whose cells do not line up with the header (an
    unquoted comma, a cell lost) is refused, not read with a cell dropped or made up."""
    with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: a spreadsheet's byte-order mark
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            return
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(header):
                count = f"{len(cells)} cell" + ("" if len(cells) == 1 else "s")
                raise ConfigError(
                    f"row has {count}, the header has {len(header)}: quote cells holding commas",
                    path=path,
                    line=reader.line_num,
                )
            yield f"{path}:{reader.line_num}", dict(zip(header, cells, strict=True))


def _query_rows(spec: ReplaySpec, root: Path, spec_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import duckdb

    assert spec.query is not None
    database = str(root / spec.database) if spec.database else ":memory:"
    where = f"{spec_path}: query ({spec.database or 'in-memory DuckDB'})"
    try:
        con = duckdb.connect(database, read_only=spec.database is not None)
        try:
            con.execute(f"SET file_search_path = '{str(root).replace(chr(39), chr(39) * 2)}'")
            result = con.execute(spec.query)
            described = result.description or []
            names = [d[0] for d in described]
            _refuse_typed_columns(spec, {d[0]: str(d[1]) for d in described}, where)
            rows = result.fetchall()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise ConfigError(f"{where}: {str(exc).splitlines()[0]}") from None
    for number, values in enumerate(rows, start=1):
        yield f"{where} row {number}", dict(zip(names, values, strict=True))


def _refuse_typed_columns(spec: ReplaySpec, types: dict[str, str], where: str) -> None:
    """A query's key and output columns must be text. DuckDB's readers guess types (a CSV's ``1.50``
    is DOUBLE 1.5, ``01/05/2024`` a DATE shown as 2024-05-01, ``1.10`` the key ``1.1``), and which
    typed column was guessed and which is a table's own cannot be told from the result: so every
    typed column is refused, with how to read it as text, rather than scored re-rendered."""
    for column in dict.fromkeys((spec.key, spec.output)):
        sqltype = types.get(column)
        if sqltype is None or sqltype == "VARCHAR":
            continue
        name = column if column.isidentifier() else '"' + column.replace('"', '""') + '"'
        raise ConfigError(
            f"{where}: column {column!r} is {sqltype}, not text, so its values would not be scored "
            f"as recorded (a CSV's 1.50 read as DOUBLE is 1.5); read files as text "
            f"(read_csv(..., all_varchar=true)), or CAST({name} AS VARCHAR) if {sqltype} is a table's own type"
        )


def _exact_parquet_type(arrow_type: Any, *, key: bool) -> bool:
    """Whether a Parquet column's values render as text exactly: its writer declared the type, so
    nothing was guessed, but a float32 widens to digits never written (1.1 as 1.100000023841858),
    and a decimal, date or binary value has no JSON form of its own."""
    import pyarrow.types as pt

    if pt.is_string(arrow_type) or pt.is_large_string(arrow_type) or pt.is_string_view(arrow_type):
        return True
    if pt.is_integer(arrow_type):  # an integer's digits are the integer's: 7 is "7"
        return True
    if pt.is_dictionary(arrow_type):  # a category column (pandas') holds its values' own text
        return _exact_parquet_type(arrow_type.value_type, key=key)
    if key:  # a key is joined to a case id: text or an integer, nothing that renders in two ways
        return False
    if pt.is_boolean(arrow_type) or pt.is_float64(arrow_type) or pt.is_null(arrow_type):
        return True
    if pt.is_struct(arrow_type):
        return all(
            _exact_parquet_type(arrow_type.field(i).type, key=False) for i in range(arrow_type.num_fields)
        )
    if pt.is_list(arrow_type) or pt.is_large_list(arrow_type) or pt.is_fixed_size_list(arrow_type):
        return _exact_parquet_type(arrow_type.value_type, key=False)
    return False


def _refuse_inexact_parquet_columns(spec: ReplaySpec, schema: Any, path: Path) -> None:
    for column, key in ((spec.key, True), (spec.output, False)):
        if column in schema.names and not _exact_parquet_type(schema.field(column).type, key=key):
            what = "a key must be text or an integer" if key else "its values would not be scored as written"
            raise ConfigError(
                f"column {column!r} is {schema.field(column).type}: {what}; write it as a string column",
                path=path,
            )


def _key_text(value: Any, column: str, where: str) -> str:
    """A recording's key as the text a case id or input is compared with: a JSON or Parquet integer
    is its digits; anything else (null, a number 7.0, true) has no single text and is refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    shown = json.dumps(value, ensure_ascii=False)
    raise ConfigError(f"{where}: key {column!r} is {shown}: a key must be text or an integer")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _signature(model: str, base_dir: Path | None) -> tuple[Any, ...]:
    """What the files a replay reads look like now (size, mtime), to know when to read them again."""
    spec, root = load_replay_spec(model, base_dir)
    paths = [_named_path(model, base_dir)] + [root / n for n in (spec.source, spec.database) if n is not None]
    stats: list[tuple[str, int | None, int | None]] = []
    for path in paths:
        try:
            stat = path.stat()
            stats.append((str(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            stats.append((str(path), None, None))
    return (model, str(base_dir), *stats)


@dataclass(frozen=True)
class Recordings:
    """The recorded outputs of a replay, and the hash of their content."""

    spec: ReplaySpec
    outputs: dict[str, str | None]  # key -> output text; None: a SQL/Parquet null, no output recorded
    content_hash: str


@lru_cache(maxsize=16)
def _read(signature: tuple[Any, ...]) -> Recordings:
    model, named = signature[0], signature[1]
    base_dir = None if named == "None" else Path(named)
    spec, root = load_replay_spec(model, base_dir)
    outputs: dict[str, str | None] = {}
    first_at: dict[str, str] = {}
    # JSONL's null is a JSON value, scored as `null`; a SQL or Parquet null is no value at all
    null_is_missing = spec.query is not None or Path(spec.source or "").suffix.lower() == ".parquet"
    for where, row in _rows(spec, root, _named_path(model, base_dir)):
        for column in (spec.key, spec.output):
            if column not in row:
                raise ConfigError(f"{where}: recording has no column {column!r} (columns: {', '.join(row)})")
        key = _key_text(row[spec.key], spec.key, where)
        if key in outputs:  # two recordings of one case: which one is the output is not ours to guess
            raise ConfigError(f"{where}: a second recording of {key!r} (the first at {first_at[key]})")
        first_at[key] = where
        value = row[spec.output]
        outputs[key] = None if value is None and null_is_missing else _text(value)
    material = json.dumps([spec.model_dump(), sorted(outputs.items())], ensure_ascii=False)
    return Recordings(spec, outputs, hashlib.sha256(material.encode()).hexdigest()[:16])


def read_recordings(model: str, base_dir: Path | None = None) -> Recordings:
    """The recordings a ``replay:`` model string names (read again only when its files change)."""
    return _read(_signature(model, base_dir))


def replay_hash(model: str, base_dir: Path | None = None) -> str:
    """Content hash of a replay's recordings (keys and outputs) and how they join the cases."""
    return read_recordings(model, base_dir).content_hash


class ReplayTarget:
    """Answers each case with its recorded output."""

    def __init__(self, model: str, base_dir: Path | None = None) -> None:
        self.model = model
        read = read_recordings(model, base_dir)
        self.spec, self.recordings = read.spec, read.outputs
        self.spec_path = _named_path(model, base_dir)
        self.source = self.spec.source or "the replay query"

    def check_request(self, request: CompletionRequest) -> None:
        """Before any case: recordings to answer from, and a ``case_key`` the cases have."""
        if not self.recordings:
            raise ConfigError(f"no recordings in {self.source}", path=self.spec_path)
        key = self.spec.case_key
        if key != "id" and key not in (request.variables or {}):
            raise ConfigError(f"case_key {key!r} is not an input variable of the cases", path=self.spec_path)

    async def complete(self, request: CompletionRequest) -> Completion:
        if self.spec.case_key == "id":
            key: Any = request.case_id
        else:
            key = (request.variables or {}).get(self.spec.case_key)
        what = "case" if self.spec.case_key == "id" else self.spec.case_key
        if key is not None and (isinstance(key, bool) or not isinstance(key, str | int)):
            # a case's 1.10 is the number 1.1 by now: joined on its text, it would take 1.1's recording
            raise ProviderError(
                f"{what} {key!r} is a {type(key).__name__}, not text or an integer: it joins no recording",
                transient=False,
            )
        if key is None or str(key) not in self.recordings:
            raise ProviderError(f"no recording for {what} {key!r} in {self.source}", transient=False)
        text = self.recordings[str(key)]
        if text is None:  # an empty cell read by DuckDB, a NULL answer: nothing to score, not "null"
            raise ProviderError(f"the recording of {what} {key!r} in {self.source} is null", transient=False)
        return Completion(text=text, model=self.model)


@provider("replay")
def _replay_factory(model: str, base_dir: Path | None = None) -> Provider:
    return ReplayTarget(model, base_dir)


target_hashers.register("replay", replay_hash)

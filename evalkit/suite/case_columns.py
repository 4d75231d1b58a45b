"""How the columns of a CSV or Parquet case file become cases (the suite file's ``cases:`` entries).

A ``cases:`` entry is a path or glob (JSONL, CSV or Parquet), or a mapping with the path and the
columns::

    cases:
      - golden/listings.jsonl
      - path: golden/from_the_spreadsheet.csv
        columns:
          id: case_id                          # default: `id` when present, else a hash of the input
          input: {title: Title, price: Price}  # variable -> column; or a list of columns; default: every other column
          expected: Expected JSON              # one column (JSON text is parsed), or {field: column, ...}
          tags: Labels                         # comma-separated
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ColumnMapping(BaseModel):
    """Which columns of a table hold a case's id, input variables, expected output and tags."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, description="Column of the case id (default: `id`, if present).")
    input: list[str] | dict[str, str] | None = Field(
        default=None,
        description="Input variables: a list of columns (named as they are) or {variable: column}; "
        "default: every column not mapped to something else.",
    )
    expected: str | dict[str, str] | None = Field(
        default=None,
        description="Expected output: one column (JSON text is parsed), or {field: column} for a JSON "
        "object (dotted fields nest); default: `expected`, if present.",
    )
    tags: str | None = Field(default=None, description="Column of comma-separated tags (default: `tags`).")


class CaseFileSpec(BaseModel):
    """A case file with a column mapping (CSV or Parquet)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Case file or glob, relative to the suite (.jsonl, .csv or .parquet).")
    columns: ColumnMapping = Field(default_factory=ColumnMapping)

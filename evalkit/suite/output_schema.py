"""The output schema a suite declares: a JSON Schema file, or a pydantic model named ``module:Model``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evalkit.importing import import_object
from evalkit.suite.textfile import read_utf8


def load_output_schema(spec: str, base: Path) -> dict[str, Any]:
    """A JSON Schema from a file path, or from a pydantic model named ``module:Model``."""
    candidate = base / spec
    if candidate.suffix == ".json" or candidate.is_file():
        if not candidate.is_file():
            raise ValueError(f"file not found: {spec}")
        try:
            schema = json.loads(read_utf8(candidate, what="output schema"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{spec} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(schema, dict):
            raise ValueError(f"{spec} must hold a JSON object")
        check_schema(schema)
        return schema
    model = import_object(spec, search_path=base)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"{spec!r} is not a pydantic model class")
    return model.model_json_schema()


def check_schema(schema: dict[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None

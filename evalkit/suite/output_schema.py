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
        try:
            check_schema(schema)
        except ValueError as exc:
            raise ValueError(f"{spec}: {exc}") from None
        return schema
    model = import_object(spec, search_path=base)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"{spec!r} is not a pydantic model class")
    return model.model_json_schema()


def check_schema(schema: dict[str, Any]) -> None:
    """ValueError, naming where in ``schema``, unless it passes its draft's meta-schema and every
    ``$ref`` in it leads somewhere."""
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)
    try:
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = ".".join(str(part) for part in exc.absolute_path)
        raise ValueError(f"not a valid JSON Schema: {where + ': ' if where else ''}{exc.message}") from None
    # a $ref that leads nowhere is no schema error: it fails when a value reaches it, and the
    # json_schema scorer would then error on every case, its check silently off
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012, specification_with

    resource = specification_with(str(schema.get("$schema", "")), default=DRAFT202012).create_resource(schema)
    base = resource.id() or ""
    resolver = Registry().with_resource(base, resource).resolver(base_uri=base)
    for ref in _refs(schema):
        try:
            resolver.lookup(ref)
        except Exception as exc:  # referencing's Unresolvable and friends
            raise ValueError(
                f"$ref {ref!r} leads nowhere ({type(exc).__name__}): refer to a definition in the schema itself"
            ) from None


def _refs(value: Any) -> list[str]:
    """Every ``$ref`` string in a schema, depth first."""
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [ref for item in value.values() for ref in _refs(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _refs(item)]
    return []

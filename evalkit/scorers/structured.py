"""Structured-output scorers of the output's shape: json_valid, strict_format, json_schema and pydantic.

Field-by-field comparison with the expected output (``json_fields``) is in :mod:`evalkit.scorers.fields`.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from evalkit.importing import import_object
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, scorer


@scorer("json_valid")
def json_valid() -> ScoreFn:
    """Passes when a JSON value can be found in the output (even inside a fence or prose).

    Use ``strict_format`` to also fail outputs that needed rescuing.
    """

    def score(ctx: ScoreContext) -> Score:
        if not ctx.parsed_found:
            return Score(value=0.0, passed=False, reason="no JSON found in output")
        return Score(value=1.0, passed=True, reason=f"JSON found ({ctx.extraction})")

    return score


@scorer("strict_format")
def strict_format() -> ScoreFn:
    """Passes only when the whole output is JSON; records the extraction that rescued anything else.

    Wrapping JSON in prose or a code fence breaks strict parsers downstream even when evalkit can
    still read it, so it is a failure here, with ``details.extraction`` saying what was needed.
    """

    def score(ctx: ScoreContext) -> Score:
        details = {"extraction": ctx.extraction}
        if ctx.extraction == "strict":
            return Score(value=1.0, passed=True, reason="output is bare JSON", details=details)
        if ctx.extraction == "none":
            return Score(value=0.0, passed=False, reason="no JSON found in output", details=details)
        how = "a code fence" if ctx.extraction == "fenced" else "surrounding prose"
        return Score(value=0.0, passed=False, reason=f"JSON was wrapped in {how}; rescued", details=details)

    return score


@scorer("json_schema")
def json_schema(schema: str | None = None, *, base_dir: Path) -> ScoreFn:
    """Validates the parsed output against a JSON Schema (the jsonschema library).

    ``schema``: path of a JSON Schema file, relative to the suite; default: the suite's output schema.
    The reason names the first violation and where it is; ``details.errors`` lists up to ten.
    """
    explicit = _load_schema_file(base_dir / schema) if schema else None

    def score(ctx: ScoreContext) -> Score:
        active = explicit if explicit is not None else ctx.output_schema
        if active is None:
            return Score(
                value=0.0, passed=False, error="no schema: set `schema` or the suite's output_schema"
            )
        if not ctx.parsed_found:
            return Score(value=0.0, passed=False, reason="no JSON found in output")
        errors = sorted(_validator(json.dumps(active, sort_keys=True)).iter_errors(ctx.parsed), key=str)
        if not errors:
            return Score(value=1.0, passed=True, reason="matches schema")
        described = [_describe_schema_error(e) for e in errors[:10]]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return Score(value=0.0, passed=False, reason=described[0] + more, details={"errors": described})

    return score


@cache
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _load_schema_file(path: Path) -> dict[str, Any]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"schema file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"schema file {path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    jsonschema.validators.validator_for(schema).check_schema(schema)
    return schema  # type: ignore[no-any-return]


def _describe_schema_error(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message}"


@scorer("pydantic")
def pydantic_model(model: str, *, base_dir: Path) -> ScoreFn:
    """Validates the parsed output with a pydantic model named ``module:Model`` (importable from the suite dir)."""
    cls = import_object(model, search_path=base_dir)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise ValueError(f"{model!r} is not a pydantic model class")

    def score(ctx: ScoreContext) -> Score:
        if not ctx.parsed_found:
            return Score(value=0.0, passed=False, reason="no JSON found in output")
        try:
            cls.model_validate(ctx.parsed)
        except PydanticValidationError as exc:
            errs = exc.errors(include_url=False)
            first = errs[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            more = f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""
            return Score(value=0.0, passed=False, reason=f"{where}: {first['msg']}{more}")
        return Score(value=1.0, passed=True, reason=f"valid {cls.__name__}")

    return score

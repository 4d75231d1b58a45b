"""Structured-output scorers: json_valid, strict_format, json_schema, pydantic and json_fields."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from evalkit.importing import import_object
from evalkit.scorers.base import FieldScore, Score, ScoreContext, ScoreFn, scorer
from evalkit.scorers.text import FuzzyMethod, as_text, fuzzy_similarity, normalize_text

if TYPE_CHECKING:  # imported where a JSON Schema is used: most suites never need it (~0.1 s)
    import jsonschema


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
    import jsonschema

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
    import jsonschema

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


class FieldRule(BaseModel):
    """How one field is compared by ``json_fields``."""

    model_config = ConfigDict(extra="forbid")

    match: Literal["auto", "exact", "fuzzy", "numeric", "ignore"] = "auto"
    threshold: float = Field(default=0.9, ge=0.0, le=1.0, description="fuzzy: similarity needed to pass")
    method: FuzzyMethod = "ratio"
    case_sensitive: bool = False
    tolerance: float = Field(default=0.0, ge=0.0, description="numeric: absolute tolerance")
    rel_tolerance: float = Field(default=0.0, ge=0.0, description="numeric: relative tolerance")
    weight: float = Field(default=1.0, ge=0.0)


@scorer("json_fields")
def json_fields(
    fields: dict[str, FieldRule] | None = None,
    default: FieldRule | None = None,
    extra_fields: Literal["ignore", "penalize"] = "penalize",
    min_score: float | None = None,
) -> ScoreFn:
    """Field-level diff of the parsed output against the expected JSON; one stored score per field.

    Every leaf of the expected JSON is a field, named by its dotted path (``price.amount``). ``fields``
    maps a path (or a parent path, applying to everything under it) to a rule: ``exact``, ``fuzzy``
    (rapidfuzz, ``threshold``/``method``), ``numeric`` (``tolerance``/``rel_tolerance``) or ``ignore``;
    ``auto`` (the default) picks fuzzy for strings, numeric for numbers and exact otherwise. Lists of
    scalars compare as sets (score = F1 of matched items). Fields in the output that the expected JSON
    lacks are ``extra``, failing unless ``extra_fields: ignore``. Missing fields fail.

    The scorer passes when every field passes, or, with ``min_score``, when the weighted mean does.
    """
    rules = fields or {}
    base_rule = default or FieldRule()
    resolved: dict[str, FieldRule] = {}  # path -> its rule; a suite's cases share their paths

    def nearest_rule(path: str) -> FieldRule:
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            rule = rules.get(".".join(parts[:end]))
            if rule is not None:
                return rule
        return base_rule

    def rule_for(path: str) -> FieldRule:
        rule = resolved.get(path)
        if rule is None:
            rule = nearest_rule(path)
            if len(resolved) < 10_000:  # bounded: list items make paths without end
                resolved[path] = rule
        return rule

    def score(ctx: ScoreContext) -> Score:
        if not isinstance(ctx.expected, dict):
            return Score(value=0.0, passed=False, error="json_fields needs a JSON object as expected output")
        if not ctx.parsed_found or not isinstance(ctx.parsed, dict):
            return Score(value=0.0, passed=False, reason="output is not a JSON object")
        results = diff_fields(ctx.expected, ctx.parsed, rule_for, extra_fields == "penalize")
        if not results:
            return Score(value=1.0, passed=True, reason="no fields to compare")
        weights = [rule_for(f.field).weight for f in results]
        total = sum(weights) or 1.0
        value = sum(f.score * w for f, w in zip(results, weights, strict=True)) / total
        failed = [f for f in results if not f.passed]
        passed = value >= min_score if min_score is not None else not failed
        ok_count = len(results) - len(failed)
        reason = f"{ok_count}/{len(results)} fields ok"
        if failed:
            reason += "; " + "; ".join(_describe_field(f) for f in failed[:4])
            if len(failed) > 4:
                reason += f"; +{len(failed) - 4} more"
        return Score(value=min(max(value, 0.0), 1.0), passed=passed, reason=reason, fields=results)

    return score


def diff_fields(
    expected: dict[str, Any],
    actual: dict[str, Any],
    rule_for: Any,
    penalize_extra: bool,
    prefix: str = "",
) -> list[FieldScore]:
    """Compare two JSON objects leaf by leaf (see ``json_fields``)."""
    out: list[FieldScore] = []
    for key, want in expected.items():
        path = f"{prefix}{key}"
        rule: FieldRule = rule_for(path)
        if rule.match == "ignore":
            continue
        if key not in actual:
            out.append(FieldScore(field=path, score=0.0, passed=False, status="missing", expected=want))
            continue
        got = actual[key]
        if isinstance(want, dict) and want and isinstance(got, dict):
            out.extend(diff_fields(want, got, rule_for, penalize_extra, prefix=f"{path}."))
        elif (
            isinstance(want, list)
            and want
            and all(isinstance(w, dict) for w in want)
            and isinstance(got, list)
        ):
            for i, item in enumerate(want):
                sub = f"{path}.{i}"
                if i < len(got) and isinstance(got[i], dict):
                    out.extend(diff_fields(item, got[i], rule_for, penalize_extra, prefix=f"{sub}."))
                else:
                    out.append(
                        FieldScore(field=sub, score=0.0, passed=False, status="missing", expected=item)
                    )
        else:
            out.append(compare_value(path, want, got, rule))
    if penalize_extra:
        for key in actual.keys() - expected.keys():
            path = f"{prefix}{key}"
            if rule_for(path).match != "ignore":
                out.append(
                    FieldScore(field=path, score=0.0, passed=False, status="extra", actual=actual[key])
                )
    return out


def compare_value(path: str, want: Any, got: Any, rule: FieldRule) -> FieldScore:
    """Score one leaf value under ``rule``."""
    if type(want) is type(got) and want == got:  # identical: a match under every rule
        return FieldScore(field=path, score=1.0, passed=True, status="match", expected=want, actual=got)
    kind = rule.match
    if kind == "auto":
        if isinstance(want, bool) or want is None:
            kind = "exact"
        elif isinstance(want, int | float):
            kind = "numeric"
        elif isinstance(want, str):
            kind = "fuzzy"
        else:
            kind = "exact"
    if isinstance(want, list) and isinstance(got, list) and kind in ("fuzzy", "exact"):
        value = _list_f1(want, got, rule, fuzzy=kind == "fuzzy")
        ok = value >= (rule.threshold if kind == "fuzzy" else 1.0)
    elif kind == "numeric":
        value, ok = _numeric(want, got, rule)
    elif kind == "fuzzy" and isinstance(want, str) and isinstance(got, str):
        value = _fuzzy(want, got, rule)
        ok = value >= rule.threshold
    else:
        ok = _exact(want, got, rule.case_sensitive)
        value = 1.0 if ok else 0.0
    status = "match" if ok and value >= 1.0 else "partial" if ok else "mismatch"
    return FieldScore(field=path, score=value, passed=ok, status=status, expected=want, actual=got)


def _fuzzy(want: str, got: str, rule: FieldRule) -> float:
    opts = {"case_sensitive": rule.case_sensitive, "whitespace": True, "strip_html": False}
    return fuzzy_similarity(normalize_text(want, **opts), normalize_text(got, **opts), rule.method)


def _exact(want: Any, got: Any, case_sensitive: bool) -> bool:
    if isinstance(want, str) and isinstance(got, str) and not case_sensitive:
        return want.strip().casefold() == got.strip().casefold()
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    return bool(want == got)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numeric(want: Any, got: Any, rule: FieldRule) -> tuple[float, bool]:
    if not (_is_number(want) and _is_number(got)):
        ok = _exact(want, got, rule.case_sensitive)
        return (1.0 if ok else 0.0), ok
    if not (math.isfinite(want) and math.isfinite(got)):
        return (1.0, True) if want == got else (0.0, False)
    diff = abs(got - want)
    allowed = max(rule.tolerance, rule.rel_tolerance * abs(want))
    if diff <= allowed + 1e-12:
        return 1.0, True
    scale = max(abs(want), abs(got), 1e-12)
    return max(0.0, 1.0 - diff / scale), False


def _list_f1(want: list[Any], got: list[Any], rule: FieldRule, *, fuzzy: bool) -> float:
    """F1 of a greedy one-to-one matching of items (fuzzy or exact)."""
    if not want and not got:
        return 1.0
    unmatched = [as_text(g) for g in got]
    hits = 0
    for w in want:
        wt = as_text(w)
        best, best_i = 0.0, -1
        for i, gt in enumerate(unmatched):
            sim = _fuzzy(wt, gt, rule) if fuzzy else float(_exact(wt, gt, rule.case_sensitive))
            if sim > best:
                best, best_i = sim, i
        if best_i >= 0 and best >= (rule.threshold if fuzzy else 1.0):
            hits += 1
            unmatched.pop(best_i)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(got), hits / len(want)
    return 2 * precision * recall / (precision + recall)


def _describe_field(f: FieldScore) -> str:
    if f.status == "missing":
        return f"{f.field} missing"
    if f.status == "extra":
        return f"{f.field} unexpected"
    return f"{f.field}: {_clip(f.actual)} != {_clip(f.expected)}"


def _clip(value: Any, limit: int = 40) -> str:
    text = as_text(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")

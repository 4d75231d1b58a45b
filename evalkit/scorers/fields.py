"""``json_fields``: the output compared with the expected output field by field, each by its own rule.

Exact, fuzzy, numeric and list fields; acceptable alternatives and absent values
(:mod:`evalkit.scorers.field_values`); a slot class per field for precision, recall and F1.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.scorers.base import FieldScore, Score, ScoreContext, ScoreFn, scorer
from evalkit.scorers.field_values import alternatives, check_alternatives, is_absent, is_alternatives
from evalkit.scorers.text import FuzzyMethod, as_text, fuzzy_similarity, normalize_text


class FieldRule(BaseModel):
    """How one field is compared by ``json_fields``."""

    model_config = ConfigDict(extra="forbid")

    match: Literal["auto", "exact", "fuzzy", "numeric", "ignore"] = "auto"
    threshold: float = Field(default=0.9, ge=0.0, le=1.0, description="fuzzy: similarity needed to pass")
    method: FuzzyMethod = "ratio"
    case_sensitive: bool | None = Field(
        default=None,
        description="Default: true for `match: exact` (exact means exact), false for fuzzy and auto. "
        "false also trims whitespace; a field that matched only after that says so in the reason.",
    )
    tolerance: float = Field(default=0.0, ge=0.0, description="numeric: absolute tolerance")
    rel_tolerance: float = Field(default=0.0, ge=0.0, description="numeric: relative tolerance")
    weight: float = Field(default=1.0, ge=0.0)
    absent: list[Any] | None = Field(
        default=None,
        description='Values meaning "not stated" (e.g. [null, "n/a", ""]); with it, they and a missing key '
        "are equal for matching and count as absent. Default: the scorer's `absent`.",
    )


@scorer("json_fields", needs_expected=True)
def json_fields(
    fields: dict[str, FieldRule] | None = None,
    default: FieldRule | None = None,
    extra_fields: Literal["ignore", "penalize"] = "penalize",
    min_score: float | None = None,
    absent: list[Any] | None = None,
) -> ScoreFn:
    """Field-level diff of the parsed output against the expected JSON; one stored score per field.

    Every leaf of the expected JSON is a field, named by its dotted path (``price.amount``). ``fields``
    maps a path (or a parent path, applying to everything under it) to a rule: ``exact``
    (case-sensitive unless ``case_sensitive: false``), ``fuzzy`` (rapidfuzz, ``threshold``/``method``),
    ``numeric`` (``tolerance``/``rel_tolerance``; a text that is a plain number, such as a CSV cell
    or ``"12.5"``, counts as that number) or ``ignore``; ``auto`` (the default) picks fuzzy for
    strings, numeric for numbers and exact otherwise (a number written as text then does not match
    a number). Lists of scalars compare as sets (score = F1 of
    matched items). An expected ``{"$any": [a, b]}`` accepts any one of ``a``, ``b``. ``absent`` (for
    every field; a rule's own ``absent`` overrides it) lists the values meaning "not stated", equal
    to each other and to a missing key. Fields in the output that the expected JSON lacks are
    ``extra``, failing unless ``extra_fields: ignore``. Missing fields fail.

    Each field records its slot class (NN/NV/VN/VC/VW, see ``evalkit.scorers.field_values``). The
    scorer passes when every field passes, or, with ``min_score``, when the weighted mean does.
    """
    rules = fields or {}
    base_rule = default or FieldRule()
    resolved: dict[str, FieldRule] = {}  # path -> its rule; a suite's cases share their paths

    def nearest_rule(path: str) -> FieldRule:
        parts = path.split(".")
        for end in range(len(parts), 0, -1):
            rule = rules.get(".".join(parts[:end]))
            if rule is not None:
                break
        else:
            rule = base_rule
        if rule.absent is None and absent is not None:
            rule = rule.model_copy(update={"absent": absent})
        return rule

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
        try:
            check_alternatives(ctx.expected)
        except ValueError as exc:
            return Score(value=0.0, passed=False, error=str(exc))
        if not ctx.parsed_found or not isinstance(ctx.parsed, dict):
            # every field still gets its slot (as if nothing was stated), so P/R/F1 count this case
            unread = diff_fields(ctx.expected, {}, rule_for, False)
            return Score(value=0.0, passed=False, reason="output is not a JSON object", fields=unread)
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
        normalized = [f.field for f in results if f.normalized]
        if normalized:
            shown = ", ".join(normalized[:4]) + (
                f" +{len(normalized) - 4} more" if len(normalized) > 4 else ""
            )
            reason += f"; matched only ignoring case/whitespace: {shown}"
        return Score(value=min(max(value, 0.0), 1.0), passed=passed, reason=reason, fields=results)

    return score


def diff_fields(
    expected: dict[str, Any],
    actual: dict[str, Any],
    rule_for: Any,
    penalize_extra: bool,
    prefix: str = "",
) -> list[FieldScore]:
    """Compare two JSON objects leaf by leaf (see ``json_fields``).

    Every leaf of the expected object gets its slot, also under an object or a list of objects the
    output lacks or states as something else; every value the output states where none is expected
    is one ``extra`` slot per leaf, also in an item beyond the expected list's.
    """
    out: list[FieldScore] = []
    for key, want in expected.items():
        path = f"{prefix}{key}"
        rule: FieldRule = rule_for(path)
        if rule.match == "ignore":
            continue
        present, got = key in actual, actual.get(key)
        if _is_object(want):
            if isinstance(got, dict):
                out.extend(diff_fields(want, got, rule_for, penalize_extra, prefix=f"{path}."))
            else:
                out.extend(_unanswered(want, got, present, rule_for, f"{path}."))
        elif _is_object_list(want):
            items = got if isinstance(got, list) else []
            for i, item in enumerate(want):
                sub = f"{path}.{i}."
                if i < len(items) and isinstance(items[i], dict):
                    out.extend(diff_fields(item, items[i], rule_for, penalize_extra, prefix=sub))
                elif isinstance(got, list):
                    out.extend(
                        _unanswered(item, items[i] if i < len(items) else None, i < len(items), rule_for, sub)
                    )
                else:
                    out.extend(_unanswered(item, got, present, rule_for, sub))
            if penalize_extra:
                for i in range(len(want), len(items)):
                    out.extend(_stated(items[i], f"{path}.{i}", rule_for))
        else:
            out.append(compare_slot(path, want, got, present, rule))
    if penalize_extra:
        for key in actual.keys() - expected.keys():
            out.extend(_stated(actual[key], f"{prefix}{key}", rule_for))
    return out


def _is_object(want: Any) -> bool:
    return isinstance(want, dict) and bool(want) and not is_alternatives(want)


def _is_object_list(want: Any) -> bool:
    return isinstance(want, list) and bool(want) and all(isinstance(w, dict) for w in want)


def _unanswered(
    want: dict[str, Any], got: Any, present: bool, rule_for: Any, prefix: str
) -> list[FieldScore]:
    """The slots of an expected object the output has no object for: each leaf not stated (VN, or NN
    where absent is acceptable), or, under a value of another kind (``"30 GBP"`` for a price object),
    stated wrongly (VW)."""
    out: list[FieldScore] = []
    for key, leaf in want.items():
        path = f"{prefix}{key}"
        rule: FieldRule = rule_for(path)
        if rule.match == "ignore":
            continue
        if _is_object(leaf):
            out.extend(_unanswered(leaf, got, present, rule_for, f"{path}."))
        elif _is_object_list(leaf):
            for i, item in enumerate(leaf):
                out.extend(_unanswered(item, got, present, rule_for, f"{path}.{i}."))
        elif not present or got is None or is_absent(got, rule.absent or ()):
            out.append(compare_slot(path, leaf, None, False, rule))
        else:
            stated = compare_slot(path, leaf, None, False, rule)
            if not stated.passed:  # a value was expected here: the output's is the wrong one
                stated = FieldScore(
                    field=path,
                    score=0.0,
                    passed=False,
                    status="mismatch",
                    slot="VW",
                    expected=leaf,
                    actual=got,
                )
            out.append(stated)
    return out


def _stated(value: Any, path: str, rule_for: Any) -> list[FieldScore]:
    """``extra`` slots (NV) for a value the output states where nothing is expected: one per leaf."""
    rule: FieldRule = rule_for(path)
    if rule.match == "ignore" or is_absent(value, rule.absent or ()):
        return []
    if isinstance(value, dict) and value:
        return [f for key, item in value.items() for f in _stated(item, f"{path}.{key}", rule_for)]
    return [FieldScore(field=path, score=0.0, passed=False, status="extra", slot="NV", actual=value)]


def compare_slot(path: str, want: Any, got: Any, present: bool, rule: FieldRule) -> FieldScore:
    """Score one field whose expected value may be ``$any`` alternatives or absent (see ``field_values``)."""
    tokens = rule.absent or ()
    options = alternatives(want)
    values = [a for a in options if not is_absent(a, tokens)]
    shown = got if present else None
    if not present or is_absent(got, tokens):
        if len(values) < len(options):
            return FieldScore(
                field=path, score=1.0, passed=True, status="match", slot="NN", expected=want, actual=shown
            )
        return FieldScore(
            field=path, score=0.0, passed=False, status="missing", slot="VN", expected=want, actual=shown
        )
    if not values:  # nothing to state, and the output states something
        return FieldScore(
            field=path, score=0.0, passed=False, status="mismatch", slot="NV", expected=want, actual=got
        )
    tried = [compare_value(path, value, got, rule) for value in values]
    best = max(tried, key=lambda f: (f.passed, f.score))
    return best.model_copy(update={"expected": want}) if len(options) > 1 else best


def compare_value(path: str, want: Any, got: Any, rule: FieldRule) -> FieldScore:
    """Score one leaf value under ``rule`` (both sides stating a value: slot VC or VW)."""
    if type(want) is type(got) and want == got:  # identical: a match under every rule
        return FieldScore(
            field=path, score=1.0, passed=True, status="match", slot="VC", expected=want, actual=got
        )
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
    # exact means exact: only a rule that says so (or a lenient auto/fuzzy match) ignores case
    case_sensitive = rule.case_sensitive if rule.case_sensitive is not None else rule.match == "exact"
    normalized = False
    if isinstance(want, list) and isinstance(got, list) and kind in ("fuzzy", "exact"):
        value = _list_f1(want, got, rule, case_sensitive, fuzzy=kind == "fuzzy")
        ok = value >= (rule.threshold if kind == "fuzzy" else 1.0)
    elif kind == "numeric":
        value, ok = _numeric(want, got, rule, case_sensitive)
    elif kind == "fuzzy" and isinstance(want, str) and isinstance(got, str):
        value = _fuzzy(want, got, rule, case_sensitive)
        ok = value >= rule.threshold
    else:
        ok = _exact(want, got, case_sensitive)
        value = 1.0 if ok else 0.0
        normalized = ok and kind == "exact" and isinstance(want, str)
    status = "match" if ok and value >= 1.0 else "partial" if ok else "mismatch"
    return FieldScore(
        field=path,
        score=value,
        passed=ok,
        status=status,
        slot="VC" if ok else "VW",
        expected=want,
        actual=got,
        normalized=normalized,
    )


def _fuzzy(want: str, got: str, rule: FieldRule, case_sensitive: bool) -> float:
    opts = {"case_sensitive": case_sensitive, "whitespace": True, "strip_html": False}
    return fuzzy_similarity(normalize_text(want, **opts), normalize_text(got, **opts), rule.method)


def _exact(want: Any, got: Any, case_sensitive: bool) -> bool:
    if isinstance(want, str) and isinstance(got, str) and not case_sensitive:
        return want.strip().casefold() == got.strip().casefold()
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    return bool(want == got)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# a plain number written as text: JSON's number syntax (a leading + too), blanks around it
_NUMBER_TEXT = re.compile(r"\s*[-+]?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?\s*")


def _as_number(value: Any) -> Any:
    """A text that is a plain number (a CSV cell, a model's "12.5") as that number, under a rule
    that says ``numeric``; anything else (``1,234.50``, ``€12``, ``0123``) as it is."""
    return float(value) if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) else value


def _numeric(want: Any, got: Any, rule: FieldRule, case_sensitive: bool) -> tuple[float, bool]:
    if rule.match == "numeric":  # said so: compared as numbers, whichever way they were written
        want, got = _as_number(want), _as_number(got)
    if not (_is_number(want) and _is_number(got)):
        ok = _exact(want, got, case_sensitive)
        return (1.0 if ok else 0.0), ok
    if not (math.isfinite(want) and math.isfinite(got)):
        return (1.0, True) if want == got else (0.0, False)
    diff = abs(got - want)
    allowed = max(rule.tolerance, rule.rel_tolerance * abs(want))
    if diff <= allowed + 1e-12:
        return 1.0, True
    scale = max(abs(want), abs(got), 1e-12)
    return max(0.0, 1.0 - diff / scale), False


def _list_f1(want: list[Any], got: list[Any], rule: FieldRule, case_sensitive: bool, *, fuzzy: bool) -> float:
    """F1 of a greedy one-to-one matching of items (fuzzy or exact)."""
    if not want and not got:
        return 1.0
    unmatched = [as_text(g) for g in got]
    hits = 0
    for w in want:
        wt = as_text(w)
        best, best_i = 0.0, -1
        for i, gt in enumerate(unmatched):
            sim = _fuzzy(wt, gt, rule, case_sensitive) if fuzzy else float(_exact(wt, gt, case_sensitive))
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
    actual, expected = _clip(f.actual), _clip(f.expected)
    if actual == expected:  # the same text, other types ('12.5' the number against '12.5' the text)
        actual, expected = f"{actual} ({_kind(f.actual)})", f"{expected} ({_kind(f.expected)})"
    return f"{f.field}: {actual} != {expected}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text" if isinstance(value, str) else type(value).__name__


def _clip(value: Any, limit: int = 40) -> str:
    text = as_text(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")

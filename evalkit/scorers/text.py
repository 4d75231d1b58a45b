"""Text scorers: exact, contains, regex and fuzzy (rapidfuzz).

Each compares the whole output with the case's expected output, or, with ``field="price.amount"``,
one field of the parsed JSON output with the same field of the expected JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from evalkit.outputs import MISSING, get_path
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, clamp, scorer

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")

FuzzyMethod = Literal["ratio", "partial", "token_set", "token_sort"]
# rapidfuzz's function for each method; rapidfuzz is imported at the first fuzzy comparison (~5 ms
# that a suite of exact and JSON scorers does not spend)
_FUZZ = {
    "ratio": "ratio",
    "partial": "partial_ratio",
    "token_set": "token_set_ratio",
    "token_sort": "token_sort_ratio",
}


def as_text(value: Any) -> str:
    """Text form of a JSON value for string comparison (strings as they are, the rest as compact JSON)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def normalize_text(text: str, *, case_sensitive: bool, whitespace: bool, strip_html: bool) -> str:
    """Apply the normalisation options shared by the text scorers."""
    if strip_html:
        import html  # not at start-up: a text scorer is built for every run of its suite

        text = html.unescape(_TAG.sub(" ", text))
    if whitespace:
        text = _SPACE.sub(" ", text).strip()
    if not case_sensitive:
        text = text.casefold()
    return text


def fuzzy_similarity(a: str, b: str, method: FuzzyMethod = "ratio") -> float:
    """rapidfuzz similarity of two strings in [0, 1]."""
    from rapidfuzz import fuzz

    return clamp(getattr(fuzz, _FUZZ[method])(a, b) / 100.0)


def _pair(ctx: ScoreContext, field: str | None) -> tuple[Any, Any] | Score:
    """(actual, expected) for a scorer, or a failing/erroring Score explaining why there is no pair."""
    expected = ctx.expected
    if expected is None:
        return Score(value=0.0, passed=False, error="case has no expected output")
    if field is None:
        if isinstance(expected, str):
            return ctx.output, expected
        if not ctx.parsed_found:
            return Score(value=0.0, passed=False, reason="output is not JSON; expected a JSON value")
        return ctx.parsed, expected
    want = get_path(expected, field)
    if want is MISSING:
        return Score(value=0.0, passed=False, error=f"expected output has no field {field!r}")
    got = get_path(ctx.parsed, field) if ctx.parsed_found else MISSING
    if got is MISSING:
        return Score(value=0.0, passed=False, reason=f"field {field!r} missing from output")
    return got, want


@scorer("exact", needs_expected=True)
def exact(
    field: str | None = None, case_sensitive: bool = True, normalize_whitespace: bool = True
) -> ScoreFn:
    """Passes when the output (or ``field`` of it) equals the expected value.

    Strings are compared after the normalisation options; JSON values by equality.
    """

    def score(ctx: ScoreContext) -> Score:
        pair = _pair(ctx, field)
        if isinstance(pair, Score):
            return pair
        got, want = pair
        if isinstance(got, str) and isinstance(want, str):
            opts = {"case_sensitive": case_sensitive, "whitespace": normalize_whitespace, "strip_html": False}
            ok = normalize_text(got, **opts) == normalize_text(want, **opts)
        else:
            ok = got == want
        where = f"{field}: " if field else ""
        reason = f"{where}equal" if ok else f"{where}{_short(got)} != expected {_short(want)}"
        return Score(value=1.0 if ok else 0.0, passed=ok, reason=reason)

    return score


@scorer("contains", needs_expected=lambda args: args.get("value") is None)
def contains(
    value: str | list[str] | None = None,
    field: str | None = None,
    mode: Literal["all", "any", "none"] = "all",
    case_sensitive: bool = False,
) -> ScoreFn:
    """Checks that the output (or ``field``) contains ``value`` (a string or a list; default: expected).

    ``mode``: ``all`` needles must appear, ``any`` one of them, or ``none`` of them (for things that
    must never appear, such as text injected by a listing). Score = share of needles satisfied.
    """

    def score(ctx: ScoreContext) -> Score:
        if field is None:
            haystack = ctx.output
        else:
            got = get_path(ctx.parsed, field) if ctx.parsed_found else MISSING
            if got is MISSING:
                return Score(value=0.0, passed=False, reason=f"field {field!r} missing from output")
            haystack = as_text(got)
        needles: list[str]
        if value is None:
            if not isinstance(ctx.expected, str):
                return Score(
                    value=0.0, passed=False, error="no `value` given and expected output is not text"
                )
            needles = [ctx.expected]
        else:
            needles = [value] if isinstance(value, str) else list(value)
        norm = (lambda s: s) if case_sensitive else str.casefold
        hay = norm(haystack)
        found = [n for n in needles if norm(n) in hay]
        missing = [n for n in needles if norm(n) not in hay]
        if mode == "all":
            share, ok = len(found) / max(len(needles), 1), not missing
            reason = "all present" if ok else f"missing {_short(missing[0])}"
        elif mode == "any":
            ok = bool(found)
            share = 1.0 if ok else 0.0
            reason = f"found {_short(found[0])}" if ok else "none of the values present"
        else:
            share, ok = len(missing) / max(len(needles), 1), not found
            reason = "none present" if ok else f"must not contain {_short(found[0])}"
        return Score(value=share, passed=ok, reason=reason)

    return score


@scorer("regex")
def regex(
    pattern: str,
    field: str | None = None,
    fullmatch: bool = False,
    ignore_case: bool = False,
    negate: bool = False,
) -> ScoreFn:
    """Passes when ``pattern`` matches the output (or ``field``); ``negate`` inverts it."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise ValueError(f"invalid pattern: {exc}") from None

    def score(ctx: ScoreContext) -> Score:
        if field is None:
            text = ctx.output
        else:
            got = get_path(ctx.parsed, field) if ctx.parsed_found else MISSING
            if got is MISSING:
                return Score(value=0.0, passed=False, reason=f"field {field!r} missing from output")
            text = as_text(got)
        matched = (compiled.fullmatch(text) if fullmatch else compiled.search(text)) is not None
        ok = matched != negate
        verb = "matches" if matched else "does not match"
        return Score(value=1.0 if ok else 0.0, passed=ok, reason=f"{verb} /{pattern}/")

    return score


@scorer("fuzzy", needs_expected=True)
def fuzzy(
    field: str | None = None,
    method: FuzzyMethod = "ratio",
    threshold: float = 0.85,
    case_sensitive: bool = False,
    normalize_whitespace: bool = True,
    strip_html: bool = False,
) -> ScoreFn:
    """rapidfuzz similarity between output (or ``field``) and expected, in [0, 1]; passes at ``threshold``.

    ``method``: ``ratio`` (edit distance), ``partial`` (best matching substring), ``token_set``
    (word sets, order-free), ``token_sort`` (sorted words). Normalisation happens before comparing.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be between 0 and 1")

    def score(ctx: ScoreContext) -> Score:
        pair = _pair(ctx, field)
        if isinstance(pair, Score):
            return pair
        got, want = (as_text(v) for v in pair)
        opts = {
            "case_sensitive": case_sensitive,
            "whitespace": normalize_whitespace,
            "strip_html": strip_html,
        }
        sim = fuzzy_similarity(normalize_text(got, **opts), normalize_text(want, **opts), method)
        ok = sim >= threshold
        where = f"{field}: " if field else ""
        reason = f"{where}{method} similarity {sim:.2f} {'>=' if ok else '<'} {threshold:.2f}"
        if not ok:
            reason += f" ({_short(got)} vs {_short(want)})"
        return Score(value=sim, passed=ok, reason=reason)

    return score


def _short(value: Any, limit: int = 60) -> str:
    text = as_text(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")

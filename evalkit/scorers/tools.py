"""The ``tool_call`` scorer: did the model call the right tool, with the right arguments?"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from evalkit.scorers.base import Score, ScoreContext, ScoreFn, scorer
from evalkit.scorers.fields import FieldRule, json_fields


def _calls(value: Any) -> list[dict[str, Any]]:
    """The tool calls of an output or an expected value: ``{"tool_calls": [...]}`` or one ``{"name", "arguments"}``."""
    if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
        return [c for c in value["tool_calls"] if isinstance(c, dict)]
    if isinstance(value, dict) and "name" in value:
        return [value]
    return []


@scorer("tool_call", needs_expected=lambda args: args.get("name") is None)
def tool_call(
    name: str | None = None,
    fields: dict[str, FieldRule] | None = None,
    default: FieldRule | None = None,
    extra_fields: Literal["ignore", "penalize"] = "penalize",
    min_score: float | None = None,
    absent: list[Any] | None = None,
) -> ScoreFn:
    """Checks the output's tool call: the tool's name, then its arguments field by field.

    The expected output is ``{"name": ..., "arguments": {...}}`` (or ``{"tool_calls": [...]}``, whose
    first call is compared); ``name`` overrides the expected tool name. The call compared is the
    output's first call to that tool. A missing call or another tool scores 0; otherwise the
    arguments are scored by ``json_fields`` with ``fields``, ``default``, ``extra_fields``,
    ``min_score`` and ``absent`` (one stored score per argument). Without expected arguments only
    the name counts. Without the call (none, another tool, arguments that are not an object), each
    expected argument still gets its slot, as not stated, so field recall counts the case.
    """
    arguments_scorer = json_fields(
        fields=fields, default=default, extra_fields=extra_fields, min_score=min_score, absent=absent
    )

    def arguments(ctx: ScoreContext, want_args: Any, got_args: dict[str, Any]) -> Score:
        case = ctx.case.model_copy(update={"expected": want_args})
        inner = arguments_scorer(dataclasses.replace(ctx, case=case, parsed=got_args, extraction="strict"))
        assert isinstance(inner, Score)  # json_fields scores synchronously
        return inner

    def uncalled(ctx: ScoreContext, want_args: Any, reason: str) -> Score:
        unstated = arguments(ctx, want_args, {}).fields if isinstance(want_args, dict) else []
        return Score(value=0.0, passed=False, reason=reason, fields=unstated)

    def score(ctx: ScoreContext) -> Score:
        expected = next(iter(_calls(ctx.expected)), {})
        want = name or expected.get("name")
        if want is None:
            return Score(value=0.0, passed=False, error="tool_call needs `name` or an expected tool call")
        want_args = expected.get("arguments")
        calls = _calls(ctx.parsed) if ctx.parsed_found else []
        if not calls:
            return uncalled(ctx, want_args, f"no tool call (expected {want})")
        call = next((c for c in calls if c.get("name") == want), None)
        if call is None:
            called = ", ".join(str(c.get("name")) for c in calls)
            return uncalled(ctx, want_args, f"called {called}, expected {want}")
        if want_args is None:
            return Score(value=1.0, passed=True, reason=f"called {want}")
        got_args = call.get("arguments")
        if not isinstance(got_args, dict):
            return uncalled(ctx, want_args, f"called {want} with arguments that are not a JSON object")
        inner = arguments(ctx, want_args, got_args)
        return inner.model_copy(update={"reason": f"called {want}; {inner.reason}"})

    return score

"""Tagged reasoning: the answer read from ``<answer>…</answer>``, the reasoning kept apart, the format checked.

Prompts that let a model think first (``<thinking>…</thinking>``) and then answer inside a tag can
only be scored if the answer is taken out of the tags. :func:`extract_tagged` does that and lists
what is wrong with the format; the ``tagged`` scorer runs another scorer on the answer alone.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evalkit.outputs import parse_output
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, build_scorer, needs_expected, scorer

_TAG_NAME = re.compile(r"^[A-Za-z][\w.-]*$")


@dataclass(frozen=True)
class TaggedOutput:
    """An output split by its tags: the answer, the reasoning, and what is wrong with its format."""

    answer: str | None  # the last answer block's text (stripped); None when there is none
    reasoning: str | None
    problems: list[str]

    @property
    def well_formed(self) -> bool:
        return not self.problems


def _tag_pattern(answer_tag: str, reasoning_tag: str) -> re.Pattern[str]:
    names = "|".join(re.escape(t) for t in dict.fromkeys((answer_tag, reasoning_tag)))
    return re.compile(rf"<\s*(/?)\s*({names})\s*>")


def extract_tagged(text: str, answer_tag: str = "answer", reasoning_tag: str = "thinking") -> TaggedOutput:
    """Split ``text`` into its reasoning and answer blocks.

    Format problems: no answer block; a tag opened and never closed, closed without being opened or
    closed out of order; a declared tag inside another declared tag; text outside the blocks.
    Several answer blocks are allowed; the last one is the answer (the model's final word).
    """
    for tag in (answer_tag, reasoning_tag):
        if not _TAG_NAME.match(tag):
            raise ValueError(f"{tag!r} is not a tag name")
    tags = _tag_pattern(answer_tag, reasoning_tag)
    problems: list[str] = []
    blocks: dict[str, list[str]] = {answer_tag: [], reasoning_tag: []}
    outside: list[str] = []
    open_tag: str | None = None
    open_end = 0
    position = 0
    for match in tags.finditer(text):
        closing, name = match.group(1) == "/", match.group(2)
        if open_tag is None:
            outside.append(text[position : match.start()])
            if closing:
                problems.append(f"</{name}> closes a tag that is not open")
            else:
                open_tag, open_end = name, match.end()
        elif not closing:
            problems.append(f"<{name}> is nested inside <{open_tag}>")
        elif name != open_tag:
            problems.append(f"</{name}> closes <{open_tag}>")
        else:
            blocks[name].append(text[open_end : match.start()].strip())
            open_tag = None
        position = match.end()
    if open_tag is not None:
        problems.append(f"<{open_tag}> is never closed")
    else:
        outside.append(text[position:])
    stray = " ".join(" ".join(outside).split())
    if stray:
        shown = stray if len(stray) <= 60 else stray[:59] + "…"
        problems.append(f"text outside the tags: {shown!r}")
    if not blocks[answer_tag]:
        problems.insert(0, f"no <{answer_tag}> block")
    reasoning = (
        "\n\n".join(blocks[reasoning_tag]) if blocks[reasoning_tag] and reasoning_tag != answer_tag else None
    )
    answer = blocks[answer_tag][-1] if blocks[answer_tag] else None
    return TaggedOutput(answer=answer, reasoning=reasoning, problems=problems)


class InnerScorer(BaseModel):
    """The scorer ``tagged`` applies to the answer."""

    model_config = ConfigDict(extra="forbid")

    name: str
    args: dict[str, Any] = Field(default_factory=dict)


def _inner_needs_expected(args: Mapping[str, Any]) -> bool:
    """The answer inside the tags is scored by the inner scorer: ``tagged`` needs what it needs."""
    inner = args.get("inner")
    return isinstance(inner, Mapping) and needs_expected(str(inner.get("name")), inner.get("args") or {})


@scorer("tagged", needs_expected=_inner_needs_expected)
def tagged(
    answer_tag: str = "answer",
    reasoning_tag: str = "thinking",
    inner: InnerScorer | None = None,
    untagged: Literal["fail", "answer"] = "fail",
    *,
    base_dir: Path,
) -> ScoreFn:
    """Scores only the answer inside ``<answer_tag>`` and fails a malformed tag format.

    The output must be the reasoning block (``<thinking>…</thinking>``, optional) and the answer
    block (``<answer>…</answer>``), nothing else: a missing answer block, a tag never closed or
    closed out of order, a declared tag nested in another, or text outside the blocks fails the
    score (value 0) and is named in the reason. ``inner`` (``{name, args}``, e.g. ``json_fields``)
    scores the answer text, JSON in it parsed as usual; its fields, details and reason are kept. The
    reasoning is never scored; it is kept in ``details.reasoning``. Without ``inner`` only the
    format counts.

    ``untagged: answer`` takes an output holding neither tag as a whole for the answer, with no
    format problem (``details.untagged`` is true): prompts that ask for tags and prompts that ask
    for the bare answer are then scored by one rule, so their runs compare. A tag anywhere in the
    output brings the full format check back.
    """
    extract_tagged("", answer_tag, reasoning_tag)  # a bad tag name fails when the suite loads
    inner_fn = build_scorer(inner.name, inner.args, base_dir=base_dir) if inner is not None else None

    tag_pattern = _tag_pattern(answer_tag, reasoning_tag)

    def finish(found: TaggedOutput, result: Score | None, bare: bool = False) -> Score:
        details: dict[str, Any] = {"reasoning": found.reasoning, "format_problems": found.problems}
        if untagged == "answer":
            details["untagged"] = bare
        if result is None:
            if bare:
                return Score(
                    value=1.0, passed=True, reason="no tags: the whole output is the answer", details=details
                )
            if found.well_formed:
                return Score(
                    value=1.0, passed=True, reason="answer and reasoning tags well formed", details=details
                )
            return Score(value=0.0, passed=False, reason="; ".join(found.problems), details=details)
        details = {**result.details, **details}
        if found.well_formed:
            return result.model_copy(update={"details": details})
        reason = "; ".join(found.problems) + (f"; answer: {result.reason}" if result.reason else "")
        return result.model_copy(update={"value": 0.0, "passed": False, "reason": reason, "details": details})

    async def finish_later(found: TaggedOutput, pending: Awaitable[Score], bare: bool) -> Score:
        return finish(found, await pending, bare)

    def score(ctx: ScoreContext) -> Score | Awaitable[Score]:
        bare = untagged == "answer" and tag_pattern.search(ctx.output) is None
        if bare:
            found = TaggedOutput(answer=ctx.output.strip(), reasoning=None, problems=[])
        else:
            found = extract_tagged(ctx.output, answer_tag, reasoning_tag)
        if inner_fn is None:
            return finish(found, None, bare)
        # an answer that is not there is scored as empty, so field scorers still give every slot
        answer = found.answer or ""
        parsed = parse_output(answer)
        answer_ctx = dataclasses.replace(
            ctx, output=answer, parsed=parsed.value, extraction=parsed.extraction
        )
        result = inner_fn(answer_ctx)
        if inspect.isawaitable(result):
            return finish_later(found, result, bare)
        return finish(found, result, bare)

    return score

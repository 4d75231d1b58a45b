"""LLM-generated edge cases: ``evalkit generate SUITE --n 50``.

A generator model (any litellm model; the embedded one by default) is shown one of the suite's
verified cases, the output contract (the schema's field descriptions) and the suite's guidelines,
and asked for a new case of a named edge-case family (missing fields, markup noise, conflicting
values, odd units, multilingual, very long, adversarial). Each answer is checked — it is a JSON
object whose ``input`` has every variable the prompt uses, the prompt renders with it, and its
``expected`` follows the output schema — then compared with rapidfuzz against the suite's cases,
the candidates already stored and the rest of the batch. Survivors are stored as **pending
candidates** with their provenance; ``evalkit review`` accepts them into the suite's case file,
marked unverified (a model wrote the expected output).

The call goes through :class:`evalkit.providers.calls.ModelCaller`, the path every model call takes. The
request carries a JSON Schema of the answer, so the embedded model decodes under a grammar.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit.candidates import Candidate, Generation
from evalkit.cases import Case, content_id
from evalkit.errors import ConfigError, ProviderError, UsageError
from evalkit.grow.neardup import NearDuplicateIndex, input_text
from evalkit.outputs import parse_output
from evalkit.providers.base import CompletionRequest, needs_prompt
from evalkit.providers.calls import ModelCaller, RetryPolicy
from evalkit.providers.concurrency import ConcurrencyLimit
from evalkit.providers.prices import unpriced
from evalkit.run.call_counts import process_calls
from evalkit.store import Store
from evalkit.store.growth import GrowthStore
from evalkit.suite.loading import Suite
from evalkit.suite.prompts import PromptVersion, split_sections

MAX_PARENTS = 200  # example cases kept in memory to show the generator
ATTEMPTS_PER_CANDIDATE = 3  # calls allowed per wanted candidate, at most, before giving up

GENERATOR_TEMPLATE = """\
[system]
You write new test cases for an AI feature that turns messy input into {{ 'JSON' if fields else 'text' }}.
{% if description %}
The feature: {{ description }}
{% endif %}
{% if guidelines %}
Guidelines: {{ guidelines }}
{% endif %}
{% if fields %}
The expected output is a JSON object with these fields:
{% for name, text in fields %}
- {{ name }}: {{ text }}
{% endfor %}
{% endif %}
Answer with one JSON object only: {"input": {...}, "expected": ...}.
[user]
An existing test case:
{{ example }}

Write a new, different test case. Its input has the fields {{ variables | join(', ') }}.
Make it an edge case where {{ family_description }}.
"expected" is the correct output for the new input, following the guidelines exactly.
"""


def generator_prompt() -> PromptVersion:
    """The generator's own prompt (its hash is recorded in every candidate's provenance)."""
    path = Path("<evalkit generate>")
    return PromptVersion(
        name="generator",
        path=path,
        source=GENERATOR_TEMPLATE,
        sections=split_sections(GENERATOR_TEMPLATE, path),
    )


class CandidateRejected(Exception):
    """A generated answer that cannot become a candidate, and why."""


@dataclass
class Rejection:
    family: str
    parent: str
    reason: str


@dataclass
class GenerationReport:
    """What one ``evalkit generate`` produced."""

    model: str
    wanted: int
    calls: int = 0
    stored: list[Candidate] = field(default_factory=list)
    invalid: list[Rejection] = field(default_factory=list)
    duplicates: list[Rejection] = field(default_factory=list)
    errors: list[Rejection] = field(default_factory=list)
    usage: Generation | None = None  # tokens and cost of the calls, as stored (set when it ends)

    @property
    def every_answer_invalid(self) -> bool:
        """The generator answered, and not one answer was a usable case: none stored, none a
        near-duplicate (calls that failed are not answers)."""
        return bool(self.invalid) and not self.stored and not self.duplicates


@dataclass(frozen=True)
class _Attempt:
    index: int
    family: str
    parent: Case


def check_candidate(
    text: str,
    *,
    variables: Sequence[str],
    prompt: PromptVersion | None,
    output_schema: dict[str, Any] | None,
) -> tuple[dict[str, Any], Any]:
    """Validate one generated answer; returns ``(input, expected)`` or raises :class:`CandidateRejected`.

    The input must hold every template variable (others are dropped), not be empty, and render
    with the suite's prompt; the expected output must follow the output schema when there is one.
    """
    parsed = parse_output(text)
    if not isinstance(parsed.value, dict) or not isinstance(parsed.value.get("input"), dict):
        raise CandidateRejected("answer is not a JSON object with an `input` object")
    raw_input: dict[str, Any] = parsed.value["input"]
    missing = [v for v in variables if v not in raw_input]
    if missing:
        raise CandidateRejected(f"input lacks variable {missing[0]!r}")
    case_input = {v: raw_input[v] for v in variables}
    if not input_text(case_input):
        raise CandidateRejected("input is empty")
    if prompt is not None:
        try:
            prompt.render(case_input, output_schema=output_schema)
        except ConfigError as exc:
            raise CandidateRejected(f"does not render with prompt {prompt.name!r}: {exc.message}") from None
    if "expected" not in parsed.value:
        raise CandidateRejected("answer has no `expected` output")
    expected = parsed.value["expected"]
    if output_schema is not None:
        import jsonschema

        errors = sorted(
            jsonschema.validators.validator_for(output_schema)(output_schema).iter_errors(expected),
            key=lambda e: list(e.absolute_path),
        )
        if errors:
            where = ".".join(str(p) for p in errors[0].absolute_path) or "(root)"
            raise CandidateRejected(
                f"expected output breaks the output schema at {where}: {errors[0].message}"
            )
    return case_input, expected


def answer_schema(
    variables: Sequence[str], example: dict[str, Any], output_schema: dict[str, Any] | None
) -> dict[str, Any]:
    """JSON Schema of a generator answer: ``{"input": {...variables}, "expected": <output schema>}``."""
    expected: dict[str, Any] = {"type": "string"}
    defs: dict[str, Any] = {}
    if output_schema is not None:
        expected = {k: v for k, v in output_schema.items() if k not in ("$defs", "definitions", "$schema")}
        defs = {k: output_schema[k] for k in ("$defs", "definitions") if k in output_schema}
    properties = {v: ({"type": "string"} if isinstance(example.get(v, ""), str) else {}) for v in variables}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "input": {
                "type": "object",
                "properties": properties,
                "required": list(variables),
                "additionalProperties": False,
            },
            "expected": expected,
        },
        "required": ["input", "expected"],
        "additionalProperties": False,
    }
    schema.update(defs)  # $refs inside the output schema point at the document root
    return schema


def schema_fields(output_schema: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(field, description) of the output schema's top-level properties, for the generator's prompt."""
    if not output_schema:
        return []
    out = []
    for name, spec in (output_schema.get("properties") or {}).items():
        text = spec.get("description", "") if isinstance(spec, dict) else ""
        if isinstance(spec, dict) and spec.get("enum"):
            text += " Allowed: " + ", ".join(str(v) for v in spec["enum"] if v is not None) + "."
        out.append((name, text.strip() or "(no description)"))
    return out


def _template_variables(suite: Suite, prompt: PromptVersion | None, parents: Sequence[Case]) -> list[str]:
    if prompt is not None and prompt.variables:
        return sorted(prompt.variables)
    return sorted(parents[0].input) if parents else []


def _pick_parents(suite: Suite) -> tuple[list[Case], list[tuple[str, str]]]:
    """Up to MAX_PARENTS verified cases to show the generator, and (id, text) of every case for dedup."""
    parents: list[Case] = []
    others: list[Case] = []
    texts: list[tuple[str, str]] = []
    for case in suite.iter_cases():
        texts.append((case.id, input_text(case.input)))
        bucket = parents if case.verified and case.expected is not None else others
        if len(bucket) < MAX_PARENTS:
            bucket.append(case)
    return (parents or others), texts


async def generate(
    suite: Suite,
    store: Store,
    *,
    n: int,
    model: str | None = None,
    families: Sequence[str] | None = None,
    threshold: float | None = None,
    seed: int | None = None,
    concurrency: int = 4,
    prompt_version: str | None = None,
) -> GenerationReport:
    """Ask the generator for ``n`` new candidates (at most ``3n`` calls) and store the ones that pass."""
    spec = suite.config.generate
    model = model or spec.model
    chosen = list(families) if families else list(spec.families)
    unknown = [f for f in chosen if f not in spec.families]
    if unknown:
        raise UsageError(f"unknown edge-case family {unknown[0]!r} (known: {', '.join(spec.families)})")
    threshold = spec.dedup_threshold if threshold is None else threshold
    target_model = suite.config.target.model
    prompt = suite.prompt(prompt_version) if needs_prompt(target_model) else None
    parents, case_texts = _pick_parents(suite)
    if not parents:
        raise UsageError(f"suite {suite.name!r} has no cases to generate from")
    variables = _template_variables(suite, prompt, parents)
    growth = GrowthStore(store)
    index = NearDuplicateIndex(threshold, case_texts)
    for cid, value in growth.candidate_inputs(suite.name):
        index.add(cid, input_text(value))

    gen_prompt = generator_prompt()
    base_seed = seed if seed is not None else random.randrange(1 << 30)
    caller = ModelCaller(
        suite.base_dir,
        limit=ConcurrencyLimit(concurrency, adaptive=False),
        retry=RetryPolicy(max_attempts=3),
    )
    report = GenerationReport(model=model, wanted=n)
    context = {
        "description": suite.config.description.strip(),
        "guidelines": spec.guidelines.strip(),
        "fields": schema_fields(suite.output_schema),
        "variables": variables,
    }
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    generation_id = f"gen-{secrets.token_hex(6)}"
    tokens = [0, 0]  # prompt, completion: of every call that answered, whatever became of the answer

    async def one(attempt: _Attempt) -> tuple[_Attempt, str | None, str | None]:
        example = {"input": attempt.parent.input, "expected": attempt.parent.expected}
        messages = gen_prompt.render(
            {
                **context,
                "example": json.dumps(example, ensure_ascii=False),
                "family_description": spec.families[attempt.family],
            }
        )
        request = CompletionRequest(
            model=model,
            messages=messages,
            params={**spec.params, "seed": base_seed + attempt.index},
            response_schema=answer_schema(variables, attempt.parent.input, suite.output_schema),
            api_base=spec.api_base,
        )
        try:
            completion = await caller.complete(request)
        except ProviderError as exc:
            return attempt, None, exc.message
        tokens[0] += completion.prompt_tokens
        tokens[1] += completion.completion_tokens
        return attempt, completion.text, None

    next_index = 0
    try:
        while len(report.stored) < n and next_index < n * ATTEMPTS_PER_CANDIDATE:
            want = min(n - len(report.stored), n * ATTEMPTS_PER_CANDIDATE - next_index)
            attempts = []
            for i in range(next_index, next_index + want):
                family = chosen[i % len(chosen)]
                parent = parents[(i // len(chosen) + i) % len(parents)]
                attempts.append(_Attempt(i, family, parent))
            next_index += want
            results = await asyncio.gather(*(one(a) for a in attempts))
            report.calls += len(results)
            fresh: list[Candidate] = []
            for attempt, text, error in results:  # in attempt order, so dedup within a batch is stable
                if text is None:
                    report.errors.append(Rejection(attempt.family, attempt.parent.id, error or "call failed"))
                    continue
                try:
                    case_input, expected = check_candidate(
                        text, variables=variables, prompt=prompt, output_schema=suite.output_schema
                    )
                except CandidateRejected as exc:
                    report.invalid.append(Rejection(attempt.family, attempt.parent.id, str(exc)))
                    continue
                normalised = input_text(case_input)
                match = index.match(normalised)
                if match is not None:
                    report.duplicates.append(
                        Rejection(
                            attempt.family,
                            attempt.parent.id,
                            f"near-duplicate of {match[0]} (similarity {match[1]:.0f} >= {threshold:g})",
                        )
                    )
                    continue
                candidate_id = f"gen-{attempt.family}-{content_id(case_input)[1:]}"
                index.add(candidate_id, normalised)
                fresh.append(
                    Candidate(
                        suite_name=suite.name,
                        candidate_id=candidate_id,
                        source="generated",
                        family=attempt.family,
                        input=case_input,
                        expected=expected,
                        tags=["generated", attempt.family],
                        provenance={
                            "generator": model,
                            "generator_prompt_hash": gen_prompt.hash,
                            "prompt_version": prompt.name if prompt else None,
                            "prompt_hash": prompt.hash if prompt else None,
                            "parent_case": attempt.parent.id,
                            "family": attempt.family,
                            "seed": base_seed + attempt.index,
                            "generated_at": now.isoformat(timespec="seconds") + "Z",
                            "generation_id": generation_id,
                        },
                        created_at=now,
                    )
                )
                if len(report.stored) + len(fresh) >= n:
                    break
            await asyncio.to_thread(growth.add_candidates, fresh)
            report.stored.extend(fresh)
            if report.errors and len(report.errors) == report.calls:
                raise ProviderError(
                    f"every call to the generator {model} failed; last error: {report.errors[-1].reason}"
                )
    finally:
        await caller.aclose()
        # paid for whatever came of them: recorded also when every call failed or it was interrupted
        report.usage = Generation(
            generation_id=generation_id,
            suite_name=suite.name,
            model=model,
            started_at=now,
            finished_at=datetime.now(timezone.utc).replace(tzinfo=None),
            wanted=n,
            calls=report.calls,
            candidates=len(report.stored),
            invalid=len(report.invalid),
            duplicates=len(report.duplicates),
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            cost_usd=caller.stats.cost_usd,
            unpriced=unpriced(model),
            call_counts=process_calls(caller),
        )
        if caller.stats.requests:
            growth.record_generation(report.usage)
    return report


def generate_sync(suite: Suite, store: Store, **kwargs: Any) -> GenerationReport:
    """Synchronous wrapper of :func:`generate`."""
    return asyncio.run(generate(suite, store, **kwargs))

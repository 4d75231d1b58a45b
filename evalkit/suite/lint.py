"""``evalkit lint``: the rules of engineers who ship structured-output prompts, checked before any call.

- **schema-descriptions** (error): every field of the output schema has a description. The schema is
  the guideline the model reads; a bare field name is a guess.
- **variable-before-instructions** (error): a case variable comes before most of the prompt's fixed
  instructions. Providers cache the longest identical prefix of a request, and models follow
  instructions better when the data comes last: fixed text first, case data after.
- **static-prefix** (info): how many tokens of each prompt are identical for every case (the
  cache-stable prefix), measured by rendering the prompt for the suite's cases.
- **few-shot** (warning): the prompt shows worked examples ([assistant] turns, or "Example:" /
  "Output:" blocks).
- **cases** (error): what ``evalkit run`` refuses in the case files before any call (a duplicate id,
  a missing template variable, ...).
- **expected-missing** (error): cases without an expected output under a scorer that compares with one
  (``@scorer(..., needs_expected=...)``); ``evalkit run`` refuses such a suite before any call.
- **target** (error): an error in the suite's ``http:`` target file (an unknown field, a JSON path
  evalkit cannot follow): ``evalkit run`` refuses it before any call, unless ``--model`` replaces it.
- **expected-pending** (warning): mined or generated cases (``verified: false``) still without an
  expected output under such a scorer; it will report that it could not score them (give it
  ``verified_only: true`` to skip them until a person writes one).

Findings of the rules ``evalkit run`` refuses a suite for (``REFUSED_BY_RUN``) make ``evalkit lint``
exit 2, as the run would; other errors exit 1.

Token counts are approximate (words and punctuation marks, ``≈tok``): close to BPE counts for
English, and the same for every version, so comparisons between prompts hold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from evalkit.errors import ConfigError
from evalkit.providers.http_target import http_spec_problem
from evalkit.suite.loading import Suite, awaits_expected
from evalkit.suite.prompts import BUILTIN_VARIABLES, PromptVersion

Severity = Literal["error", "warning", "info"]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_EXAMPLE_BLOCK = re.compile(
    r"(?im)^\s*(?:#+\s*)?(?:examples?|sample (?:input|output)|output|answer)\s*\d*\s*:"
)
# the rules whose findings `evalkit run` refuses the suite for (exit 2) before any call
REFUSED_BY_RUN = frozenset({"cases", "expected-missing", "target"})
# fixed text after the first case variable that counts as "instructions after the data"
MIN_TRAILING_INSTRUCTIONS = 12
SAMPLE_CASES = 500


class LintFinding(BaseModel):
    """One problem (or measurement) lint reports."""

    rule: str
    severity: Severity
    message: str
    path: str | None = None
    line: int | None = None
    prompt: str | None = None

    def one_line(self) -> str:
        where = f"{self.path}:{self.line}: " if self.line else (f"{self.path}: " if self.path else "")
        return f"{where}{self.severity} {self.rule}: {self.message}"


class PrefixStats(BaseModel):
    """How much of a prompt version is identical across cases."""

    prompt: str
    cases: int
    prefix_tokens: int
    mean_tokens: float

    @property
    def share(self) -> float:
        return self.prefix_tokens / self.mean_tokens if self.mean_tokens else 0.0


class LintReport(BaseModel):
    """Everything lint found for a suite."""

    suite: str
    prompts: list[str]
    findings: list[LintFinding] = Field(default_factory=lambda: [])
    prefixes: list[PrefixStats] = Field(default_factory=lambda: [])

    def count(self, severity: Severity) -> int:
        return sum(f.severity == severity for f in self.findings)

    def refused_by_run(self) -> bool:
        """Whether ``evalkit run`` would refuse the suite (exit 2) for a problem lint found."""
        return any(f.rule in REFUSED_BY_RUN for f in self.findings)


def count_tokens(text: str) -> int:
    """Approximate token count: words and punctuation marks."""
    return len(_TOKEN.findall(text))


def lint_suite(suite: Suite, prompts: list[str] | None = None, *, sample: int = SAMPLE_CASES) -> LintReport:
    """Lint a loaded suite: its output schema, each prompt version (default: all) and its cases."""
    names = prompts or list(suite.prompts)
    for name in names:
        suite.prompt(name)  # unknown versions are a usage error
    report = LintReport(suite=suite.name, prompts=names)
    for version in names or (None,):  # what `run` refuses before any call (a promptless target's too)
        try:
            suite.check_cases(suite.prompts[version] if version else None, expected=False)
        except ConfigError as exc:
            where = str(exc.path) if exc.path is not None else None
            found = LintFinding(
                rule="cases", severity="error", prompt=version, path=where, line=exc.line, message=exc.message
            )
            if not any(
                (f.path, f.line, f.message) == (where, exc.line, exc.message) for f in report.findings
            ):
                report.findings.append(found)  # a duplicate id, say, is the same finding for every version
    target = http_spec_problem(suite.config.target.model, suite.base_dir)
    if target is not None:
        where = str(target.path) if target.path is not None else None
        report.findings.append(
            LintFinding(rule="target", severity="error", path=where, line=target.line, message=target.message)
        )
    if suite.output_schema is not None:
        report.findings += schema_findings(suite.output_schema, _schema_file(suite))
    cases = _sample_cases(suite, sample)
    for name in names:
        prompt = suite.prompts[name]
        report.findings += order_findings(prompt)
        report.findings += few_shot_findings(prompt)
        stats = prefix_stats(prompt, [c.input for c in cases], suite.output_schema)
        if stats is not None:
            report.prefixes.append(stats)
            report.findings.append(
                LintFinding(
                    rule="static-prefix",
                    severity="info",
                    prompt=name,
                    path=str(prompt.path),
                    message=f"prompt {name}: ≈{stats.prefix_tokens} of ≈{stats.mean_tokens:.0f} tokens per case "
                    f"({stats.share:.0%}) are identical across {stats.cases} cases (cache-stable prefix)",
                )
            )
    report.findings += expected_findings(suite)
    return report


# ---- the output schema ------------------------------------------------------------------------


def schema_findings(schema: dict[str, Any], path: Path | None) -> list[LintFinding]:
    """A finding for every schema field (nested objects and array items included) without a description."""
    text = path.read_text(encoding="utf-8") if path is not None and path.is_file() else None
    findings = []
    for dotted, keys, spec in _schema_fields(schema, schema):
        description = spec.get("description")
        if isinstance(description, str) and description.strip():
            continue
        findings.append(
            LintFinding(
                rule="schema-descriptions",
                severity="error",
                path=str(path) if path is not None else None,
                line=_json_key_line(text, keys) if text else None,
                message=f"output schema field {dotted!r} has no description; the model sees only its name "
                "(describe what goes in it, its format and what to do when it is missing)",
            )
        )
    return findings


def _schema_fields(
    node: dict[str, Any], root: dict[str, Any], prefix: str = "", keys: tuple[str, ...] = (), depth: int = 0
) -> Iterator[tuple[str, tuple[str, ...], dict[str, Any]]]:
    if depth > 12:  # recursive schemas: deep enough for any real contract
        return
    node = _resolve(node, root)
    for name, spec in (node.get("properties") or {}).items():
        if not isinstance(spec, dict):
            continue
        dotted = f"{prefix}{name}"
        # a $ref'd field may carry its description next to the $ref or in the definition
        resolved = _resolve(spec, root)
        merged = {**resolved, **{k: v for k, v in spec.items() if k != "$ref"}}
        yield dotted, (*keys, name), merged
        yield from _schema_fields(resolved, root, f"{dotted}.", (*keys, name), depth + 1)
        items = resolved.get("items")
        if isinstance(items, dict):
            yield from _schema_fields(items, root, f"{dotted}[].", (*keys, name), depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key) or []:
            if isinstance(option, dict):
                yield from _schema_fields(option, root, prefix, keys, depth + 1)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part) if isinstance(target, dict) else None
    return target if isinstance(target, dict) else node


def _json_key_line(text: str, keys: tuple[str, ...]) -> int | None:
    """Line of the last key of a path in a JSON file, found by walking to each key in turn."""
    pos = 0
    for key in keys:
        match = re.compile(re.escape(json.dumps(key)) + r"\s*:").search(text, pos)
        if match is None:
            return None
        pos = match.end()
    return text.count("\n", 0, pos) + 1


def _schema_file(suite: Suite) -> Path | None:
    spec = suite.config.target.output_schema
    if spec is None:
        return None
    candidate = suite.base_dir / spec
    return candidate if candidate.is_file() else None


# ---- prompt templates -------------------------------------------------------------------------


def _template_events(prompt: PromptVersion) -> Iterator[tuple[str, str, int]]:
    """The template in source order: ("text", fixed text, line) and ("var", case variable, line)."""
    import jinja2
    from jinja2 import nodes

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    case_vars = prompt.variables

    def walk(node: nodes.Node, offset: int) -> Iterator[tuple[str, str, int]]:
        line = offset + (getattr(node, "lineno", 1) or 1) - 1
        if isinstance(node, nodes.TemplateData):
            yield "text", node.data, line
            return
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in case_vars:
            yield "var", node.name, line
            return
        if isinstance(node, nodes.Name) and node.name in BUILTIN_VARIABLES:
            yield "text", "", line  # schema text: fixed for every case (its size is counted by rendering)
            return
        for child in node.iter_child_nodes():
            yield from walk(child, offset)

    for section in prompt.sections:
        yield "text", f"[{section.role}]\n", section.first_line
        try:
            tree = env.parse(section.source)
        except jinja2.TemplateSyntaxError:  # load_prompt has reported it already
            continue
        yield from walk(tree, section.first_line)


def order_findings(prompt: PromptVersion) -> list[LintFinding]:
    """Flag a template whose first case variable comes before most of its fixed instructions."""
    before = after = 0
    first: tuple[str, int] | None = None
    for kind, value, line in _template_events(prompt):
        if kind == "var":
            if first is None:
                first = (value, line)
        elif first is None:
            before += count_tokens(value)
        else:
            after += count_tokens(value)
    if first is None or after < MIN_TRAILING_INSTRUCTIONS or after <= before:
        return []
    name, line = first
    return [
        LintFinding(
            rule="variable-before-instructions",
            severity="error",
            prompt=prompt.name,
            path=str(prompt.path),
            line=line,
            message=f"prompt {prompt.name}: case variable {{{{ {name} }}}} comes before ≈{after} tokens of fixed "
            f"text (only ≈{before} precede it); put instructions and examples first and the case's data last, "
            "so the fixed part is a cache-stable prefix",
        )
    ]


def few_shot_findings(prompt: PromptVersion) -> list[LintFinding]:
    """Warn when a prompt shows no worked example."""
    sections = prompt.sections
    last_user = max((i for i, s in enumerate(sections) if s.role == "user"), default=-1)
    static_turns = [
        s
        for i, s in enumerate(sections)
        if s.role == "assistant" and i < last_user and not (_section_variables(prompt, i))
    ]
    if static_turns or _EXAMPLE_BLOCK.search(prompt.source):
        return []
    return [
        LintFinding(
            rule="few-shot",
            severity="warning",
            prompt=prompt.name,
            path=str(prompt.path),
            message=f"prompt {prompt.name} shows no worked example ([assistant] turns or 'Example:' blocks); "
            "two or three examples of input and exact output make the format far more reliable",
        )
    ]


def _section_variables(prompt: PromptVersion, index: int) -> set[str]:
    import jinja2
    import jinja2.meta

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    try:
        found = jinja2.meta.find_undeclared_variables(env.parse(prompt.sections[index].source))
    except jinja2.TemplateSyntaxError:
        return set()
    return set(found) - BUILTIN_VARIABLES


def prefix_stats(
    prompt: PromptVersion, inputs: list[dict[str, Any]], schema: dict[str, Any] | None
) -> PrefixStats | None:
    """Render the prompt for each case and count the tokens every rendering shares from the start."""
    prefix: list[str] | None = None
    total = 0
    rendered = 0
    for variables in inputs:
        try:
            messages = prompt.render(variables, output_schema=schema)
        except ConfigError:
            continue  # a case lacking a variable: `evalkit run` reports it with its line
        toks = _TOKEN.findall("".join(f"[{m['role']}]\n{m['content']}\n" for m in messages))
        total += len(toks)
        rendered += 1
        if prefix is None:
            prefix = toks
        else:
            n = 0
            for x, y in zip(prefix, toks, strict=False):
                if x != y:
                    break
                n += 1
            prefix = prefix[:n]
    if prefix is None:
        return None
    return PrefixStats(
        prompt=prompt.name, cases=rendered, prefix_tokens=len(prefix), mean_tokens=total / rendered
    )


# ---- cases ------------------------------------------------------------------------------------


def _sample_cases(suite: Suite, limit: int) -> list[Any]:
    cases = []
    for case in suite.iter_cases():
        cases.append(case)
        if len(cases) >= limit:
            break
    return cases


def expected_findings(suite: Suite) -> list[LintFinding]:
    """Per scorer that compares with an expected output, the cases without one: golden cases (an
    error: ``evalkit run`` refuses them), and mined or generated ones awaiting a person (a warning)."""
    found: dict[tuple[str, bool], list[Any]] = {}  # (scorer label, awaiting) -> [count, first, spec]
    for path, line, case in suite.iter_located_cases():
        awaiting = awaits_expected(case)
        for spec in suite.needing_expected(case):
            entry = found.setdefault((spec.label, awaiting), [0, (path, line, case.id), spec])
            entry[0] += 1
    findings = []
    for (_, awaiting), (count, (path, line, case_id), spec) in found.items():
        what = f"scorer {spec.label!r} ({spec.name}) compares with it (first: case {case_id!r})"
        if awaiting:
            message = (
                f"{count} mined or generated case(s) await an expected output, and {what}; it will "
                "report that it could not score them (`verified_only: true` skips them until then)"
            )
        else:
            message = f"{count} case(s) have no expected output, but {what}; `evalkit run` refuses them"
        findings.append(
            LintFinding(
                rule="expected-pending" if awaiting else "expected-missing",
                severity="warning" if awaiting else "error",
                path=str(path),
                line=line,
                message=message,
            )
        )
    return findings

"""Prompt templates: named versions of jinja2 files, their content hashes, and rendering into chat messages.

A template is split into chat messages by marker lines that hold only ``[system]``, ``[user]`` or
``[assistant]``; a file without markers is one user message. Each section is rendered on its own,
after the split, so a case variable that contains ``[user]`` can never forge a new message.

Variables available to a template: every key of the case's ``input``, plus ``output_schema`` (the
suite's JSON Schema as a dict, or None) and ``output_schema_json`` (the same, pretty-printed).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from evalkit.errors import ConfigError
from evalkit.suite.textfile import read_utf8

ROLE_MARKER = re.compile(r"^\[(system|user|assistant)\]\s*$")
BUILTIN_VARIABLES = frozenset({"output_schema", "output_schema_json"})

_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # prompts are plain text, not HTML
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class PromptSection:
    """One chat message of a template, before rendering."""

    role: str
    source: str
    first_line: int  # line of the template file where this section's text starts


@dataclass(frozen=True)
class PromptVersion:
    """A named prompt template (e.g. ``v2``) with the hash of its exact text."""

    name: str
    path: Path
    source: str
    sections: tuple[PromptSection, ...] = field(repr=False)
    # id(output_schema) -> (schema, its JSON, sections that read no case variable, rendered once)
    _static: dict[int, tuple[Any, str, tuple[str | None, ...]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def hash(self) -> str:
        """First 12 hex digits of the SHA-256 of the template text: changes whenever the prompt does."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:12]

    @cached_property
    def _compiled(self) -> tuple[tuple[str, jinja2.Template], ...]:
        compiled = []
        for section in self.sections:
            try:
                compiled.append((section.role, _ENV.from_string(section.source)))
            except jinja2.TemplateSyntaxError as exc:
                line = section.first_line + (exc.lineno or 1) - 1
                raise ConfigError(
                    f"template syntax error: {exc.message}", path=self.path, line=line
                ) from None
        return tuple(compiled)

    @cached_property
    def section_variables(self) -> tuple[frozenset[str], ...]:
        """Case variables each section reads (excluding evalkit's built-ins)."""
        found = []
        for section in self.sections:
            try:
                names = jinja2.meta.find_undeclared_variables(_ENV.parse(section.source))
            except jinja2.TemplateSyntaxError as exc:
                line = section.first_line + (exc.lineno or 1) - 1
                raise ConfigError(
                    f"template syntax error: {exc.message}", path=self.path, line=line
                ) from None
            found.append(frozenset(names - BUILTIN_VARIABLES))
        return tuple(found)

    @cached_property
    def variables(self) -> frozenset[str]:
        """Case variables the template reads (excluding evalkit's built-ins)."""
        return frozenset().union(*self.section_variables)

    def _static_sections(self, output_schema: dict[str, Any] | None) -> tuple[str, tuple[str | None, ...]]:
        """The schema's JSON and the sections that read no case variable, rendered once per schema."""
        cached = self._static.get(id(output_schema))
        if cached is not None and cached[0] is output_schema:
            return cached[1], cached[2]
        schema_json = json.dumps(output_schema, indent=2) if output_schema else ""
        context = {"output_schema": output_schema, "output_schema_json": schema_json}
        static = tuple(
            self._render_section(i, context) if not names else None
            for i, names in enumerate(self.section_variables)
        )
        self._static[id(output_schema)] = (output_schema, schema_json, static)
        return schema_json, static

    def _render_section(self, index: int, context: dict[str, Any]) -> str:
        try:
            return str(self._compiled[index][1].render(context)).strip()
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"template needs a variable the case does not give: {exc.message}",
                path=self.path,
                line=self.sections[index].first_line,
            ) from None

    def render(
        self, variables: dict[str, Any], *, output_schema: dict[str, Any] | None = None
    ) -> list[dict[str, str]]:
        """Render the template for one case into OpenAI-style chat messages.

        Sections that read no case variable (the static instructions and few-shot examples) are
        rendered once per output schema and reused.
        """
        schema_json, static = self._static_sections(output_schema)
        context = {**variables, "output_schema": output_schema, "output_schema_json": schema_json}
        return [
            {"role": section.role, "content": text if text is not None else self._render_section(i, context)}
            for i, (section, text) in enumerate(zip(self.sections, static, strict=True))
        ]


def load_prompt(name: str, path: Path) -> PromptVersion:
    """Read a template file and split it into sections; errors name the file and line."""
    if not path.exists():
        raise ConfigError(f"prompt {name!r}: template file not found", path=path)
    source = read_utf8(path, what=f"prompt {name!r}: template file")
    sections = split_sections(source, path)
    prompt = PromptVersion(name=name, path=path, source=source, sections=sections)
    prompt._compiled  # noqa: B018 - compile now so syntax errors surface at load time
    return prompt


def split_sections(source: str, path: Path) -> tuple[PromptSection, ...]:
    """Split template text at ``[role]`` marker lines."""
    lines = source.splitlines()
    if not any(ROLE_MARKER.match(line) for line in lines):
        return (PromptSection(role="user", source=source, first_line=1),)
    sections: list[PromptSection] = []
    role: str | None = None
    start = 1
    buffer: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        marker = ROLE_MARKER.match(line)
        if marker is None:
            if role is None and line.strip():
                raise ConfigError(
                    "text before the first [system]/[user]/[assistant] marker", path=path, line=lineno
                )
            buffer.append(line)
            continue
        if role is not None:
            sections.append(PromptSection(role=role, source="\n".join(buffer), first_line=start))
        role, start, buffer = marker.group(1), lineno + 1, []
    assert role is not None
    sections.append(PromptSection(role=role, source="\n".join(buffer), first_line=start))
    for section in sections:
        if not section.source.strip():
            raise ConfigError(f"empty [{section.role}] section", path=path, line=section.first_line - 1)
    return tuple(sections)

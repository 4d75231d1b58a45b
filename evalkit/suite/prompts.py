"""Prompt templates: named versions of jinja2 files, their content hashes, and rendering into chat messages.

A template is split into chat messages by marker lines that hold only ``[system]``, ``[user]`` or
``[assistant]``; a file without markers is one user message. Each section is rendered on its own,
after the split, so a case variable that contains ``[user]`` can never forge a new message.

Variables available to a template: every key of the case's ``input``, plus ``output_schema`` (the
suite's JSON Schema as a dict, or None) and ``output_schema_json`` (the same, pretty-printed).

A section whose only template syntax is ``{{ name }}`` placeholders is rendered by substituting
``str(value)``, exactly what jinja2 renders for it, without importing jinja2 (~15 ms of a run's
start-up). Any other syntax (filters, attributes, tags, comments, whitespace control) and the names
jinja2 gives a meaning of its own (``true``, ``none``, ``range``, ``self``, ...) go through jinja2.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalkit.errors import ConfigError
from evalkit.suite.textfile import read_utf8

if TYPE_CHECKING:
    import jinja2

ROLE_MARKER = re.compile(r"^\[(system|user|assistant)\]\s*$")
BUILTIN_VARIABLES = frozenset({"output_schema", "output_schema_json"})

_PLACEHOLDER = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}")
_JINJA_OPENERS = ("{{", "{%", "{#")
_NEWLINES = re.compile(r"\r\n|\r")
# names that jinja2 reads as something other than a variable of the context: constants, operators,
# its default globals and the template's own references (tests compare every one with jinja2)
_JINJA_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "not", "and", "or", "in", "is", "if", "else"}
    | {"range", "dict", "lipsum", "cycler", "joiner", "namespace"}
    | {"self", "loop", "super", "caller", "varargs", "kwargs"}
)


@cache
def _env() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def plain_placeholders(source: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``source`` as its text pieces and the variable names between them, when its only template
    syntax is ``{{ name }}`` (one more text piece than names); None when it needs jinja2."""
    pieces = _PLACEHOLDER.split(source)  # text, name, text, name, ..., text
    texts, names = tuple(pieces[0::2]), tuple(pieces[1::2])
    if any(opener in text for text in texts for opener in _JINJA_OPENERS):
        return None
    if any(text.endswith("{") for text in texts[:-1]):  # "{{{ a }}": jinja2's tag starts one earlier
        return None
    if any(name in _JINJA_NAMES for name in names):
        return None
    return tuple(_NEWLINES.sub("\n", text) for text in texts), names  # as jinja2 writes template text


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
    def _plain(self) -> tuple[tuple[tuple[str, ...], tuple[str, ...]] | None, ...]:
        """Each section's pieces and placeholders when it needs no jinja2 (see :func:`plain_placeholders`)."""
        return tuple(plain_placeholders(section.source) for section in self.sections)

    @cached_property
    def _compiled(self) -> tuple[jinja2.Template | None, ...]:
        """Each section compiled by jinja2 (None for a plain section, which needs no compiling)."""
        if all(plain is not None for plain in self._plain):
            return tuple(None for _ in self.sections)
        import jinja2

        compiled: list[jinja2.Template | None] = []
        for section, plain in zip(self.sections, self._plain, strict=True):
            try:
                compiled.append(_env().from_string(section.source) if plain is None else None)
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
        for section, plain in zip(self.sections, self._plain, strict=True):
            if plain is not None:
                found.append(frozenset(plain[1]) - BUILTIN_VARIABLES)
                continue
            import jinja2
            import jinja2.meta
            import jinja2.nodes

            try:
                tree = _env().parse(section.source)
            except jinja2.TemplateSyntaxError as exc:
                line = section.first_line + (exc.lineno or 1) - 1
                raise ConfigError(
                    f"template syntax error: {exc.message}", path=self.path, line=line
                ) from None
            for kind in (
                jinja2.nodes.Include,
                jinja2.nodes.Extends,
                jinja2.nodes.Import,
                jinja2.nodes.FromImport,
            ):
                node = tree.find(kind)
                if node is not None:  # a prompt is one file: its hash, and --resume's check, must see it all
                    raise ConfigError(
                        f"{{% {kind.__name__.lower().replace('fromimport', 'from')} %}} is not supported: a prompt "
                        "version is one file (put the shared text in it, or in a variable)",
                        path=self.path,
                        line=section.first_line + node.lineno - 1,
                    )
            names = jinja2.meta.find_undeclared_variables(tree)
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
        plain = self._plain[index]
        if plain is not None:
            texts, names = plain
            missing = next((name for name in names if name not in context), None)
            if missing is None:
                values = [str(context[name]) for name in names]
                return "".join(t + v for t, v in zip(texts, [*values, ""], strict=True)).strip()
            message = f"{missing!r} is undefined"  # jinja2's words for it
        else:
            import jinja2

            template = self._compiled[index]
            assert template is not None
            try:
                return str(template.render(context)).strip()
            except jinja2.UndefinedError as exc:
                message = str(exc.message)
            except Exception as exc:  # {{ 1/0 }}, a filter given the wrong type, ...: the template's error
                raise ConfigError(
                    f"template failed: {type(exc).__name__}: {exc}",
                    path=self.path,
                    line=self.sections[index].first_line,
                ) from None
        raise ConfigError(
            f"template needs a variable the case does not give: {message}",
            path=self.path,
            line=self.sections[index].first_line,
        )

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

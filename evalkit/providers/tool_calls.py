"""Tools a target may call (JSON Schema function definitions), and tool calls as outputs.

A suite gives its target tools with ``target.tools``: a JSON or YAML file (relative to the suite)
or an inline list. Each tool is OpenAI's ``{"type": "function", "function": {"name", "description",
"parameters"}}`` or the short ``{"name", "description", "parameters"}``. They are sent with every
request (``tools``) and are part of the cache key.

When the model answers with tool calls, the output is their JSON, with the arguments parsed::

    {"tool_calls": [{"name": "create_invoice", "arguments": {"total": 120.5, "currency": "EUR"}}]}

(plus ``"content"`` when the model also wrote text), so ``json_schema``, ``json_fields`` and the
``tool_call`` scorer read it like any JSON output.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError
from evalkit.suite.output_schema import check_schema
from evalkit.suite.textfile import json_array_item_lines, json_value_line, parse_json, read_utf8
from evalkit.suite.yamlfile import load_yaml


class ToolError(ValueError):
    """A tool definition evalkit cannot send; ``index`` is the offending tool's place in the list
    (None when the list itself is wrong), so the error can name its line."""

    def __init__(self, message: str, index: int | None) -> None:
        super().__init__(message)
        self.index = index


def normalise_tools(raw: Any, where: str) -> list[dict[str, Any]]:
    """Tools in OpenAI's form; :class:`ToolError` naming the bad tool otherwise."""
    if not isinstance(raw, list) or not raw:
        raise ToolError(f"{where}: tools must be a non-empty list", None)
    tools = []
    for i, item in enumerate(raw):
        function = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ToolError(f"{where}: tool {i} needs a `name`", i)
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise ToolError(
                f"{where}: tool {function['name']!r}: `parameters` must be a JSON Schema object", i
            )
        try:  # a broken schema is sent to every call and the model's arguments are shaped by it
            check_schema(parameters)
        except ValueError as exc:
            raise ToolError(f"{where}: tool {function['name']!r}: `parameters`: {exc}", i) from None
        entry = {"name": function["name"], "parameters": parameters}
        if function.get("description"):
            entry["description"] = function["description"]
        tools.append({"type": "function", "function": entry})
    return tools


def load_tools(value: str | list[dict[str, Any]], base_dir: Path) -> list[dict[str, Any]]:
    """``target.tools``: a file (JSON or YAML) or an inline list, normalised. A file's error is a
    ConfigError naming the file and the offending tool's line; an inline list's is a :class:`ToolError`
    (the suite file's lines are its loader's)."""
    if isinstance(value, list):
        return normalise_tools(value, "target.tools")
    path = base_dir / value
    if not path.is_file():
        raise ConfigError("tools file not found", path=path)
    if path.suffix.lower() == ".json":
        text = read_utf8(path, what="tools file").removeprefix("\ufeff")
        try:
            return normalise_tools(parse_json(text, path), "tools")
        except ToolError as exc:
            line = json_value_line(text) if exc.index is None else json_array_item_lines(text)[exc.index]
            raise ConfigError(str(exc), path=path, line=line) from None
    located = load_yaml(path)
    try:
        return normalise_tools(located.data, "tools")
    except ToolError as exc:
        where = () if exc.index is None else (exc.index,)
        raise ConfigError(str(exc), path=path, line=located.line_of(where)) from None


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def tool_calls_text(content: str | None, calls: list[Any]) -> str:
    """The output of an answer with tool calls (dicts or litellm objects), arguments parsed from JSON."""
    parsed = []
    for call in calls:
        function = _field(call, "function") or call
        arguments = _field(function, "arguments")
        if isinstance(arguments, str):
            # unparseable arguments stay as the model wrote them: scorers report they are not an object
            with contextlib.suppress(ValueError):
                arguments = json.loads(arguments) if arguments.strip() else {}
        parsed.append({"name": _field(function, "name"), "arguments": arguments})
    out: dict[str, Any] = {"tool_calls": parsed}
    if content:
        out["content"] = content
    return json.dumps(out, ensure_ascii=False)

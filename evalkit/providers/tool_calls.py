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

import yaml

from evalkit.errors import ConfigError
from evalkit.suite.output_schema import check_schema


def normalise_tools(raw: Any, where: str) -> list[dict[str, Any]]:
    """Tools in OpenAI's form; ValueError naming the bad tool otherwise."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}: tools must be a non-empty list")
    tools = []
    for i, item in enumerate(raw):
        function = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(f"{where}: tool {i} needs a `name`")
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict):
            raise ValueError(f"{where}: tool {function['name']!r}: `parameters` must be a JSON Schema object")
        try:  # a broken schema is sent to every call and the model's arguments are shaped by it
            check_schema(parameters)
        except ValueError as exc:
            raise ValueError(f"{where}: tool {function['name']!r}: `parameters`: {exc}") from None
        entry = {"name": function["name"], "parameters": parameters}
        if function.get("description"):
            entry["description"] = function["description"]
        tools.append({"type": "function", "function": entry})
    return tools


def load_tools(value: str | list[dict[str, Any]], base_dir: Path) -> list[dict[str, Any]]:
    """``target.tools``: a file (JSON or YAML) or an inline list, normalised; ConfigError if unusable."""
    if isinstance(value, list):
        try:
            return normalise_tools(value, "target.tools")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    path = base_dir / value
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError("tools file not found", path=path) from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        return normalise_tools(raw, "tools")
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(str(exc).replace("\n", " "), path=path) from None


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

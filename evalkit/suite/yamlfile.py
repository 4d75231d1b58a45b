"""YAML loading that remembers the line of every value, so validation errors can name it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from evalkit.errors import ConfigError
from evalkit.suite.textfile import read_utf8

# Aliases let a few lines of YAML expand to billions of values ("billion laughs"); a suite has a
# few hundred. Counting the values built stops such a file in milliseconds instead of exhausting memory.
MAX_VALUES = 100_000

_SURROGATE = re.compile("[\ud800-\udfff]")  # only a "\\uD800" escape yields one; UTF-8 cannot hold it

Location = tuple[str | int, ...]


class LocatedYaml:
    """Plain Python data from a YAML file plus the 1-based line where each value starts."""

    def __init__(self, data: Any, lines: dict[Location, int], path: Path) -> None:
        self.data = data
        self.lines = lines
        self.path = path

    def line_of(self, loc: Location) -> int | None:
        """Line of the deepest value on ``loc`` that exists in the file (the closest thing to point at)."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return line
        return None


def load_yaml(path: Path) -> LocatedYaml:
    """Parse a YAML file; syntax errors become :class:`ConfigError` with file and line."""
    text = read_utf8(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError("values nested too deeply to read: flatten the YAML", path=path) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # An error found at the end of the file belongs to the construct left open, where it began.
        if exc.context_mark is not None and (mark is None or mark.line >= len(text.splitlines())):
            mark = exc.context_mark
        line = mark.line + 1 if mark is not None else None
        detail = exc.problem or exc.context
        if exc.context and exc.problem:
            detail = f"{exc.problem} ({exc.context})"
        raise ConfigError(f"invalid YAML: {detail}", path=path, line=line) from None
    if node is None:
        raise ConfigError("file is empty", path=path, line=1)
    lines: dict[Location, int] = {}
    scalars = yaml.SafeLoader("")  # resolves scalar tags (int, bool, null, ...) exactly as safe_load does
    built = 0

    def construct(node: yaml.Node, loc: Location) -> Any:
        nonlocal built
        built += 1
        if built > MAX_VALUES:
            raise ConfigError(
                f"over {MAX_VALUES:,} values once aliases are expanded (an alias bomb?): "
                "write the values out instead of nesting aliases",
                path=path,
                line=node.start_mark.line + 1,
            )
        lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
            scalars.flatten_mapping(node)  # `<<: *defaults` merge keys, as safe_load reads them
            merged = len(node.value) - own  # first the merged pairs (later ones win), then its own
            result: dict[Any, Any] = {}
            for index, (key_node, value_node) in enumerate(node.value):
                key = scalars.construct_object(key_node)
                if index >= merged and key in result and key in own_keys(node.value[merged:index]):
                    raise ConfigError(f"duplicate key {key!r}", path=path, line=key_node.start_mark.line + 1)
                result[key] = construct(value_node, (*loc, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [construct(item, (*loc, i)) for i, item in enumerate(node.value)]
        value = scalars.construct_object(node)
        if isinstance(value, str) and _SURROGATE.search(value):
            raise ConfigError(
                "surrogate escape (\\ud800-\\udfff) in a string: YAML does not pair them; write the "
                "character itself, or \\U0001F600-style escapes for characters beyond \\uffff",
                path=path,
                line=node.start_mark.line + 1,
            )
        return value

    def own_keys(pairs: list[tuple[yaml.Node, yaml.Node]]) -> list[Any]:
        return [scalars.construct_object(key_node) for key_node, _ in pairs]

    try:
        data = construct(node, ())
    except RecursionError:
        raise ConfigError("values nested too deeply to read: flatten the YAML", path=path) from None
    except yaml.YAMLError as exc:  # a tag safe_load does not construct, a merge of a non-mapping
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(exc, 'problem', None) or exc}".replace("\n", " "),
            path=path,
            line=None if mark is None else mark.line + 1,
        ) from None
    return LocatedYaml(data, lines, path)

"""A tools file (or a suite's inline tools) that evalkit cannot send: one line naming the file and
the line where the offending tool starts, exit 2, before any call."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, one_error_line

INVOICE_YAML = """\
- name: create_invoice
  description: Record an invoice read from the document.
  parameters:
    type: object
    properties:
      total: {type: number}
"""

# written by hand, not by json.dumps, so that each tool's first line is known: 2 and 9
INVOICE_JSON = """\
[
  {
    "name": "create_invoice",
    "parameters": {
      "type": "object",
      "properties": {"total": {"type": "number"}}
    }
  },
  %s
]
"""


def write_suite(root: Path, tools: str) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "v1.j2").write_text("[user]\n{{ doc }}\n")
    case = {"id": "a", "input": {"doc": "d"}, "expected": {"name": "create_invoice", "arguments": {}}}
    (root / "cases.jsonl").write_text(json.dumps(case) + "\n")
    suite = root / "suite.yaml"
    suite.write_text(
        "name: t\ntarget:\n  model: openai/x\n  api_base: http://127.0.0.1:9\n  prompts: {v1: prompts/v1.j2}\n"
        f"  tools: {tools}\ncases: [cases.jsonl]\nscorers:\n  - name: tool_call\n"
    )
    return suite


def refused(cli: Callable[..., CliResult], suite: Path, where: str) -> str:
    db = suite.parent / "r.duckdb"
    line = one_error_line(cli("run", str(suite), "--db", str(db), "--no-progress"), 2, where)
    assert not db.exists()
    return line


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("- description: no name\n", "tools: tool 1 needs a `name`"),
        ("- name: send_email\n  parameters: [to, body]\n", "tools: tool 'send_email': `parameters` must be"),
        (
            "- type: function\n  function:\n    name: send_email\n    parameters: {type: object, required: to}\n",
            "tools: tool 'send_email': `parameters`: not a valid JSON Schema: required: 'to' is not of type",
        ),
    ],
    ids=["no-name", "parameters-not-an-object", "schema-error"],
)
def test_a_yaml_tools_file_error_names_the_tools_line(
    second: str, message: str, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """It named the file only, however long the file of tools."""
    suite = write_suite(tmp_path / "s", "tools.yaml")
    tools = suite.parent / "tools.yaml"
    tools.write_text(INVOICE_YAML + second)
    refused(cli, suite, f"{tools}:7: {message}")


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ('{"description": "no name"}', "tools: tool 1 needs a `name`"),
        ('{"name": "send_email", "parameters": ["to"]}', "tools: tool 'send_email': `parameters` must be"),
        (
            '{"type": "function", "function": {\n    "name": "send_email",\n'
            '    "parameters": {"type": "object", "properties": {"to": {"type": "strng"}}}}}',
            "tools: tool 'send_email': `parameters`: not a valid JSON Schema: properties.to.type:",
        ),
    ],
    ids=["no-name", "parameters-not-an-object", "schema-error"],
)
def test_a_json_tools_file_error_names_the_line_where_the_tool_starts(
    second: str, message: str, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    suite = write_suite(tmp_path / "s", "tools.json")
    tools = suite.parent / "tools.json"
    tools.write_text(INVOICE_JSON % second)
    refused(cli, suite, f"{tools}:9: {message}")
    # the first tool at fault: its own line, not the array's
    tools.write_text(INVOICE_JSON.replace('"name": "create_invoice"', '"title": "x"') % '{"name": "ok"}')
    refused(cli, suite, f"{tools}:2: tools: tool 0 needs a `name`")


def test_a_tools_file_that_is_no_list_names_its_first_line(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    suite = write_suite(tmp_path / "s", "tools.json")
    (suite.parent / "tools.json").write_text('\n{"name": "create_invoice"}\n')
    refused(cli, suite, f"{suite.parent / 'tools.json'}:2: tools: tools must be a non-empty list")


def test_an_inline_tools_error_names_the_suites_line_of_that_tool(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """It named the line of `target.tools`, however many tools follow it."""
    block = "\n    - name: create_invoice\n    - description: no name"
    suite = write_suite(tmp_path / "s", block)
    refused(cli, suite, f"{suite}:8: target.tools: tool 1 needs a `name`")


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("tools.yaml", "- name: a\n  parameters: {type: object}}\n- name: b\n", "2: invalid YAML"),
        ("tools.json", '[\n  {"name": "a",}\n]\n', "2: invalid JSON at column 16"),
    ],
    ids=["yaml", "json"],
)
def test_a_tools_file_that_does_not_parse_names_the_line(
    name: str, text: str, where: str, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """Its error was the parser's own report squeezed into one line, after the file name alone."""
    suite = write_suite(tmp_path / "s", name)
    (suite.parent / name).write_text(text)
    refused(cli, suite, f"{suite.parent / name}:{where}")

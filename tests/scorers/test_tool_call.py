"""Tool calls as outputs: tools sent to the model, its tool call stored as the output, scored by ``tool_call``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.cases import Case
from evalkit.outputs import parse_output
from evalkit.results import CaseResult
from evalkit.run.runner import RunOptions, run_suite
from evalkit.scorers.base import Score, ScoreContext, build_scorer
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI

EXPECTED = {"name": "create_invoice", "arguments": {"vendor": "ACME GmbH", "total": 120.5, "currency": "EUR"}}


def score(output: Any, expected: Any = EXPECTED, **args: Any) -> Score:
    text = output if isinstance(output, str) else json.dumps(output)
    parsed = parse_output(text)
    ctx = ScoreContext(
        case=Case(input={"doc": "x"}, expected=expected),
        output=text,
        parsed=parsed.value,
        extraction=parsed.extraction,
    )
    result = build_scorer("tool_call", args, base_dir=Path("."))(ctx)
    assert isinstance(result, Score)
    return result


def test_right_tool_and_arguments_pass_with_a_score_per_argument() -> None:
    result = score({"tool_calls": [{"name": "create_invoice", "arguments": EXPECTED["arguments"]}]})
    assert result.passed and result.value == 1.0
    assert sorted(f.field for f in result.fields) == ["currency", "total", "vendor"]


def test_a_wrong_argument_fails_that_field_with_the_json_fields_rules() -> None:
    call = {
        "name": "create_invoice",
        "arguments": {"vendor": "Acme GmbH.", "total": 125.0, "currency": "EUR"},
    }
    result = score(
        {"tool_calls": [call]},
        fields={
            "vendor": {"match": "fuzzy", "threshold": 0.8},
            "total": {"match": "numeric", "tolerance": 0.01},
        },
    )
    assert not result.passed
    assert result.reason.startswith("called create_invoice; 2/3 fields ok; total:")
    assert {f.field: f.passed for f in result.fields} == {"vendor": True, "total": False, "currency": True}


def test_another_tool_or_no_call_scores_zero() -> None:
    other = score({"tool_calls": [{"name": "send_email", "arguments": {}}]})
    assert (other.value, other.passed, other.reason) == (
        0.0,
        False,
        "called send_email, expected create_invoice",
    )
    text = score("I created the invoice.")
    assert (text.value, text.reason) == (0.0, "no tool call (expected create_invoice)")
    broken = score({"tool_calls": [{"name": "create_invoice", "arguments": "{not json"}]})
    assert not broken.passed and "not a JSON object" in broken.reason
    # each expected argument still counts, as not stated: field recall sees these cases
    for result in (other, text, broken):
        assert sorted((f.field, f.slot) for f in result.fields) == [
            ("currency", "VN"),
            ("total", "VN"),
            ("vendor", "VN"),
        ]


def test_absent_applies_to_the_arguments() -> None:
    expected = {"name": "create_invoice", "arguments": {"vendor": "ACME GmbH", "note": None}}
    call = {"tool_calls": [{"name": "create_invoice", "arguments": {"vendor": "ACME GmbH"}}]}
    result = score(call, expected=expected, absent=[None])
    assert result.passed, result.reason
    assert {f.field: f.slot for f in result.fields} == {"vendor": "VC", "note": "NN"}


def test_name_only_check_and_name_argument() -> None:
    result = score({"tool_calls": [{"name": "lookup", "arguments": {"q": 1}}]}, expected=None, name="lookup")
    assert result.passed and result.reason == "called lookup"
    assert score({"tool_calls": []}, expected=None).error == "tool_call needs `name` or an expected tool call"


TOOLS = """\
- name: create_invoice
  description: Record an invoice read from the document.
  parameters:
    type: object
    properties:
      vendor: {type: string}
      total: {type: number}
      currency: {type: string}
    required: [vendor, total, currency]
"""


def invoice_tool_caller(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    doc = body["messages"][-1]["content"]
    if "weather" in doc:
        return None  # answers in text
    total = 120.5 if "120.50" in doc else 99.0
    return [
        {"name": "create_invoice", "arguments": {"vendor": "ACME GmbH", "total": total, "currency": "EUR"}}
    ]


@pytest.mark.parametrize("fast_path", ["1", "0"], ids=["lean-client", "litellm"])
def test_tools_reach_the_model_and_its_tool_call_is_the_scored_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_path: str
) -> None:
    monkeypatch.setenv("EVALKIT_FAST_PATH", fast_path)
    root = tmp_path / "s"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "v1.j2").write_text("[user]\n{{ doc }}\n")
    (root / "tools.yaml").write_text(TOOLS)
    cases = [
        {"id": "ok", "input": {"doc": "Invoice ACME GmbH total 120.50 EUR"}, "expected": EXPECTED},
        {"id": "wrong-total", "input": {"doc": "Invoice ACME GmbH total 12O.5O EUR"}, "expected": EXPECTED},
        {"id": "no-call", "input": {"doc": "what's the weather"}, "expected": EXPECTED},
    ]
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    results: dict[str, CaseResult] = {}
    with LoopbackOpenAI(tool_caller=invoice_tool_caller) as server:
        (root / "suite.yaml").write_text(
            f"name: tools\ntarget:\n  model: openai/loopback\n  api_base: {server.base_url}\n"
            "  prompts: {v1: prompts/v1.j2}\n  tools: tools.yaml\n"
            "cases: [cases.jsonl]\n"
            "scorers:\n  - name: tool_call\n    args: {fields: {total: {match: numeric, tolerance: 0.01}}}\n"
            "gate: {case_pass: all, min_pass_rate: 0.3}\n"
        )
        run_suite(
            load_suite(root / "suite.yaml"),
            open_store(tmp_path / "r.duckdb"),
            RunOptions(),
            on_result=lambda r: results.__setitem__(r.case.id, r),
        )
        sent = server.stats.bodies[0]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "create_invoice",
                "description": "Record an invoice read from the document.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "vendor": {"type": "string"},
                        "total": {"type": "number"},
                        "currency": {"type": "string"},
                    },
                    "required": ["vendor", "total", "currency"],
                },
            },
        }
    ]
    assert json.loads(results["ok"].output.text or "") == {"tool_calls": [EXPECTED]}
    assert results["ok"].verdict == "pass"
    assert results["wrong-total"].verdict == "fail"
    assert "total: " in (results["wrong-total"].scores[0].reason or "")
    assert results["no-call"].verdict == "fail"
    assert results["no-call"].scores[0].reason == "no tool call (expected create_invoice)"


def test_tools_are_part_of_the_cache_key_and_a_bad_tools_file_is_exit_2(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    root = tmp_path / "s"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "v1.j2").write_text("[user]\n{{ doc }}\n")
    (root / "tools.yaml").write_text("- description: no name\n")
    (root / "cases.jsonl").write_text(
        json.dumps({"id": "a", "input": {"doc": "d"}, "expected": EXPECTED}) + "\n"
    )
    (root / "suite.yaml").write_text(
        "name: t\ntarget:\n  model: openai/x\n  api_base: http://127.0.0.1:9\n  prompts: {v1: prompts/v1.j2}\n"
        "  tools: tools.yaml\ncases: [cases.jsonl]\nscorers:\n  - name: tool_call\n"
    )
    result = cli("run", str(root), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2 and "tools.yaml:1: tools: tool 0 needs a `name`" in result.stderr
    from evalkit.providers.calls import cache_key
    from evalkit.run.evaluate import prepare_target

    (root / "tools.yaml").write_text(TOOLS)
    suite = load_suite(root / "suite.yaml")
    with_tools = prepare_target(suite, None, None)
    case = next(suite.iter_cases())
    without = prepare_target(suite, None, None)
    without.tools = None
    assert cache_key(with_tools.request(case), 0) != cache_key(without.request(case), 0)


def test_a_tool_whose_parameters_are_not_a_json_schema_is_exit_2(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """Such a tool was sent with every call, its schema left for the model to make sense of."""
    root = tmp_path / "s"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "v1.j2").write_text("[user]\n{{ doc }}\n")
    (root / "cases.jsonl").write_text(
        json.dumps({"id": "a", "input": {"doc": "d"}, "expected": EXPECTED}) + "\n"
    )
    suite = (
        "name: t\ntarget:\n  model: openai/x\n  api_base: http://127.0.0.1:9\n  prompts: {v1: prompts/v1.j2}\n"
        "  tools: {tools}\ncases: [cases.jsonl]\nscorers:\n  - name: tool_call\n"
    )
    (root / "tools.yaml").write_text(TOOLS.replace("total: {type: number}", "total: {type: numbr}"))
    (root / "suite.yaml").write_text(suite.replace("{tools}", "tools.yaml"))
    result = cli("lint", str(root))
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stderr.strip().endswith(
        "tools.yaml:1: tools: tool 'create_invoice': `parameters`: not a valid JSON Schema: "
        "properties.total.type: 'numbr' is not valid under any of the given schemas"
    )
    # inline: the suite's line of target.tools
    inline = "[{name: create_invoice, parameters: {type: object, required: total}}]"
    (root / "suite.yaml").write_text(suite.replace("{tools}", inline))
    result = cli("run", str(root), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert (
        f"{root / 'suite.yaml'}:6: target.tools: tool 'create_invoice': `parameters`: not a valid JSON "
        "Schema: required: 'total' is not of type 'array'"
    ) in result.stderr
    assert not (tmp_path / "r.duckdb").exists()

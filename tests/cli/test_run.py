"""`evalkit run` end to end through litellm against a real loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from evalkit.store import open_store
from evalkit.testing.openai_server import Faults, LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

CASES = [
    {"id": "good-1", "input": {"question": "capital of France?"}, "expected": {"answer": "Paris"}},
    {"id": "good-2", "input": {"question": "capital of Italy?"}, "expected": {"answer": "Rome"}},
    {"id": "bad-1", "input": {"question": "capital of Spain?"}, "expected": {"answer": "Madrid"}},
    {"id": "bad-2", "input": {"question": "capital of Peru?"}, "expected": {"answer": "Lima"}},
]
ANSWERS = {"France": "Paris", "Italy": "Rome", "Spain": "Barcelona", "Peru": "Cusco"}


def capitals(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"]
    country = next(c for c in ANSWERS if c in question)
    return json.dumps({"answer": ANSWERS[country]})


SCORERS = """\
  - name: json_fields
    args: {fields: {answer: {match: exact}}}
"""


def run_cli(cli: Callable[..., CliResult], suite: Path, db: Path, *extra: str) -> CliResult:
    return cli("run", str(suite), "--db", str(db), "--no-progress", *extra)


def test_run_stores_every_case_and_passes_gate(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=capitals) as server:
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0.5}\n"), CASES
        )
        result = run_cli(cli, suite, tmp_path / "r.duckdb", "--junit", str(tmp_path / "junit.xml"))
        assert server.stats.requests == 4
        bodies = {b["messages"][-1]["content"]: b for b in server.stats.bodies}
    assert result.exit_code == 0, result.stderr
    assert "Cases 4: 2 passed, 2 failed, 0 errors · pass rate 50.0%" in result.stdout
    assert (
        "bad-1 [fail score 0.00] json_fields: 0/1 fields ok; answer: 'Barcelona' != 'Madrid'" in result.stdout
    )
    assert "Gate PASSED" in result.stdout
    body = bodies["capital of France?"]
    assert body["model"] == "loopback" and body["temperature"] == 0 and body["max_tokens"] == 512
    assert body["messages"][0] == {"role": "system", "content": "Answer in JSON."}

    store = open_store(tmp_path / "r.duckdb")
    run = store.get_run("latest")
    assert run.status == "complete" and run.model == "openai/loopback" and run.prompt_version == "v1"
    assert run.summary.gate.exit_code == 0
    frame = store.case_results(run.run_id)
    assert sorted(frame["case_id"]) == ["bad-1", "bad-2", "good-1", "good-2"]
    assert set(frame["verdict"]) == {"pass", "fail"}
    assert (frame["prompt_tokens"] > 0).all()

    tree = ET.parse(tmp_path / "junit.xml").getroot()
    assert tree.tag == "testsuite" and tree.get("tests") == "4" and tree.get("failures") == "2"
    failures = {tc.get("name"): tc.find("failure") for tc in tree.iter("testcase")}
    assert failures["good-1"] is None
    failure = failures["bad-2"]
    assert failure is not None and "'Cusco' != 'Lima'" in (failure.get("message") or "")
    # the expected output as the case file holds it, JSON (as `evalkit show` prints it), not a repr
    assert (failure.text or "").endswith('expected:\n{"answer": "Lima"}')


def test_gate_failure_exits_1_and_show_explains(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=capitals) as server:
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0.75}\n"), CASES
        )
        result = run_cli(cli, suite, tmp_path / "r.duckdb")
    assert result.exit_code == 1
    assert "Gate FAILED: pass rate 50.0% < min_pass_rate 75% (exit 1)" in result.stdout
    shown = cli("show", "--db", str(tmp_path / "r.duckdb"))
    assert shown.exit_code == 0
    assert "bad-1  [fail score 0.00]" in shown.stdout
    assert "FAIL  json_fields (0.00): 0/1 fields ok; answer: 'Barcelona' != 'Madrid'" in shown.stdout
    assert 'output:   {"answer": "Barcelona"}' in shown.stdout
    assert 'expected: {"answer": "Madrid"}' in shown.stdout
    assert "good-1" not in shown.stdout
    everything = cli("show", "--all", "--db", str(tmp_path / "r.duckdb"))
    assert "good-1  [pass score 1.00]" in everything.stdout


def test_provider_down_exits_3_and_errors_are_not_failures(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=capitals, faults=Faults(error_500=1.0)) as server:
        suite = make_suite(loopback_suite(server.base_url, scorers=SCORERS), CASES)
        result = run_cli(cli, suite, tmp_path / "r.duckdb")
    assert result.exit_code == 3
    assert "0 failed, 4 errors" in result.stdout
    assert "4 of 4 cases ended in errors (100.0% > max_error_rate 10%)" in result.stdout
    store = open_store(tmp_path / "r.duckdb")
    frame = store.case_results(store.get_run("latest").run_id)
    assert set(frame["verdict"]) == {"error"}
    assert all("500" in e for e in frame["error"])


def test_model_override_and_prompt_choice(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=capitals) as server:
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, gate="gate: {min_pass_rate: 0}\n"), CASES
        )
        (suite.parent / "prompts" / "v2.j2").write_text("[user]\nQ: {{ question }}\n")
        text = suite.read_text().replace("{v1: prompts/v1.j2}", "{v1: prompts/v1.j2, v2: prompts/v2.j2}")
        suite.write_text(text)
        result = run_cli(cli, suite, tmp_path / "r.duckdb", "--model", "openai/other", "--prompt", "v1")
        assert {b["model"] for b in server.stats.bodies} == {"other"}
        result2 = run_cli(cli, suite, tmp_path / "r.duckdb")  # default: the last listed version
        v2_messages = [b["messages"] for b in server.stats.bodies[4:]]
        assert len(v2_messages) == 4
        assert all(m == [{"role": "user", "content": m[0]["content"]}] for m in v2_messages)
        assert all(m[0]["content"].startswith("Q: capital of ") for m in v2_messages)
    assert result.exit_code == 0 and result2.exit_code == 0
    runs = open_store(tmp_path / "r.duckdb").list_runs()
    assert [(r.model, r.prompt_version) for r in runs] == [("openai/loopback", "v2"), ("openai/other", "v1")]
    listing = cli("runs", "--db", str(tmp_path / "r.duckdb"))
    assert listing.stdout.count("loop-") == 2


def test_output_schema_is_sent_as_response_format(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "description": "City"}},
        "required": ["answer"],
    }
    with LoopbackOpenAI(responder=capitals) as server:
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, extra_target="  output_schema: out.json\n"),
            CASES,
        )
        (suite.parent / "out.json").write_text(json.dumps(schema))
        run_cli(cli, suite, tmp_path / "r.duckdb")
        body = server.stats.bodies[0]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema


def test_schema_constraint_false_keeps_the_schema_in_the_prompt_but_sends_no_constraint(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    # a prompt answering inside tags or as a table cannot be decoded under a JSON grammar
    schema = {"type": "object", "properties": {"answer": {"type": "string", "description": "The city"}}}
    prompt = "[system]\nanswer: {{ output_schema.properties.answer.description }}\n[user]\n{{ question }}\n"
    with LoopbackOpenAI(responder=capitals) as server:
        extra = "  output_schema: out.json\n  schema_constraint: false\n"
        suite = make_suite(
            loopback_suite(server.base_url, scorers=SCORERS, extra_target=extra), CASES, prompt=prompt
        )
        (suite.parent / "out.json").write_text(json.dumps(schema))
        result = run_cli(cli, suite, tmp_path / "r.duckdb")
        bodies = server.stats.bodies
    assert result.exit_code == 1, result.stdout  # the seeded cases: half are wrong on purpose
    assert len(bodies) == 4 and all("response_format" not in b for b in bodies)
    assert bodies[0]["messages"][0] == {"role": "system", "content": "answer: The city"}


def test_python_target_evaluates_an_existing_pipeline(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: Any
) -> None:
    (tmp_path / "pipeline_mod.py").write_text(
        "def answer(question):\n"
        "    if 'Peru' in question:\n"
        "        raise RuntimeError('lookup failed')\n"
        "    return {'answer': 'Paris' if 'France' in question else 'Rome'}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    suite_text = (
        "name: py\ntarget:\n  model: python:pipeline_mod:answer\ncases: [cases.jsonl]\n"
        f"scorers:\n{SCORERS}gate: {{min_pass_rate: 0.5, max_error_rate: 0.5}}\n"
    )
    suite = make_suite(suite_text, CASES)
    result = run_cli(cli, suite, tmp_path / "r.duckdb")
    assert result.exit_code == 0, result.stderr
    assert "2 passed, 1 failed, 1 error ·" in result.stdout
    assert "bad-2 [error] error: RuntimeError: lookup failed" in result.stdout


def test_a_python_target_may_return_models_and_dates_and_may_not_end_the_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: Any
) -> None:
    """A pydantic model, a dataclass or a date came back as exit 70 (not JSON serializable) with the
    run left incomplete; a set is the case's error; sys.exit() in the pipeline ended evalkit itself
    with its code and left the run 'running'."""
    (tmp_path / "typed_pipeline.py").write_text(
        "import dataclasses, datetime, sys\n"
        "from pydantic import BaseModel\n"
        "class Answer(BaseModel):\n    answer: str\n"
        "@dataclasses.dataclass\nclass Plain:\n    answer: str\n    on: datetime.date\n"
        "def answer(question):\n"
        "    if 'France' in question:\n        return Answer(answer='Paris')\n"
        "    if 'Italy' in question:\n        return Plain('Rome', datetime.date(2026, 11, 30))\n"
        "    if 'Spain' in question:\n        return {'Madrid'}\n"
        "    sys.exit(5)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    suite_text = (
        "name: py\ntarget:\n  model: python:typed_pipeline:answer\ncases: [cases.jsonl]\n"
        f"scorers:\n{SCORERS}gate: {{min_pass_rate: 0.5, max_error_rate: 0.5}}\n"
    )
    result = run_cli(cli, make_suite(suite_text, CASES), tmp_path / "r.duckdb")
    assert result.exit_code == 0, result.stderr
    assert "1 passed, 1 failed, 2 errors" in result.stdout  # the dataclass's date is an extra field
    assert "bad-1 [error] error: the target returned set, not JSON" in result.stdout
    assert "bad-2 [error] error: the target called sys.exit(5)" in result.stdout
    store = open_store(tmp_path / "r.duckdb")
    (run,) = store.list_runs()
    assert run.status == "complete"
    outputs = dict(
        zip(*store.case_results(run.run_id)[["case_id", "raw_text"]].T.values.tolist(), strict=True)
    )
    assert outputs["good-1"] == '{"answer": "Paris"}'
    assert outputs["good-2"] == '{"answer": "Rome", "on": "2026-11-30"}'


def test_help_is_fast_to_import(tmp_path: Path) -> None:
    """`evalkit --help` and `evalkit run --help` must not import litellm (seconds), the heavy data
    stack, nor rich (~15 ms: imported once there is something to print, not to parse a command)."""
    code = (
        "import sys\n"
        "from evalkit.cli import main\n"
        "for args in (['--help'], ['run', '--help']):\n"
        "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
        "heavy = sorted(m for m in ('litellm', 'duckdb', 'pandas', 'llama_cpp', 'matplotlib', 'starlette', 'uvicorn', 'rich') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in proc.stdout
    assert "Usage: evalkit" in proc.stdout


def test_junit_for_a_matrix_is_refused_before_any_call(make_suite: Any, cli: Any, tmp_path: Path) -> None:
    # one JUnit file holds one run's cases: a matrix's would be silently missing
    with LoopbackOpenAI() as server:
        text = loopback_suite(server.base_url).replace(
            "{v1: prompts/v1.j2}", "{v1: prompts/v1.j2, v2: prompts/v1.j2}"
        )
        suite = make_suite(text, [{"id": "a", "input": {"question": "q"}, "expected": {"echo": "q"}}])
        junit = tmp_path / "j.xml"
        done = cli(
            "run",
            str(suite),
            "--db",
            str(tmp_path / "r.duckdb"),
            "--prompt",
            "v1",
            "--prompt",
            "v2",
            "--junit",
            str(junit),
        )
        assert server.stats.requests == 0
    assert done.exit_code == 2 and "--junit writes one run's cases, and this matrix has 2 runs" in done.stderr
    assert not junit.exists()

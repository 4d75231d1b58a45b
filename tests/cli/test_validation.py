"""Invalid suites and case files: one line naming file and line, exit code 2, no traceback, no run stored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, one_error_line

GOOD_CASES = [{"id": "a", "input": {"question": "hi"}, "expected": "x"}]

GOOD = """name: s
target:
  model: python:nowhere:fn
  prompts: {v1: prompts/v1.j2}
cases: [cases.jsonl]
scorers:
  - name: exact
"""

# (suite yaml, cases, expected message fragment, expected line or None, file the error names)
SUITE_ERRORS = [
    ("name: s\ntarget: {model: m\n", GOOD_CASES, "invalid YAML", 2, "suite.yaml"),
    ("name: s\nname: t\n", GOOD_CASES, "duplicate key 'name'", 2, "suite.yaml"),
    ("- just\n- a list\n", GOOD_CASES, "must be a YAML mapping", 1, "suite.yaml"),
    (GOOD.replace("name: s", "name: s\ncolour: red"), GOOD_CASES, "colour: unknown field", 2, "suite.yaml"),
    (GOOD.replace("name: s\n", ""), GOOD_CASES, "name: Field required", 1, "suite.yaml"),
    (
        GOOD.replace("  - name: exact", "  - name: exact\n    weight: -1"),
        GOOD_CASES,
        "scorers.0.weight: Input should be greater than or equal to 0",
        8,
        "suite.yaml",
    ),
    (
        GOOD.replace("  - name: exact", "  - name: fuzzzy"),
        GOOD_CASES,
        "unknown scorer 'fuzzzy'",
        7,
        "suite.yaml",
    ),
    (
        GOOD.replace("  - name: exact", "  - name: fuzzy\n    args: {treshold: 0.9}"),
        GOOD_CASES,
        "no argument 'treshold'",
        8,
        "suite.yaml",
    ),
    (
        GOOD.replace("  - name: exact", "  - name: fuzzy\n    args: {threshold: high}"),
        GOOD_CASES,
        "argument threshold: Input should be a valid number",
        8,
        "suite.yaml",
    ),
    (
        GOOD.replace("v1: prompts/v1.j2", "v1: prompts/missing.j2"),
        GOOD_CASES,
        "template not found",
        4,
        "suite.yaml",
    ),
    (GOOD.replace("[cases.jsonl]", "[nothing-*.jsonl]"), GOOD_CASES, "no case file matches", 5, "suite.yaml"),
    (
        GOOD.replace(
            "  model: python:nowhere:fn\n", "  model: python:nowhere:fn\n  output_schema: nope.json\n"
        ),
        GOOD_CASES,
        "output_schema: file not found",
        4,
        "suite.yaml",
    ),
    (
        GOOD.replace("  - name: exact", "  - name: exact\n  - name: exact"),
        GOOD_CASES,
        "duplicate scorer id 'exact'",
        8,
        "suite.yaml",
    ),
    (GOOD + "gate: {min_pass_rate: 1.5}\n", GOOD_CASES, "gate.min_pass_rate", 8, "suite.yaml"),
]


@pytest.mark.parametrize(("suite", "cases", "message", "line", "filename"), SUITE_ERRORS)
def test_invalid_suite_is_one_line_with_file_line_and_exit_2(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    suite: str,
    cases: list[dict[str, object]],
    message: str,
    line: int | None,
    filename: str,
) -> None:
    path = make_suite(suite, cases)
    db = tmp_path / "r.duckdb"
    result = cli("run", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 2, result.stderr
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"evalkit: error: {path.parent / filename}:{line}: "), err
    assert message in err
    assert "Traceback" not in err


CASE_ERRORS = [
    ('{"id": "a", "input": {"question": "hi"}\n', "invalid JSON at column", 1),
    (
        '{"id": "a", "input": {"question": "hi"}, "expected": "x"}\n[1, 2]\n',
        "a case must be a JSON object, got list",
        2,
    ),
    (
        '{"id": "a", "input": {"question": "hi"}, "expected": "x"}\n\n{"id": "b", "inputs": {}}\n',
        "input: Field required",
        3,
    ),
    ('{"id": "a", "input": {"question": "hi"}, "source": "scraped"}\n', "source: Input should be", 1),
    ('{"id": "a b", "input": {"question": "hi"}}\n', "id: String should match pattern", 1),
    (
        '{"id": "a", "input": {"question": "hi"}, "expected": "x"}\n{"id": "a", "input": {"question": "yo"}}\n',
        "duplicate case id 'a'",
        2,
    ),
    ('{"id": "a", "input": {"answer": "hi"}}\n', "lacks input variable 'question'", 1),
    ('{"id": "a", "input": "hi"}\n', "input: Input should be a valid dictionary", 1),
    # an authoring error, not a scorer error in every run: refused before any call
    (
        '{"id": "a", "input": {"question": "hi"}, "expected": "x"}\n{"id": "b", "input": {"question": "yo"}}\n',
        "case 'b' has no `expected`, but scorer 'exact' (exact) compares the output with it: add the case's "
        "expected output",
        2,
    ),
]


@pytest.mark.parametrize(("text", "message", "line"), CASE_ERRORS)
def test_invalid_case_file_names_file_and_line(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    text: str,
    message: str,
    line: int,
) -> None:
    suite = GOOD.replace("python:nowhere:fn", "openai/x")
    path = make_suite(suite, [])
    (path.parent / "cases.jsonl").write_text(text, encoding="utf-8")
    result = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    err = result.stderr.strip()
    assert err.startswith(f"evalkit: error: {path.parent / 'cases.jsonl'}:{line}: "), err
    assert message in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_an_empty_case_file_is_named(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, text: str
) -> None:
    path = make_suite(GOOD.replace("python:nowhere:fn", "openai/x"), [])
    (path.parent / "cases.jsonl").write_text(text, encoding="utf-8")
    db = tmp_path / "r.duckdb"
    result = cli("run", str(path), "--db", str(db), "--no-progress")
    line = one_error_line(result, 2, f"{path.parent / 'cases.jsonl'}: ")
    assert "holds no case" in line and not db.exists()
    # of several case files, the suite's line names them all
    (path.parent / "more.jsonl").write_text("", encoding="utf-8")
    path.write_text(path.read_text().replace("[cases.jsonl]", "[cases.jsonl, more.jsonl]"))
    several = cli("run", str(path), "--db", str(db), "--no-progress")
    assert "case files (cases.jsonl, more.jsonl) hold none" in one_error_line(several, 2, f"{path}: ")


def test_template_syntax_error_names_template_line(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult]
) -> None:
    path = make_suite(GOOD, GOOD_CASES, prompt="[system]\nok\n[user]\n{{ question }\n")
    result = cli("run", str(path), "--no-progress")
    assert result.exit_code == 2
    assert f"{path.parent / 'prompts' / 'v1.j2'}:4: template syntax error" in result.stderr


def test_unknown_prompt_version_and_missing_suite(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = make_suite(GOOD.replace("python:nowhere:fn", "openai/x"), GOOD_CASES)
    result = cli("run", str(path), "--prompt", "v9", "--db", str(tmp_path / "r.duckdb"))
    line = one_error_line(result, 2, f"{path}:4: ")  # the suite's line listing its versions
    assert "no prompt version 'v9' (versions: v1)" in line
    missing = cli("run", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 2 and "suite file not found" in missing.stderr


def test_bad_python_target_is_a_config_error(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = make_suite(GOOD, GOOD_CASES)
    result = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 2
    assert "cannot import module 'nowhere'" in result.stderr


def test_invalid_input_stores_no_run_and_keeps_earlier_runs(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    # a module name no other test imports: a `pipeline` left in sys.modules would be run instead
    (tmp_path / "validation_pipeline.py").write_text("def fn(question):\n    return 'x'\n")
    good = make_suite(GOOD.replace("nowhere", "validation_pipeline"), GOOD_CASES, name="good")
    db = str(tmp_path / "r.duckdb")
    sys.path.insert(0, str(tmp_path))
    try:
        assert cli("run", str(good), "--db", db, "--no-progress").exit_code == 0
    finally:
        sys.path.remove(str(tmp_path))
    bad = make_suite(GOOD, [], name="bad")
    (bad.parent / "cases.jsonl").write_text("{broken\n")
    assert cli("run", str(bad), "--db", db).exit_code == 2
    listing = cli("runs", "--db", db)
    assert listing.exit_code == 0 and listing.stdout.count("complete") == 1


def test_console_script_prints_no_traceback(make_suite: Callable[..., Path], tmp_path: Path) -> None:
    path = make_suite("name: [unclosed\n", GOOD_CASES)
    proc = subprocess.run(
        [sys.executable, "-m", "evalkit", "run", str(path), "--db", str(tmp_path / "r.duckdb")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"evalkit: error: {path}:")


def test_schema_command_prints_the_suite_json_schema(cli: Callable[..., CliResult]) -> None:
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "evalkit suite"
    assert {"name", "target", "cases", "scorers"} <= set(schema["required"])
    assert "gate" in schema["properties"]


def test_yaml_merge_keys_read_as_safe_load_reads_them(tmp_path: Path) -> None:
    """`<<: *defaults` was an internal error (exit 70) in every file evalkit reads with lines."""
    import yaml

    from evalkit.errors import ConfigError
    from evalkit.suite.yamlfile import load_yaml

    texts = {
        "one.yaml": "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n",
        "many.yaml": "a: &a {k: 1}\nb: &b {k: 2, j: 5}\nx:\n  <<: [*a, *b]\n  z: 0\n",
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        assert load_yaml(tmp_path / name).data == yaml.safe_load(text)
    (tmp_path / "twice.yaml").write_text("base: &b {a: 1}\nx:\n  <<: *b\n  c: 1\n  c: 2\n")
    with pytest.raises(ConfigError, match="duplicate key 'c'"):
        load_yaml(tmp_path / "twice.yaml")
    (tmp_path / "scalar.yaml").write_text("x:\n  <<: 5\n")
    with pytest.raises(ConfigError, match="invalid YAML: expected a mapping or list of mappings for merging"):
        load_yaml(tmp_path / "scalar.yaml")

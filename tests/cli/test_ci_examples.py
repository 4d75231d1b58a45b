"""The GitHub Actions workflows in examples/: valid workflow YAML, and every evalkit command they run exists."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, CliResult

WORKFLOWS = sorted((REPO / "examples" / "github-actions").glob("*.yml"))
# `evalkit ARGS` up to the end of the shell command (a pipe, &&, ||, ; or the end of the line)
INVOCATION = re.compile(r"(?:^|[\s;&|(])evalkit\s+([^|;&\n]*)")


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true; GitHub reads it as "on"
    on = doc.get("on", doc.get(True))
    assert isinstance(on, dict)
    return on


def steps(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in doc["jobs"].values():
        yield from job["steps"]


def run_scripts(doc: dict[str, Any]) -> list[str]:
    return [step["run"] for step in steps(doc) if "run" in step]


def invocations(script: str) -> list[list[str]]:
    """The argument lists of every `evalkit ...` command in a shell script."""
    text = re.sub(r"\$\{\{.*?\}\}", "X", script.replace("\\\n", " "))
    return [shlex.split(args) for args in INVOCATION.findall(text)]


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"evalkit.yml", "evalkit-sharded.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_well_formed(path: Path) -> None:
    doc = load(path)
    assert isinstance(doc["name"], str)
    on = triggers(doc)
    assert "pull_request" in on and on["push"] == {"branches": ["main"]}
    assert doc["permissions"]["pull-requests"] == "write"
    for name, job in doc["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", name
        assert job["steps"], name
        for step in job["steps"]:
            assert isinstance(step, dict) and ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+", step["uses"]), step["uses"]
        for need in [job.get("needs")] if isinstance(job.get("needs"), str) else job.get("needs", []):
            assert need in doc["jobs"], need


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_does_what_ci_needs(path: Path) -> None:
    doc = load(path)
    all_steps = list(steps(doc))
    uses = {s["uses"].split("@")[0]: s for s in all_steps if "uses" in s}
    # the results database (baselines + response cache) is restored and, on main, saved
    assert uses["actions/cache/restore"]["with"]["path"] == ".evalkit/"
    saved = uses["actions/cache/save"]
    assert saved["with"]["path"] == ".evalkit/" and "push" in saved["if"]
    # the HTML report (reports/), JUnit and the summary are uploaded
    uploads = [s for s in all_steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    paths = "\n".join(str(s["with"]["path"]) for s in uploads)
    assert "reports/" in paths and "junit.xml" in paths
    # the summary is posted on the pull request
    comment = next(s for s in all_steps if "gh pr comment" in s.get("run", ""))
    assert "pull_request" in comment["if"] and "--body-file summary.md" in comment["run"]
    # a pull request is gated on the main baseline; main becomes the baseline
    commands = [" ".join(args) for script in run_scripts(doc) for args in invocations(script)]
    assert any(
        "--baseline main" in c and "--summary-md summary.md" in c and "--junit junit.xml" in c
        for c in commands
    )
    assert "baseline set main latest" in commands


def help_text(cli: Callable[..., CliResult], *command: str) -> str:
    result = cli(*command, "--help")
    assert result.exit_code == 0, (command, result.stderr)
    return result.stdout


def subcommands(text: str) -> set[str]:
    section = text.split("Commands:", 1)[1] if "Commands:" in text else ""
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ") and line.split()}


def test_every_evalkit_command_and_flag_exists(cli: Callable[..., CliResult]) -> None:
    checked = 0
    for path in WORKFLOWS:
        for script in run_scripts(load(path)):
            for args in invocations(script):
                words = [a for a in args if not a.startswith("-")]
                command = [words[0]]
                assert words[0] in subcommands(help_text(cli)), (path.name, args)
                group = subcommands(help_text(cli, words[0]))
                if group:  # a command group such as `baseline set`
                    assert words[1] in group, (path.name, args)
                    command.append(words[1])
                text = help_text(cli, *command)
                for flag in (a.split("=")[0] for a in args if a.startswith("--")):
                    assert re.search(rf"(^|[\s,/]){re.escape(flag)}([\s,/=]|$)", text, re.M), (
                        path.name,
                        command,
                        flag,
                    )
                checked += 1
    assert checked >= 8  # run, merge, baseline list/set in both workflows


def test_the_main_baseline_check_finds_main_and_nothing_else(tmp_path: Path) -> None:
    """The workflows gate on `--baseline main` only when the database names a `main` baseline. Their
    check was `grep -qw main`, which a baseline named `main-old` (or `release/main`) also matched:
    the pull request then failed on `--baseline main` (exit 2) instead of gating on min_pass_rate."""
    import os
    import subprocess
    import sys

    from evalkit.store import open_store
    from evalkit.store.baselines import BaselineStore
    from tests.runs import Outcome, run_record, store_run

    db = tmp_path / "e.duckdb"
    store = open_store(db)
    record = store_run(store, run_record("s-1", suite="s"), [Outcome("c0", "pass")])
    env = {
        **os.environ,
        "EVALKIT_DB": str(db),
        "SUITE_NAME": "s",
        "PYTHONPATH": str(REPO),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PY": sys.executable,
    }

    def check(path: Path) -> bool:
        script = next(
            s for s in run_scripts(load(path)) if 'evalkit baseline list --suite "$SUITE_NAME"' in s
        )
        condition = re.search(r"^\s*if (.+); then$", script, re.M)
        assert condition is not None, script
        shell = f'evalkit() {{ "$PY" -m evalkit "$@"; }}\nif {condition.group(1)}; then echo yes; else echo no; fi'
        done = subprocess.run(["bash", "-c", shell], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() in ("yes", "no"), done.stderr
        return done.stdout.strip() == "yes"

    baselines = BaselineStore(store)
    for name in ("main-old", "release/main"):
        baselines.set(name, record)
    assert [check(path) for path in WORKFLOWS] == [False] * len(WORKFLOWS)
    baselines.set("main", record)
    assert [check(path) for path in WORKFLOWS] == [True] * len(WORKFLOWS)

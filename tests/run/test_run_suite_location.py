"""A stored run's suite file, found again by a later command (`evalkit rescore`, the studio) from the
path the run recorded as typed, and used only while its hash is the run's: another directory's
suite of the same path, or the suite edited since, is refused or said, never used silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from evalkit.store import open_store
from evalkit.studio.app import create_app
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite, one_error_line, write_cases

CASES = [
    {"id": "red", "input": {"question": "red"}, "expected": '{"echo": "red"}'},
    {"id": "sky", "input": {"question": "sky"}, "expected": "something else"},
]
LENIENT = '  - name: contains\n    args: {value: "echo"}\n'  # passes every echoed output


def write_suite(root: Path, base_url: str, prompt: str, scorers: str | None = None) -> Path:
    """``root/suite/suite.yaml`` with its prompt and cases; returns ``root``."""
    (root / "suite" / "prompts").mkdir(parents=True)
    (root / "suite" / "prompts" / "v1.j2").write_text(f"[user]\n{prompt} {{{{ question }}}}\n")
    write_cases(root / "suite" / "cases.jsonl", CASES)
    (root / "suite" / "suite.yaml").write_text(loopback_suite(base_url, scorers=scorers))
    return root


def evalkit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m evalkit ARGS`` run in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "evalkit", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "EVALKIT_DB": ""},
    )


def run_in(project: Path, *db: str) -> str:
    """`evalkit run suite/suite.yaml` made in ``project``: the run id (exact passes 1 of 2)."""
    made = evalkit(project, "run", "suite/suite.yaml", "--no-progress", *db)
    assert made.returncode == 1, made.stderr
    (run,) = open_store(Path(db[1]) if db else project / ".evalkit" / "evalkit.duckdb").list_runs()
    assert run.suite_path == "suite/suite.yaml"  # kept as typed
    return run.run_id


def test_rescore_from_another_directory_refuses_its_suite_of_the_same_path(tmp_path: Path) -> None:
    """Started in a directory holding another `suite/suite.yaml`, `evalkit rescore RUN` scored the
    run's outputs with that other suite's scorers and stored the result as the run's rescore."""
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI() as server:
        project = write_suite(tmp_path / "project", server.base_url, "Q:")
        elsewhere = write_suite(tmp_path / "elsewhere", server.base_url, "Q:", scorers=LENIENT)
        run_id = run_in(project, "--db", db)
        refused = evalkit(elsewhere, "rescore", run_id, "--db", db, "--no-progress")
    line = one_error_line(refused, 2, "suite/suite.yaml: is not the suite run")
    assert f"run {run_id} was made from" in line and "edited since, or another suite" in line
    assert "run the command from the directory the run was made in" in line and "--suite PATH" in line
    assert len(open_store(db).list_runs()) == 1  # nothing stored under the run's name


def test_rescore_of_a_suite_edited_since_the_run_is_refused_unless_named(tmp_path: Path) -> None:
    """`evalkit rescore RUN` read the run's suite file as it is now: scorers edited since scored the
    run's outputs as if they were the run's suite."""
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI() as server:
        project = write_suite(tmp_path / "project", server.base_url, "Q:")
        run_id = run_in(project, "--db", db)
        (project / "suite" / "suite.yaml").write_text(loopback_suite(server.base_url, scorers=LENIENT))
        refused = evalkit(project, "rescore", run_id, "--db", db, "--no-progress")
        line = one_error_line(refused, 2, "suite/suite.yaml: is not the suite run")
        assert "hash" in line and "pass --suite PATH" in line
        named = evalkit(
            project, "rescore", run_id, "--suite", "suite/suite.yaml", "--db", db, "--no-progress"
        )
    assert named.returncode == 0, named.stderr  # the edited suite, asked for by name: both pass


def test_a_default_database_finds_the_suite_from_the_directory_holding_its_evalkit_dir(
    tmp_path: Path,
) -> None:
    """A run made with the default database (`.evalkit/evalkit.duckdb`, as CI restores it) records
    its suite relative to the directory holding `.evalkit/`: read from there, not only from here."""
    with LoopbackOpenAI() as server:
        project = write_suite(tmp_path / "project", server.base_url, "Q:")
        run_id = run_in(project)
        (project / "sub").mkdir()
        db = os.path.join("..", ".evalkit", "evalkit.duckdb")
        found = evalkit(project / "sub", "rescore", run_id, "--db", db, "--no-progress")
        assert found.returncode == 1, found.stderr  # the run's own suite: exact passes 1 of 2 again
        (project / ".evalkit" / "evalkit.duckdb").rename(tmp_path / "moved.duckdb")
        lost = evalkit(project / "sub", "rescore", run_id, "--db", str(tmp_path / "moved.duckdb"))
    line = one_error_line(lost, 2, f"suite/suite.yaml: the suite file of run {run_id} is not found")
    assert "from this directory" in line


def test_the_studio_started_elsewhere_shows_neither_prompt_nor_correction_of_another_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`evalkit view` started in a directory holding another `suite/suite.yaml` showed that suite's
    prompt as the run's and offered to rewrite that suite's case file."""
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI() as server:
        project = write_suite(tmp_path / "project", server.base_url, "RIGHT PROMPT")
        elsewhere = write_suite(tmp_path / "elsewhere", server.base_url, "WRONG PROMPT")
        run_id = run_in(project, "--db", db)

    def case_page(cwd: Path) -> str:
        monkeypatch.chdir(cwd)
        client = TestClient(create_app(open_store(db), grader="ann"), base_url="http://127.0.0.1")
        return client.get(f"/runs/{run_id}/case", params={"id": "red"}).text

    here = case_page(project)
    assert "RIGHT PROMPT red" in here and 'class="correct-form"' in here
    there = case_page(elsewhere)
    assert "WRONG PROMPT" not in there and 'class="correct-form"' not in there
    assert 'id="suite-note"' in there and "is not the suite run" in there


def test_a_report_made_elsewhere_shows_no_other_suites_prompt_as_the_runs(tmp_path: Path) -> None:
    """`evalkit report RUN` started in a directory holding another `suite/suite.yaml` showed that
    suite's template in the run's prompt section."""
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI() as server:
        project = write_suite(tmp_path / "project", server.base_url, "RIGHT PROMPT")
        elsewhere = write_suite(tmp_path / "elsewhere", server.base_url, "WRONG PROMPT")
        run_id = run_in(project, "--db", db)
    assert evalkit(project, "report", run_id, "--db", db, "--out", "here.html").returncode == 0
    assert "RIGHT PROMPT" in (project / "here.html").read_text()
    made = evalkit(elsewhere, "report", run_id, "--db", db, "--out", "there.html")
    assert made.returncode == 0, made.stderr
    there = (elsewhere / "there.html").read_text()
    assert "WRONG PROMPT" not in there and "is not this run&#39;s template" in there

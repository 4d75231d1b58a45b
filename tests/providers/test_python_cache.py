"""A ``python:`` target's cached answers are keyed by its code and declared data, or not cached at all.

Each run is its own ``evalkit`` process, as in CI: a module imported once stays imported in a process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO

CASES = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": {"answer": "new"}} for i in range(3)]
SUITE = (
    "name: py\ntarget:\n  model: python:pipeline:run\ncases: [cases.jsonl]\n"
    "scorers:\n  - name: json_fields\n    args: {fields: {answer: {match: exact}}}\n"
)


def evalkit_run(
    suite: Path, db: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run(
        [sys.executable, "-m", "evalkit", "run", str(suite), "--db", str(db), "--no-progress", *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=suite.parent,
        check=False,
        timeout=300,
    )


@pytest.fixture
def pipeline_suite(make_suite: Callable[..., Path]) -> Path:
    return make_suite(SUITE, CASES)


def test_editing_the_pipeline_changes_the_answers_without_no_cache(
    pipeline_suite: Path, tmp_path: Path
) -> None:
    db = tmp_path / "r.duckdb"
    pipeline = pipeline_suite.parent / "pipeline.py"
    pipeline.write_text("from helper import WORD\n\ndef run(question):\n    return {'answer': WORD}\n")
    helper = pipeline_suite.parent / "helper.py"
    helper.write_text("WORD = 'old'\n")
    first = evalkit_run(pipeline_suite, db)
    assert first.returncode == 1 and "0 passed, 3 failed" in first.stdout, first.stdout + first.stderr
    # a pipeline may call models itself: its cost is not $0 as far as evalkit can tell
    assert "python:pipeline:run's own model calls are not counted" in first.stdout
    again = evalkit_run(pipeline_suite, db)
    assert "cache 3 hits / 0 misses" in again.stdout  # unchanged code: answered from the cache

    pipeline.write_text("from helper import WORD\n\ndef run(question):\n    return {'answer': 'new'}\n")
    edited = evalkit_run(pipeline_suite, db)
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert "3 passed, 0 failed" in edited.stdout and "cache 0 hits / 3 misses" in edited.stdout

    # a module the pipeline imports is part of its code too
    pipeline.write_text("from helper import WORD\n\ndef run(question):\n    return {'answer': WORD}\n")
    assert evalkit_run(pipeline_suite, db).returncode == 1  # back to 'old' (and that is cached now)
    helper.write_text("WORD = 'new'\n")
    via_helper = evalkit_run(pipeline_suite, db)
    assert via_helper.returncode == 0 and "3 passed" in via_helper.stdout, via_helper.stdout


@pytest.mark.parametrize("declared", ["data/*.json", "data", "data/"])
def test_declared_data_files_are_part_of_the_key(pipeline_suite: Path, tmp_path: Path, declared: str) -> None:
    # a glob of files, or a directory: every file under it counts
    db = tmp_path / "r.duckdb"
    root = pipeline_suite.parent
    (root / "pipeline.py").write_text(
        "import json, pathlib\n"
        f"EVALKIT_DATA = [{declared!r}]\n"
        "def run(question):\n"
        "    path = pathlib.Path(__file__).parent / 'data' / 'answers.json'\n"
        "    return {'answer': json.loads(path.read_text())['answer']}\n"
    )
    (root / "data").mkdir()
    (root / "data" / "answers.json").write_text(json.dumps({"answer": "old"}))
    assert evalkit_run(pipeline_suite, db).returncode == 1
    (root / "data" / "answers.json").write_text(json.dumps({"answer": "new"}))
    replayed = evalkit_run(pipeline_suite, db)
    assert replayed.returncode == 0 and "cache 0 hits / 3 misses" in replayed.stdout, replayed.stdout


def test_a_declared_data_file_that_matches_nothing_is_a_config_error(
    pipeline_suite: Path, tmp_path: Path
) -> None:
    (pipeline_suite.parent / "pipeline.py").write_text(
        "EVALKIT_DATA = ['recordings.jsonl']\ndef run(question):\n    return {'answer': 'new'}\n"
    )
    result = evalkit_run(pipeline_suite, tmp_path / "r.duckdb")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "evalkit_data entry 'recordings.jsonl' matches no file" in result.stderr


def test_declared_environment_variables_are_part_of_the_key(
    pipeline_suite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipeline choosing its model by an environment variable answered a run with another model
    from the first model's cached answers."""
    db = tmp_path / "r.duckdb"
    (pipeline_suite.parent / "pipeline.py").write_text(
        "import os\n"
        "EVALKIT_ENV = ['PIPELINE_ANSWER']\n"
        "def run(question):\n"
        "    return {'answer': os.environ.get('PIPELINE_ANSWER', 'old')}\n"
    )
    monkeypatch.delenv("PIPELINE_ANSWER", raising=False)
    unset = evalkit_run(pipeline_suite, db)
    assert unset.returncode == 1 and "0 passed, 3 failed" in unset.stdout, unset.stdout + unset.stderr
    set_ = evalkit_run(pipeline_suite, db, env={"PIPELINE_ANSWER": "new"})
    assert set_.returncode == 0 and "cache 0 hits / 3 misses" in set_.stdout, set_.stdout + set_.stderr
    empty = evalkit_run(pipeline_suite, db, env={"PIPELINE_ANSWER": ""})  # set, but empty: not unset
    assert empty.returncode == 1 and "cache 0 hits / 3 misses" in empty.stdout, empty.stdout
    again = evalkit_run(pipeline_suite, db, env={"PIPELINE_ANSWER": "new"})
    assert again.returncode == 0 and "cache 3 hits / 0 misses" in again.stdout, again.stdout


def test_a_target_can_opt_out_of_the_cache(pipeline_suite: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    (pipeline_suite.parent / "pipeline.py").write_text(
        "import itertools\n"
        "COUNTER = itertools.count()\n"
        "def run(question):\n"
        "    return {'answer': 'new'}\n"
        "run.evalkit_cache = False\n"
    )
    assert evalkit_run(pipeline_suite, db).returncode == 0
    second = evalkit_run(pipeline_suite, db)
    assert second.returncode == 0 and "cache 0 hits" in second.stdout, second.stdout


def test_the_code_digest_covers_the_users_modules_not_the_installed_ones(tmp_path: Path) -> None:
    from evalkit.importing import import_object
    from evalkit.providers.code_identity import code_digest, source_files

    package = tmp_path / "digest_pkg_1"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rules.py").write_text("LIMIT = 3\n")
    (package / "pipeline.py").write_text(
        "import json\nfrom . import rules\n\ndef run(question):\n    return json.dumps(rules.LIMIT)\n"
    )
    fn = import_object("digest_pkg_1.pipeline:run", search_path=tmp_path)
    names = {p.name for p in source_files(fn)}
    assert names == {"__init__.py", "pipeline.py", "rules.py"}  # json is the standard library's
    before = code_digest(fn, "python:digest_pkg_1.pipeline:run")
    (package / "rules.py").write_text("LIMIT = 4\n")
    assert code_digest(fn, "python:digest_pkg_1.pipeline:run") != before


def test_a_helper_imported_when_the_pipeline_runs_is_part_of_the_key(
    pipeline_suite: Path, tmp_path: Path
) -> None:
    # the import inside the function has not run when the key is computed: the helper must count anyway
    db = tmp_path / "r.duckdb"
    (pipeline_suite.parent / "pipeline.py").write_text(
        "def run(question):\n    from lazyhelper import word\n    return {'answer': word()}\n"
    )
    helper = pipeline_suite.parent / "lazyhelper.py"
    helper.write_text("def word():\n    return 'new'\n")
    first = evalkit_run(pipeline_suite, db)
    assert first.returncode == 0 and "3 passed, 0 failed" in first.stdout, first.stdout + first.stderr
    helper.write_text("def word():\n    return 'old'\n")
    edited = evalkit_run(pipeline_suite, db)
    assert "cache 0 hits / 3 misses" in edited.stdout, edited.stdout
    assert edited.returncode == 1 and "0 passed, 3 failed" in edited.stdout


def test_a_partial_target_is_keyed_by_the_module_that_names_it(pipeline_suite: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    pipeline = pipeline_suite.parent / "pipeline.py"
    code = "import functools\n\ndef _impl(question, word):\n    return {{'answer': word}}\n\nrun = functools.partial(_impl, word={!r})\n"
    pipeline.write_text(code.format("new"))
    first = evalkit_run(pipeline_suite, db)
    assert first.returncode == 0 and "3 passed, 0 failed" in first.stdout, first.stdout + first.stderr
    assert "cache 3 hits / 0 misses" in evalkit_run(pipeline_suite, db).stdout  # unchanged: cached
    pipeline.write_text(code.format("old"))
    edited = evalkit_run(pipeline_suite, db)
    assert "cache 0 hits / 3 misses" in edited.stdout, edited.stdout
    assert edited.returncode == 1 and "0 passed, 3 failed" in edited.stdout

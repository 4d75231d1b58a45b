"""Shared fixtures: a real loopback OpenAI-compatible server, suite builders and an in-process CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evalkit.testing.openai_server import LoopbackOpenAI

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("OPENAI_API_KEY", "sk-loopback")  # litellm wants a key; the loopback server ignores it

REPO = Path(__file__).resolve().parents[1]
EXTERNAL_DATA = REPO.parent / "shared" / "data" / "external"


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """A local Ray session for the test session (2 CPUs, no dashboard), shut down at the end."""
    ray = pytest.importorskip("ray", reason="Ray tests need the [ray] extra (.ci/setup installs it)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl in a temp dir) shared by the session."""
    from evalkit.testing.postgres import ThrowawayPostgres, postgres_bin

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (.ci/setup installs Debian's postgresql as root)")
    with ThrowawayPostgres() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: Any) -> str:
    """A fresh, empty database in the session's PostgreSQL cluster."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_cluster.url, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return postgres_cluster.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["duckdb", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A results database on each backend: a DuckDB file, then a PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "db" / "e.duckdb")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results database to be, in the test's directory, which is also the working directory
    (where a run's reports/ land)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "r.duckdb"


@pytest.fixture
def loopback() -> Iterator[LoopbackOpenAI]:
    """A loopback OpenAI-compatible server started for the test (echo responder by default)."""
    with LoopbackOpenAI() as server:
        yield server


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def one_error_line(result: CliResult | subprocess.CompletedProcess[str], code: int, where: str) -> str:
    """The single stderr line, checked for exit code, file (and line) and no traceback."""
    returncode = result.exit_code if isinstance(result, CliResult) else result.returncode
    assert returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"evalkit: error: {where}"), lines[0]
    return lines[0]


class StallAfter:
    """A loopback server's fault plan: answers the first ``answered`` requests, then hangs every one;
    ``stalled`` is set once ``in_flight`` requests hang: the run has sent them and waits for them."""

    def __init__(self, answered: int, in_flight: int) -> None:
        self.answered, self.in_flight = answered, in_flight
        self.seen = 0
        self.stalled = threading.Event()

    def __call__(self, body: dict[str, Any], _attempt: int) -> str | None:
        self.seen += 1
        if self.seen >= self.answered + self.in_flight:
            self.stalled.set()
        return "hang" if self.seen > self.answered else None


def interrupted(
    args: list[str],
    reached: threading.Event,
    what: str,
    signum: signal.Signals = signal.SIGINT,
    wait: float = 60,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """``python -m evalkit ARGS`` as a process, sent ``signum`` (Ctrl-C's SIGINT by default) once
    ``reached`` is set (by the loopback server that ``what`` should reach) within ``wait`` seconds;
    its exit code and what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    try:
        assert reached.wait(wait), f"{what} never reached the server"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=wait)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run ``evalkit ARGS`` in-process through the real entry point; returns exit code and output."""
    from evalkit.cli import main

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


def run_suite_cli(cli: Callable[..., CliResult], suite: Path, db: Path, *extra: str) -> CliResult:
    """``evalkit run SUITE --db DB --no-progress EXTRA`` through ``cli``."""
    return cli("run", str(suite), "--db", str(db), "--no-progress", *extra)


def write_cases(path: Path, cases: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return path


@pytest.fixture
def make_suite(tmp_path: Path) -> Callable[..., Path]:
    """Write a suite directory (suite.yaml, prompt, cases) and return the suite file's path.

    ``suite`` is the YAML text; ``cases`` a list of case dicts written to cases.jsonl; ``prompt``
    the text of prompts/v1.j2.
    """

    def build(
        suite: str,
        cases: list[dict[str, Any]] | None = None,
        prompt: str = "[system]\nAnswer in JSON.\n[user]\n{{ question }}\n",
        name: str = "s",
    ) -> Path:
        root = tmp_path / name
        (root / "prompts").mkdir(parents=True, exist_ok=True)
        (root / "prompts" / "v1.j2").write_text(prompt, encoding="utf-8")
        if cases is not None:
            write_cases(root / "cases.jsonl", cases)
        path = root / "suite.yaml"
        path.write_text(suite, encoding="utf-8")
        return path

    return build


def loopback_suite(
    base_url: str, *, scorers: str | None = None, gate: str = "", extra_target: str = ""
) -> str:
    """Suite YAML for a model on the loopback server."""
    scorers = scorers or "  - name: exact\n"
    return (
        "name: loop\n"
        "target:\n"
        "  model: openai/loopback\n"
        f"  api_base: {base_url}\n"
        "  prompts: {v1: prompts/v1.j2}\n"
        f"{extra_target}"
        "cases: [cases.jsonl]\n"
        f"scorers:\n{scorers}"
        f"{gate}"
    )

"""Developer sessions. They run in the environment nox is installed in (.venv from .ci/setup),
so the embedded model's llama-cpp-python build is not repeated per session."""

from __future__ import annotations

import sys

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "lint", "typecheck"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (pytest); extra arguments go to pytest."""
    session.run(sys.executable, "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.run(sys.executable, "-m", "ruff", "check", "evalkit", "tests", "bench", "noxfile.py")
    session.run(sys.executable, "-m", "ruff", "format", "--check", "evalkit", "tests", "bench", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy (strict) on the package."""
    session.run(sys.executable, "-m", "mypy", "evalkit")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: print speed and memory figures (never asserted in unit tests)."""
    session.run(sys.executable, "bench/run.py", *session.posargs)

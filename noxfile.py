"""Developer sessions. They run in the environment nox is installed in (.venv from .ci/setup),
so the embedded model's llama-cpp-python build is not repeated per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["tests", "lint", "typecheck"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (pytest); extra arguments go to pytest."""
    session.run(sys.executable, "-m", "pytest", *(session.posargs or ["-q"]))


@nox.session
def clone(session: nox.Session) -> None:
    """The tests again from a `git clone` of this checkout at another path, in this environment.

    A test that depends on the checkout's path, on files git does not track or on the order of an
    earlier run passes in the usual checkout and fails on a new machine; this finds it first. The
    clone reuses this environment (no second llama.cpp build): PYTHONPATH puts the clone's evalkit
    ahead of the editable install. Only committed work is tested."""
    root = os.path.dirname(os.path.abspath(__file__))
    target = tempfile.mkdtemp(prefix="evalkit-clone-")
    try:
        subprocess.run(["git", "clone", "--quiet", root, target], check=True)
        session.chdir(target)
        env = {"PYTHONPATH": target}
        session.run(
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *(session.posargs or ["-q"]), env=env
        )
    finally:
        shutil.rmtree(target, ignore_errors=True)


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

"""The commit a run was started on: HEAD of the git checkout holding the suite, read from its files.

Every run records it. Asking ``git rev-parse HEAD`` cost a process before the first request (the
child, forked from a ~100 MB interpreter, also counts in the run's process tree until it execs).
A checkout's HEAD is two small files: ``HEAD`` names a branch (``ref: refs/heads/main``) or a commit,
and the branch's commit is in its loose ref file or in ``packed-refs``; a linked worktree's ``.git``
is a file naming its own git directory, whose ``commondir`` holds the shared refs. Anything else
(``GIT_DIR`` and friends set, the reftable ref store, a layout not read here) asks git itself, as
before (tests compare both on branches, packed refs, detached heads and linked worktrees).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# set, they change which repository git reads: leave them to git
_GIT_ENVIRONMENT = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES")


class _AskGit(Exception):
    """The checkout is not one these files answer for."""


def git_commit(cwd: Path | str) -> str | None:
    """HEAD of the git checkout holding ``cwd``, or None (no checkout, no commit yet)."""
    try:
        if any(name in os.environ for name in _GIT_ENVIRONMENT):
            raise _AskGit
        return _read_head(Path(cwd))
    except (_AskGit, OSError, UnicodeDecodeError):
        return _rev_parse(cwd)


def _read_head(cwd: Path) -> str | None:
    git_dir = _git_dir(cwd.resolve())
    if git_dir is None:
        return None
    common = git_dir
    if (git_dir / "commondir").is_file():  # a linked worktree: the shared refs are there
        common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    if (common / "reftable").exists():
        raise _AskGit
    head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    if _OBJECT_ID.fullmatch(head):  # detached
        return head
    if not head.startswith("ref: refs/"):
        raise _AskGit
    ref = head.removeprefix("ref: ")
    for where in dict.fromkeys((git_dir, common)):
        loose = where / ref
        if loose.is_file():
            value = loose.read_text(encoding="utf-8").strip()
            if not _OBJECT_ID.fullmatch(value):
                raise _AskGit
            return value
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            value, _, name = line.partition(" ")
            if name == ref and _OBJECT_ID.fullmatch(value):
                return value
    return None  # a branch with no commit yet


def _git_dir(start: Path) -> Path | None:
    """The git directory of the checkout holding ``start``, as git finds it (walking up)."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():  # a linked worktree or a submodule: `gitdir: PATH`
            text = dot_git.read_text(encoding="utf-8").strip()
            if not text.startswith("gitdir: "):
                raise _AskGit
            return (folder / text.removeprefix("gitdir: ")).resolve()
    return None


def _rev_parse(cwd: Path | str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None

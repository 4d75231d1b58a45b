"""The commit a run records is git's own answer, read from the checkout's files without running git."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from evalkit.run import git_head
from evalkit.run.git_head import git_commit


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "repo"
    (root / "suites" / "s").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    return root


def commit(root: Path, name: str) -> str:
    (root / "suites" / "s" / name).write_text(name)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", name)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def no_git_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("git was run")

    monkeypatch.setattr(git_head, "_rev_parse", refuse)


def test_the_layouts_git_writes_are_read_as_git_reads_them(repo: Path, no_git_process: None) -> None:
    suite = repo / "suites" / "s"
    assert git_commit(suite) is None  # a branch with no commit yet
    first = commit(repo, "a")
    assert git_commit(suite) == first  # a loose ref, from a folder below the checkout's root
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git_commit(suite) == first  # packed
    second = commit(repo, "b")
    assert git_commit(suite) == second  # a loose ref newer than the packed one
    git(repo, "checkout", "-q", "--detach", first)
    assert git_commit(suite) == first  # detached
    git(repo, "checkout", "-q", "main")
    linked = repo.parent / "linked"
    git(repo, "worktree", "add", "-q", "-b", "other", str(linked), first)
    assert git_commit(linked / "suites" / "s") == git(linked, "rev-parse", "HEAD") == first
    third = commit(linked, "c")
    assert git_commit(linked / "suites" / "s") == third and git_commit(suite) == second
    outside = repo.parent / "elsewhere"
    outside.mkdir()
    in_git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=outside, capture_output=True, text=True)
    assert git_commit(outside) == (in_git.stdout.strip() if in_git.returncode == 0 else None)


def test_what_the_files_do_not_answer_goes_to_git(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = commit(repo, "a")
    (repo / ".git" / "HEAD").write_text("ref: something-else\n")  # a layout not read here
    asked: list[object] = []
    monkeypatch.setattr(git_head, "_rev_parse", lambda cwd: asked.append(cwd) or "from git")
    assert git_commit(repo) == "from git" and asked == [repo]
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))  # the environment picks another repository
    assert git_commit(repo) == "from git"
    monkeypatch.delenv("GIT_DIR")
    assert git_commit(repo) == first

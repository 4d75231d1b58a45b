"""The suite file a stored run was made from, found again by a later command and checked to be it.

A run records its suite path as typed (relative to the directory ``evalkit run`` ran in) and the
suite's hash. A later command looks for the file at that path from its own directory, and, for a
database at the default place (``DIR/.evalkit/evalkit.duckdb``, the directory a run is made in, or
a CI cache restored there), from ``DIR`` too. A file found there is the run's suite only when its
hash is the one the run stored: another suite of the same name, or the suite edited since, is not.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import EvalkitError, UsageError
from evalkit.providers.base import reads_files
from evalkit.results import RunRecord
from evalkit.suite.loading import Suite, load_suite

STORE_DIR = ".evalkit"  # the default database's directory, under the directory runs are made in


class RunSuiteError(UsageError):
    """The suite file a run recorded is not found, or is no longer the run's (exit 2)."""


def suite_candidates(recorded: str, db_file: Path | None) -> list[Path]:
    """The directories a run's recorded suite path is read from: this one (``.``); and, when the path
    is relative and the database is ``DIR/.evalkit/FILE``, ``DIR``."""
    roots = [Path(".")]
    if not Path(recorded).is_absolute() and db_file is not None and db_file.parent.name == STORE_DIR:
        root = db_file.parent.parent
        if root.resolve() != Path.cwd().resolve():
            roots.append(root)
    return roots


def locate_run_suite(run: RunRecord, db_file: Path | None = None, *, instead: str = "") -> Suite:
    """The run's suite, loaded from the file it recorded (from the directories of
    :func:`suite_candidates`) when that file's hash is the run's ``suite_hash``; otherwise
    :class:`RunSuiteError`, one line naming the recorded path, why, and what to do (``instead``: the
    command's own way round, e.g. ``pass --suite PATH``)."""
    if not run.suite_path:
        raise RunSuiteError(f"run {run.run_id} records no suite file" + (f": {instead}" if instead else ""))
    todo = "run the command from the directory the run was made in, with the suite as it was then" + (
        f", or {instead}" if instead else ""
    )
    roots = suite_candidates(run.suite_path, db_file)
    reasons: list[tuple[Path, str]] = []
    for root in roots:
        path = root / run.suite_path
        if not path.is_file():
            continue
        try:
            suite = load_suite(path)
        except EvalkitError as exc:
            reasons.append(
                (path, f"no longer loads, so is not the suite of run {run.run_id} ({exc.one_line()})")
            )
            continue
        if suite.source_hash == run.suite_hash:
            return suite
        reasons.append(
            (
                path,
                f"is not the suite run {run.run_id} was made from (hash {run.suite_hash} then, "
                f"{suite.source_hash} now: edited since, or another suite)",
            )
        )
    if not reasons:
        where = "this directory" + "".join(f" nor from {root}" for root in roots[1:])
        raise RunSuiteError(
            f"the suite file of run {run.run_id} is not found from {where}: {todo}", path=run.suite_path
        )
    if len(reasons) == 1:
        ((path, why),) = reasons
        raise RunSuiteError(f"{why}: {todo}", path=path)
    raise RunSuiteError("; ".join(f"{path} {why}" for path, why in reasons) + f": {todo}")


def run_suite_note(run: RunRecord, db_file: Path | None = None) -> tuple[Suite | None, str]:
    """:func:`locate_run_suite` for a command that can go on without the suite: the suite, or None
    and the one line that says why."""
    try:
        return locate_run_suite(run, db_file), ""
    except RunSuiteError as exc:
        return None, exc.one_line()


def judge_dir(run: RunRecord, db_file: Path | None, model: str) -> Path | None:
    """The directory a judge ``model`` of ``run`` reads its files from: the run's suite's, found
    unchanged. A vendor model reads none, so it goes on without the suite (None); one whose provider
    may read files (``python:``, a plugin's) is refused rather than read from another directory."""
    try:
        return locate_run_suite(run, db_file).base_dir
    except RunSuiteError as exc:
        if not reads_files(model):
            return None
        raise RunSuiteError(
            f"judge {model} reads its files from the run's suite directory: {exc.message}", path=exc.path
        ) from None

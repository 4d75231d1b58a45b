"""A run's shape: its kind, the case files and commit it was started on, and its process's heartbeat.

A run stores a digest of each case file (``config_json``: ``case_files``) and one hash over all of
them (``runs.case_set_hash``). Resuming compares the files as they are now with the stored digests
and names each file added, removed or edited.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path
from typing import Any

from evalkit.errors import StoreError, UsageError
from evalkit.results import RunKind, RunRecord
from evalkit.store import Store
from evalkit.store.leases import HEARTBEAT_SECONDS, RunLeases
from evalkit.suite.loading import Suite


def recorded_options(options: Any, repeat: int) -> dict[str, Any]:
    """``config.run`` of a new run: the options of ``evalkit run`` (``options``, its ``RunOptions``)
    that shape what it runs and how it is gated, which the commands that run it again or finish it
    repeat from the store (:mod:`evalkit.run.signals`). Options left at their default are not
    recorded, except the epochs, concurrency and budget, which every run records."""
    recorded: dict[str, Any] = {
        "repeat": repeat,
        "concurrency": options.concurrency,
        "budget_usd": options.budget_usd,
    }
    if options.timeout is not None:
        recorded["timeout"] = options.timeout
    if not options.use_cache:
        recorded["no_cache"] = True
    recorded.update(options.baseline_gate or {})  # baseline_run, allow_scoring_change, allow_removed_critical
    return recorded


def run_kind(shard: str | None, filtered: bool, repeat: int) -> RunKind:
    """What a new run's numbers stand for: a shard, a subset of the cases, repeated epochs, or the full suite."""
    if shard is not None:
        return "shard"
    if filtered:
        return "subset"
    return "repeat" if repeat > 1 else "full"


async def keep_alive(store: Store, run_id: str) -> None:
    """Refresh the run's heartbeat every ``HEARTBEAT_SECONDS`` until cancelled (when the run ends):
    `--resume` elsewhere refuses it. A refresh the database refused (locked past its timeout, ...) is
    tried again at the next beat: a heartbeat that stopped for good would let another process take
    the run as abandoned while this one still runs it (the run's own commits report such a file)."""
    leases = RunLeases(store)
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(leases.touch, run_id)


def case_file_digests(suite: Suite) -> dict[str, str]:
    """Per case file (as a path relative to the suite's directory when it is under it): its SHA-256."""
    digests = {}
    for path in suite.case_files:
        digests[_name(path, suite.base_dir)] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return digests


def case_set_hash(digests: dict[str, str]) -> str:
    """One hash over every case file's name and digest."""
    text = "\n".join(f"{name}\t{digest}" for name, digest in sorted(digests.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_case_set(run: RunRecord, suite: Suite) -> None:
    """Refuse to resume ``run`` when its case files changed since it started, naming each change."""
    before: dict[str, str] | None = run.config.get("case_files")
    if before is None:
        return  # a run stored before case files were recorded: nothing to compare with
    now = case_file_digests(suite)
    changes = [f"{name} edited" for name in sorted(before.keys() & now.keys()) if before[name] != now[name]]
    changes += [f"{name} added" for name in sorted(now.keys() - before.keys())]
    changes += [f"{name} removed" for name in sorted(before.keys() - now.keys())]
    if changes:
        raise UsageError(
            f"the cases of suite {suite.name!r} changed since run {run.run_id} started "
            f"({'; '.join(changes)}); start a new run instead of resuming"
        )


def suite_changes(run: RunRecord, suite: Suite) -> str:
    """What of the suite differs from the snapshot ``run`` stored: its sections, or its prompts."""
    now = suite.config.model_dump(mode="json", exclude={"name", "description"})
    changed = [key for key in sorted(now) if run.config.get(key) != now[key]]
    prompts = {name: prompt.hash for name, prompt in suite.prompts.items()}
    if run.prompt_version is not None and prompts.get(run.prompt_version) != run.prompt_hash:
        changed.append(f"prompt {run.prompt_version}")
    return "changed: " + ", ".join(changed) if changed else "its prompts or output schema changed"


def _name(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)

"""``SUITE`` of the commands that read stored runs (``flaky``, ``trend``): a suite path or a stored name."""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import UsageError
from evalkit.store import Store


def suite_name_of(suite: str) -> str:
    """A suite's name from its file or directory, or the argument itself when it is not a path."""
    from evalkit.suite.loading import load_suite

    return load_suite(suite).name if Path(suite).exists() else suite


def stored_suite_name(store: Store, suite: str) -> str:
    """The name of ``suite`` (a path or a name), checked to have runs in ``store``: a usage error otherwise."""
    name = suite_name_of(suite)
    if not store.list_runs(suite=name, limit=1):
        known = sorted({r.suite_name for r in store.list_runs(limit=200)})
        what = (
            f"suite {name!r} (from {suite})"
            if name != suite
            else f"no suite file or directory {suite!r}, and suite {name!r}"
        )
        raise UsageError(
            f"{what} has no runs in {store.backend} (suites with runs: {', '.join(known) or 'none'})"
        )
    return name

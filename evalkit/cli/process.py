"""Whether this is the console script's process, which ends as soon as its command is done.

:func:`evalkit.cli.main` without ``argv`` ends the process once the command returns, without the
interpreter's teardown. Work whose only purpose is a tidy end can then be skipped, such as DuckDB's
teardown after its last checkpoint. ``main(argv)`` in a test or another program goes on, so it
leaves everything closed as usual.
"""

from __future__ import annotations

_ends = False


def mark_ending() -> None:
    """This process ends when its command is done (the console script)."""
    global _ends
    _ends = True


def ends_after_command() -> bool:
    """Whether :func:`mark_ending` was called."""
    return _ends

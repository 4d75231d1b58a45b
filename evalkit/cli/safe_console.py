"""The rich Console everything evalkit prints goes through: text shown, never obeyed.

Kept apart from :mod:`evalkit.cli.terminal` so that importing the CLI (and ``evalkit run`` up to
its first request) does not import rich: it is needed once there is something to print.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment

from evalkit.cli.terminal import escape_controls


class SafeConsole(Console):
    """A rich Console whose printed text cannot drive the terminal: see :func:`escape_controls`.

    The text of every segment is escaped just before output, so tables, progress descriptions and
    plain prints are all covered; rich's own control segments (cursor moves of a progress bar) and
    styles are kept. Strings are printed as written: neither rich markup (``[red]``, ``[/x]``) nor
    emoji codes (``:warning:``) in a case id or a model's answer are interpreted; styled text is
    built with :class:`rich.text.Text`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("markup", False)
        kwargs.setdefault("emoji", False)
        super().__init__(*args, **kwargs)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(escape_controls(segment.text), segment.style)
            for segment in buffer
        )

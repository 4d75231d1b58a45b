"""Terminal safety: text from models, case files and servers is shown, never obeyed.

Model output can hold escape sequences (clear the screen, set the window title, OSC 8 hyperlinks
that hide their target, CSI colour and cursor codes) or Unicode bidi overrides that reorder what a
line seems to say. Everything evalkit prints goes through
:class:`evalkit.cli.safe_console.SafeConsole`, which writes such characters as visible escapes
(``\\x1b``, ``\\u202e``) while keeping rich's own styling.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), bidi controls
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with every control or bidi character written as a visible ``\\xNN``/``\\uNNNN`` escape."""
    return _UNSAFE.sub(_escaped, text)

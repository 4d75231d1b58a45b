"""Reading the text files a suite is made of, with undecodable bytes reported by file, line and column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError

MAX_BYTES = 8 * 1024 * 1024  # a suite file, template or schema above this is a mistake, not a suite


def decode_utf8(data: bytes, path: Path, *, first_line: int = 1) -> str:
    """``data`` decoded as UTF-8; a bad byte is a :class:`ConfigError` naming its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = first_line + data.count(b"\n", 0, exc.start)
        raise ConfigError(
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {exc.start - line_start + 1}): "
            "save the file as UTF-8",
            path=path,
            line=line,
        ) from None


def read_utf8(path: Path, *, what: str = "file", max_bytes: int = MAX_BYTES) -> str:
    """The text of a UTF-8 file of at most ``max_bytes``; every failure is a one-line :class:`ConfigError`."""
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", path=path) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} is a directory, not a file", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=path) from None
    if len(data) > max_bytes:
        raise ConfigError(
            f"{what} is over {max_bytes // (1024 * 1024)} MB: keep cases in JSONL case files", path=path
        )
    return decode_utf8(data, path)


def utf8_lines(path: Path, *, what: str = "file") -> Iterator[tuple[int, str]]:
    """(line number, text) of each line of a file, decoded line by line so that a bad byte is a
    one-line :class:`ConfigError` at its line and column; a byte order mark on the first line (as
    Windows editors write it) is read past."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}", path=path) from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            line = decode_utf8(raw, path, first_line=number)
            yield number, line.removeprefix("\ufeff") if number == 1 else line


def parse_json(text: str, path: Path, *, line: int | None = None) -> Any:
    """``text`` (a file's, or its ``line``'s) parsed as JSON; what cannot be (not JSON, an integer of
    4,300+ digits, nesting Python cannot read) is a one-line :class:`ConfigError` at its line."""
    if line is not None:  # the line's own end: a line cut short is wrong where it stops, not after it
        text = text.rstrip("\r\n")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = line if line is not None else exc.lineno
        raise ConfigError(f"invalid JSON at column {exc.colno}: {exc.msg}", path=path, line=at) from None
    except RecursionError:
        raise ConfigError("JSON nested too deeply to read", path=path, line=line) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ConfigError(f"cannot read this JSON: {exc}", path=path, line=line) from None


def json_value_line(text: str) -> int:
    """The line a JSON document's value starts on (past blank lines before it)."""
    return text.count("\n", 0, _past_json_space(text, 0)) + 1


def json_array_item_lines(text: str) -> list[int]:
    """The line each item of a JSON array starts on, for ``text`` that :func:`parse_json` read as an
    array: an error about one item can name its line."""
    decoder = json.JSONDecoder()
    at = _past_json_space(text, _past_json_space(text, 0) + 1)  # the first item, past the "["
    lines: list[int] = []
    while text[at] != "]":
        lines.append(text.count("\n", 0, at) + 1)
        _, end = decoder.raw_decode(text, at)
        at = _past_json_space(text, end)
        if text[at] == ",":
            at = _past_json_space(text, at + 1)
    return lines


def _past_json_space(text: str, at: int) -> int:
    """The index of the first character at or after ``at`` that is not whitespace JSON allows."""
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def json_document(path: Path, *, what: str = "file") -> Any:
    """A whole JSON file (a labels list, a .json log), read as UTF-8 past a byte order mark."""
    return parse_json(read_utf8(path, what=what, max_bytes=1 << 30).removeprefix("\ufeff"), path)


def json_objects(
    path: Path, *, what: str = "a line", file: str = "file"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line of a JSONL file (:func:`utf8_lines`, which names
    the file as ``file`` when it cannot be read); a line that is not JSON (:func:`parse_json`) or not
    an object is a one-line :class:`ConfigError` naming its line, ``what`` naming a line in it (``a
    log record``)."""
    for number, line in utf8_lines(path, what=file):
        if not line.strip():
            continue
        value = parse_json(line, path, line=number)
        if not isinstance(value, dict):
            raise ConfigError(
                f"{what} must be a JSON object, got {type(value).__name__}", path=path, line=number
            )
        yield number, value

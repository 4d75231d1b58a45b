"""Reading the text files a suite is made of, with undecodable bytes reported by file, line and column."""

from __future__ import annotations

from pathlib import Path

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

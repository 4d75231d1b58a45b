"""Escape sequences in model output are shown escaped, never obeyed: in `evalkit show`, the run
summary and the progress line (a model on the loopback server answers with hostile sequences)."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from evalkit.cli import console
from evalkit.cli.safe_console import SafeConsole
from evalkit.cli.terminal import escape_controls
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

# (raw sequence, how it must be shown)
HOSTILE = [
    ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # clear screen, cursor home
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # OSC 0: window title
    (
        "\x1b]8;;https://evil.example\x1b\\docs\x1b]8;;\x1b\\",
        "\\x1b]8;;https://evil.example\\x1b\\docs",
    ),  # OSC 8
    ("\x1b[31;1m", "\\x1b[31;1m"),  # CSI colour
    ("\x9b2J", "\\x9b2J"),  # one-byte C1 CSI
    ("\u202egnp.exe", "\\u202egnp.exe"),  # bidi override
]
ANSWER = "answer " + " ".join(raw for raw, _ in HOSTILE) + " end"
RAW = [raw for raw, _ in HOSTILE] + ["\x1b", "\x07", "\x9b", "\u202e"]


def test_escape_controls_keeps_text_tabs_and_newlines() -> None:
    assert escape_controls("naïve\tcafé\nzwei €") == "naïve\tcafé\nzwei €"
    assert escape_controls("a\rb\x00c\x7f") == "a\\x0db\\x00c\\x7f"
    for raw, shown in HOSTILE:
        assert escape_controls(raw).startswith(shown[:12])


def assert_neutralised(text: str) -> None:
    for raw in RAW:
        assert raw not in text, f"raw {raw!r} reached the terminal"


@pytest.fixture
def hostile_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> tuple[Path, CliResult]:
    with LoopbackOpenAI(responder=lambda body: ANSWER) as server:
        suite = make_suite(
            loopback_suite(server.base_url),
            [{"id": "c1", "input": {"question": "q"}, "expected": "x"}],
        )
        db = tmp_path / "e.duckdb"
        run = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert run.exit_code == 1, run.stderr  # the answer is wrong: a failure, summarised with its output
    return db, run


def test_run_summary_and_show_escape_model_output(
    hostile_run: tuple[Path, CliResult], cli: Callable[..., CliResult]
) -> None:
    db, run = hostile_run
    shown = cli("show", "latest", "--db", str(db), "--full")
    assert shown.exit_code == 0
    for result in (run, shown):
        assert_neutralised(result.stdout + result.stderr)
    # `show` prints the output itself (not a repr): every sequence is there, visibly escaped
    for _, escaped in HOSTILE:
        assert escaped in shown.stdout
    assert "answer " in shown.stdout and " end" in shown.stdout


def test_progress_line_escapes_what_it_shows(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The progress bar on a real terminal (forced), with a hostile model name in its description."""
    terminal = io.StringIO()
    monkeypatch.setattr(console, "err", SafeConsole(file=terminal, force_terminal=True, width=200))
    title = "\x1b]0;pwned\x07"
    with LoopbackOpenAI() as server:
        suite = make_suite(
            loopback_suite(server.base_url), [{"id": "c1", "input": {"question": "q"}, "expected": "x"}]
        )
        result = cli("run", str(suite), "--db", str(tmp_path / "e.duckdb"), "--model", f"openai/m{title}")
    assert result.exit_code in (0, 1), result.stderr
    drawn = terminal.getvalue()
    assert "openai/m\\x1b]0;pwned" in drawn  # the description was drawn, escaped (rich drops the bell)
    assert title not in drawn and "\x07" not in drawn
    assert "\x1b[" in drawn  # rich's own cursor and style codes still work
    assert_neutralised(result.stdout)


def test_error_lines_escape_what_they_quote(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    missing = tmp_path / "x\x1b]0;pwned\x07.yaml"
    result = cli("run", str(missing))
    assert result.exit_code == 2
    assert "\\x1b]0;pwned\\x07" in result.stderr
    assert_neutralised(result.stderr)


def test_emoji_codes_and_brackets_are_printed_as_written(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Case ids and model output are text, not emoji codes or rich markup: `:warning:` in an
    answer, or `:thumbs_up:` in a case id (ids may hold colons), used to be shown as emoji."""
    answer = "got :warning: [red]x[/red] [/y]"
    with LoopbackOpenAI(responder=lambda body: answer) as server:
        suite = make_suite(
            loopback_suite(server.base_url, gate="gate: {quarantine: ['q:thumbs_up:']}\n"),
            [
                {"id": "q:thumbs_up:", "input": {"question": "q"}, "expected": "x"},
                {"id": "c:smile:", "input": {"question": "q2"}, "expected": "y"},
            ],
        )
        db = tmp_path / "e.duckdb"
        run = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert run.exit_code == 1, run.stderr
    assert "Quarantined (kept out of the gate): q:thumbs_up:" in run.stdout
    assert "c:smile: [fail" in run.stdout and ":warning: [red]x[/red] [/y]" in run.stdout
    shown = cli("show", "latest", "--db", str(db), "--full")
    assert shown.exit_code == 0, shown.stderr
    assert "c:smile:" in shown.stdout and ":warning: [red]x[/red] [/y]" in shown.stdout
    for emoji in ("\u26a0", "\U0001f44d", "\U0001f604"):
        assert emoji not in run.stdout + shown.stdout

"""A command line click cannot parse reads as every other bad input: one line on stderr,
`evalkit: error: CMD: ...; see evalkit CMD --help`, exit 2, click's suggestion kept; `--help`
and `evalkit` alone print the help as before."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.conftest import CliResult, one_error_line

USAGE_ERRORS = [
    (
        ["run", "suite.yaml", "--concurency", "3"],
        "run: no such option: --concurency (did you mean --concurrency?); see evalkit run --help",
    ),
    (["run"], "run: missing argument 'SUITE'; see evalkit run --help"),
    (
        ["run", "suite.yaml", "--concurrency", "0"],
        "run: invalid value for '--concurrency' / '-c': Input should be greater than or equal to 1; "
        "see evalkit run --help",
    ),
    (
        ["run", "suite.yaml", "--concurrency", "abc"],
        "run: invalid value for '--concurrency' / '-c': Input should be a valid integer, unable to parse "
        "string as an integer; see evalkit run --help",
    ),
    (["run", "--db"], "run: option '--db' requires an argument; see evalkit run --help"),
    (["rn"], "no such command 'rn' (did you mean 'run', 'runs'?); see evalkit --help"),
    (["--nope"], "no such option: --nope; see evalkit --help"),
    (["runs", "extra"], "runs: got unexpected extra argument(s) (extra); see evalkit runs --help"),
    (["baseline", "nope"], "baseline: no such command 'nope'; see evalkit baseline --help"),
    (["baseline", "set"], "baseline set: missing argument 'NAME'; see evalkit baseline set --help"),
    (
        ["baseline", "set", "main", "--db"],
        "baseline set: option '--db' requires an argument; see evalkit baseline set --help",
    ),
    (["labels", "export", "--x"], "labels export: no such option: --x; see evalkit labels export --help"),
]


@pytest.mark.parametrize(("args", "line"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_a_usage_error_is_one_line(cli: Callable[..., CliResult], args: list[str], line: str) -> None:
    result = cli(*args)
    assert one_error_line(result, 2, "") == f"evalkit: error: {line}"
    assert result.stdout == ""


def test_the_console_script_says_it_in_one_line_and_help_is_unchanged() -> None:
    def evalkit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, check=False
        )

    typo = evalkit("run", "suite.yaml", "--concurency", "3")
    assert typo.returncode == 2 and typo.stdout == ""
    assert typo.stderr == (
        "evalkit: error: run: no such option: --concurency (did you mean --concurrency?); "
        "see evalkit run --help\n"
    )
    helped = evalkit("run", "--help")
    assert helped.returncode == 0 and helped.stderr == ""
    assert helped.stdout.startswith("Usage: evalkit run [OPTIONS] {SUITE}\n\n  Run SUITE against its model")
    alone = evalkit()  # the listing, on stderr as click gives it, exit 2
    assert alone.returncode == 2 and alone.stderr.startswith("Usage: evalkit [OPTIONS] COMMAND [ARGS]...")
    assert "\nCommands:\n" in alone.stderr and "evalkit: error" not in alone.stderr
    group = evalkit("baseline")
    assert group.returncode == 2 and group.stderr.startswith("Usage: evalkit baseline [OPTIONS] COMMAND")

"""`evalkit CMD` builds only CMD's parameters, and reads the same as with the whole app built:
group listing, misspelt commands, sub-groups and `CMD --help` are unchanged."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from typer.models import CommandInfo

from evalkit.cli import load_commands
from evalkit.cli.app import _name, app
from tests.conftest import REPO, CliResult

app_for = load_commands()  # every command module has added its commands to `app`

COMMANDS = ("run", "runs", "show", "compare", "baseline", "labels")


def test_only_the_named_command_is_built() -> None:
    commands, groups = list(app.registered_commands), list(app.registered_groups)
    for name in ("run", "compare", "rescore"):
        only = app_for([name, "--help"])
        assert [c.callback.__name__ for c in only.registered_commands if c.callback] == [name]
        assert only.registered_groups == []
    baseline = app_for(["baseline", "list"])
    assert baseline.registered_commands == [] and [g.name for g in baseline.registered_groups] == ["baseline"]
    # no command first: the whole app (its listing, suggestions for a misspelt name)
    for args in ([], ["--help"], ["rn"], ["--db", "run"]):
        assert app_for(args) is app
    # building one command leaves the app as it was
    assert app.registered_commands == commands and app.registered_groups == groups


def test_listing_and_misspelt_commands_read_as_before(cli: Callable[..., CliResult]) -> None:
    listing = cli("--help")
    assert listing.exit_code == 0
    for name in COMMANDS:
        assert f"\n  {name} " in listing.stdout
    typo = cli("rn")
    assert typo.exit_code == 2
    assert "no such command 'rn' (did you mean 'run', 'runs'?); see evalkit --help" in typo.stderr
    # a group keeps its sub-commands; a command alone keeps its name on the usage line
    group = cli("baseline", "--help")
    assert group.exit_code == 0 and "Usage: evalkit baseline" in group.stdout and " set " in group.stdout
    missing = cli("show", "--nope")
    assert missing.exit_code == 2
    assert missing.stderr == "evalkit: error: show: no such option: --nope; see evalkit show --help\n"


def test_usage_lines_name_arguments_as_the_help_texts_do(cli: Callable[..., CliResult]) -> None:
    """`Usage: evalkit run [OPTIONS] {SUITE}`: the help says SUITE, RUN, ...; typer alone would
    print the parameter's lower-case name (`{suite}`, `[run]`)."""
    import re

    from typer.main import get_command_name

    def named(command: CommandInfo) -> str:
        return command.name or get_command_name(command.callback.__name__ if command.callback else "")

    names = [named(c) for c in app.registered_commands]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            names += [f"{group.name} {named(c)}" for c in group.typer_instance.registered_commands]
    assert "baseline set" in names and len(names) > 20
    for name in names:
        usage = cli(*name.split(), "--help").stdout.splitlines()[0]
        arguments = re.findall(r"[{\[]([^}\]]+)[}\]]", usage.split("[OPTIONS]", 1)[1])
        assert all(a.isupper() for a in arguments), usage
    assert cli("run").stderr.strip().endswith("missing argument 'SUITE'; see evalkit run --help")


def test_a_bug_exits_70_with_its_traceback_not_1() -> None:
    # exit 1 means "the gate failed" to CI; a crash must not read as a verdict
    code = (
        "import sys\n"
        "def app_for(args):\n    raise RuntimeError('a bug in evalkit')\n"
        "import evalkit.cli\n"
        "evalkit.cli.load_commands = lambda *_: app_for\n"
        "sys.argv = ['evalkit', 'runs']\n"
        "evalkit.cli.main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert proc.returncode == 70, proc.stderr
    assert "RuntimeError: a bug in evalkit" in proc.stderr
    assert proc.stderr.rstrip().endswith("please report it with the traceback above")


def test_each_command_is_mapped_to_the_module_that_adds_it() -> None:
    from evalkit.cli import COMMAND_MODULES

    added = {_name(c): c.callback.__module__ for c in app.registered_commands if c.callback}
    for group in app.registered_groups:
        assert group.name is not None and group.typer_instance is not None
        added[group.name] = next(
            c.callback.__module__ for c in group.typer_instance.registered_commands if c.callback
        )
    assert {name: f"evalkit.cli.{module}" for name, module in COMMAND_MODULES.items()} == added


def test_a_command_process_imports_its_own_module_alone() -> None:
    # the console script's process: `main()` without arguments reads sys.argv and ends the process
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.startswith('evalkit.cli.')"
        " and m.rsplit('.', 1)[1] in COMMANDS)))\n"
        "from evalkit.cli import COMMAND_MODULES as COMMANDS, main\n"
        "COMMANDS = set(COMMANDS.values())\n"
        "sys.argv = ['evalkit', *sys.argv[1:]]\n"
        "main()\n"
    )

    def imported(*args: str) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
            check=False,
        )
        return proc.returncode, proc.stdout.splitlines()[-1], proc.stderr

    assert imported("runs", "--help")[:2] == (0, "['evalkit.cli.results']")
    assert imported("labels", "--help")[:2] == (0, "['evalkit.cli.view']")
    from evalkit.cli import COMMAND_MODULES

    every = len(set(COMMAND_MODULES.values()))
    code_, modules, _ = imported("--help")  # the listing: every module
    assert code_ == 0 and modules.count("evalkit.cli.") == every
    code_, modules, stderr = imported("rn")  # a misspelt name: every module, for the suggestions
    assert code_ == 2 and "did you mean 'run', 'runs'?" in stderr and modules.count("evalkit.cli.") == every

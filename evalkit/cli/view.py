"""``evalkit view`` (the local review studio) and ``evalkit labels export`` (the grades given in it)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DbOption
from evalkit.cli.usage_errors import OneLineUsageErrors

labels_app = typer.Typer(
    cls=OneLineUsageErrors,
    help="Human grades given in `evalkit view`: export.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(labels_app, name="labels")


def default_grader() -> str:
    """Who grades: $EVALKIT_GRADER, else the login name."""
    import getpass

    try:
        return os.environ.get("EVALKIT_GRADER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@app.command()
def view(
    db: DbOption = None,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on. Anything but loopback needs --allow-remote."
    ),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (default: a free one)."),
    read_only: bool = typer.Option(False, "--read-only", help="Browse only: every write is refused."),
    allow_remote: bool = typer.Option(
        False,
        "--allow-remote",
        help="Allow a non-loopback --host; every request then needs the access token printed at start "
        "($EVALKIT_VIEW_TOKEN, or a random one).",
    ),
    grader: str | None = typer.Option(
        None, "--grader", help="Name stored with every grade (default: $EVALKIT_GRADER or the login name)."
    ),
    open_browser: bool = typer.Option(True, "--open/--no-open", help="Open the studio in a browser."),
) -> None:
    """Open the review studio: read runs and cases, grade outputs, review candidates, correct golden cases.

    Listens on 127.0.0.1 by default; no request leaves the machine. Needs the `view` extra
    (pip install 'evalkit[view]').
    """
    from evalkit.errors import UsageError
    from evalkit.store import open_store

    try:
        from evalkit.studio.server import plan, serve
    except ImportError as exc:
        raise UsageError(
            f"`evalkit view` needs the view extra: pip install 'evalkit[view]' ({exc.name} is missing)"
        ) from None
    listening = plan(host, port, allow_remote=allow_remote)
    store = open_store(db, must_exist=True)
    serve(
        store,
        listening,
        grader=grader or default_grader(),
        read_only=read_only,
        open_browser=open_browser,
        announce=lambda line: typer.echo(line, err=True),
    )


@labels_app.command("export")
def export_labels(
    out: Path = typer.Argument(..., metavar="OUT", help="JSONL file to write (one labelled item a line)."),
    kind: str = typer.Option("graded", "--kind", help="graded (pass/fail) or pairwise (A/B/tie)."),
    suite: str | None = typer.Option(None, "--suite", help="Only grades of this suite (by name)."),
    db: DbOption = None,
) -> None:
    """Write the current human grades as the JSONL that `evalkit calibrate` reads."""
    from evalkit.cli.console import out as console
    from evalkit.errors import UsageError
    from evalkit.judges.stored_labels import write_labels_jsonl
    from evalkit.store import open_store

    if kind not in ("graded", "pairwise"):
        raise UsageError(f"--kind must be graded or pairwise, not {kind!r}")
    try:
        n = write_labels_jsonl(open_store(db, must_exist=True), out, kind=kind, suite=suite)  # type: ignore[arg-type]
    except OSError as exc:
        raise UsageError(f"cannot write labels: {exc.strerror or exc}", path=out) from None
    console.print(f"{n} {kind} labels written to {out}")

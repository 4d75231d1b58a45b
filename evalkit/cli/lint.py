"""``evalkit lint``: check a suite's schema, prompts and cases against the rules of structured-output prompting."""

from __future__ import annotations

import typer

from evalkit.cli.app import app
from evalkit.cli.options import SuitePathArgument


@app.command()
def lint(
    suite: SuitePathArgument,
    prompt: list[str] | None = typer.Option(
        None, "--prompt", "-p", help="Prompt version to lint (repeatable; default: every version)."
    ),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
) -> None:
    """Lint SUITE: schema fields without descriptions, case variables before the fixed instructions
    (and the cache-stable prefix of each prompt, in tokens), few-shot examples, cases lacking the
    expected output a scorer needs. Exit 2 when `evalkit run` would refuse the suite (a case file
    error, a golden case without the expected output a scorer compares with, an http: target file
    it cannot read), as the run does; 1 on other errors (with --strict, on warnings too); else 0."""
    from rich.text import Text

    from evalkit.cli.console import out
    from evalkit.suite.lint import lint_suite
    from evalkit.suite.loading import load_suite

    report = lint_suite(load_suite(suite), list(prompt) if prompt else None)
    styles = {"error": "red", "warning": "yellow", "info": ""}
    for finding in report.findings:
        out.print(Text(finding.one_line(), style=styles[finding.severity]))
    errors, warnings = report.count("error"), report.count("warning")
    ok = errors == 0 and (warnings == 0 or not strict)
    refused = report.refused_by_run()
    out.print(
        Text(
            f"lint {'passed' if ok else 'FAILED'}: suite {report.suite}, "
            f"{'prompts ' + ', '.join(report.prompts) if report.prompts else 'no prompt'}: "
            f"{errors} error(s), {warnings} warning(s)"
            + ("; `evalkit run` refuses this suite (exit 2)" if refused else ""),
            style="bold green" if ok else "bold red",
        )
    )
    raise typer.Exit(2 if refused else 0 if ok else 1)

"""``http:`` request templates that serialise a file or fail on a case's values, and headers whose
environment variable is not set: each error names the file and the line of its entry."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CliResult, one_error_line
from tests.providers.test_file_inputs import write_pdf, write_scanned_invoice
from tests.providers.test_http_target import Service, service, write_suite

__all__ = ["service"]  # the fixture, used by name


def test_tojson_of_a_file_in_a_body_template_sends_the_default_bodys_object(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`{{ doc | tojson }}`, the idiom the docs show for every other variable, was a TypeError
    traceback (exit 70) before any call."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    body = 'body: \'{"title": {{ title | tojson }}, "doc": {{ doc | tojson }} }\'\n'
    suite = write_suite(tmp_path / "s", service.url, extra=body)
    write_pdf(suite.parent / "docs" / "inv.pdf", "Invoice INV-001", "Total due: 120.50 EUR")
    write_scanned_invoice(suite.parent / "docs" / "scan.pdf")
    cases = [
        {"id": i, "input": {"title": "inv", "doc": {"$file": f"docs/{i}.pdf"}}, "expected": {"title": "Inv"}}
        for i in ("inv", "scan")
    ]
    (suite.parent / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    done = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert done.exit_code == 3, done.stdout + done.stderr  # the scan is the case's error
    assert "Cases 2: 1 passed, 0 failed, 1 error ·" in done.stdout
    assert "scan [error] error: scan.pdf has no text layer" in done.stdout
    (seen,) = service.seen  # the scan's empty text was not sent
    doc = seen["body"]["doc"]
    assert set(doc) == {"name", "media_type", "sha256", "text"} and doc["name"] == "docs/inv.pdf"
    assert "INV-001" in doc["text"] and doc["media_type"] == "application/pdf"


def test_a_body_template_failing_on_the_cases_values_is_one_line_before_any_call(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`{{ title + 1 }}` on a text value was a TypeError traceback (exit 70)."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, extra="body: '{\"n\": {{ title + 1 }} }'\n")
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    line = one_error_line(result, 2, f"{suite.parent / 'service.yaml'}:5: body: request template failed")
    assert "request template failed: TypeError: can only concatenate str" in line
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()


def test_a_template_syntax_error_names_the_files_line(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The docs promise the file and line for any error in the file; this one named no line."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, extra="query: {lang: '{{ lang '}\n")
    config = suite.parent / "service.yaml"
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    line = one_error_line(
        result, 2, f"{config}:5: query.lang: template syntax error: unexpected end of template"
    )
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists(), line
    linted = cli("lint", str(suite))
    assert linted.exit_code == 2 and f"{config}:5: error target: query.lang: template syntax" in linted.stdout


@pytest.mark.parametrize(
    ("path", "extra", "where"),
    [
        ("/clean/{{ nosuch }}", "", "1: url"),
        ("/clean", "query:\n  source: evalkit\n  lang: '{{ nosuch }}'\n", "7: query.lang"),
        ("/clean", 'body: \'{"t": "{{ nosuch }}"}\'\n', "5: body"),
        ("/clean", 'body: |\n  {"t": {{ nosuch | tojson }}}\n', "5: body"),  # was a TypeError's text
    ],
    ids=["url", "query", "body", "body-tojson"],
)
def test_a_template_naming_a_variable_the_cases_lack_names_its_line(
    path: str,
    extra: str,
    where: str,
    service: Service,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It named the file only, not which of its templates names the variable."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, path=path, extra=extra)
    config = suite.parent / "service.yaml"
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    one_error_line(result, 2, f"{config}:{where}: request template: 'nosuch' is undefined")
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()


def test_a_header_naming_an_unset_environment_variable_names_the_headers_line(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It named the file only: with several headers, not which one needs the variable."""
    monkeypatch.delenv("CLEANER_TOKEN", raising=False)
    monkeypatch.setenv("CLEANER_USER", "me")
    suite = write_suite(tmp_path / "s", service.url)
    config = suite.parent / "service.yaml"
    config.write_text(config.read_text().replace("headers:\n", "headers:\n  X-User: ${CLEANER_USER}\n"))
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    one_error_line(
        result,
        2,
        f"{config}:5: headers.Authorization: needs environment variable CLEANER_TOKEN, which is not set",
    )
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()


def test_a_header_whose_variable_holds_a_line_break_is_refused_at_its_line(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiohttp refused each request with a ValueError, and the run lost its cases: `Cases 0`, exit 3."""
    monkeypatch.setenv("CLEANER_TOKEN", "t0k\nX-Injected: 1")
    suite = write_suite(tmp_path / "s", service.url)
    config = suite.parent / "service.yaml"
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    line = one_error_line(
        result,
        2,
        f"{config}:4: headers.Authorization: holds a control character such as a line break "
        "(from environment variable CLEANER_TOKEN), which an HTTP header cannot carry",
    )
    assert "t0k" not in line  # the secret is not printed
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()

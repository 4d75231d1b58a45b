"""``http:`` targets against a real HTTP service on 127.0.0.1 started by the fixture."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from evalkit.errors import ConfigError, ProviderError
from evalkit.providers.calls import ModelCaller, RetryPolicy
from evalkit.providers.http_target import json_path
from evalkit.run.evaluate import prepare_target
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
from tests.conftest import CliResult


@dataclass
class Service:
    """What the service saw, and how many 503s it still owes."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0


@pytest.fixture
def service() -> Iterator[Service]:
    """A small JSON API: /clean answers {"result": {"listing": {...}}}, /flaky 503s first, /odd lacks the path."""
    state = Service()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, payload: Any) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.seen.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": parse_qs(parts.query),
                    "body": body,
                    "token": self.headers.get("Authorization"),
                }
            )
            if parts.path == "/flaky" and state.failures_left > 0:
                state.failures_left -= 1
                self._answer(503, {"error": "overloaded"})
                return
            if parts.path == "/odd":
                self._answer(200, {"status": "queued"})
                return
            title = (body or {}).get("title") or parse_qs(parts.query).get("title", [""])[0]
            self._answer(200, {"result": {"listing": {"title": title.strip().title()}}})

        do_GET = _handle
        do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


CONFIG = """\
url: {url}{path}
method: {method}
headers:
  Authorization: "Bearer ${{CLEANER_TOKEN}}"
{extra}output: $.result.listing
"""


def write_suite(root: Path, url: str, *, path: str = "/clean", method: str = "POST", extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "service.yaml").write_text(CONFIG.format(url=url, path=path, method=method, extra=extra))
    cases = [
        {"id": "a", "input": {"title": "  red mug "}, "expected": {"title": "Red Mug"}},
        {"id": "b", "input": {"title": "blue hat"}, "expected": {"title": "Green Hat"}},
    ]
    (root / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    suite = root / "suite.yaml"
    suite.write_text(
        "name: svc\ntarget:\n  model: http:service.yaml\ncases: [cases.jsonl]\n"
        "scorers:\n  - name: json_fields\n    args: {fields: {title: {match: exact}}}\n"
        "gate: {min_pass_rate: 0.5}\n"
    )
    return suite


def call(suite_path: Path, variables: dict[str, Any], attempts: int = 4) -> Any:
    suite = load_suite(suite_path)
    target = prepare_target(suite, None, None)

    async def go() -> Any:
        caller = ModelCaller(suite.base_dir, retry=RetryPolicy(max_attempts=attempts, base_delay=0.01))
        try:
            request = target.request(next(c for c in suite.iter_cases() if c.input == variables))
            return await caller.complete(request)
        finally:
            await caller.aclose()

    return asyncio.run(go())


def test_json_path_walks_objects_and_lists_and_says_where_it_stops() -> None:
    data = {"a": {"items": [{"text": "x"}, {"text": "y"}]}}
    assert json_path(data, "$.a.items[1].text") == "y"
    assert json_path(data, "a.items.0.text") == "x"
    assert json_path(data, "$") == data
    with pytest.raises(KeyError, match=r"\$\.a\.items has 2 items, no \[2\]"):
        json_path(data, "$.a.items[2]")
    with pytest.raises(KeyError, match=r"\$\.a \(object\) has no 'answer'"):
        json_path(data, "$.a.answer")


def test_post_renders_the_body_sends_env_headers_and_reads_the_json_path(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "s3cret")
    suite = write_suite(
        tmp_path / "s", service.url, extra='body: \'{"title": {{ title | tojson }}, "v": 2}\'\n'
    )
    completion = call(suite, {"title": "  red mug "})
    assert json.loads(completion.text) == {"title": "Red Mug"}
    assert completion.latency_ms > 0 and completion.attempts == 1
    assert service.seen == [
        {
            "method": "POST",
            "path": "/clean",
            "query": {},
            "body": {"title": "  red mug ", "v": 2},
            "token": "Bearer s3cret",
        }
    ]


def test_get_puts_templated_query_parameters_in_the_url(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, method="GET", extra="query: {title: '{{ title }}'}\n")
    completion = call(suite, {"title": "blue hat"})
    assert json.loads(completion.text) == {"title": "Blue Hat"}
    assert service.seen[0]["method"] == "GET" and service.seen[0]["query"] == {"title": ["blue hat"]}


def test_5xx_answers_are_retried_until_the_service_recovers(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    service.failures_left = 2
    suite = write_suite(tmp_path / "s", service.url, path="/flaky")
    completion = call(suite, {"title": "blue hat"})
    assert completion.attempts == 3 and len(service.seen) == 3
    assert json.loads(completion.text) == {"title": "Blue Hat"}


def test_5xx_beyond_the_attempts_is_an_error_with_the_status(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    service.failures_left = 5
    suite = write_suite(tmp_path / "s", service.url, path="/flaky")
    with pytest.raises(ProviderError, match=r"HTTP 503: .*overloaded.* \(after 2 attempts\)"):
        call(suite, {"title": "blue hat"}, attempts=2)
    assert len(service.seen) == 2


def test_a_json_path_miss_is_an_error_with_the_reason_and_not_retried(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, path="/odd")
    with pytest.raises(
        ProviderError, match=r"output path \$\.result\.listing: \$ \(object\) has no 'result'"
    ) as err:
        call(suite, {"title": "blue hat"})
    assert not err.value.transient and len(service.seen) == 1


def test_a_missing_environment_variable_fails_before_any_call(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLEANER_TOKEN", raising=False)
    suite = write_suite(tmp_path / "s", service.url)
    with pytest.raises(ConfigError, match="CLEANER_TOKEN, which is not set"):
        call(suite, {"title": "blue hat"})
    assert service.seen == []


def test_run_end_to_end_caches_and_a_config_edit_is_a_new_call(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., CliResult]
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url)
    db = tmp_path / "r.duckdb"
    first = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert first.exit_code == 0, first.stderr
    assert "Cases 2: 1 passed, 1 failed, 0 errors" in first.stdout
    assert len(service.seen) == 2
    again = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert again.exit_code == 0 and len(service.seen) == 2  # both answers came from the cache
    (suite.parent / "service.yaml").write_text(
        (suite.parent / "service.yaml").read_text() + "query: {source: evalkit}\n"
    )
    edited = cli("run", str(suite), "--db", str(db), "--no-progress")
    assert edited.exit_code == 0 and len(service.seen) == 4
    store = open_store(db)
    run = store.list_runs()[-1]
    assert run.model == "http:service.yaml"


def test_a_file_input_is_sent_in_the_default_json_body(
    service: Service, tmp_path: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLEANER_TOKEN", "t0k")
    suite = write_suite(tmp_path / "s", service.url)
    (suite.parent / "spec.txt").write_text("red, ceramic\n")
    case = {
        "id": "a",
        "input": {"title": "red mug", "doc": {"$file": "spec.txt"}},
        "expected": {"title": "Red Mug"},
    }
    (suite.parent / "cases.jsonl").write_text(json.dumps(case) + "\n")
    done = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert done.exit_code == 0, done.stdout + done.stderr
    (seen,) = service.seen
    doc = seen["body"]["doc"]
    assert doc["name"] == "spec.txt" and doc["media_type"] == "text/plain" and doc["text"] == "red, ceramic\n"
    assert len(doc["sha256"]) == 64 and seen["body"]["title"] == "red mug"


def test_a_request_template_naming_a_missing_variable_fails_before_any_call(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every case errored with "'nosuch' is undefined" after the run started, and it exited 3."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, extra='body: \'{"t": "{{ nosuch }}"}\'\n')
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert (
        f"{tmp_path / 's' / 'service.yaml'}:5: body: request template: 'nosuch' is undefined" in result.stderr
    )
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()


@pytest.mark.parametrize("output", ["$.result[listing]", "$.result..listing", "$.items[*].text", "$.a[-1]"])
def test_a_malformed_output_path_is_refused_before_any_call(
    output: str,
    service: Service,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Such a path was read leniently at run time: the wrong value picked, or every case an error."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url)
    config = suite.parent / "service.yaml"
    config.write_text(config.read_text().replace("output: $.result.listing", f"output: {output}"))
    where = f"{config}:5: output: {output!r} is not a JSON path evalkit reads"
    with pytest.raises(ConfigError) as err:
        prepare_target(load_suite(suite), None, None)
    assert err.value.one_line().startswith(where)
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert where in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()
    dry = cli("run", str(suite), "--dry-run")
    assert dry.exit_code == 2 and where in dry.stderr
    linted = cli("lint", str(suite))
    assert linted.exit_code == 2 and f"{config}:5: error target: output: {output!r}" in linted.stdout
    # named by --model instead of the suite: refused before any call too
    (suite.parent / "other.yaml").write_text(config.read_text())
    config.write_text(config.read_text().replace(f"output: {output}", "output: $.result.listing"))
    result = cli("run", str(suite), "--model", "http:other.yaml", "--db", str(tmp_path / "r.duckdb"))
    assert result.exit_code == 2 and f"other.yaml:5: output: {output!r}" in result.stderr
    assert service.seen == [] and not (tmp_path / "r.duckdb").exists()


@pytest.mark.parametrize(
    ("method", "extra"),
    [
        ("POST", ""),  # the default body: {"doc": {"name", "media_type", "sha256", "text"}}
        ("POST", 'body: \'{"title": {{ title | tojson }}, "invoice": {{ doc.text | tojson }} }\'\n'),
        ("GET", "query: {title: '{{ title }}', invoice: '{{ doc }}'}\n"),
    ],
    ids=["default-body", "body-template", "get-query"],
)
def test_a_scanned_pdf_whose_empty_text_the_request_carries_is_the_cases_error_not_a_call(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str, extra: str
) -> None:
    """A scan went to the service as `"text": ""` (the default body) or an empty template value, and
    the service's answer, from nothing, was scored as the service's failure."""
    from evalkit.results import CaseResult
    from evalkit.run.runner import RunOptions, run_suite
    from tests.providers.test_file_inputs import write_pdf, write_scanned_invoice

    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url, method=method, extra=extra)
    write_scanned_invoice(suite.parent / "docs" / "scan.pdf")
    write_pdf(suite.parent / "docs" / "inv.pdf", "Invoice INV-001", "Total due: 120.50 EUR")
    cases = [
        {"id": i, "input": {"title": "inv", "doc": {"$file": f"docs/{i}.pdf"}}, "expected": {"title": "Inv"}}
        for i in ("scan", "inv")
    ]
    (suite.parent / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    store = open_store(tmp_path / "r.duckdb")
    results: dict[str, CaseResult] = {}

    def run_it() -> Any:
        return run_suite(
            load_suite(suite), store, RunOptions(), on_result=lambda r: results.update({r.case.id: r})
        )

    outcome = run_it()
    assert len(service.seen) == 1 and "INV-001" in json.dumps(service.seen[0])  # the scan made no call
    scan = results["scan"]
    assert scan.verdict == "error" and scan.output.status == "error" and scan.output.attempts == 0
    assert scan.output.error == (
        "scan.pdf has no text layer (a scanned document?): input 'doc' would reach the service as "
        "empty text, so it was not sent; evalkit does not OCR: send the file itself "
        "({{ doc.data_url }} in service.yaml's body) to a service that reads scans, or give the case its text"
    )
    assert results["inv"].verdict == "pass"
    assert (outcome.summary.errors, outcome.summary.failed, outcome.summary.passed) == (1, 0, 1)
    assert outcome.decision.exit_code == 3  # the verdict cannot be trusted, not "the service is worse"
    stored = {row.case_id: row for row in store.case_results(outcome.run.run_id, frame=False)}
    assert (stored["scan"].verdict, stored["scan"].error) == ("error", scan.output.error)
    # a body that carries the file's bytes beside its (empty) text is sent: the service can read the scan
    config = suite.parent / "service.yaml"
    config.write_text(
        config.read_text().replace(f"method: {method}", "method: POST").replace(extra, "")
        + 'body: \'{"title": {{ title | tojson }}, "text": {{ doc.text | tojson }}, "pdf": {{ doc.data_url | tojson }} }\'\n'
    )
    service.seen.clear()
    run_it()
    sent = {seen["body"]["pdf"]: seen["body"]["text"] for seen in service.seen}
    scan_bytes = (suite.parent / "docs" / "scan.pdf").read_bytes()
    assert sent[f"data:application/pdf;base64,{base64.b64encode(scan_bytes).decode()}"] == ""
    assert results["scan"].verdict == "pass" and len(service.seen) == 2


def test_a_broken_suite_http_file_that_model_replaces_is_a_warning_not_a_refusal(
    service: Service, cli: Callable[..., CliResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--model` replaces the suite's target: its http: file is not read by the run, so an error
    in it no longer stops the run (it did, when the suite loaded); it is said in one warning line.
    A matrix cell that does run it is refused before the first cell calls anything."""
    monkeypatch.setenv("CLEANER_TOKEN", "t")
    suite = write_suite(tmp_path / "s", service.url)
    config = suite.parent / "service.yaml"
    (suite.parent / "staging.yaml").write_text(config.read_text())
    config.write_text(config.read_text().replace("output: $.result.listing", "output: $.items[*].text"))
    db = tmp_path / "r.duckdb"
    problem = f"{config}:5: output: '$.items[*].text' is not a JSON path evalkit reads"
    matrix = cli("run", str(suite), "-m", "http:staging.yaml", "-m", "http:service.yaml", "--db", str(db))
    assert matrix.exit_code == 2 and problem in matrix.stderr, matrix.stdout + matrix.stderr
    assert "warning" not in matrix.stderr and service.seen == [] and not db.exists()
    estimate = cli("run", str(suite), "--model", "http:staging.yaml", "--dry-run")
    replaced = cli("run", str(suite), "--model", "http:staging.yaml", "--db", str(db), "--no-progress")
    for result in (estimate, replaced):
        assert result.exit_code == 0, result.stdout + result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"evalkit: warning: {problem}") and line.endswith(
            "(not used: --model replaces the suite's target http:service.yaml; a run without --model refuses it)"
        )
    assert "Cases 2: 1 passed, 1 failed, 0 errors" in replaced.stdout and len(service.seen) == 2
    assert open_store(db).get_run("latest").model == "http:staging.yaml"
    # a missing file is the service config kept elsewhere: nothing to say
    config.unlink()
    quiet = cli("run", str(suite), "--model", "http:staging.yaml", "--db", str(db), "--no-progress")
    assert quiet.exit_code == 0 and quiet.stderr == ""

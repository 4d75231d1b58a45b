"""API keys: refused when written in a suite file, named by environment variable instead, sent only in
the Authorization header, and absent from every artefact a run leaves (store, exports, reports, JUnit,
markdown summary, terminal output), on both transports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from aiohttp import web

from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite

SUITE_KEY = "sk-canary-suite-3f9a1c77e2"  # named by target.api_key_env
ENV_KEY = "sk-canary-environment-88b1d0"  # OPENAI_API_KEY, the vendor's usual variable
LITERAL = "sk-canary-literal-5521aa"  # written into a suite file: must be refused, never echoed
CASES = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": "x"} for i in range(3)]


@pytest.mark.parametrize(
    ("extra_target", "scorers", "where"),
    [
        (f"  params: {{api_key: {LITERAL}}}\n", None, "target.params.api_key"),
        (f"  params: {{extra_headers: {{Authorization: Bearer {LITERAL}}}}}\n", None, "Authorization"),
        (f"  api_key: {LITERAL}\n", None, "target.api_key"),
        (
            "",
            f"  - name: exact\n  - name: judge\n    args: {{rubric: r, openai_api_key: {LITERAL}}}\n",
            "args.openai_api_key",
        ),
        ("  api_key_env: sk-abc123\n", None, "target.api_key_env"),
        (
            "",
            f"  - name: judge\n    args: {{rubric: r, api_base: 'https://u:{LITERAL}@h/v1'}}\n",
            "args.api_base",
        ),
        (
            "",
            f"  - name: judge\n    args: {{rubric: r, api_base: 'https://h/v1?key={LITERAL}'}}\n",
            "args.api_base",
        ),
    ],
)
def test_literal_key_in_a_suite_is_refused_without_echoing_it(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    loopback: LoopbackOpenAI,
    tmp_path: Path,
    extra_target: str,
    scorers: str | None,
    where: str,
) -> None:
    path = make_suite(loopback_suite(loopback.base_url, extra_target=extra_target, scorers=scorers), CASES)
    db = tmp_path / "r.duckdb"
    result = cli("run", str(path), "--db", str(db), "--no-progress")
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"evalkit: error: {path}:"), result.stderr
    assert where in lines[0]
    if where != "target.api_key_env":
        assert "environment variable" in lines[0] and "api_key_env" in lines[0]
    assert LITERAL not in result.stderr + result.stdout
    assert loopback.stats.requests == 0


def test_missing_key_variable_fails_before_any_call(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    loopback: LoopbackOpenAI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EVALKIT_TEST_UNSET_KEY", raising=False)
    path = make_suite(
        loopback_suite(loopback.base_url, extra_target="  api_key_env: EVALKIT_TEST_UNSET_KEY\n"), CASES
    )
    result = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"evalkit: error: {path}:6: target.api_key_env: environment variable")
    assert loopback.stats.requests == 0


@pytest.mark.parametrize("transport", ["lean", "litellm"])
@pytest.mark.parametrize("key_source", ["api_key_env", "OPENAI_API_KEY"])
def test_canary_key_reaches_only_the_authorization_header(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    key_source: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # reports/ and exports/ land here
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("EVALKIT_CANARY_KEY", SUITE_KEY)
    if transport == "litellm":
        monkeypatch.setenv("EVALKIT_FAST_PATH", "0")
    expected = SUITE_KEY if key_source == "api_key_env" else ENV_KEY
    extra = "  api_key_env: EVALKIT_CANARY_KEY\n" if key_source == "api_key_env" else ""
    with LoopbackOpenAI() as server:
        path = make_suite(loopback_suite(server.base_url, extra_target=extra), CASES)
        db = tmp_path / "e.duckdb"
        outputs = [
            cli(
                "run",
                str(path),
                "--db",
                str(db),
                "--junit",
                str(tmp_path / "junit.xml"),
                "--summary-md",
                str(tmp_path / "summary.md"),
            ),
            cli("show", "latest", "--db", str(db)),
            cli("runs", "--db", str(db)),
            cli("report", "latest", "--db", str(db), "--out", str(tmp_path / "report.html")),
            cli("export", "latest", "--format", "jsonl", "--db", str(db), "--out", str(tmp_path / "export")),
            cli(
                "export", "latest", "--format", "csv", "--db", str(db), "--out", str(tmp_path / "export-csv")
            ),
        ]
        assert server.stats.requests == len(CASES)
        assert server.stats.authorizations == [f"Bearer {expected}"] * len(CASES)
        bodies = json.dumps(server.stats.bodies)
    assert outputs[0].exit_code in (0, 1), outputs[0].stderr
    assert all(o.exit_code == 0 for o in outputs[1:]), [o.stderr for o in outputs]
    assert SUITE_KEY not in bodies and ENV_KEY not in bodies  # the header only, never the body
    con = duckdb.connect(str(db))
    con.execute("CHECKPOINT")  # everything into the file's bytes, nothing left only in the WAL
    config = con.execute("SELECT params_json, config_json FROM runs").fetchall()
    con.close()
    assert config and all("api_key_env" not in str(params) for params, _ in config)

    artefacts = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".j2"]
    names = {p.name for p in artefacts}
    assert {"e.duckdb", "junit.xml", "summary.md", "report.html"} <= names
    assert any(p.parent.name == "export" for p in artefacts) and any(
        p.parent.name == "reports" for p in artefacts
    )
    for artefact in artefacts:
        data = artefact.read_bytes()
        for key in (SUITE_KEY, ENV_KEY):
            assert key.encode() not in data, f"{key} leaked into {artefact}"
    for output in outputs:
        for key in (SUITE_KEY, ENV_KEY):
            assert key not in output.stdout + output.stderr


class KeyEchoingServer(LoopbackOpenAI):
    """A misbehaving server: every request is refused with an error quoting its Authorization header."""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        quoted = request.headers.get("Authorization", "")
        return web.json_response({"error": {"message": f"key rejected: {quoted}"}}, status=401)


@pytest.mark.parametrize("transport", ["lean", "litellm"])
def test_a_key_echoed_in_a_server_error_is_not_stored(
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
) -> None:
    monkeypatch.setenv("EVALKIT_CANARY_KEY", SUITE_KEY)
    if transport == "litellm":
        monkeypatch.setenv("EVALKIT_FAST_PATH", "0")
    with KeyEchoingServer() as server:
        extra = "  api_key_env: EVALKIT_CANARY_KEY\n"
        path = make_suite(loopback_suite(server.base_url, extra_target=extra), CASES)
        db = tmp_path / "e.duckdb"
        run = cli("run", str(path), "--db", str(db), "--no-progress")
        shown = cli("show", "latest", "--db", str(db))
        assert server.stats.requests >= len(CASES)
    assert run.exit_code == 3, run.stderr  # every case errored: no verdict
    assert "key rejected" in shown.stdout and "[redacted]" in shown.stdout  # the error is kept, the key not
    con = duckdb.connect(str(db))
    con.execute("CHECKPOINT")
    con.close()
    assert SUITE_KEY.encode() not in db.read_bytes()
    for result in (run, shown):
        assert SUITE_KEY not in result.stdout + result.stderr

"""HTTPS through evalkit's own HTTP/1.1 client, against a real TLS server on 127.0.0.1.

The server's certificate is issued by a throwaway CA (trustme); ``SSL_CERT_FILE`` names that CA,
as a user names a company CA. Without it the certificate is not trusted and nothing is sent. With a
proxy variable set, calls go through the proxy (aiohttp, as litellm's httpx would).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from evalkit.errors import ProviderError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.openai_compat import OpenAICompatClient
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.cli.test_lean_imports import evalkit_process
from tests.conftest import loopback_suite

REQUEST = CompletionRequest(model="openai/loopback", messages=[{"role": "user", "content": "hi"}])
NO_PRICE = lambda *tokens: (0.0, 0.0)  # noqa: E731


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable of the machine's decides the transport, unless a test sets one."""
    for name in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[LoopbackOpenAI]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with LoopbackOpenAI(tls=context) as server:
        yield server


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process trusts the throwaway CA."""
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))


def complete(client: OpenAICompatClient, times: int) -> list[str]:
    async def calls() -> list[str]:
        try:
            return [(await client.complete(REQUEST)).text for _ in range(times)]
        finally:
            await client.aclose()

    return asyncio.run(calls())


def test_https_calls_share_one_tls_connection(tls_server: LoopbackOpenAI, trusted: None) -> None:
    assert tls_server.base_url.startswith("https://")
    client = OpenAICompatClient(tls_server.base_url, "loopback", None, NO_PRICE)
    assert complete(client, 5) == ['{"echo": "hi"}'] * 5
    assert tls_server.stats.requests == 5
    assert client.endpoint._http1 is not None and client.endpoint._http1.opened == 1


def test_answers_of_many_tls_records_arrive_whole_on_a_kept_connection(
    tls_server: LoopbackOpenAI, trusted: None
) -> None:
    # evalkit reads TLS 32 KiB at a time (asyncio's default buffer is 256 KiB per connection): an
    # answer of ~200 KB spans a dozen 16 KiB records and several reads, and the next one follows it
    big = "".join(f"line {i:06d} " for i in range(16_000))
    request = CompletionRequest(model="openai/loopback", messages=[{"role": "user", "content": big}])
    client = OpenAICompatClient(tls_server.base_url, "loopback", None, NO_PRICE)

    async def calls() -> list[str]:
        try:
            return [(await client.complete(each)).text for each in (request, REQUEST, request)]
        finally:
            await client.aclose()

    answers = asyncio.run(calls())
    assert [len(a) for a in answers] == [len(big) + 12, 14, len(big) + 12]
    assert answers[0] == answers[2] == json.dumps({"echo": big})
    assert client.endpoint._http1 is not None and client.endpoint._http1.opened == 1


@pytest.mark.parametrize("transport", ["", "aiohttp"])
def test_untrusted_certificate_sends_nothing_and_is_not_retried(
    transport: str, tls_server: LoopbackOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other-ca.pem"  # a CA that did not issue the server's certificate
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("EVALKIT_HTTP_CLIENT", transport)
    client = OpenAICompatClient(tls_server.base_url, "loopback", None, NO_PRICE)
    with pytest.raises(ProviderError, match="CERTIFICATE_VERIFY_FAILED") as err:
        complete(client, 1)
    assert not err.value.transient  # retrying cannot make the certificate trusted
    assert tls_server.stats.requests == 0


class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that tunnels to whatever it is asked and counts tunnels."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ConnectProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        method, target, _ = head.split("\r\n")[0].split(" ")
        assert method == "CONNECT"
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def test_https_proxy_variable_is_honoured(
    tls_server: LoopbackOpenAI, trusted: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def through_proxy() -> tuple[list[str], list[str]]:
        async with ConnectProxy() as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            client = OpenAICompatClient(tls_server.base_url, "loopback", None, NO_PRICE)
            try:
                texts = [(await client.complete(REQUEST)).text for _ in range(2)]
            finally:
                await client.aclose()
            return texts, proxy.tunnels

    texts, tunnels = asyncio.run(through_proxy())
    assert texts == ['{"echo": "hi"}'] * 2
    assert tunnels and set(tunnels) == {f"127.0.0.1:{tls_server.port}"}
    assert tls_server.stats.requests == 2


def test_https_suite_runs_without_aiohttp(
    tls_server: LoopbackOpenAI, trusted: None, make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """`evalkit run` on an https:// target, as a process: every case answered over TLS, and aiohttp
    (~0.2 s and ~13 MB of imports before the first call) never imported."""
    cases = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}} for i in range(6)]
    scorers = "  - name: json_fields\n    args: {fields: {echo: {match: exact}}}\n"
    suite = make_suite(loopback_suite(tls_server.base_url, scorers=scorers), cases)
    db = str(tmp_path / "r.duckdb")
    run, imported = evalkit_process(
        tmp_path, "run", str(suite), "--db", db, "--no-progress", watched=("aiohttp",)
    )
    assert run.returncode == 0, run.stderr
    assert tls_server.stats.requests == 6
    assert imported == []
    assert "Cases 6: 6 passed, 0 failed, 0 errors" in run.stdout


@pytest.mark.parametrize(
    ("model", "api_base", "ahead"),
    [
        ("anthropic/claude-haiku-4-5", None, True),  # https://api.anthropic.com
        ("gemini/gemini-2.5-flash", None, True),
        ("openai/gateway-model", "https://gateway.example/v1", True),
        ("openai/local-model", "http://127.0.0.1:8000/v1", False),
        ("openai/gpt-4o", None, False),  # litellm makes the call
        ("python:tests.targets:answer", None, False),
    ],
)
def test_connect_ahead_starts_tls_only_for_https_lean_endpoints(
    model: str,
    api_base: str | None,
    ahead: bool,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`evalkit run` starts loading the CA store while it imports the run's code, for the endpoints
    whose first call would otherwise wait for it."""
    from evalkit.providers import http1
    from evalkit.providers.lean_vendors import connect_ahead

    pem = tmp_path / "ca.pem"  # a CA file of this test's own: its context is this test's alone
    ca.cert_pem.write_to_path(str(pem))
    monkeypatch.setenv("SSL_CERT_FILE", str(pem))
    for name in ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL", "EVALKIT_FAST_PATH"):
        monkeypatch.delenv(name, raising=False)
    connect_ahead(model, api_base)
    started = [key for key in http1._tls_contexts if key[0] == str(pem)]
    assert bool(started) is ahead
    if ahead:
        assert http1.tls_context_ahead().get().verify_mode == ssl.CERT_REQUIRED

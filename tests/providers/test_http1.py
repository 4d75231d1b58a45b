"""The plain-HTTP transport against real sockets: keep-alive, framing, broken servers, timeouts."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from evalkit.errors import ProviderError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.http1 import Http1Client, TransportError
from evalkit.providers.openai_compat import OpenAICompatClient
from evalkit.testing.openai_server import LoopbackOpenAI

# what the scripted server does with the n-th request it reads (0-based): the bytes it writes back,
# then whether it closes the connection
Script = Callable[[int, bytes], Awaitable[tuple[bytes, bool]]]


class ScriptedServer:
    """A TCP server on 127.0.0.1 that answers each HTTP request with scripted raw bytes."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply, close = await self.script(len(self.requests) - 1, body)
                writer.write(reply)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def ok(body: bytes = b'{"ok": true}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def run(scenario: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(scenario())  # type: ignore[arg-type]


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Yield to the event loop until ``condition`` holds (a socket event has been handled)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.001)
    assert condition()


def test_sequential_requests_share_one_connection() -> None:
    async def scenario() -> None:
        async def script(n: int, body: bytes) -> tuple[bytes, bool]:
            return ok(b'{"n": %d}' % n), False

        async with ScriptedServer(script) as server:
            client = Http1Client(server.url, {"Content-Type": "application/json"})
            bodies = [(await client.post(b'{"q": %d}' % i)).body for i in range(5)]
            await client.aclose()
        assert bodies == [b'{"n": %d}' % i for i in range(5)]
        assert server.connections == 1 and client.opened == 1
        first = server.requests[0]
        assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"Content-Type: application/json\r\n" in first and first.endswith(b'{"q": 0}')

    run(scenario)


def test_keep_alive_under_uvloop() -> None:
    """Ray's workers run uvloop, whose transports are not asyncio.Transport subclasses."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[list[int], int]:
        with LoopbackOpenAI() as server:
            client = Http1Client(server.base_url + "/chat/completions", {"Content-Type": "application/json"})
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
            statuses = [(await client.post(body, timeout=5)).status for _ in range(3)]
            await client.aclose()
            return statuses, client.opened

    assert uvloop.run(scenario()) == ([200, 200, 200], 1)


def test_chunked_interim_gzip_and_read_until_close_bodies() -> None:
    payload = json.dumps({"text": "x" * 5000}).encode()
    packed = gzip.compress(payload)

    async def script(n: int, body: bytes) -> tuple[bytes, bool]:
        if n == 0:  # chunked, in three chunks
            parts = [payload[:10], payload[10:4000], payload[4000:]]
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
            return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, False
        if n == 1:  # an interim 100 Continue first, then compressed although not asked for
            return b"HTTP/1.1 100 Continue\r\n\r\n" + ok(packed, "Content-Encoding: gzip\r\n"), False
        return b"HTTP/1.1 200 OK\r\n\r\n" + payload, True  # no length: the body ends with the connection

    async def scenario() -> list[bytes]:
        async with ScriptedServer(script) as server:
            client = Http1Client(server.url, {})
            out = [(await client.post(b"{}")).body for _ in range(3)]
            await client.aclose()
            return out

    assert run(scenario) == [payload, payload, payload]


def test_connection_close_and_idle_close_open_a_new_connection() -> None:
    async def scenario() -> None:
        async def script(n: int, body: bytes) -> tuple[bytes, bool]:
            if n == 0:
                return ok(extra="Connection: close\r\n"), True
            return ok(), True  # closes after answering, without saying so (an idle timeout)

        async with ScriptedServer(script) as server:
            client = Http1Client(server.url, {})
            assert (await client.post(b"{}")).status == 200
            assert not client._idle  # told to close: not kept
            for _ in range(2):
                assert (await client.post(b"{}")).status == 200
                await until(lambda: all(c.closed for c in client._idle))  # the idle close arrived
            await client.aclose()
        assert server.connections == 3 and len(server.requests) == 3

    run(scenario)


@pytest.mark.parametrize(
    ("reply", "close", "message", "connections"),
    [
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial', True, "closed before the response", 2),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", False, "invalid HTTP response", 2),
        # well framed, so the connection stays usable; only the body is bad
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
            False,
            "undecodable gzip",
            1,
        ),
    ],
)
def test_broken_replies_raise_transport_errors(
    reply: bytes, close: bool, message: str, connections: int
) -> None:
    async def script(n: int, body: bytes) -> tuple[bytes, bool]:
        return (reply, close) if n == 0 else (ok(), False)

    async def scenario() -> None:
        async with ScriptedServer(script) as server:
            client = Http1Client(server.url, {})
            with pytest.raises(TransportError, match=message):
                await client.post(b"{}")
            assert (await client.post(b"{}")).status == 200
            await client.aclose()
        assert server.connections == connections  # a connection in an unknown state is never reused

    run(scenario)


def test_timeout_abandons_the_connection() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def script(n: int, body: bytes) -> tuple[bytes, bool]:
            if n == 0:
                await gate.wait()  # never answers in time
            return ok(), False

        async with ScriptedServer(script) as server:
            client = Http1Client(server.url, {})
            with pytest.raises(TimeoutError):
                await client.post(b"{}", timeout=0.2)
            assert (await client.post(b"{}", timeout=5)).status == 200
            gate.set()
            await client.aclose()
        assert client.opened == 2  # the late answer could never be read as the second one's

    run(scenario)


def test_refused_connection_is_a_transport_error() -> None:
    async def scenario() -> None:
        async with ScriptedServer(lambda n, b: None) as server:  # type: ignore[arg-type,return-value]
            url = server.url
        client = Http1Client(url, {})  # the port is closed now
        with pytest.raises(TransportError, match="cannot connect"):
            await client.post(b"{}")

    run(scenario)


def test_openai_client_reuses_connections_and_maps_errors() -> None:
    """Through the OpenAI-compatible client: answers parsed, connections pooled, a non-HTTP reply
    becomes a transient ProviderError (retried by the caller)."""
    with LoopbackOpenAI() as server:
        client = OpenAICompatClient(server.base_url, "loopback", None, lambda *tokens: (0.0, 0.0))

        async def many() -> list[str]:
            request = CompletionRequest(model="openai/loopback", messages=[{"role": "user", "content": "hi"}])
            try:
                return [(await client.complete(request)).text for _ in range(10)]
            finally:
                await client.aclose()

        texts = asyncio.run(many())
        assert texts == ['{"echo": "hi"}'] * 10
        assert client.endpoint._http1 is not None and client.endpoint._http1.opened == 1

    async def garbage(n: int, body: bytes) -> tuple[bytes, bool]:
        return b"not http at all\r\n\r\n", True

    async def broken() -> ProviderError:
        async with ScriptedServer(garbage) as raw:
            bad = OpenAICompatClient(
                raw.url.removesuffix("/chat/completions"), "m", None, lambda *tokens: (0.0, 0.0)
            )
            with pytest.raises(ProviderError) as err:
                await bad.complete(CompletionRequest(model="openai/m", messages=[]))
            return err.value

    error = asyncio.run(broken())
    assert error.transient and "invalid HTTP response" in error.message


def test_connections_opened_at_once_share_one_lookup() -> None:
    """Ten connections opened together to a host name look it up once (as aiohttp's DNS cache did
    for https:// before), not once each: a run opens its 50 connections in its first milliseconds."""
    lookups: list[object] = []  # every getaddrinfo of the process, seen through its audit event
    sys.addaudithook(lambda event, args: lookups.append(args[0]) if event == "socket.getaddrinfo" else None)
    with LoopbackOpenAI(latency=0.2) as server:
        url = server.base_url.replace("127.0.0.1", "localhost") + "/chat/completions"
        client = Http1Client(url, {"Content-Type": "application/json"})
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()

        async def ten() -> list[int]:
            try:
                return [r.status for r in await asyncio.gather(*(client.post(body) for _ in range(10)))]
            finally:
                await client.aclose()

        assert run(ten) == [200] * 10
    assert client.opened == 10
    assert lookups.count("localhost") == 1

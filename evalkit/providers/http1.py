"""Keep-alive HTTP/1.1 POSTs to one ``http://`` or ``https://`` server: the transport of the fast
path, for local inference servers (vLLM, llama.cpp's server, Ollama's /v1, the loopback test server)
and the vendors' own HTTPS endpoints.

At thousands of calls a minute the HTTP client is most of a run's CPU. Against a loopback server on
2 cores, aiohttp's client spends ~0.45 ms of the event loop's time per request inside a full run
(cookies, redirects, tracing, multidict headers, a payload registry); this module writes the
request line and headers itself and hands the response to ``httptools`` (llhttp, the C parser
uvicorn uses), ~0.1 ms. That is what brings a 0 ms-latency run under 1 ms per case. It does one
thing: POST a body, read one response (Content-Length, chunked, or until close), keep the
connection for the next request when the server allows it. For ``https://`` it speaks TLS through
asyncio with the system's verified default context (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` apply),
built once per process on a thread (:func:`tls_context_ahead`). It follows no redirect (a 3xx
answer is returned as it is). Proxies stay with aiohttp: :func:`lean_transport` says which one
carries a URL.

Errors: ``TimeoutError`` when ``timeout`` passes; :class:`TransportError` when the connection is
refused, reset or closed before a whole response arrived, the server's certificate is not
trusted (not transient), or the bytes are not HTTP. All leave no connection half-used in the pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import sys
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from evalkit.providers.base import request_sent


class TransportError(Exception):
    """The connection failed before a whole HTTP response arrived. ``transient``: whether trying
    again may succeed (not when the server's certificate is not trusted)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


# seconds a host's looked-up addresses are reused (aiohttp's DNS cache, in the transport before, kept 300)
DNS_TTL = 300.0
# aiohttp goes through these (trust_env), as litellm's httpx does; evalkit's own client does not
PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def lean_transport(url: str) -> bool:
    """Whether :class:`Http1Client` carries the calls to ``url``: a plain ``http://`` URL always,
    an ``https://`` one unless a proxy variable is set (then aiohttp, which honours it and
    ``NO_PROXY``); with ``EVALKIT_HTTP_CLIENT=aiohttp``, never."""
    if os.environ.get("EVALKIT_HTTP_CLIENT", "") == "aiohttp":
        return False
    if url.startswith("http://"):
        return True
    return url.startswith("https://") and not any(os.environ.get(name) for name in PROXY_VARIABLES)


class _TlsContext:
    """The verified client context, built on a thread: loading the system's CA certificates takes
    ~30 ms, which OpenSSL spends without the GIL, so it overlaps the rest of a run's start-up."""

    def __init__(self) -> None:
        self.context: ssl.SSLContext | None = None
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._build, name="evalkit-tls", daemon=True)
        self._thread.start()

    def _build(self) -> None:
        try:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self.context = context
        except Exception as exc:  # an unreadable SSL_CERT_FILE, ...: said at the first connection
            self.error = exc

    def get(self) -> ssl.SSLContext:
        self._thread.join()  # at the first connection only (`evalkit run` starts it early enough)
        if self.context is None:
            raise TransportError(f"cannot load the trusted CA certificates: {self.error}", transient=False)
        return self.context


_tls_lock = threading.Lock()
_tls_contexts: dict[tuple[str, str], _TlsContext] = {}


def tls_context_ahead() -> _TlsContext:
    """The process's TLS context for the current ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``, its building
    started now if it was not already."""
    key = (os.environ.get("SSL_CERT_FILE", ""), os.environ.get("SSL_CERT_DIR", ""))
    with _tls_lock:
        if key not in _tls_contexts:
            _tls_contexts[key] = _TlsContext()
        return _tls_contexts[key]


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]  # lower-case names; repeated headers keep the last value


class _Connection(asyncio.Protocol):
    """One TCP connection; at most one request on it at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Response] | None = None
        self._reset_message()

    def _reset_message(self) -> None:
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._headers_done = False
        self._until_close = False  # no Content-Length and not chunked: the body ends with the connection

    # ---- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # not an isinstance check: uvloop's transports (Ray workers run uvloop) are not subclasses
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"invalid HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._until_close and self._headers_done:
            self._finish()  # the close is the end of this body
            return
        reason = f": {exc}" if exc else ""
        self._fail(TransportError(f"connection closed before the response was complete{reason}"))

    # ---- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self._until_close = (
            "content-length" not in self._headers
            and "chunked" not in self._headers.get("transfer-encoding", "").lower()
        )

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._finish()

    # ---- requests -------------------------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter

    def _finish(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:  # 100 Continue, 103 Early Hints: more follows
            self._reset_message()
            return
        waiter, self._waiter = self._waiter, None
        response = Response(self._parser.get_status_code(), b"".join(self._body), self._headers)
        keep = not self._until_close and self._parser.should_keep_alive()
        self._reset_message()
        if not keep:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()  # an unfinished response must not be read by the next request


class Http1Client:
    """POSTs to one ``http(s)://host:port/path`` over a pool of idle keep-alive connections.

    Connections open on demand (the caller bounds how many requests are in flight) and are reused
    while the server keeps them alive. A client belongs to the event loop it was first used on; a
    different loop (a second ``asyncio.run``) starts with fresh connections.
    """

    def __init__(self, url: str, headers: Mapping[str, str]) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http:// or https:// URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls = tls_context_ahead() if parts.scheme == "https" else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        fixed = {"Host": parts.netloc, "Accept-Encoding": "identity", **headers}
        self._head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        self._idle: list[_Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0  # connections opened so far (reuse shows as opened << requests)
        self._literal = _is_address(self.host)  # an IP address: nothing to look up
        self._addresses: list[tuple[str, int]] = []
        self._addresses_until = 0.0
        self._lookup: asyncio.Lock | None = None  # of the client's loop

    async def post(self, body: bytes, timeout: float | None = None) -> Response:
        """Send ``body`` and return the whole response. Raises TimeoutError or TransportError."""
        loop = asyncio.get_running_loop()
        conn = await self._connection(loop)
        waiter = conn.send(f"{self._head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body)
        request_sent()  # only now: a call stopped while it connected never reached the server
        timer = loop.call_later(timeout, _expire, conn, waiter) if timeout else None
        try:
            response = await waiter
        except BaseException:
            conn.close()  # timed out, reset or cancelled mid-response: never reuse it
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not conn.closed:
            self._idle.append(conn)
        return _decoded(response)

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        if self._loop is not loop:  # connections of another (finished) loop are unusable
            self._close_idle()
            self._loop, self._lookup = loop, None
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
        tls = self._tls.get() if self._tls is not None else None
        failed: OSError | None = None
        for address, port in await self._resolved(loop):  # in order, as asyncio tries a host's
            try:
                if tls is not None and _SmallReadsTls is not None and isinstance(loop, asyncio.BaseEventLoop):
                    conn = await _tls_connection(loop, tls, self.host, address, port)
                else:  # plain HTTP; TLS on uvloop (Ray's workers) or Python 3.10, whose buffers differ
                    _, conn = await loop.create_connection(
                        _Connection, address, port, ssl=tls, server_hostname=self.host if tls else None
                    )
            except ssl.SSLCertVerificationError as exc:  # no retry makes it trusted
                raise TransportError(
                    f"cannot connect to {self.host}:{self.port}: {exc}", transient=False
                ) from None
            except OSError as exc:  # other ssl.SSLErrors (a failed handshake, ...) too
                failed = exc
                continue
            self.opened += 1
            return conn
        raise TransportError(f"cannot connect to {self.host}:{self.port}: {failed}")

    async def _resolved(self, loop: asyncio.AbstractEventLoop) -> list[tuple[str, int]]:
        """The server's addresses, looked up once (again after :data:`DNS_TTL`): the connections a
        run opens at once make one lookup, not one each."""
        if self._literal:
            return [(self.host, self.port)]
        if self._lookup is None:
            self._lookup = asyncio.Lock()
        async with self._lookup:
            if not self._addresses or loop.time() >= self._addresses_until:
                try:
                    found = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
                except OSError as exc:  # socket.gaierror
                    raise TransportError(f"cannot look up {self.host}: {exc}") from None
                self._addresses = [(str(info[4][0]), int(info[4][1])) for info in found]
                self._addresses_until = loop.time() + DNS_TTL
        return self._addresses

    def _close_idle(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def aclose(self) -> None:
        self._close_idle()


if sys.version_info >= (3, 11):
    from asyncio.sslproto import SSLProtocol

    class _SmallReadsTls(SSLProtocol):
        """asyncio's TLS layer with a 32 KiB read buffer instead of 256 KiB: it allocates and zeroes
        that buffer per connection, ~13 MB resident at 50 connections, for answers of a few KiB
        (a TLS record is at most 16 KiB; a bigger answer is read in more steps)."""

        max_size = 32 * 1024
else:  # 3.10's TLS layer allocates per read, not per connection
    _SmallReadsTls = None


async def _tls_connection(
    loop: asyncio.AbstractEventLoop, context: ssl.SSLContext, host: str, address: str, port: int
) -> _Connection:
    """A connection over TLS as ``loop.create_connection(ssl=context)`` makes one, through
    :class:`_SmallReadsTls`: the TCP connection carries the TLS layer, which carries the HTTP one."""
    assert _SmallReadsTls is not None
    conn = _Connection()
    handshake: asyncio.Future[None] = loop.create_future()
    layer = _SmallReadsTls(loop, conn, context, handshake, server_hostname=host)
    transport, _ = await loop.create_connection(lambda: layer, address, port)
    try:
        await handshake  # conn.connection_made has then been called, with the TLS transport
    except BaseException:
        transport.close()
        raise
    return conn


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _expire(conn: _Connection, waiter: asyncio.Future[Response]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
        conn.close()


def _decoded(response: Response) -> Response:
    """The body without a Content-Encoding we did not ask for (some gateways compress anyway)."""
    encoding = response.headers.get("content-encoding", "identity").lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            response.body = zlib.decompress(response.body, 16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            response.body = zlib.decompress(response.body)
    except zlib.error as exc:
        raise TransportError(f"undecodable {encoding} body: {exc}") from None
    return response

"""What the lean vendor clients share: one JSON POST per call, timed, classified and priced.

litellm's ``acompletion`` costs ~13 ms of CPU per call here whatever the vendor; a vendor whose
protocol evalkit speaks itself (:mod:`evalkit.providers.anthropic_messages`,
:mod:`evalkit.providers.gemini_generate`) costs what building a body, one HTTP round trip and
parsing the answer cost. A subclass says how a request becomes the vendor's body, how the answer
becomes a :class:`Completion` and where an error's message is; the HTTP round trip goes through
:mod:`evalkit.providers.http1`, or one pooled aiohttp session when a proxy is set
(:func:`~evalkit.providers.http1.lean_transport`), as :mod:`evalkit.providers.openai_compat`'s
does. Requests a lean client cannot carry faithfully (a response schema, non-text message parts)
are left to litellm (:meth:`LeanJsonClient.accepts`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from evalkit.errors import ProviderError
from evalkit.providers.base import Completion, CompletionRequest, request_sent, without_key
from evalkit.providers.http1 import Http1Client, TransportError, lean_transport, tls_context_ahead

if TYPE_CHECKING:
    import aiohttp

TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}
# (prompt tokens, completion tokens, cached prompt tokens, cache-write tokens)
#   -> (USD, USD the cached prompt tokens saved against the full input price)
# (prompt, completion, cached prompt, cache-write tokens[, service tier]) -> (USD, USD the cache saved)
Price = Callable[..., tuple[float, float]]


class JsonEndpoint:
    """POSTs JSON bodies to one URL: keep-alive HTTP/1.1 of its own, or aiohttp through a proxy."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = {"Content-Type": "application/json", **headers}
        self._http1 = Http1Client(url, self.headers) if lean_transport(url) else None
        # aiohttp trusts what evalkit's own client trusts (SSL_CERT_FILE as it is now, not as it was
        # when aiohttp was imported)
        self._tls = tls_context_ahead() if self._http1 is None and url.startswith("https://") else None
        self._session: aiohttp.ClientSession | None = None

    async def post(self, body: dict[str, Any], timeout: float | None) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, lower-case headers) of one POST. Raises TimeoutError or TransportError."""
        if self._http1 is not None:
            answer = await self._http1.post(json.dumps(body).encode(), timeout)
            return answer.status, answer.body, answer.headers
        import aiohttp  # only through a proxy (its import is ~0.2 s and ~13 MB)

        if self._session is None or self._session.closed:
            tls = self._tls.get() if self._tls is not None else True
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, ssl=tls)
            # trust_env: HTTPS_PROXY / NO_PROXY apply, as they do for litellm's httpx client
            self._session = aiohttp.ClientSession(
                connector=connector, json_serialize=json.dumps, trust_env=True, trace_configs=[sent_trace()]
            )
        client_timeout = aiohttp.ClientTimeout(total=timeout) if timeout else None
        try:
            async with self._session.post(
                self.url, json=body, headers=self.headers, timeout=client_timeout
            ) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return response.status, await response.read(), headers
        except aiohttp.ClientError as exc:
            untrusted = isinstance(exc, aiohttp.ClientConnectorCertificateError)  # no retry makes it trusted
            raise TransportError(f"{type(exc).__name__}: {exc}", transient=not untrusted) from None

    async def call(
        self, body: dict[str, Any], timeout: float | None
    ) -> tuple[int, bytes, dict[str, str], float]:
        """:meth:`post`, with the round trip's milliseconds, its failures raised as ProviderError: a
        timeout (``timed_out``), or a connection error (transient unless the certificate is untrusted)."""
        start = time.perf_counter()
        try:
            status, raw, headers = await self.post(body, timeout)
        except (TimeoutError, asyncio.TimeoutError):  # the same class on 3.11+, not on 3.10
            raise ProviderError(f"timeout after {timeout:g}s", transient=True, timed_out=True) from None
        except TransportError as exc:
            raise ProviderError(f"connection error: {exc}", transient=exc.transient) from None
        return status, raw, headers, (time.perf_counter() - start) * 1000.0

    async def aclose(self) -> None:
        if self._http1 is not None:
            await self._http1.aclose()
        if self._session is not None:
            await self._session.close()
            self._session = None


def sent_trace() -> aiohttp.TraceConfig:
    """An aiohttp trace that tells the call path when a request's headers are written
    (:func:`~evalkit.providers.base.request_sent`): a call stopped before that never reached the server."""
    import aiohttp

    async def written(*_: Any) -> None:
        request_sent()

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(written)
    return trace


_KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")


class LeanJsonClient:
    """One vendor protocol over :class:`JsonEndpoint`; subclasses fill in the protocol."""

    reports_sent = True  # its endpoint calls request_sent() once the request is written

    def __init__(self, url: str, headers: dict[str, str], model_name: str, price: Price) -> None:
        self.endpoint = JsonEndpoint(url, headers)
        self.model_name = model_name  # as the vendor knows it, without litellm's provider prefix
        self.price = price
        # the key the headers carry: a server that echoes it in an error must not get it stored
        self._secrets = [
            value.removeprefix("Bearer ")
            for name, value in headers.items()
            if name.lower() in _KEY_HEADERS and value.removeprefix("Bearer ")
        ]

    def accepts(self, request: CompletionRequest) -> bool:
        """Whether this client carries ``request`` faithfully: plain-text messages, no response schema,
        no tools (a tool call comes back through litellm's translation)."""
        return (
            request.response_schema is None
            and not request.tools
            and all(
                isinstance(m.get("content"), str) and m.get("role") in ("system", "user", "assistant")
                for m in request.messages
            )
        )

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        raise NotImplementedError

    def completion(self, data: Any) -> Completion:
        """The answer as a Completion (without latency and cost); KeyError/TypeError/... if malformed."""
        raise NotImplementedError

    def error_message(self, data: Any) -> str:
        """The vendor's message in an error body (KeyError/TypeError/... when there is none)."""
        raise NotImplementedError

    def retry_hint(self, data: Any) -> float | None:
        """Seconds to wait that an error body asks for (beyond a Retry-After header), if any."""
        return None

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            status, raw, headers, latency_ms = await self.endpoint.call(self.body(request), request.timeout)
        except ProviderError as failed:  # a timeout or a connection error
            raise self._redacted(failed) from None
        if status != 200:
            raise self._redacted(self._status_error(status, raw, headers.get("retry-after")))
        try:
            done = self.completion(json.loads(raw))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            error = ProviderError(f"malformed response body: {raw[:120]!r}", transient=True)
            raise self._redacted(error) from None
        cost, saved = self.price(
            done.prompt_tokens, done.completion_tokens, done.cached_prompt_tokens, done.cache_write_tokens
        )
        return replace(done, latency_ms=latency_ms, cost_usd=cost, prompt_cache_saved_usd=saved)

    def _redacted(self, error: ProviderError) -> ProviderError:
        for secret in self._secrets:
            error = without_key(error, secret)
        return error

    def _status_error(self, status: int, raw: bytes, retry_after: str | None) -> ProviderError:
        data: Any = None
        try:
            data = json.loads(raw)
            message = self.error_message(data)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            message = raw[:200].decode("utf-8", "replace")
        wait = _seconds(retry_after)
        if wait is None and data is not None:
            try:
                wait = self.retry_hint(data)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                wait = None
        return ProviderError(
            f"{status}: {message}", transient=status in TRANSIENT_STATUS, status=status, retry_after=wait
        )

    async def aclose(self) -> None:
        await self.endpoint.aclose()


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip().removesuffix("s")))
    except ValueError:
        return None


def sampling(params: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The request's sampling parameters under the vendor's names; others are dropped, as litellm's
    ``drop_params`` does (a vendor that lacks e.g. ``seed`` still answers)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or name not in names:
            continue
        if name == "stop" and isinstance(value, str):
            value = [value]
        out[names[name]] = value
    return out

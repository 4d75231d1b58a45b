"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` (and ``/chat/completions``) with configurable latency and
fault injection (500s, 429s with ``Retry-After``, requests that hang until released or for a while,
malformed bodies), decides its
answers with a replaceable ``responder`` and counts every request it sees, so tests can assert what
reached the wire. Like OpenAI, it reports the part of a prompt whose prefix it has seen before
(1,024 tokens or more, in 128-token steps: :mod:`evalkit.testing.prompt_cache`) as
``usage.prompt_tokens_details.cached_tokens``. Run in a background thread
(``with LoopbackOpenAI() as server:``) or as its own process for benchmarks
(``python -m evalkit.testing.openai_server --latency 0.2``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from evalkit.testing.faults import FaultPlan, Faults
from evalkit.testing.logprobs import logprob_content, scripted_logprob_content
from evalkit.testing.prompt_cache import CacheUse, PrefixCache

Responder = Callable[[dict[str, Any]], str]
# (request body, reply text) -> per generated token, its top alternatives {token: logprob}; None: the default
TopLogprobs = Callable[[dict[str, Any], str], "list[dict[str, float]] | None"]


Embedder = Callable[[str], list[float]]
# (request body) -> tool calls [{"name": ..., "arguments": {...}}] to answer with, or None to answer with text
ToolCaller = Callable[[dict[str, Any]], "list[dict[str, Any]] | None"]


def hashed_embedder(text: str, dims: int = 64) -> list[float]:
    """Default embedding: counts of hashed lower-case words (texts sharing words are similar)."""
    vector = [0.0] * dims
    for word in str(text).lower().split():
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    return vector


def echo_responder(body: dict[str, Any]) -> str:
    """Default answer: a JSON object echoing the last user message (deterministic)."""
    messages = body.get("messages") or [{}]
    return json.dumps({"echo": messages[-1].get("content", "")})


@dataclass
class ServerStats:
    requests: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_prompt: Counter[str] = field(default_factory=Counter)  # attempts per distinct request body
    max_in_flight: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)  # each request's Authorization header
    arrivals: list[tuple[str, float]] = field(default_factory=list)  # (prompt key, monotonic time)
    in_flight_at_arrival: list[int] = field(default_factory=list)  # requests open as each one arrived
    # wall-clock (time.time) of the first request's arrival and the last answer: a client process's
    # start-up and wind-down are measured against them (GET /stats)
    first_request_at: float | None = None
    last_answer_at: float | None = None


class LoopbackOpenAI:
    """The server. ``base_url`` (``http://127.0.0.1:PORT/v1``) is set once it is started.

    ``tls``: serve HTTPS with this server-side context instead (``https://127.0.0.1:PORT/v1``).
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        faults: Faults | None = None,
        responder: Responder = echo_responder,
        logprobs: bool = True,
        keep_bodies: bool = True,
        port: int = 0,
        fault_plan: FaultPlan | None = None,
        max_concurrent: int | None = None,
        top_logprobs: TopLogprobs | None = None,
        tool_caller: ToolCaller | None = None,
        cache_min_tokens: int | None = 1024,
        cache_block_tokens: int = 128,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.latency = latency
        self.tls = tls
        self.top_logprobs = top_logprobs  # scripted top_logprobs (e.g. of a judge's answer token)
        self.faults = faults or Faults()
        self.responder = responder
        self.tool_caller = tool_caller  # asked when a request offers `tools`
        self.embedder: Embedder = hashed_embedder  # answers POST /v1/embeddings
        self.logprobs = logprobs
        self.keep_bodies = keep_bodies
        self.port = port
        self.fault_plan = fault_plan  # decides faults per request, instead of the random `faults` shares
        self.max_concurrent = (
            max_concurrent  # answer 429 (Retry-After) to requests beyond this many in flight
        )
        self.prompt_cache = PrefixCache(cache_min_tokens, cache_block_tokens) if cache_min_tokens else None
        self.stats = ServerStats()
        self._rng = random.Random(self.faults.seed)
        self._in_flight = 0
        self._release: asyncio.Event | None = None  # set by release_hung: the hangs so far end
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.base_url = ""

    # ---- HTTP -------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        if self.stats.first_request_at is None:
            self.stats.first_request_at = time.time()
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                return web.json_response({"error": {"message": "invalid JSON"}}, status=400)
            if self.keep_bodies:
                self.stats.bodies.append(body)
                self.stats.authorizations.append(request.headers.get("Authorization"))
            use = self.prompt_cache.look_up(body) if self.prompt_cache else CacheUse()  # in arrival order
            fault = await self._fault(body)
            if fault == "500":
                return web.json_response({"error": {"message": "injected server error"}}, status=500)
            if fault == "429":
                return web.json_response(
                    {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                    status=429,
                    headers={"Retry-After": f"{self.faults.retry_after:g}"},
                )
            if fault == "hang":
                await self._hang()
                return web.json_response({"error": {"message": "hung"}}, status=504)
            if fault == "malformed":
                return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
            use.remember()  # answered: only now is the prompt in the cache (a failed request warms nothing)
            cached = use.cached
            calls = self.tool_caller(body) if self.tool_caller and body.get("tools") else None
            if calls:
                return web.json_response(self._tool_completion(body, calls, cached))
            text = self.responder(body)
            return web.json_response(self._completion(body, text, cached))
        finally:
            self._in_flight -= 1
            self.stats.last_answer_at = time.time()

    async def _fault(self, body: dict[str, Any]) -> str:
        """Count the request (OpenAI-shaped) by its prompt; after the latency, what it meets: ok, 500,
        429 (also when over max_concurrent on arrival), hang or malformed."""
        key = prompt_key(body)
        self.stats.by_prompt[key] += 1
        if self.keep_bodies:
            self.stats.arrivals.append((key, time.monotonic()))
            self.stats.in_flight_at_arrival.append(self._in_flight)
        overloaded = self.max_concurrent is not None and self._in_flight > self.max_concurrent
        if self.latency:
            await asyncio.sleep(self.latency)
        if overloaded:
            fault = "429"
        elif self.fault_plan is not None:
            fault = self.fault_plan(body, self.stats.by_prompt[key]) or "ok"
        else:
            fault = self.faults.pick(self._rng)
        self.stats.by_outcome[fault] += 1
        return fault

    async def _hang(self) -> None:
        """Hold a request for ``faults.hang_seconds``, or until :meth:`release_hung` is called."""
        if self._release is None:
            self._release = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._release.wait(), self.faults.hang_seconds)

    def release_hung(self) -> None:
        """End the requests hanging now (each answers 504, as at the end of its hang); later hangs
        hang again. Callable from any thread: a test releases a hung call once it has seen the
        other calls complete while it was open."""

        def release() -> None:
            if self._release is not None:
                self._release.set()
                self._release = None

        if self._loop is not None:
            self._loop.call_soon_threadsafe(release)

    async def _stats(self, _request: web.Request) -> web.StreamResponse:
        """Requests seen, those still unanswered (``in_flight``: hung, or waiting out their latency,
        whether or not their client still waits), and when the first arrived and the last was answered."""
        stats = self.stats
        return web.json_response(
            {
                "requests": stats.requests,
                "in_flight": self._in_flight,
                "first_request_at": stats.first_request_at,
                "last_answer_at": stats.last_answer_at,
            }
        )

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        body = json.loads(await request.read())
        if self.keep_bodies:
            self.stats.bodies.append(body)
        texts = body.get("input") or []
        texts = [texts] if isinstance(texts, str) else texts
        data = [
            {"object": "embedding", "index": i, "embedding": self.embedder(t)} for i, t in enumerate(texts)
        ]
        tokens = sum(max(1, len(str(t)) // 4) for t in texts)
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "loopback"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _completion(self, body: dict[str, Any], text: str, cached: int = 0) -> dict[str, Any]:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        if self.logprobs and body.get("logprobs"):
            scripted = self.top_logprobs(body, text) if self.top_logprobs is not None else None
            content = (
                scripted_logprob_content(scripted)
                if scripted is not None
                else logprob_content(text, body.get("top_logprobs") or 0)
            )
            choice["logprobs"] = {"content": content}
        return {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "loopback"),
            "service_tier": body.get("service_tier")
            or "default",  # the tier it was served at, as OpenAI says
            "choices": [choice],
            "usage": {
                "prompt_tokens": max(1, prompt_chars // 4),
                "completion_tokens": max(1, len(text) // 4),
                "total_tokens": max(1, prompt_chars // 4) + max(1, len(text) // 4),
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        }

    def _tool_completion(
        self, body: dict[str, Any], calls: list[dict[str, Any]], cached: int = 0
    ) -> dict[str, Any]:
        """An answer with tool calls (OpenAI's form: arguments as a JSON string, no content)."""
        answer = self._completion(body, "", cached)
        answer["choices"][0]["message"] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments", {}))},
                }
                for i, c in enumerate(calls)
            ],
        }
        answer["choices"][0]["finish_reason"] = "tool_calls"
        return answer

    # ---- lifecycle ----------------------------------------------------------------------------

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in ("/v1/chat/completions", "/chat/completions"):
            app.router.add_post(path, self._chat)
        for path in ("/v1/embeddings", "/embeddings"):
            app.router.add_post(path, self._embeddings)
        app.router.add_get("/stats", self._stats)
        # stopping must not wait for deliberately hung requests
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024, ssl_context=self.tls)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        self.base_url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1"

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # requests still hanging (deliberately) are cancelled rather than left pending
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def start(self) -> LoopbackOpenAI:
        """Start serving in a background thread; returns once the port is bound."""

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            self._ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="loopback-openai", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is None:
            return
        loop = self._loop
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if not loop.is_running():  # closed here, not by the garbage collector after its sockets are gone
            loop.close()
        self._loop = None

    def __enter__(self) -> LoopbackOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def prompt_key(body: dict[str, Any]) -> str:
    """Identifies a request by its messages (retries of one call share it)."""
    return hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()[:16]


def main() -> None:
    """Serve until killed, printing the base URL on the first line (for benchmarks in a subprocess)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    faults_options = {"error_500": 0.0, "rate_limit_429": 0.0, "hang": 0.0, "malformed": 0.0}  # shares
    faults_options.update(retry_after=0.05, hang_seconds=30.0)  # seconds
    for name, default in faults_options.items():
        parser.add_argument("--" + name.replace("_", "-"), type=float, default=default)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-concurrent", type=int, help="answer 429 beyond this many requests in flight")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate chain (PEM, with --tls-key)")
    parser.add_argument("--tls-key", help="the private key of --tls-cert (PEM)")
    args = parser.parse_args()
    faults = Faults(seed=args.seed, **{name: getattr(args, name) for name in faults_options})
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    server = LoopbackOpenAI(
        latency=args.latency,
        faults=faults,
        port=args.port,
        keep_bodies=False,
        max_concurrent=args.max_concurrent,
        tls=tls,
    )

    async def run() -> None:
        await server._start()
        print(server.base_url, flush=True)
        stop = asyncio.Event()
        try:
            await stop.wait()
        finally:
            if server._runner is not None:
                await server._runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()

"""Loopback servers that speak Anthropic's Messages API and Gemini's ``generateContent``.

Like :class:`~evalkit.testing.openai_server.LoopbackOpenAI` (whose latency, fault injection,
request counting and lifecycle they share), on 127.0.0.1, in a background thread
(``with LoopbackAnthropic() as server:``) or as a process for benchmarks
(``python -m evalkit.testing.vendor_servers anthropic --latency 0``). The ``responder`` sees the
request in OpenAI's shape (``{"model", "messages"}``), so the same responders serve every protocol;
``stats.bodies`` keeps the bodies as the vendor received them. Errors are shaped as each vendor
shapes them (Anthropic: 529 ``overloaded_error``; Gemini: ``RetryInfo.retryDelay`` on 429s).
Both report a repeated prompt prefix as cached, each as its API does. Anthropic's caches only up
to the last block marked ``cache_control`` (system or message content), 1,024 tokens or more: the
first request with a prefix reports it as ``cache_creation_input_tokens``, later ones as
``cache_read_input_tokens``, and a request with no marked block caches nothing. Gemini's reports a
repeated prefix as ``cachedContentTokenCount`` (its implicit caching).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

from aiohttp import web

from evalkit.testing.faults import Faults
from evalkit.testing.openai_server import LoopbackOpenAI
from evalkit.testing.prompt_cache import CacheUse


class _VendorLoopback(LoopbackOpenAI):
    """The protocol-independent part: counting, latency, faults; subclasses shape bodies and routes."""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def base_path(self) -> str:
        raise NotImplementedError

    def as_openai(self, body: dict[str, Any], request: web.Request) -> dict[str, Any]:
        raise NotImplementedError

    def answer(
        self, body: dict[str, Any], request: web.Request, text: str, cached: int, written: int = 0
    ) -> dict[str, Any]:
        """The vendor's answer with ``text``; ``cached`` prompt tokens came from the prompt cache and
        ``written`` were written to it."""
        raise NotImplementedError

    def prompt_cache_usage(self, body: dict[str, Any], openai_body: dict[str, Any]) -> CacheUse:
        """What a request finds in the prompt cache (remembered once it is answered)."""
        return self.prompt_cache.look_up(openai_body) if self.prompt_cache else CacheUse()

    def error(self, status: int, message: str) -> web.Response:
        raise NotImplementedError

    async def _vendor(self, request: web.Request) -> web.StreamResponse:
        self.stats.requests += 1
        if self.stats.first_request_at is None:
            self.stats.first_request_at = time.time()
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            try:
                body = json.loads(await request.read())
            except ValueError:
                return self.error(400, "invalid JSON")
            if self.keep_bodies:
                self.stats.bodies.append(body)
            openai_body = self.as_openai(body, request)
            use = self.prompt_cache_usage(body, openai_body)  # in arrival order
            fault = await self._fault(openai_body)
            if fault == "500":
                return self.error(500, "injected server error")
            if fault == "429":
                return self.error(429, "rate limited")
            if fault == "hang":
                await asyncio.sleep(self.faults.hang_seconds)
                return self.error(504, "hung")
            if fault == "malformed":
                return web.Response(text='{"id": "x", "content": [', content_type="application/json")
            use.remember()  # answered: only now is the prefix in the cache (a failed request warms nothing)
            text = self.responder(openai_body)
            return web.json_response(self.answer(body, request, text, use.cached, use.written))
        finally:
            self._in_flight -= 1
            self.stats.last_answer_at = time.time()

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.routes(app)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{self.port}{self.base_path()}"


def _text(content: Any) -> Any:
    """Anthropic content as text: a string, or its text blocks joined (how litellm sends it)."""
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return content


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _marked_prefix(body: dict[str, Any]) -> str:
    """The prompt's text up to and including its last block marked ``cache_control`` ("" if none),
    in the order the API reads it: system, then the messages."""
    blocks: list[tuple[str, bool]] = []
    for content in [body.get("system"), *(m.get("content") for m in body.get("messages") or [])]:
        if isinstance(content, list):
            blocks += [(str(b.get("text", "")), "cache_control" in b) for b in content if isinstance(b, dict)]
        elif content:
            blocks.append((str(content), False))
    marked = [i for i, (_, mark) in enumerate(blocks) if mark]
    return "".join(text for text, _ in blocks[: marked[-1] + 1]) if marked else ""


class LoopbackAnthropic(_VendorLoopback):
    """``POST /v1/messages``; ``base_url`` is the server's root (clients append ``/v1/messages``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._marked_seen: set[tuple[str, str]] = set()  # (model, marked prefix) already written

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._vendor)

    def base_path(self) -> str:
        return ""

    def as_openai(self, body: dict[str, Any], request: web.Request) -> dict[str, Any]:
        system = [{"role": "system", "content": _text(body["system"])}] if body.get("system") else []
        messages = [
            {"role": m.get("role"), "content": _text(m.get("content"))} for m in body.get("messages") or []
        ]
        return {"model": body.get("model"), "messages": system + messages}

    def prompt_cache_usage(self, body: dict[str, Any], openai_body: dict[str, Any]) -> CacheUse:
        if self.prompt_cache is None:
            return CacheUse()
        prefix = _marked_prefix(body)
        tokens = _tokens(prefix) if prefix else 0
        if tokens < self.prompt_cache.min_tokens:
            return CacheUse()  # nothing marked, or too short to cache
        key = (str(body.get("model")), prefix)
        if key in self._marked_seen:
            return CacheUse(cached=tokens)
        return CacheUse(written=tokens, remember=lambda: self._marked_seen.add(key))

    def answer(
        self, body: dict[str, Any], request: web.Request, text: str, cached: int, written: int = 0
    ) -> dict[str, Any]:
        prompt = "".join(str(m["content"]) for m in self.as_openai(body, request)["messages"])
        usage = {"input_tokens": _tokens(prompt) - cached - written, "output_tokens": _tokens(text)}
        if cached or written:
            usage.update(cache_read_input_tokens=cached, cache_creation_input_tokens=written)
        return {
            "id": "msg_loopback",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "loopback"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }

    def error(self, status: int, message: str) -> web.Response:
        if status == 500:  # Anthropic's usual server-side failure
            status, message = 529, "Overloaded"
        kind = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}.get(
            status, "api_error"
        )
        headers = {"Retry-After": f"{self.faults.retry_after:g}"} if status == 429 else None
        return web.json_response(
            {"type": "error", "error": {"type": kind, "message": message}}, status=status, headers=headers
        )


class LoopbackGemini(_VendorLoopback):
    """``POST /v1beta/models/{model}:generateContent``; ``base_url`` ends in ``/v1beta``."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{action}", self._vendor)

    def base_path(self) -> str:
        return "/v1beta"

    def as_openai(self, body: dict[str, Any], request: web.Request) -> dict[str, Any]:
        model = request.match_info["action"].removesuffix(":generateContent")
        # Gemini reads its JSON field names in either spelling (litellm sends system_instruction)
        system = body.get("systemInstruction") or body.get("system_instruction")
        messages = [{"role": "system", "content": system["parts"][0]["text"]}] if system else []
        for turn in body.get("contents") or []:
            role = "assistant" if turn.get("role") == "model" else "user"
            messages.append({"role": role, "content": "".join(p.get("text", "") for p in turn["parts"])})
        return {"model": model, "messages": messages}

    def answer(
        self, body: dict[str, Any], request: web.Request, text: str, cached: int, written: int = 0
    ) -> dict[str, Any]:
        # the system instruction counts, as Gemini counts it
        prompt = "".join(str(m["content"]) for m in self.as_openai(body, request)["messages"])
        prompt_tokens, text_tokens = _tokens(prompt), _tokens(text)
        usage = {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": text_tokens,
            "totalTokenCount": prompt_tokens + text_tokens,
        }
        if cached:  # Gemini's implicit caching: counted in promptTokenCount
            usage["cachedContentTokenCount"] = cached
        return {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage,
            "modelVersion": request.match_info["action"].removesuffix(":generateContent"),
        }

    def error(self, status: int, message: str) -> web.Response:
        kind = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}.get(
            status, "UNAVAILABLE"
        )
        error: dict[str, Any] = {"code": status, "message": message, "status": kind}
        if status == 429:  # Gemini says how long to wait in the body, not in Retry-After
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{self.faults.retry_after:g}s",
                }
            ]
        return web.json_response({"error": error}, status=status)


SERVERS: dict[str, type[_VendorLoopback]] = {"anthropic": LoopbackAnthropic, "gemini": LoopbackGemini}


def main() -> None:
    """Serve one protocol until killed, printing the base URL on the first line (for benchmarks)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("protocol", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = SERVERS[args.protocol](latency=args.latency, faults=Faults(), port=args.port, keep_bodies=False)

    async def run() -> None:
        await server._start()
        print(server.base_url, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            if server._runner is not None:
                await server._runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()

"""Anthropic Messages and Gemini generateContent spoken by evalkit itself, against loopback servers
that speak each protocol: request bodies, answers, usage and price, errors and Retry-After."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import ProviderError
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ConcurrencyLimit, ModelCaller, RetryPolicy
from evalkit.providers.litellm import LitellmProvider
from evalkit.providers.prices import call_cost, token_prices
from evalkit.store import open_store
from evalkit.testing.openai_server import Faults
from evalkit.testing.vendor_servers import LoopbackAnthropic, LoopbackGemini
from tests.conftest import CliResult, loopback_suite

ANTHROPIC_MODEL = "anthropic/claude-haiku-4-5-20251001"
GEMINI_MODEL = "gemini/gemini-2.5-flash"
SERVERS = {ANTHROPIC_MODEL: LoopbackAnthropic, GEMINI_MODEL: LoopbackGemini}
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def no_litellm(monkeypatch: pytest.MonkeyPatch) -> None:
    """These calls must never reach litellm: importing it fails the test."""

    def refuse() -> Any:
        raise AssertionError("litellm was used")

    monkeypatch.setattr("evalkit.providers.litellm.import_litellm", refuse)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-loopback")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-loopback")


def request(model: str, server: Any, **params: Any) -> CompletionRequest:
    return CompletionRequest(
        model=model,
        messages=MESSAGES,
        params={"temperature": 0, **params},
        api_base=server.base_url,
        timeout=5,
    )


def complete(*requests: CompletionRequest, attempts: int = 4) -> list[Any]:
    """Complete through the whole call path (retries included); a failure is returned, not raised."""
    caller = ModelCaller(
        limit=ConcurrencyLimit(4, maximum=4, adaptive=False),
        retry=RetryPolicy(base_delay=0.01, max_attempts=attempts),
        seed=1,
    )

    async def go() -> list[Any]:
        try:
            return await asyncio.gather(*(caller.complete(r) for r in requests), return_exceptions=True)
        finally:
            await caller.aclose()

    return asyncio.run(go())


def test_anthropic_request_and_answer() -> None:
    with LoopbackAnthropic() as server:
        (done,) = complete(request(ANTHROPIC_MODEL, server, max_tokens=64, stop="END", seed=3, top_p=0.5))
        (body,) = server.stats.bodies
    assert body == {
        "model": "claude-haiku-4-5-20251001",
        "system": "Answer in JSON.",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 64,
        "temperature": 0,
        "top_p": 0.5,
        "stop_sequences": ["END"],  # and no seed: the API has none
    }
    assert json.loads(done.text) == {"echo": "hi"}
    assert done.finish_reason == "stop" and done.model == "claude-haiku-4-5-20251001"
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert token_prices(ANTHROPIC_MODEL) is not None  # priced from litellm's map, litellm not imported
    assert done.cost_usd == pytest.approx(
        call_cost(ANTHROPIC_MODEL, done.prompt_tokens, done.completion_tokens)
    )
    assert done.cost_usd > 0


def test_anthropic_defaults_max_tokens_and_sends_the_key_and_version() -> None:
    with LoopbackAnthropic() as server:
        seen: list[dict[str, str]] = []
        original = server.as_openai

        def spy(body: dict[str, Any], req: Any) -> dict[str, Any]:
            seen.append(dict(req.headers))
            return original(body, req)

        server.as_openai = spy  # type: ignore[method-assign]
        complete(request(ANTHROPIC_MODEL, server))
    assert server.stats.bodies[0]["max_tokens"] == 4096
    assert seen[0]["x-api-key"] == "sk-ant-loopback" and seen[0]["anthropic-version"] == "2023-06-01"


def test_gemini_request_and_answer() -> None:
    with LoopbackGemini() as server:
        (done,) = complete(request(GEMINI_MODEL, server, max_tokens=64, seed=3, logprobs=True))
        (body,) = server.stats.bodies
    assert body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Answer in JSON."}]},
        "generationConfig": {"temperature": 0, "maxOutputTokens": 64, "seed": 3},
    }
    assert json.loads(done.text) == {"echo": "hi"}
    assert done.finish_reason == "stop" and done.model == "gemini-2.5-flash"
    assert done.cost_usd == pytest.approx(call_cost(GEMINI_MODEL, done.prompt_tokens, done.completion_tokens))
    assert done.cost_usd > 0


def test_the_gemini_server_counts_a_system_instruction_in_either_spelling() -> None:
    # litellm sends `system_instruction`, evalkit `systemInstruction`; Gemini reads both, and a
    # server that missed one counted fewer prompt tokens for litellm's calls (a cheaper bench figure)
    def usage(server: LoopbackGemini, key: str) -> dict[str, Any]:
        body = {
            "contents": [{"role": "user", "parts": [{"text": "q1"}]}],
            key: {"parts": [{"text": "Answer in JSON."}]},
        }
        url = f"{server.base_url}/models/gemini-2.5-flash:generateContent"
        post = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(post, timeout=10) as answer:
            return dict(json.loads(answer.read())["usageMetadata"])

    with LoopbackGemini() as server:
        camel, snake = usage(server, "systemInstruction"), usage(server, "system_instruction")
    with LoopbackGemini() as server:
        alone = usage(server, "unknown_field")
    assert camel == snake
    assert camel["promptTokenCount"] > alone["promptTokenCount"]


@pytest.mark.parametrize("model", [ANTHROPIC_MODEL, GEMINI_MODEL])
@pytest.mark.parametrize("fault", ["500", "429", "malformed"])
def test_transient_errors_are_retried(model: str, fault: str) -> None:
    with SERVERS[model](fault_plan=lambda body, seen: fault if seen <= 2 else None) as server:
        (done,) = complete(request(model, server))
        assert server.stats.requests == 3
    assert json.loads(done.text) == {"echo": "hi"} and done.attempts == 3


@pytest.mark.parametrize("http_client", ["lean", "aiohttp"])
@pytest.mark.parametrize("model", [ANTHROPIC_MODEL, GEMINI_MODEL])
def test_the_servers_wait_is_honoured(model: str, http_client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anthropic says Retry-After; Gemini says RetryInfo.retryDelay in the body. Over evalkit's own
    transport and over aiohttp (which https:// endpoints use)."""
    if http_client == "aiohttp":
        monkeypatch.setenv("EVALKIT_HTTP_CLIENT", "aiohttp")
    faults = Faults(retry_after=0.4)
    with SERVERS[model](fault_plan=lambda body, seen: "429" if seen == 1 else None, faults=faults) as server:
        complete(request(model, server))
        (_, first), (_, second) = server.stats.arrivals
    assert second - first >= 0.4


@pytest.mark.parametrize("model", [ANTHROPIC_MODEL, GEMINI_MODEL])
def test_errors_carry_the_vendors_message_and_permanent_ones_are_not_retried(model: str) -> None:
    with SERVERS[model](fault_plan=lambda body, seen: "429") as server:
        (rate_limited,) = complete(request(model, server), attempts=1)
        (missing,) = complete(
            CompletionRequest(model=model, messages=MESSAGES, api_base=server.base_url + "/nowhere"),
            attempts=3,
        )
        requests = server.stats.requests
    assert isinstance(rate_limited, ProviderError) and rate_limited.transient and rate_limited.status == 429
    assert "rate limited" in rate_limited.message
    assert rate_limited.message.split(": ", 2)[1] in ("rate_limit_error", "RESOURCE_EXHAUSTED")
    assert isinstance(missing, ProviderError) and not missing.transient and missing.status == 404
    assert requests == 1 and missing.attempts == 1  # a 404 is not retried


def test_a_blocked_gemini_prompt_is_a_permanent_error() -> None:
    with LoopbackGemini() as server:
        server.answer = lambda body, req, text, *usage: {"promptFeedback": {"blockReason": "SAFETY"}}  # type: ignore[method-assign]
        (blocked,) = complete(request(GEMINI_MODEL, server))
        assert server.stats.requests == 1
    assert isinstance(blocked, ProviderError) and "blocked" in blocked.message and not blocked.transient


def test_what_the_lean_clients_cannot_carry_goes_to_litellm() -> None:
    provider = LitellmProvider(ANTHROPIC_MODEL)
    plain = CompletionRequest(model=ANTHROPIC_MODEL, messages=MESSAGES, api_base="http://127.0.0.1:9")
    schema = CompletionRequest(
        model=ANTHROPIC_MODEL,
        messages=MESSAGES,
        api_base="http://127.0.0.1:9",
        response_schema={"type": "object"},
    )
    parts = CompletionRequest(
        model=ANTHROPIC_MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],  # type: ignore[list-item]
    )
    assert provider.enforces_timeout(plain)
    assert not provider.enforces_timeout(schema) and not provider.enforces_timeout(parts)
    assert not LitellmProvider("mistral/mistral-small").enforces_timeout(plain)


def test_a_suite_on_the_anthropic_protocol_runs_end_to_end(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    cases = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}} for i in range(6)]
    scorers = "  - name: json_fields\n    args: {fields: {echo: {match: exact}}}\n"
    with LoopbackAnthropic() as server:
        suite = loopback_suite(server.base_url, scorers=scorers).replace("openai/loopback", ANTHROPIC_MODEL)
        result = cli(
            "run", str(make_suite(suite, cases)), "--db", str(tmp_path / "r.duckdb"), "--no-progress"
        )
        assert server.stats.requests == 6
    assert result.exit_code == 0, result.stdout + result.stderr
    run = open_store(tmp_path / "r.duckdb").get_run()
    assert run.summary is not None and run.summary.gate_counts is not None
    assert run.summary.gate_counts.passed == 6 and run.summary.cost_usd > 0


def test_a_key_the_server_echoes_in_an_error_is_redacted() -> None:
    """An Anthropic-protocol server that repeats the request's x-api-key in its error body: the
    error evalkit stores says [redacted] instead."""
    import asyncio
    import http.server
    import threading

    from evalkit.errors import ProviderError
    from evalkit.providers.anthropic_messages import AnthropicMessagesClient

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = json.dumps(
                {
                    "type": "error",
                    "error": {"type": "auth", "message": f"bad key {self.headers['x-api-key']}"},
                }
            ).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = AnthropicMessagesClient(
        f"http://127.0.0.1:{server.server_address[1]}",
        "claude",
        lambda *tokens: (0.0, 0.0),
        api_key="sk-ant-canary-42",
    )

    async def call() -> ProviderError:
        try:
            await client.complete(CompletionRequest(model=ANTHROPIC_MODEL, messages=MESSAGES, timeout=10))
        except ProviderError as exc:
            return exc
        finally:
            await client.aclose()
        raise AssertionError("a 401 must be an error")

    try:
        error = asyncio.run(call())
    finally:
        server.shutdown()
    assert error.status == 401 and "[redacted]" in error.message
    assert "sk-ant-canary-42" not in error.message


@pytest.mark.parametrize("tier", ["priority", "flex"])
def test_the_openai_client_charges_the_service_tier_it_was_served_at(tier: str) -> None:
    """A request asking for a tier is served (and billed) at it, as the response says; on the lean
    path it was charged at standard prices, as litellm's path was not."""
    from evalkit.providers.lean_vendors import lean_client
    from evalkit.testing.openai_server import LoopbackOpenAI

    with LoopbackOpenAI() as server:
        client = lean_client("openai/gpt-5.4", server.base_url)
        request = CompletionRequest(
            model="openai/gpt-5.4",
            messages=[{"role": "user", "content": "x" * 400}],
            params={"service_tier": tier},
        )

        async def once() -> Any:
            try:
                return await client.complete(request)
            finally:
                await client.aclose()

        answer = asyncio.run(once())
    assert answer.prompt_tokens > 0 and answer.completion_tokens > 0
    charged = call_cost("openai/gpt-5.4", answer.prompt_tokens, answer.completion_tokens, tier=tier)
    assert answer.cost_usd == pytest.approx(charged)
    assert answer.cost_usd != pytest.approx(
        call_cost("openai/gpt-5.4", answer.prompt_tokens, answer.completion_tokens)
    )

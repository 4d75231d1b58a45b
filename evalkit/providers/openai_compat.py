"""A lean HTTP client for OpenAI-compatible endpoints given by ``api_base`` (vLLM, llama.cpp server,
Ollama's /v1, a company gateway, the loopback test server).

The model string is resolved the way litellm resolves it (``openai/<name>`` + ``api_base``) and the
call is priced from litellm's own price map (:mod:`evalkit.providers.prices`); only the HTTP round
trip skips litellm's per-call machinery (logging hooks, client setup, response re-validation), which
costs ~13 ms of CPU per call here (litellm 1.110) against ~0.4 ms for a plain aiohttp request,
and its import (~6 s, ~160 MB). At 2000 calls that is the difference between being CPU-bound and reaching
the latency limit. Set ``EVALKIT_FAST_PATH=0`` to send these calls through ``litellm.acompletion``.

The HTTP round trip itself goes through :mod:`evalkit.providers.http1` (keep-alive HTTP/1.1, TLS
for ``https://``), which costs a quarter of aiohttp's CPU per request and needs no aiohttp import
(~0.2 s before the first call); through aiohttp when a proxy variable is set (``HTTPS_PROXY``, ...),
or for every URL with ``EVALKIT_HTTP_CLIENT=aiohttp`` (:class:`~evalkit.providers.lean_client.JsonEndpoint`).
"""

from __future__ import annotations

import json
import os
from typing import Any

from evalkit.errors import ProviderError
from evalkit.providers.base import Completion, CompletionRequest, without_key
from evalkit.providers.lean_client import JsonEndpoint
from evalkit.providers.prices import service_tier
from evalkit.providers.tool_calls import tool_calls_text

# litellm providers whose endpoints speak the OpenAI chat completions protocol unchanged
OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "openai_like", "custom_openai", "lm_studio", "llamafile"}
_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def fast_path_enabled() -> bool:
    return os.environ.get("EVALKIT_FAST_PATH", "1") != "0"


class OpenAICompatClient:
    """POSTs chat completions to ``{api_base}/chat/completions`` through a
    :class:`~evalkit.providers.lean_client.JsonEndpoint`."""

    reports_sent = True  # both call request_sent() once the request is written

    def __init__(self, api_base: str, model_name: str, api_key: str | None, price: Any) -> None:
        self.url = api_base.rstrip("/") + "/chat/completions"
        self.model_name = model_name  # without the provider prefix, as the server knows it
        self.headers = {"Content-Type": "application/json"}
        self._key = api_key
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.price = price  # lean_client.Price: tokens -> (USD, USD saved by cached prompt tokens)
        self.endpoint = JsonEndpoint(self.url, self.headers)

    async def complete(self, request: CompletionRequest) -> Completion:
        body: dict[str, Any] = {"model": self.model_name, "messages": request.messages}
        body.update({k: v for k, v in request.params.items() if v is not None})
        if request.response_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": request.response_schema, "strict": False},
            }
        if request.tools is not None:
            body["tools"] = request.tools
        status, raw, headers, latency_ms = await self.endpoint.call(body, request.timeout)
        if status != 200:
            raise without_key(_status_error(status, raw, headers.get("retry-after")), self._key)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
            if message.get("tool_calls"):
                text = tool_calls_text(text, message["tool_calls"])
        except (ValueError, KeyError, IndexError, TypeError):
            error = ProviderError(f"malformed response body: {raw[:120]!r}", transient=True)
            raise without_key(error, self._key) from None
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        details = usage.get("prompt_tokens_details")  # OpenAI's prompt cache: cached_tokens
        cached = int(details.get("cached_tokens") or 0) if details else 0
        # priority and flex calls have prices of their own: the tier the response says it was served
        # at (OpenAI reports it), else the one asked for
        tier = service_tier(data.get("service_tier") or request.params.get("service_tier"))
        cost, saved = self.price(prompt_tokens, completion_tokens, cached, 0, tier)
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            cached_prompt_tokens=cached,
            prompt_cache_saved_usd=saved,
            latency_ms=latency_ms,
            model=str(data.get("model") or self.model_name),
            finish_reason=choice.get("finish_reason"),
            logprobs=choice.get("logprobs"),
        )

    async def aclose(self) -> None:
        await self.endpoint.aclose()


def _status_error(status: int, raw: bytes, retry_after: str | None) -> ProviderError:
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw[:200].decode("utf-8", "replace")
    wait = None
    if retry_after is not None:
        try:
            wait = max(0.0, float(retry_after))
        except ValueError:
            wait = None
    return ProviderError(
        f"{status}: {message}", transient=status in _TRANSIENT_STATUS, status=status, retry_after=wait
    )

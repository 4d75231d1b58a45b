"""Anthropic's Messages API (``POST {base}/v1/messages``), spoken by evalkit for ``anthropic/...`` models.

The endpoint is resolved as litellm resolves it: the suite's ``api_base`` (else ``ANTHROPIC_API_BASE``
or ``ANTHROPIC_BASE_URL``, else ``https://api.anthropic.com``), with ``/v1/messages`` appended unless
it already ends so; the key comes from ``ANTHROPIC_API_KEY`` (``x-api-key``). System messages become
the top-level ``system``; ``stop`` becomes ``stop_sequences``; ``max_tokens``, which the API requires,
defaults to 4096 as in litellm; parameters the API lacks (``seed``, ``logprobs``, ...) are dropped.
Prompt tokens include cache writes and reads, as litellm counts them; the reads and writes are also
recorded apart (``cache_read_input_tokens``, ``cache_creation_input_tokens``) and priced at their own rates.
The API caches a prompt only up to blocks marked ``cache_control``: a suite asks for that with
``target.cache_prefix: true`` (:func:`mark_cache_prefix`); without it nothing is cached.
"""

from __future__ import annotations

import os
from typing import Any

from evalkit.providers.base import Completion, CompletionRequest
from evalkit.providers.lean_client import LeanJsonClient, Price, sampling

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_PARAMS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "max_tokens": "max_tokens",
    "stop": "stop_sequences",
}
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def mark_cache_prefix(body: dict[str, Any]) -> None:
    """Ask for the prompt's stable prefix to be cached: ``cache_control`` on the system prompt and on
    the turn before the last (the end of any few-shot turns; the last one holds the case). The API
    caches everything up to a marked block, when it is long enough (1,024 tokens or more)."""
    ephemeral = {"type": "ephemeral"}
    if body.get("system"):
        body["system"] = [{"type": "text", "text": body["system"], "cache_control": ephemeral}]
    messages = body["messages"]
    if len(messages) >= 2:
        turn = messages[-2]
        content = turn["content"]
        if isinstance(content, str):
            turn["content"] = [{"type": "text", "text": content, "cache_control": ephemeral}]
        elif content:
            turn["content"] = [*content[:-1], {**content[-1], "cache_control": ephemeral}]


def messages_url(api_base: str | None) -> str:
    base = api_base or os.environ.get("ANTHROPIC_API_BASE") or os.environ.get("ANTHROPIC_BASE_URL")
    base = (base or "https://api.anthropic.com").rstrip("/")
    return base if base.endswith("/v1/messages") else base + "/v1/messages"


class AnthropicMessagesClient(LeanJsonClient):
    """``anthropic/<model>`` over the Messages API."""

    def __init__(
        self, api_base: str | None, model_name: str, price: Price, api_key: str | None = None
    ) -> None:
        headers = {"anthropic-version": API_VERSION}
        key = api_key if api_key is not None else (os.environ.get("ANTHROPIC_API_KEY"))
        if key:
            headers["x-api-key"] = key
        super().__init__(messages_url(api_base), headers, model_name, price)

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        messages = [
            {"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"
        ]
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": DEFAULT_MAX_TOKENS,
        }
        if system:
            body["system"] = system
        if request.cache_prefix:
            mark_cache_prefix(body)
        body.update(sampling(request.params, _PARAMS))
        return body

    def completion(self, data: Any) -> Completion:
        text = "".join(block["text"] for block in data["content"] if block.get("type") == "text")
        usage = data.get("usage") or {}
        read = int(usage.get("cache_read_input_tokens") or 0)
        written = int(usage.get("cache_creation_input_tokens") or 0)
        reason = data.get("stop_reason")
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("input_tokens") or 0) + read + written,
            cached_prompt_tokens=read,
            cache_write_tokens=written,
            completion_tokens=int(usage.get("output_tokens") or 0),
            model=str(data.get("model") or self.model_name),
            finish_reason=_FINISH.get(reason, reason),
        )

    def error_message(self, data: Any) -> str:
        error = data["error"]
        return f"{error['type']}: {error['message']}" if error.get("type") else str(error["message"])

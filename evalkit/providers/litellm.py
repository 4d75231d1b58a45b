"""The default provider: litellm, so any vendor works with its usual environment key.

litellm is imported on first use (it takes seconds), with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` so
the import never reaches the network; prices come from the cost map shipped with litellm.
Model strings starting with ``local/`` are served in-process by the embedded model
(:mod:`evalkit.providers.local`), registered with litellm as a custom provider, so they take the
same path as every vendor.
"""

from __future__ import annotations

import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from evalkit.errors import ProviderError
from evalkit.providers.base import (
    Completion,
    CompletionRequest,
    Provider,
    provider,
    request_sent,
    without_key,
)
from evalkit.providers.lean_vendors import api_key_from_environment, lean_client, serves
from evalkit.providers.prices import priced_call, service_tier
from evalkit.providers.tool_calls import tool_calls_text

LOCAL_PREFIX = "local/"


@cache
def import_litellm() -> Any:
    """Import and configure litellm once: offline cost map, no telemetry, unsupported params dropped."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.drop_params = True  # a vendor that lacks e.g. `seed` still answers instead of failing
    return litellm


class LitellmProvider:
    """Calls ``litellm.acompletion``; maps its exceptions onto transient / permanent ProviderErrors.

    Requests to an explicit ``api_base`` of an OpenAI-compatible provider (``openai/...``,
    ``hosted_vllm/...``), and to Anthropic's and Gemini's APIs, take a lean client instead
    (:mod:`evalkit.providers.lean_vendors`), priced from litellm's price map; litellm itself is then
    never imported (~6 s, ~160 MB).
    """

    # a lean client says when its request is written; litellm does not, so its calls count from the start
    reports_sent = True

    def __init__(self, model: str) -> None:
        self.model = model
        self._litellm: Any = None
        self._fast: dict[tuple[str, str | None], Any] = {}  # (api_base, api_key_env) -> client or None
        self.max_concurrency: int | None = None  # the embedded model serves a few calls at once
        if model.startswith(LOCAL_PREFIX):
            from evalkit.providers.local import register_with_litellm

            self.max_concurrency = register_with_litellm(self.litellm, model[len(LOCAL_PREFIX) :])

    @property
    def litellm(self) -> Any:
        if self._litellm is None:
            self._litellm = import_litellm()
        return self._litellm

    def _fast_client(self, api_base: str | None, api_key_env: str | None = None) -> Any:
        """The lean client for ``api_base``, or None when this model needs litellm proper."""
        key = (api_base or "", api_key_env)
        if key not in self._fast:
            self._fast[key] = lean_client(self.model, api_base, api_key_env)
        return self._fast[key]

    def enforces_timeout(self, request: CompletionRequest) -> bool:
        """True when a lean client serves ``request``: its own total timeout bounds the call."""
        return serves(self._fast_client(request.api_base, request.api_key_env), request)

    async def aclose(self) -> None:
        for client in self._fast.values():
            if client is not None:
                await client.aclose()

    async def complete(self, request: CompletionRequest) -> Completion:
        fast = self._fast_client(request.api_base, request.api_key_env)
        if serves(fast, request):
            return await fast.complete(request)  # type: ignore[no-any-return]
        kwargs: dict[str, Any] = {k: v for k, v in request.params.items() if v is not None}
        if request.response_schema is not None:
            kwargs["response_format"] = response_format_for(request.model, request.response_schema)
        if request.api_base:
            kwargs["api_base"] = request.api_base
        if request.tools is not None:
            kwargs["tools"] = request.tools
        if request.timeout:
            kwargs["timeout"] = request.timeout
        if request.api_key_env:
            kwargs["api_key"] = os.environ.get(request.api_key_env)  # litellm sends it as a header
        start = time.perf_counter()
        request_sent()
        try:
            response = await self.litellm.acompletion(
                model=request.model, messages=request.messages, num_retries=0, **kwargs
            )
        except Exception as exc:  # litellm raises many types; classify them all
            key = api_key_from_environment(request.model.partition("/")[0], request.api_key_env)
            raise without_key(classify_exception(exc), key) from exc
        latency_ms = (time.perf_counter() - start) * 1000.0
        # The embedded model reports its own time, excluding the wait for its (serialised) turn.
        latency_ms = float(getattr(response, "_hidden_params", {}).get("latency_ms") or latency_ms)
        return completion_from_response(self.litellm, response, latency_ms, request.model)


def response_format_for(model: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The ``response_format`` that constrains output to ``schema`` for this model's provider."""
    if model.startswith(LOCAL_PREFIX):
        return {"type": "json_object", "schema": schema}  # llama.cpp's form
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": False}}


def completion_from_response(litellm: Any, response: Any, latency_ms: float, model: str) -> Completion:
    """Turn a litellm ModelResponse into a Completion; a body without choices is a transient error."""
    try:
        choice = response.choices[0]
        text = choice.message.content or ""
        if getattr(choice.message, "tool_calls", None):
            text = tool_calls_text(text, choice.message.tool_calls)
    except (AttributeError, IndexError, TypeError):
        raise ProviderError("malformed response: no choices[0].message", transient=True) from None
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    cached, written = prompt_cache_tokens(usage)
    cost = saved = 0.0
    if not model.startswith(LOCAL_PREFIX):
        try:  # litellm prices cache reads and writes at their own rates itself
            cost = float(litellm.completion_cost(completion_response=response) or 0.0)
        except Exception:  # models missing from the price map cost "unknown", recorded as 0
            cost = 0.0
        if cached:
            tier = service_tier(getattr(response, "service_tier", None))  # litellm prices the cost at it
            saved = priced_call(model, prompt_tokens, completion_tokens, cached, written, tier)[1]
    return Completion(
        text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        model=str(getattr(response, "model", "") or model),
        cached_prompt_tokens=cached,
        cache_write_tokens=written,
        prompt_cache_saved_usd=saved,
        finish_reason=getattr(choice, "finish_reason", None),
        logprobs=getattr(choice, "logprobs", None),
    )


def prompt_cache_tokens(usage: Any) -> tuple[int, int]:
    """(prompt tokens read from the provider's prompt cache, tokens written to it) in a litellm usage:
    ``prompt_tokens_details.cached_tokens`` / ``cache_write_tokens``, else Anthropic's
    ``cache_read_input_tokens`` / ``cache_creation_input_tokens``; 0 when not reported."""
    details = _usage_field(usage, "prompt_tokens_details")
    read = _usage_field(details, "cached_tokens") or _usage_field(usage, "cache_read_input_tokens")
    written = _usage_field(details, "cache_write_tokens") or _usage_field(
        usage, "cache_creation_input_tokens"
    )
    return (
        read if isinstance(read, int) else 0,
        written if isinstance(written, int) else 0,
    )


def _usage_field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


_TRANSIENT_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 529}


def classify_exception(exc: Exception) -> ProviderError:
    """Map a litellm/openai/httpx exception to a ProviderError with a short, actionable reason."""
    if isinstance(exc, ProviderError):
        return exc
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    name = type(exc).__name__
    message = str(getattr(exc, "message", "") or exc).splitlines()[0][:300] if str(exc) else name
    if "missing credentials" in message.lower():  # raised before any request: retrying cannot help
        return ProviderError(
            f"no API key: {message} (a server that checks no key accepts any value)",
            transient=False,
            status=status,
        )
    if name in {"Timeout", "APITimeoutError", "TimeoutError", "ReadTimeout", "ConnectTimeout"}:
        return ProviderError(f"timeout: {message}", transient=True, status=status, timed_out=True)
    if name in {"APIConnectionError", "ConnectError", "RemoteProtocolError", "ReadError"}:
        return ProviderError(f"connection error: {message}", transient=True, status=status)
    if status in _TRANSIENT_STATUS or name in {
        "RateLimitError",
        "ServiceUnavailableError",
        "InternalServerError",
    }:
        return ProviderError(
            f"{status or name}: {message}", transient=True, status=status, retry_after=retry_after(exc)
        )
    if name in {"JSONDecodeError", "APIResponseValidationError"} or "JSONDecodeError" in message:
        return ProviderError(f"malformed response body: {message}", transient=True, status=status)
    if status is None and name == "APIError":
        return ProviderError(f"malformed response: {message}", transient=True)
    return ProviderError(f"{status or name}: {message}", transient=False, status=status)


def retry_after(exc: Exception) -> float | None:
    """Seconds from a ``Retry-After`` header on the error's response, when there is one."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


@provider("litellm")
def _litellm_factory(model: str, base_dir: Path | None = None) -> Provider:
    return LitellmProvider(model)

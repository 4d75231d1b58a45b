"""Google's Gemini API (``POST {base}/models/{model}:generateContent``), spoken by evalkit for
``gemini/...`` models.

The endpoint is resolved as litellm resolves it: ``{api_base}/models/{model}:generateContent`` for
a suite's ``api_base``, else ``https://generativelanguage.googleapis.com/v1beta`` (``v1alpha`` for
Gemini 3 and newer); the key comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY`` (``x-goog-api-key``).
System messages become ``systemInstruction``, the assistant's turns the ``model`` role, sampling
parameters ``generationConfig``; others are dropped. Completion tokens include thinking tokens, as
litellm counts them; prompt tokens include the ``cachedContentTokenCount`` served from a context
cache, which are also recorded apart and priced at the cache-read rate. A 429's wait comes from ``Retry-After`` or the error's ``RetryInfo.retryDelay``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from evalkit.errors import ProviderError
from evalkit.providers.base import Completion, CompletionRequest
from evalkit.providers.lean_client import LeanJsonClient, Price, sampling

_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "seed": "seed",
}
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}  # the others (SAFETY, RECITATION, ...) are filters


def generate_url(api_base: str | None, model_name: str) -> str:
    if api_base:
        base = api_base.rstrip("/")
    else:
        major = re.match(r"gemini-(\d+)", model_name)
        version = "v1alpha" if major and int(major.group(1)) >= 3 else "v1beta"
        base = f"https://generativelanguage.googleapis.com/{version}"
    return f"{base}/models/{model_name}:generateContent"


class GeminiClient(LeanJsonClient):
    """``gemini/<model>`` over ``generateContent``."""

    def __init__(
        self, api_base: str | None, model_name: str, price: Price, api_key: str | None = None
    ) -> None:
        key = (
            api_key
            if api_key is not None
            else (os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY"))
        )
        headers = {"x-goog-api-key": key} if key else {}
        super().__init__(generate_url(api_base, model_name), headers, model_name, price)

    def body(self, request: CompletionRequest) -> dict[str, Any]:
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                for m in request.messages
                if m["role"] != "system"
            ]
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config = sampling(request.params, _PARAMS)
        if config:
            body["generationConfig"] = config
        return body

    def completion(self, data: Any) -> Completion:
        candidates = data.get("candidates")
        if not candidates:
            blocked = (data.get("promptFeedback") or {}).get("blockReason")
            if blocked:  # the same prompt is blocked again: not worth retrying
                raise ProviderError(f"prompt blocked by Gemini: {blocked}", transient=False)
            raise KeyError("candidates")
        candidate = candidates[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        usage = data.get("usageMetadata") or {}
        reason = candidate.get("finishReason")
        return Completion(
            text="".join(p.get("text", "") for p in parts if not p.get("thought")),
            prompt_tokens=int(usage.get("promptTokenCount") or 0),
            cached_prompt_tokens=int(usage.get("cachedContentTokenCount") or 0),
            completion_tokens=int(usage.get("candidatesTokenCount") or 0)
            + int(usage.get("thoughtsTokenCount") or 0),
            model=str(data.get("modelVersion") or self.model_name),
            finish_reason=_FINISH.get(reason, "content_filter") if reason else None,
        )

    def error_message(self, data: Any) -> str:
        error = data["error"]
        return f"{error['status']}: {error['message']}" if error.get("status") else str(error["message"])

    def retry_hint(self, data: Any) -> float | None:
        for detail in data["error"].get("details") or []:
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                return max(0.0, float(delay[:-1]))
        return None

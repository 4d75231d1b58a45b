"""Which models evalkit calls without litellm: the lean client for a model string and ``api_base``.

- OpenAI-compatible providers (``openai/...``, ``hosted_vllm/...``, ...) on an explicit ``api_base``:
  :mod:`evalkit.providers.openai_compat`.
- ``anthropic/...``: :mod:`evalkit.providers.anthropic_messages`, with or without ``api_base``.
- ``gemini/...``: :mod:`evalkit.providers.gemini_generate`, with or without ``api_base``.

Every other model goes through ``litellm.acompletion``; so does everything when
``EVALKIT_FAST_PATH=0``. Prices come from litellm's price map either way.
"""

from __future__ import annotations

import os
from typing import Any

from evalkit.providers.prices import priced_call

# vendors with a lean client of their own, whatever the api_base (litellm is not imported for them)
LEAN_VENDORS = ("anthropic", "gemini")


def lean_client(model: str, api_base: str | None, api_key_env: str | None = None) -> Any:
    """The lean client for ``model`` at ``api_base``, or None when litellm has to make the call.

    ``api_key_env`` names the variable holding the key (the suite's ``target.api_key_env``); without
    it each vendor's usual variable is read."""
    from evalkit.providers.openai_compat import OPENAI_COMPATIBLE, OpenAICompatClient, fast_path_enabled

    provider_name, _, name = model.partition("/")
    if not fast_path_enabled() or not name:
        return None

    def price(
        prompt: int, completion: int, cached: int = 0, written: int = 0, tier: str | None = None
    ) -> tuple[float, float]:
        return priced_call(model, prompt, completion, cached, written, tier)

    if provider_name in OPENAI_COMPATIBLE and api_base:
        api_key = api_key_from_environment(provider_name, api_key_env)
        return OpenAICompatClient(api_base, name, api_key, price)
    if provider_name == "anthropic":  # LEAN_VENDORS
        from evalkit.providers.anthropic_messages import AnthropicMessagesClient

        return AnthropicMessagesClient(
            api_base,
            name,
            price,
            api_key_from_environment(provider_name, api_key_env) if api_key_env else None,
        )
    if provider_name == "gemini":
        from evalkit.providers.gemini_generate import GeminiClient

        return GeminiClient(
            api_base,
            name,
            price,
            api_key_from_environment(provider_name, api_key_env) if api_key_env else None,
        )
    return None


def connect_ahead(model: str, api_base: str | None) -> None:
    """Start now what the first call to ``model`` at ``api_base`` will wait for, so that it overlaps
    the rest of start-up: for a lean client posting to an ``https://`` endpoint, the TLS context
    (loading the CA store, ~30 ms, which a thread does without the GIL). Nothing for any other."""
    provider_name, _, name = model.partition("/")
    if not name or ":" in provider_name:  # not a vendor's model (python:, http:, replay:, ...)
        return
    from evalkit.providers.http1 import tls_context_ahead
    from evalkit.providers.openai_compat import OPENAI_COMPATIBLE, fast_path_enabled

    if not fast_path_enabled():
        return
    url = ""
    if provider_name in OPENAI_COMPATIBLE:
        url = api_base or ""  # without one, litellm makes the call
    elif provider_name == "anthropic":
        from evalkit.providers.anthropic_messages import messages_url

        url = messages_url(api_base)
    elif provider_name == "gemini":
        from evalkit.providers.gemini_generate import generate_url

        url = generate_url(api_base, name)
    if url.startswith("https://"):
        tls_context_ahead()


def serves(client: Any, request: Any) -> bool:
    """Whether the lean ``client`` (maybe None) takes this request (else litellm does)."""
    if client is None:
        return False
    accepts = getattr(client, "accepts", None)
    return accepts is None or bool(accepts(request))


def api_key_from_environment(provider_name: str, api_key_env: str | None) -> str | None:
    """The key named by ``api_key_env``, else the vendor's usual variable (``OPENAI_API_KEY``...)."""
    if api_key_env:
        return os.environ.get(api_key_env)
    return os.environ.get(f"{provider_name.upper()}_API_KEY") or os.environ.get("OPENAI_API_KEY")

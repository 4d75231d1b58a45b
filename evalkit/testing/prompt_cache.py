"""A provider-side prompt cache for the loopback servers: repeated prompt prefixes come back as cached tokens.

OpenAI caches prompts of at least 1,024 tokens, in steps of 128 tokens, and reports the cached part
as ``usage.prompt_tokens_details.cached_tokens``. :class:`PrefixCache` does the same with the
loopback servers' token count (4 characters a token): it remembers each prompt's prefixes at those
block boundaries, and a later prompt to the same model that starts with a remembered prefix has that
many tokens cached (a provider's cache is per model).
"""

from __future__ import annotations

import hashlib
from typing import Any

CHARS_PER_TOKEN = 4  # the loopback servers' token count


class PrefixCache:
    """Prefixes of the prompts seen so far, at block boundaries (``min_tokens``, then every ``block_tokens``)."""

    def __init__(self, min_tokens: int = 1024, block_tokens: int = 128) -> None:
        self.min_tokens = min_tokens
        self.block_tokens = block_tokens
        self._seen: set[bytes] = set()

    def cached_tokens(self, body: dict[str, Any]) -> int:
        """Prompt tokens of an OpenAI-shaped request (its messages' text, in order) served from the
        cache; remembers the request's prefixes."""
        return self.lookup_and_remember(
            "".join(str(m.get("content", "")) for m in body.get("messages") or []), str(body.get("model", ""))
        )

    def lookup_and_remember(self, prompt: str, model: str = "") -> int:
        """Tokens at the start of ``prompt`` that a previous prompt shared (whole blocks, 0 below
        ``min_tokens``); then remember ``prompt``'s own prefixes."""
        tokens = len(prompt) // CHARS_PER_TOKEN
        if tokens < self.min_tokens:
            return 0  # nothing this short is cached, or remembered
        digest = hashlib.sha256(model.encode() + b"\0")
        done = 0
        cached = 0
        boundary = self.min_tokens
        while boundary <= tokens:
            end = boundary * CHARS_PER_TOKEN
            digest.update(prompt[done:end].encode())
            done = end
            key = digest.copy().digest()
            if key in self._seen:
                cached = boundary
            else:
                self._seen.add(key)
            boundary += self.block_tokens
        return cached

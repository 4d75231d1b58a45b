"""A provider-side prompt cache for the loopback servers: repeated prompt prefixes come back as cached tokens.

OpenAI caches prompts of at least 1,024 tokens, in steps of 128 tokens, and reports the cached part
as ``usage.prompt_tokens_details.cached_tokens``. :class:`PrefixCache` does the same with the
loopback servers' token count (4 characters a token): it remembers each prompt's prefixes at those
block boundaries once it is answered, and a later prompt to the same model that starts with a
remembered prefix has that many tokens cached (a provider's cache is per model; a request that failed
fills nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4  # the loopback servers' token count


@dataclass(frozen=True)
class CacheUse:
    """What one request found in a loopback's prompt cache, and what answering it adds there.

    The servers look a request up on arrival (so concurrent requests see the cache in arrival order)
    and call :meth:`remember` only once it is answered: a provider caches the prompts it processed,
    so a request that failed (a 429, a 5xx, a timeout, a malformed body) warms nothing for its retry.
    """

    cached: int = 0  # prompt tokens read from the cache
    written: int = 0  # prompt tokens written to it (Anthropic reports them)
    remember: Callable[[], None] = lambda: None


class PrefixCache:
    """Prefixes of the prompts answered so far, at block boundaries (``min_tokens``, then every ``block_tokens``)."""

    def __init__(self, min_tokens: int = 1024, block_tokens: int = 128) -> None:
        self.min_tokens = min_tokens
        self.block_tokens = block_tokens
        self._seen: set[bytes] = set()

    def look_up(self, body: dict[str, Any]) -> CacheUse:
        """Prompt tokens of an OpenAI-shaped request (its messages' text, in order) served from the
        cache; its prefixes are remembered when the answer's ``remember`` is called."""
        return self.look_up_prompt(
            "".join(str(m.get("content", "")) for m in body.get("messages") or []), str(body.get("model", ""))
        )

    def look_up_prompt(self, prompt: str, model: str = "") -> CacheUse:
        """Tokens at the start of ``prompt`` that an earlier remembered prompt shared (whole blocks, 0
        below ``min_tokens``), and how to remember ``prompt``'s own prefixes."""
        tokens = len(prompt) // CHARS_PER_TOKEN
        if tokens < self.min_tokens:
            return CacheUse()  # nothing this short is cached, or remembered
        digest = hashlib.sha256(model.encode() + b"\0")
        done = 0
        cached = 0
        new: list[bytes] = []
        boundary = self.min_tokens
        while boundary <= tokens:
            end = boundary * CHARS_PER_TOKEN
            digest.update(prompt[done:end].encode())
            done = end
            key = digest.copy().digest()
            if key in self._seen:
                cached = boundary
            else:
                new.append(key)
            boundary += self.block_tokens
        return CacheUse(cached=cached, remember=lambda: self._seen.update(new))

    def lookup_and_remember(self, prompt: str, model: str = "") -> int:
        """:meth:`look_up_prompt` for a prompt answered at once: its cached tokens, its prefixes remembered."""
        use = self.look_up_prompt(prompt, model)
        use.remember()
        return use.cached

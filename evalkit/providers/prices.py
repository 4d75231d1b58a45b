"""litellm's bundled price map, read without importing litellm.

Importing litellm costs ~6 s and ~160 MB on these machines. Calls that take the lean
OpenAI-compatible path only need litellm for prices, so they read the same price file litellm
ships (``model_prices_and_context_window_backup.json``, the map ``LITELLM_LOCAL_MODEL_COST_MAP``
selects) straight from the installed package.

Prompt tokens a provider reports as served from its prompt cache are charged at the map's
``cache_read_input_token_cost`` when it has one, else at the normal input price; tokens written to
Anthropic's cache at ``cache_creation_input_token_cost`` (else the input price).
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

PRICE_FILE = "model_prices_and_context_window_backup.json"


def _price_file() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE


def _entries(text: str, key: str) -> list[dict[str, Any]]:
    """The top-level entries named ``key`` in the price file's text.

    Parsing the whole 3.5 MB map would keep ~15 MB of dicts alive for a process that needs one
    entry, so each occurrence of the key is decoded on its own; top-level entries are the objects
    that name a ``litellm_provider``.
    """
    decoder = json.JSONDecoder()
    needle = json.dumps(key) + ":"
    found: list[dict[str, Any]] = []
    at = text.find(needle)
    while at >= 0:
        value_at = at + len(needle)
        while value_at < len(text) and text[value_at] in " \t\r\n":
            value_at += 1
        try:
            value, _ = decoder.raw_decode(text, value_at)
        except ValueError:
            value = None
        if isinstance(value, dict) and "litellm_provider" in value:
            found.append(value)
        at = text.find(needle, value_at)
    return found


@cache
def _priced_entry(model: str) -> dict[str, Any] | None:
    """The price map's entry for a litellm model string (one with a price), or None."""
    path = _price_file()
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    provider, _, name = model.partition("/")
    for key in (model, name) if name else (model,):
        for entry in _entries(text, key):
            if "input_cost_per_token" in entry and (not name or entry.get("litellm_provider") == provider):
                return entry
    return None


@cache
def _prices(model: str) -> tuple[float, float, float, float] | None:
    """(input, output, cache-read input, cache-write input) USD per token, or None if unpriced.

    The cache prices fall back to the input price where the map gives none."""
    entry = _priced_entry(model)
    if entry is None:
        return None
    full = float(entry["input_cost_per_token"])
    read = entry.get("cache_read_input_token_cost")
    write = entry.get("cache_creation_input_token_cost")
    return (
        full,
        float(entry.get("output_cost_per_token", 0.0)),
        full if read is None else float(read),
        full if write is None else float(write),
    )


# model strings whose calls no vendor bills per token: the embedded model, and targets that are a
# Python function, the user's HTTP service or recorded outputs (not a model call evalkit makes)
_NOT_BILLED = ("local/", "python:", "http:", "replay:")


def unpriced(model: str) -> bool:
    """Whether calls to ``model`` may be billed but the price map has no price for it (a model
    newer than the installed litellm, a self-hosted server's name): their cost counts as 0."""
    return not model.startswith(_NOT_BILLED) and _prices(model) is None


def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) for a litellm model string, or None if unpriced."""
    prices = _prices(model)
    return None if prices is None else prices[:2]


def max_output_tokens(model: str) -> int | None:
    """The most tokens the price map says one reply of ``model`` may hold, or None if it does not say."""
    entry = _priced_entry(model)
    value = entry.get("max_output_tokens") or entry.get("max_tokens") if entry is not None else None
    return int(value) if value else None


def call_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """USD for a call by litellm's price map; 0 for models it does not price (self-hosted ones).

    ``prompt_tokens`` include the ``cached_tokens`` read from the provider's prompt cache and the
    ``cache_write_tokens`` written to it, which are charged at their own prices."""
    return priced_call(model, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens)[0]


def priced_call(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> tuple[float, float]:
    """(USD the call cost, USD its cached prompt tokens saved against the full input price).

    Both are 0 for models the map does not price."""
    prices = _prices(model)
    if prices is None:
        return 0.0, 0.0
    full, output, read, write = prices
    if not (cached_tokens or cache_write_tokens):  # the usual call: no cache figures
        return prompt_tokens * full + completion_tokens * output, 0.0
    uncached = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
    cost = uncached * full + cached_tokens * read + cache_write_tokens * write + completion_tokens * output
    return cost, cached_tokens * (full - read)

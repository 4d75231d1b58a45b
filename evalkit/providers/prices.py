"""litellm's bundled price map, read without importing litellm.

Importing litellm costs ~6 s and ~160 MB on these machines. Calls that take the lean
OpenAI-compatible path only need litellm for prices, so they read the same price file litellm
ships (``model_prices_and_context_window_backup.json``, the map ``LITELLM_LOCAL_MODEL_COST_MAP``
selects) straight from the installed package.

Prompt tokens a provider reports as served from its prompt cache are charged at the map's
``cache_read_input_token_cost`` when it has one, else at the normal input price; tokens written to
Anthropic's cache at ``cache_creation_input_token_cost`` (else the input price). A call served at
an OpenAI service tier (``priority``, ``flex``) is charged at that tier's prices (``*_priority``,
``*_flex``) where the map gives them, as litellm charges it. An alias (``gpt-mini-latest``:
``{"alias_of": "gpt-5.4-mini"}``) is priced as the model it names.
"""

from __future__ import annotations

import importlib.util
import json
import re
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
        if isinstance(value, dict) and ("litellm_provider" in value or "alias_of" in value):
            found.append(value)
        at = text.find(needle, value_at)
    return found


@cache
def _priced_entry(model: str, hops: int = 0) -> dict[str, Any] | None:
    """The price map's entry for a litellm model string (one with a price), or None; an alias's is
    the entry of the model it names."""
    path = _price_file()
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    provider, _, name = model.partition("/")
    for key in _map_names(model, name):
        for entry in _entries(text, key):
            if "input_cost_per_token" in entry and (not name or entry.get("litellm_provider") == provider):
                return entry
            alias = entry.get("alias_of")
            if isinstance(alias, str) and hops < 3:
                named = _priced_entry(alias if "/" in alias or not name else f"{provider}/{alias}", hops + 1)
                if named is not None:
                    return named
    return None


_FINE_TUNED = re.compile(r"(:[^:]*){3}$")  # ft:gpt-4o-mini-2024-07-18:org:suffix:id -> ft:gpt-4o-...
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-2024-08-06 -> gpt-4o


def _map_names(model: str, name: str) -> list[str]:
    """The keys ``model`` may have in the price map, as litellm looks it up: as written, without its
    provider, an OpenAI fine-tune as its base model's fine-tune entry, a dated snapshot as its model."""
    names = [model, name] if name else [model]
    for base in list(names):
        stripped = _FINE_TUNED.sub("", base) if "ft:" in base else _DATED.sub("", base)
        if stripped != base:
            names.append(stripped)
    return names


_PRICE_KEYS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
)
_TIER_KEY = re.compile(rf"^({'|'.join(_PRICE_KEYS)})_above_(\d+(?:\.\d+)?)(k?)_tokens(?:_(priority|flex))?$")
SERVICE_TIERS = ("priority", "flex")  # OpenAI's tiers with prices of their own in the map


def service_tier(value: Any) -> str | None:
    """The priced tier a call's ``service_tier`` (as sent, or as the response reports it) names;
    None for the standard prices (``default``, ``auto``, ``scale``, none)."""
    return value if value in SERVICE_TIERS else None


def _at_tier(entry: dict[str, Any], tier: str | None) -> dict[str, Any]:
    """The entry's standard price keys, each at ``tier`` where the map gives that tier a price."""
    return {k: entry.get(f"{k}_{tier}", entry.get(k)) if tier else entry.get(k) for k in _PRICE_KEYS}


@cache
def _price_tiers(
    model: str, tier: str | None = None
) -> tuple[tuple[float, tuple[float, float, float, float]], ...]:
    """(prompt tokens above which, prices) for each long-context tier of the model, lowest first,
    from the map's ``*_above_<N>k_tokens`` keys (at a service tier, its ``*_above_<N>k_tokens_<tier>``
    ones where given): as litellm prices them, every price of the call (output included) moves to
    the tier the prompt is above; a price a tier does not give stays the one below it, and an
    absent cache price is the input price."""
    entry = _priced_entry(model)
    if entry is None:
        return ()
    found: dict[float, dict[str, float]] = {}
    for key, value in sorted(entry.items(), key=lambda kv: kv[0].endswith(f"_{tier}")):  # tier keys last
        match = _TIER_KEY.match(key)
        if match is not None and value is not None and match.group(4) in (None, tier):
            threshold = float(match.group(2)) * (1000 if match.group(3) else 1)
            found.setdefault(threshold, {})[match.group(1)] = float(value)
    tiers = []
    current = _at_tier(entry, tier)
    for threshold in sorted(found):
        current = {**current, **found[threshold]}
        tiers.append((threshold, _price_tuple(current)))
    return tuple(tiers)


def _price_tuple(entry: dict[str, Any]) -> tuple[float, float, float, float]:
    full = float(entry["input_cost_per_token"])
    read = entry.get("cache_read_input_token_cost")
    write = entry.get("cache_creation_input_token_cost")
    return (
        full,
        float(entry.get("output_cost_per_token") or 0.0),
        full if read is None else float(read),
        full if write is None else float(write),
    )


@cache
def _base_prices(model: str, tier: str | None = None) -> tuple[float, float, float, float] | None:
    entry = _priced_entry(model)
    return None if entry is None else _price_tuple(_at_tier(entry, tier))


def _prices(
    model: str, prompt_tokens: int = 0, tier: str | None = None
) -> tuple[float, float, float, float] | None:
    """(input, output, cache-read input, cache-write input) USD per token for a call whose prompt
    holds ``prompt_tokens`` (its long-context tier) at service tier ``tier``, or None if unpriced.

    The cache prices fall back to the input price where the map gives none."""
    prices = _base_prices(model, tier)
    if prices is not None and prompt_tokens:
        for threshold, at in _price_tiers(model, tier):
            if prompt_tokens > threshold:
                prices = at
    return prices


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
    tier: str | None = None,
) -> float:
    """USD for a call by litellm's price map; 0 for models it does not price (self-hosted ones).

    ``prompt_tokens`` include the ``cached_tokens`` read from the provider's prompt cache and the
    ``cache_write_tokens`` written to it, which are charged at their own prices; ``tier`` is the
    service tier it was served at (:func:`service_tier`)."""
    return priced_call(model, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens, tier)[0]


def priced_call(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
    tier: str | None = None,
) -> tuple[float, float]:
    """(USD the call cost, USD its cached prompt tokens saved against the full input price), at
    service tier ``tier``.

    Both are 0 for models the map does not price."""
    prices = _prices(model, prompt_tokens, tier)
    if prices is None:
        return 0.0, 0.0
    full, output, read, write = prices
    if not (cached_tokens or cache_write_tokens):  # the usual call: no cache figures
        return prompt_tokens * full + completion_tokens * output, 0.0
    uncached = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
    cost = uncached * full + cached_tokens * read + cache_write_tokens * write + completion_tokens * output
    return cost, cached_tokens * (full - read)

"""litellm's bundled price map, read without importing litellm.

Importing litellm costs ~6 s and ~160 MB on these machines. Calls that take the lean
OpenAI-compatible path only need litellm for prices, so they read the same price file litellm
ships (``model_prices_and_context_window_backup.json``, the map ``LITELLM_LOCAL_MODEL_COST_MAP``
selects) straight from the installed package.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

PRICE_FILE = "model_prices_and_context_window_backup.json"


@cache
def _price_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return {}


def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) for a litellm model string, or None if unpriced."""
    prices = _price_map()
    provider, _, name = model.partition("/")
    for key in (model, name) if name else (model,):
        entry = prices.get(key)
        if (
            entry
            and "input_cost_per_token" in entry
            and (not name or entry.get("litellm_provider") == provider)
        ):
            return float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0))
    return None


def call_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for a call by litellm's price map; 0 for models it does not price (self-hosted ones)."""
    prices = token_prices(model)
    if prices is None:
        return 0.0
    return prompt_tokens * prices[0] + completion_tokens * prices[1]

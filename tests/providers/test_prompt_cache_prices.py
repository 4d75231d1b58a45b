"""Cached prompt tokens are charged at the price map's cache-read price (else the input price),
Anthropic's cache writes at their own, and what the cached tokens saved is reported."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from evalkit.providers.prices import PRICE_FILE, call_cost, priced_call


@cache
def price_map() -> dict[str, Any]:
    """litellm's price file, read whole (independently of evalkit's entry lookup)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_cached_tokens_cost_the_cache_read_price_and_the_difference_is_saved() -> None:
    entry = price_map()["gpt-4o-mini"]
    full, read, out = (
        entry["input_cost_per_token"],
        entry["cache_read_input_token_cost"],
        entry["output_cost_per_token"],
    )
    assert read < full  # the premise: the map prices cache reads lower
    cost, saved = priced_call("openai/gpt-4o-mini", 2000, 100, 1536)
    assert cost == pytest.approx(464 * full + 1536 * read + 100 * out)
    assert saved == pytest.approx(1536 * (full - read))
    assert call_cost("openai/gpt-4o-mini", 2000, 100) - cost == pytest.approx(saved)


def test_without_cached_tokens_nothing_changes() -> None:
    assert priced_call("openai/gpt-4o-mini", 2000, 100) == (call_cost("openai/gpt-4o-mini", 2000, 100), 0.0)


def test_anthropic_cache_writes_cost_their_own_price() -> None:
    entry = price_map()["claude-haiku-4-5"]
    full, read, write = (
        entry["input_cost_per_token"],
        entry["cache_read_input_token_cost"],
        entry["cache_creation_input_token_cost"],
    )
    cost, saved = priced_call("anthropic/claude-haiku-4-5", 3000, 0, 1000, 1500)
    assert cost == pytest.approx(500 * full + 1000 * read + 1500 * write)
    assert saved == pytest.approx(1000 * (full - read))  # the writes' premium is in the cost, not the saving


def test_a_model_without_a_cache_read_price_charges_cached_tokens_in_full() -> None:
    unpriced_reads = next(
        name
        for name, e in price_map().items()
        if isinstance(e, dict)
        and e.get("litellm_provider") == "openai"
        and "input_cost_per_token" in e
        and "cache_read_input_token_cost" not in e
        and "/" not in name
        and e.get("mode") == "chat"
    )
    model = f"openai/{unpriced_reads}"
    assert priced_call(model, 2000, 10, 1500) == pytest.approx((call_cost(model, 2000, 10), 0.0))


def test_unpriced_models_cost_nothing_and_save_nothing() -> None:
    assert priced_call("openai/my-own-model", 5000, 100, 4096) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("model", "litellm_name", "prompt", "completion"),
    [
        # long-context tier: above 200k prompt tokens every price of the call is the tier's
        ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", 212_509, 20),
        ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", 200_000, 20),  # not above: the base price
        # an OpenAI fine-tune is priced as its base model's fine-tune entry
        (
            "openai/ft:gpt-4o-mini-2024-07-18:my-org::abc123",
            "ft:gpt-4o-mini-2024-07-18:my-org::abc123",
            1000,
            20,
        ),
        (
            "openai/ft:gpt-4o-2024-08-06:my-org:suffix:xyz",
            "ft:gpt-4o-2024-08-06:my-org:suffix:xyz",
            5000,
            300,
        ),
    ],
)
def test_calls_cost_what_litellm_charges_for_them(
    model: str, litellm_name: str, prompt: int, completion: int
) -> None:
    import litellm

    expected = sum(
        litellm.cost_per_token(model=litellm_name, prompt_tokens=prompt, completion_tokens=completion)
    )
    assert expected > 0 and call_cost(model, prompt, completion) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("model", "tier", "prompt"),
    [
        ("openai/gpt-4o-mini", "priority", 1365),
        ("openai/gpt-5.4", "flex", 1365),
        ("openai/gpt-5.4", "flex", 300_000),  # a long-context call at the flex tier
    ],
)
def test_a_service_tier_is_charged_at_its_own_prices_as_litellm_charges_it(
    model: str, tier: str, prompt: int
) -> None:
    """The lean OpenAI client charged priority calls at standard prices: 40% of what litellm (and
    OpenAI) charge for gpt-4o-mini, 2.5x too little for some models; flex ones at twice their price."""
    import litellm

    expected = sum(
        litellm.cost_per_token(model=model, prompt_tokens=prompt, completion_tokens=13, service_tier=tier)
    )
    assert call_cost(model, prompt, 13, tier=tier) == pytest.approx(expected, rel=1e-9)
    assert call_cost(model, prompt, 13, tier=tier) != pytest.approx(call_cost(model, prompt, 13))


def test_a_price_map_alias_is_priced_as_the_model_it_names() -> None:
    """`gpt-mini-latest` is `{"alias_of": "gpt-5.4-mini"}` in the map: it was 'no price, counted as $0'."""
    import litellm

    from evalkit.providers.prices import unpriced

    assert not unpriced("openai/gpt-mini-latest")
    expected = sum(
        litellm.cost_per_token(model="openai/gpt-mini-latest", prompt_tokens=1703, completion_tokens=65)
    )
    assert expected > 0 and call_cost("openai/gpt-mini-latest", 1703, 65) == pytest.approx(expected, rel=1e-9)

"""The human baseline: what the marketplace's moderators produced for each golden listing.

``evalkit run suites/listings --model python:moderators:cleaned_by_moderators`` scores these
recorded edits exactly like a model's outputs. The file is illustrative, written for this repo: the
golden answers with the kinds of mistakes the moderation team made (RRP taken for the price,
currencies guessed, categories misfiled, an injected instruction followed), at the team's measured
24% error rate. It is how a python target replays outputs recorded elsewhere.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parents[2] / "golden" / "listings_moderators.jsonl"
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "listings.jsonl"


@cache
def _by_input() -> dict[str, dict[str, Any]]:
    outputs = {r["id"]: r["output"] for r in map(json.loads, RECORDED.read_text(encoding="utf-8").splitlines())}
    by_input = {}
    for case in map(json.loads, GOLDEN.read_text(encoding="utf-8").splitlines()):
        by_input[json.dumps(case["input"], sort_keys=True)] = outputs[case["id"]]
    return by_input


def cleaned_by_moderators(title: str, description: str, price: str) -> dict[str, Any]:
    """The moderators' cleaned listing for this input."""
    key = json.dumps({"title": title, "description": description, "price": price}, sort_keys=True)
    return _by_input()[key]

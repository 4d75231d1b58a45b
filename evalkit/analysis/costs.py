"""What producing one result costs, whether or not the response cache answered it this time.

A comparison of two runs compares what their configurations cost (the target's call and the
judge's), not how lucky they were with the cache: an answer served from the cache counts what it
cost when it was first made (``saved_cost_usd``), so a cached re-run is never "better" on cost.
Rows stored before that was recorded leave a cached answer's cost unknown (None), and the
comparison leaves such cases out of the cost metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def result_cost(cost_usd: Any, cached: Any, judge_cost_usd: Any, saved_cost_usd: Any) -> float | None:
    """USD to produce one result: the target's and the judge's calls, cached ones at their first cost."""
    paid = (_number(cost_usd) or 0.0) + (_number(judge_cost_usd) or 0.0)
    saved = _number(saved_cost_usd)
    if saved is None:  # stored before the saved cost was recorded
        return None if bool(cached) else paid
    return paid + saved


def mean_result_cost(costs: Sequence[float | None]) -> float | None:
    """The mean over a case's epochs; None when any epoch's cost is unknown."""
    if not costs or any(c is None for c in costs):
        return None
    return sum(c for c in costs if c is not None) / len(costs)

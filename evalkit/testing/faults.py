"""The faults the loopback servers inject: shares of requests drawn with a seeded RNG, or a plan
that decides per request (:data:`FaultPlan`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (request body, how many times this exact prompt has been seen, 1-based) -> "500" | "429" | "hang" | "malformed" | None
FaultPlan = Callable[[dict[str, Any], int], "str | None"]


@dataclass
class Faults:
    """Shares of requests that fail, decided per request with a seeded RNG."""

    error_500: float = 0.0
    rate_limit_429: float = 0.0
    hang: float = 0.0
    malformed: float = 0.0
    retry_after: float = 0.05  # seconds sent in Retry-After with each 429
    hang_seconds: float = 30.0
    seed: int = 0

    def pick(self, rng: random.Random) -> str:
        """The fault one request meets by these shares: ``500``, ``429``, ``hang``, ``malformed`` or ``ok``."""
        roll = rng.random()
        for name, share in (
            ("500", self.error_500),
            ("429", self.rate_limit_429),
            ("hang", self.hang),
            ("malformed", self.malformed),
        ):
            if roll < share:
                return name
            roll -= share
        return "ok"

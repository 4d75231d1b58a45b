"""What a run on Ray has handed out of its ``--budget``: the share each running shard task holds.

Each shard task is given a part of the budget when it starts (:class:`BudgetShares.start`) and
keeps within it (:mod:`evalkit.run.ray_shard`); the driver adds what the task reports spending to
the share as its batches arrive. A shard task that ends gives its share up: what it did not spend
goes back to the shards that start after it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(eq=False)  # one per shard task: told apart by identity, not by equal figures
class ShardShare:
    """One shard task's part of the budget, and what it has reported spending of it."""

    part: float
    spent: float = 0.0


class BudgetShares:
    """The shares of ``budget_usd`` held by the shard tasks running, at most ``slots`` at once."""

    def __init__(self, budget_usd: float, slots: int) -> None:
        self.budget_usd = budget_usd
        self.slots = slots
        self.running: list[ShardShare] = []

    def start(self, spent_usd: float) -> ShardShare:
        """A starting shard task's share: what no shard has spent or holds, split among the shards
        that may still start beside the ones running (the first ones get equal parts).

        ``spent_usd``: what the run has spent so far by every report it received (the driver's own
        calls and the batches of every shard task)."""
        held = sum(share.part - share.spent for share in self.running)
        left = max(0.0, self.budget_usd - spent_usd - held)
        share = ShardShare(left / max(1, self.slots - len(self.running)))
        self.running.append(share)
        return share

    def release(self, share: ShardShare) -> None:
        """The shard task reported all its calls and ended: what it did not spend goes back."""
        self.running.remove(share)

    def forfeit(self, share: ShardShare) -> None:
        """The shard task ended without reporting its last calls (its worker died, or the run
        cancelled it): its share is given up as a finished one's is."""
        self.running.remove(share)

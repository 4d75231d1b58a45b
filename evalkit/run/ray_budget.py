"""What a run on Ray has handed out of its ``--budget``: the share each running shard task holds,
and the shares of tasks that ended without reporting all their calls.

Each shard task is given a part of the budget when it starts (:class:`BudgetShares.start`) and
keeps within it (:mod:`evalkit.run.ray_shard`); the driver adds what the task reports spending to
the share as its batches arrive. A task that reported all its calls gives back what it did not
spend, for the shards that start after it. A task that ended without reporting its last calls (its
worker died, or the run cancelled it) may have spent its whole part on calls whose report never
came, so its whole part stays counted for the rest of the run: the parts handed out never sum past
the budget, and a run whose shards die may stop with some budget unspent rather than overspend it.
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
        # of the parts of shard tasks that ended without reporting all their calls, what they did
        # not report spending: spent as far as any later share can know
        self.forfeited = 0.0

    def start(self, spent_usd: float) -> ShardShare:
        """A starting shard task's share: what no shard has spent, holds or may have spent (one that
        ended without reporting all its calls), split among the shards that may still start beside
        the ones running (the first ones get equal parts).

        ``spent_usd``: what the run has spent so far by every report it received (the driver's own
        calls and the batches of every shard task)."""
        held = sum(share.part - share.spent for share in self.running) + self.forfeited
        left = max(0.0, self.budget_usd - spent_usd - held)
        share = ShardShare(left / max(1, self.slots - len(self.running)))
        self.running.append(share)
        return share

    def release(self, share: ShardShare) -> None:
        """The shard task reported all its calls and ended: what it did not spend goes back."""
        self.running.remove(share)

    def forfeit(self, share: ShardShare) -> None:
        """The shard task ended without reporting its last calls (its worker died, or the run
        cancelled it): it may have spent all its part, so no later share gets any of it."""
        self.running.remove(share)
        self.forfeited += max(0.0, share.part - share.spent)

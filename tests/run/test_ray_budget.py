"""The shares of ``--budget`` a run on Ray hands its shard tasks: a shard that reported all its
calls gives back what it did not spend; one that ended without reporting them keeps its whole part."""

from __future__ import annotations

import random

from evalkit.run.ray_budget import BudgetShares, ShardShare


def test_a_shard_that_reported_gives_back_its_unspent_part() -> None:
    shares = BudgetShares(1.0, slots=2)
    first, second = shares.start(0.0), shares.start(0.0)
    assert (first.part, second.part) == (0.5, 0.5)
    first.spent = 0.125  # all it spent, reported with its last batch
    shares.release(first)
    assert shares.start(0.125).part == 0.375  # the budget less the spend and the other's share


def test_a_shard_that_did_not_report_keeps_its_whole_part_across_a_retry() -> None:
    """A worker killed after reporting $0.125 of its $0.5 may have spent all $0.5: its retry gets
    nothing of it, so the parts handed out stay within the budget (they summed to $1.375)."""
    shares = BudgetShares(1.0, slots=2)
    killed, other = shares.start(0.0), shares.start(0.0)
    killed.spent = 0.125
    shares.forfeit(killed)
    retry = shares.start(0.125)
    assert retry.part == 0.0
    assert killed.part + other.part + retry.part <= 1.0
    other.spent = 0.25
    shares.release(other)  # what the other did not spend is still there for the next shard
    assert shares.start(0.125 + 0.25).part == (1.0 - 0.5 - 0.25) / 1


def test_what_the_shards_may_have_spent_never_sums_past_the_budget() -> None:
    """Shards start, report, finish or die at random: what they may have spent (a finished one what
    it reported, a running or dead one its whole part) stays within the budget throughout."""
    rng = random.Random(7)
    for _ in range(200):
        budget, slots = rng.uniform(0.001, 10.0), rng.randint(1, 5)
        shares = BudgetShares(budget, slots)
        running: list[ShardShare] = []
        reported = 0.0  # the run's spend by the reports received (the driver's caller.stats)
        may_have_spent = 0.0  # of the shards ended: a finished one's spend, a dead one's whole part
        for _ in range(40):
            action = rng.random()
            if len(running) < slots and action < 0.4:
                running.append(shares.start(reported))
            elif running and action < 0.7:  # a batch arrives
                share = rng.choice(running)
                batch = rng.uniform(0.0, share.part - share.spent)
                share.spent += batch
                reported += batch
            elif running:
                share = running.pop(rng.randrange(len(running)))
                if rng.random() < 0.5:
                    shares.release(share)
                    may_have_spent += share.spent
                else:
                    shares.forfeit(share)
                    may_have_spent += share.part
            assert may_have_spent + sum(s.part for s in running) <= budget * (1 + 1e-9)

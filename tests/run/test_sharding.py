"""Shards: a stable, deterministic split of cases by id."""

from __future__ import annotations

from collections import Counter

import pytest

from evalkit.cases import Case
from evalkit.errors import UsageError
from evalkit.run.sharding import Shard, shard_of

IDS = [f"case-{i:04d}" for i in range(2000)]


def test_every_case_lands_in_exactly_one_shard() -> None:
    shards = [Shard(i, 4) for i in range(1, 5)]
    for case_id in IDS[:200]:
        case = Case(id=case_id, input={"x": 1})
        assert sum(s.accepts(case) for s in shards) == 1


def test_split_is_roughly_balanced() -> None:
    sizes = Counter(shard_of(case_id, 4) for case_id in IDS)
    assert set(sizes) == {1, 2, 3, 4}
    assert all(400 <= n <= 600 for n in sizes.values()), sizes


def test_adding_cases_moves_no_existing_case() -> None:
    before = {case_id: shard_of(case_id, 4) for case_id in IDS[:500]}
    after = {case_id: shard_of(case_id, 4) for case_id in ["new-a", *IDS, "new-b"]}
    assert all(after[case_id] == shard for case_id, shard in before.items())


def test_one_more_shard_moves_only_cases_to_the_new_shard() -> None:
    moved = [c for c in IDS if shard_of(c, 4) != shard_of(c, 5)]
    assert all(shard_of(c, 5) == 5 for c in moved)
    assert 0.15 < len(moved) / len(IDS) < 0.25  # about 1/5, where `hash mod n` would move ~4/5


def test_single_shard_takes_everything() -> None:
    assert {shard_of(c, 1) for c in IDS[:50]} == {1}


@pytest.mark.parametrize("spec", ["2/4", " 2 / 4 ", "4/4", "1/1"])
def test_parse_accepts(spec: str) -> None:
    shard = Shard.parse(spec)
    assert 1 <= shard.index <= shard.count and str(shard) == spec.replace(" ", "")


@pytest.mark.parametrize("spec", ["0/4", "5/4", "1/0", "2", "a/b", "-1/4", "1/4/2"])
def test_parse_rejects(spec: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        Shard.parse(spec)

"""Pairwise comparisons (migration 006) written and read back, on DuckDB and PostgreSQL."""

from __future__ import annotations

from evalkit.analysis.pairwise_runs import JudgedCase, summarize
from evalkit.judges.pairwise import OrderVerdict, PairwiseJudge, combine
from evalkit.store import open_store
from evalkit.store.pairwise import PairwiseStore


def test_a_comparison_round_trips(db_url: str) -> None:
    store = open_store(db_url)
    judge = PairwiseJudge(model="openai/judge")
    agree = combine(
        OrderVerdict(order="ab", method="text", slot="second", winner="b", reasoning="B's is right"),
        OrderVerdict(order="ba", method="text", slot="first", winner="b", reasoning="the first is right"),
    )
    split = combine(
        OrderVerdict(order="ab", method="logprobs", slot="first", winner="a", margin=1.5),
        OrderVerdict(order="ba", method="logprobs", slot="first", winner="b", margin=-0.5),
    )
    failed = combine(OrderVerdict(order="ab", error="timeout"), OrderVerdict(order="ba", winner="a"))
    cases = [
        JudgedCase("c1", agree, "", "", ""),
        JudgedCase("c2", split, "", "", ""),
        JudgedCase("c3", failed, "", "", ""),
    ]
    comparison = summarize(cases, judge, "run-a", "run-b", left_out=2)
    PairwiseStore(store).add(comparison)

    found = PairwiseStore(open_store(db_url)).latest("run-a", "run-b")
    assert found is not None and PairwiseStore(store).latest("run-b", "run-a") is None
    assert (found["wins"], found["losses"], found["ties"], found["errors"], found["n_items"]) == (
        1,
        1,
        0,
        1,
        3,
    )
    assert found["position_agreement"] == 0.5 and found["prompt_hash"] == judge.prompt_hash
    assert found["summary"]["left_out"] == 2
    rows = {v["case_id"]: v for v in found["verdicts"]}
    assert rows["c1"]["winner"] == "b" and rows["c1"]["consistent"] is True
    assert rows["c1"]["reasoning_ab"] == "B's is right" and rows["c1"]["details"]["ba"]["slot"] == "first"
    assert (
        rows["c2"]["winner"] == "a" and rows["c2"]["decided_by"] == "logprobs" and rows["c2"]["margin"] == 0.5
    )
    assert rows["c3"]["winner"] is None and "timeout" in rows["c3"]["error"]

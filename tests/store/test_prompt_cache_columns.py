"""The prompt-cache columns of ``outputs`` (migration 013) and the summary sums over them."""

from __future__ import annotations

import pytest

from evalkit.store import open_store
from tests.store.test_store import make_result, make_run


def test_cached_tokens_are_stored_and_summed(db_url: str) -> None:
    store = open_store(db_url)
    store.create_run(make_run())
    warm, cold, hit = make_result("c1"), make_result("c2"), make_result("c3")
    warm.output.cached_prompt_tokens, warm.output.prompt_cache_saved_usd = 8, 0.0004
    warm.output.cache_write_tokens = 2
    hit.output.cached = True  # from evalkit's response cache: no request, its tokens were not sent
    store.add_results("s-1", [warm, cold, hit])
    with store._connection() as con:
        rows = con.execute(
            "SELECT case_id, cached_prompt_tokens, cache_write_tokens, prompt_cache_saved_usd FROM outputs "
            "WHERE run_id = ? ORDER BY case_id",
            ("s-1",),
        )
    assert [tuple(r) for r in rows] == [
        ("c1", 8, 2, pytest.approx(0.0004)),
        ("c2", 0, 0, 0.0),
        ("c3", 0, 0, 0.0),
    ]
    s = store.summarize("s-1")
    assert (s.cached_prompt_tokens, s.cache_write_tokens) == (8, 2)
    assert s.cached_share == pytest.approx(8 / 20)  # of the 2 x 10 prompt tokens sent
    assert s.prompt_cache_saved_usd == pytest.approx(0.0004)
    assert s.stored()["cached_share"] == pytest.approx(0.4)


def test_rows_from_before_migration_13_leave_the_summary_without_the_fields(db_url: str) -> None:
    store = open_store(db_url)
    store.create_run(make_run())
    store.add_results("s-1", [make_result("c1"), make_result("c2")])
    with store._connection() as con:  # as rows written before the columns existed read
        con.execute(
            "UPDATE outputs SET cached_prompt_tokens = NULL, cache_write_tokens = NULL, "
            "prompt_cache_saved_usd = NULL WHERE run_id = ?",
            ("s-1",),
        )
    s = store.summarize("s-1")
    assert s.cached_prompt_tokens is None and s.prompt_cache_saved_usd is None
    assert "cached_prompt_tokens" not in s.stored()  # not recorded, rather than recorded as 0

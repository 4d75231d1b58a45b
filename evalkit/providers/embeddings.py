"""Text embeddings for the ``semantic_similarity`` scorer: offline MiniLM, or any litellm embedding model.

``local/all-minilm-l6-v2`` runs in-process (:mod:`evalkit.providers.minilm`); any other model string
goes to ``litellm.aembedding`` (``openai/text-embedding-3-small``, ``ollama/nomic-embed-text``, a
server at ``api_base``, ...), with litellm's errors mapped onto ProviderError like completions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from evalkit.errors import ProviderError

LOCAL_MINILM = "local/all-minilm-l6-v2"


async def embed(model: str, texts: list[str], *, api_base: str | None = None, timeout: float = 60.0) -> Any:
    """Unit-length embeddings of ``texts`` (one row each). Raises ProviderError when the model fails."""
    if model == LOCAL_MINILM:
        from evalkit.providers.minilm import minilm

        encoder = minilm()  # a missing model package is a ConfigError, raised before any thread starts
        return await asyncio.to_thread(encoder.embed, texts)
    if model.startswith("local/"):
        raise ProviderError(f"unknown local embedding model {model!r} (known: {LOCAL_MINILM})")
    import numpy as np  # imported on first use: every suite load registers this scorer's module

    from evalkit.providers.litellm import classify_exception, import_litellm

    litellm = import_litellm()
    kwargs: dict[str, Any] = {"timeout": timeout}
    if api_base:
        kwargs["api_base"] = api_base
    try:
        response = await litellm.aembedding(model=model, input=texts, **kwargs)
    except Exception as exc:  # litellm raises many types; classify them all
        raise classify_exception(exc) from exc
    try:
        rows = sorted(response.data, key=lambda d: d["index"])
        vectors = np.array([row["embedding"] for row in rows], dtype=np.float32)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ProviderError("malformed embedding response", transient=True) from None
    if vectors.shape[0] != len(texts):
        raise ProviderError(f"embedding response has {vectors.shape[0]} vectors for {len(texts)} texts")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)

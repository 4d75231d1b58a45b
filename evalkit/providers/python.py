"""``python:module:function`` targets: evaluate a pipeline you already have, without a prompt.

The module is imported from the suite's directory first, then from the current directory and
``sys.path``; the suite's directory then stays on ``sys.path`` (last), so that modules the function
imports when it runs are found as its module's own imports were. The function receives the case's input variables as keyword arguments and returns text or a
JSON-serialisable value (dicts are stored as JSON; a pydantic model or a dataclass as its fields, a
date as ISO text; anything else is the case's error). It may be ``async``; a plain function runs in a
worker thread so slow pipelines still run concurrently. An exception it raises is recorded as the
case's error (not retried), and the run goes on; so is a call that outlives the timeout (its thread
cannot be stopped, so it is not called again).

Its answers are cached under a key that includes a digest of its code, declared data files and
declared environment variables, or not at all when it opts out (see
:mod:`evalkit.providers.code_identity`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
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
        except SystemExit as exc:  # sys.exit() in the pipeline ends this case, not the run
            raise ProviderError(f"the target called sys.exit({exc.code!r})", transient=False) from None
        return Completion(
            text=_as_text(value), latency_ms=(time.perf_counter() - start) * 1000.0, model=self.model
        )


def _as_text(value: Any) -> str:
    """A pipeline's answer as the output text: a string as it is, anything else as JSON; a pydantic
    model or a dataclass as its fields, dates as ISO text. Another object is the case's error."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ProviderError(
            f"the target returned {type(value).__name__}, not JSON: {exc}", transient=False
        ) from None


def _json_default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)  # a pydantic model
    if callable(dump):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


@provider("python")
def _python_factory(model: str, base_dir: Path | None = None) -> Provider:
    return PythonProvider(model, base_dir)

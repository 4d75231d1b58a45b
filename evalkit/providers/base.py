"""What every provider shares: the request and completion types and the provider registry.

A provider turns a :class:`CompletionRequest` into a :class:`Completion`, or raises
:class:`~evalkit.errors.ProviderError` (``transient=True`` for errors worth retrying).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from evalkit.errors import ProviderError
from evalkit.registry import Registry


@dataclass(frozen=True)
class CompletionRequest:
    """One model call: everything that determines its answer."""

    model: str
    messages: list[dict[str, Any]]  # content is text, or content parts (text and images)
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, seed, ...
    response_schema: dict[str, Any] | None = None  # JSON Schema constraint, where the provider supports it
    api_base: str | None = None
    # Python targets receive the case's input variables instead of (or as well as) messages.
    variables: dict[str, Any] | None = None
    timeout: float | None = None
    # content hash of what the model string points at (an http: target's config, a replay's recording),
    # part of the cache key so editing that file is a new call
    target_hash: str | None = None
    case_id: str | None = None  # which case this is (a replay looks its recording up by it)
    tools: list[dict[str, Any]] | None = None  # functions the model may call (OpenAI's form)
    attachments: dict[str, str] | None = None  # input variable -> SHA-256 of the file it names
    # Name of the environment variable holding the API key: read when the request is sent, and sent
    # only as a header, so the key never enters params, the cache key or the store.
    api_key_env: str | None = None
    # Mark the prompt's stable prefix for the provider's prompt cache where it must be asked
    # (Anthropic's cache_control). It changes what a call costs, not its answer: not in the cache key.
    cache_prefix: bool = False
    # Why evalkit does not send this request (a scanned PDF its prompt, or an http: request without
    # the file's bytes, places as its empty text layer): the case's error, made without a call. Not
    # part of the call, nor of its cache key.
    unsent: str | None = None


def without_key(error: ProviderError, key: str | None) -> ProviderError:
    """``error`` with ``key`` removed from its message: a server that echoes the request's key in
    an error must not put it in the error stored with the result."""
    if not key or key not in error.message:
        return error
    return ProviderError(
        error.message.replace(key, "[redacted]"),
        transient=error.transient,
        status=error.status,
        retry_after=error.retry_after,
        attempts=error.attempts,
    )


@dataclass(frozen=True)
class Completion:
    """What a model call returned, with its cost."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    model: str = ""
    finish_reason: str | None = None
    logprobs: Any = None
    attempts: int = 1  # requests it took, retries included (set by the call path)
    cached: bool = False  # served from the response cache: no request was made
    saved_cost_usd: float = 0.0  # served from the cache: what the answer cost when it was first made
    # The provider's own prompt cache (a request was made): prompt tokens it reports as read from its
    # cache and (Anthropic) written to it, both counted in prompt_tokens, and what the cached ones saved
    # against the full input price.
    cached_prompt_tokens: int = 0
    cache_write_tokens: int = 0
    prompt_cache_saved_usd: float = 0.0


class Provider(Protocol):
    """Anything that can complete a request asynchronously.

    A provider that can only serve so many calls at once (an in-process model) may say so with a
    ``max_concurrency`` attribute; the call path then queues calls before their timeout starts.
    One whose client enforces ``request.timeout`` itself may say so with an
    ``enforces_timeout(request) -> bool`` method; the call path then adds no timer of its own.
    Attempts other than a call's last are cut after a few typical latencies of the model (a hung
    connection), unless the provider queues calls itself (``max_concurrency``) or sets
    ``cut_slow_attempts = False`` (it computes rather than waits: slow is not hung).

    The response cache keys a call by its request. A provider whose answers depend on more than
    the request (a ``python:`` target's code, a recording a replay target reads) says what with a
    ``cache_identity() -> str`` method, whose value becomes part of every key; one whose answers
    must never be reused sets ``cacheable = False``.

    A call stopped before its answer (Ctrl-C, SIGTERM) counts as in flight, which a provider may still
    bill, once its request is out. A provider that knows when that is (the HTTP clients, which write it
    after connecting) says so with ``reports_sent = True`` and calls :func:`request_sent` then; any
    other remote call counts from when it starts, an in-process one (``max_concurrency``,
    ``cut_slow_attempts = False``) never.
    """

    async def complete(self, request: CompletionRequest) -> Completion: ...


# set by the call path around each attempt of a provider with ``reports_sent``
_ON_SENT: ContextVar[Callable[[], None] | None] = ContextVar("evalkit_on_sent", default=None)


def request_sent() -> None:
    """Tell the call path that the current attempt's request has been written to the provider: from
    now on it may answer and bill it, so a stop counts it in flight (a no-op outside the call path)."""
    mark = _ON_SENT.get()
    if mark is not None:
        mark()


def watching_sent(mark: Callable[[], None]) -> Callable[[], None]:
    """Have :func:`request_sent` call ``mark`` in this task (and tasks it starts from now on); the
    returned function undoes it."""
    token = _ON_SENT.set(mark)
    return lambda: _ON_SENT.reset(token)


# (model string, directory of the suite that asks for it) -> provider
ProviderFactory = Callable[[str, Path | None], Provider]

providers: Registry[ProviderFactory] = Registry("providers")

# (model string, suite directory) -> content hash of the files the model string names
TargetHasher = Callable[[str, Path | None], str]
target_hashers: Registry[TargetHasher] = Registry("providers")  # registered by provider modules

# targets that receive the case's variables and render no prompt of the suite's
PROMPTLESS_SCHEMES = ("python", "http", "replay")


def provider(scheme: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Register a provider factory for model strings ``scheme:...`` (e.g. ``python:pkg.mod:fn``).

    Model strings without a registered scheme go to litellm, which knows every vendor.
    """
    return providers.decorator(scheme)


def get_provider(model: str, base_dir: Path | None = None) -> Provider:
    """The provider for a model string: a registered ``scheme:`` or, by default, litellm.

    ``base_dir`` is the suite's directory, where providers look for files the model string names.
    """
    scheme = _scheme(model)
    factory = providers.get(scheme) if scheme else None
    if factory is None:
        factory = providers.get("litellm")
    assert factory is not None, "the litellm provider is built in"
    return factory(model, base_dir)


def _scheme(model: str) -> str | None:
    scheme, sep, _ = model.partition(":")
    return scheme if sep and "/" not in scheme else None


def reads_files(model: str) -> bool:
    """Whether a model string goes to a provider of its own scheme (``python:``, ``http:``, ``replay:``,
    a plugin's), which may read files relative to the suite's directory; a vendor model reads none."""
    scheme = _scheme(model)
    return scheme is not None and scheme != "litellm" and providers.get(scheme) is not None


def needs_prompt(model: str) -> bool:
    """Whether a target renders the suite's prompt (a model) or takes the case's variables (``python:``,
    ``http:``, ``replay:``)."""
    return _scheme(model) not in PROMPTLESS_SCHEMES


def target_hash(model: str, base_dir: Path | None = None) -> str | None:
    """Content hash of the files a model string names (for the cache key), or None for plain models."""
    scheme = _scheme(model)
    hasher = target_hashers.get(scheme) if scheme else None
    return hasher(model, base_dir) if hasher is not None else None

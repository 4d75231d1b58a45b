"""Checking a model string names a vendor litellm knows, before any case is sent.

``nosuchvendor/x`` would otherwise fail once per case, at call time, and end the run as an
infrastructure error (exit 3) after spending every case on it.
"""

from __future__ import annotations

from evalkit.providers.base import providers
from evalkit.providers.litellm import LOCAL_PREFIX, import_litellm
from evalkit.providers.openai_compat import OPENAI_COMPATIBLE

PROVIDERS_DOC = "https://docs.litellm.ai/docs/providers"


def unknown_model_problem(model: str, api_base: str | None = None) -> str | None:
    """Why litellm cannot route ``model`` (a vendor it does not know), or None when it can."""
    scheme, sep, _ = model.partition(":")
    if sep and "/" not in scheme and providers.get(scheme) is not None:
        return None  # python:..., or a provider registered by a plugin
    vendor, slash, name = model.partition("/")
    if model.startswith(LOCAL_PREFIX) or (slash and name and vendor in OPENAI_COMPATIBLE):
        return None  # known without importing litellm (seconds), which these models never need
    litellm = import_litellm()
    try:
        litellm.get_llm_provider(model=model, api_base=api_base)
    except Exception:  # litellm says so with a BadRequestError (or worse); any failure means "cannot route"
        if slash:
            return (
                f"unknown vendor {vendor!r} in model {model!r}: "
                f"use a litellm provider prefix such as openai/, anthropic/, ollama/ (see {PROVIDERS_DOC})"
            )
        return (
            f"model {model!r} names no vendor litellm knows: "
            f"write it as vendor/model, e.g. openai/{model} (see {PROVIDERS_DOC})"
        )
    return None

"""Providers: how a case becomes model output (litellm for any vendor, the embedded model, python callables)."""

from evalkit.providers.base import Completion, CompletionRequest, Provider, get_provider, provider

__all__ = ["Completion", "CompletionRequest", "Provider", "get_provider", "provider"]

"""The one path every model call takes, for targets and judges alike.

:class:`ModelCaller` picks the provider for each model string (one instance per model, created on
first use) and is the place where retries, caching and cost accounting apply to every call.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.providers.base import Completion, CompletionRequest, Provider, get_provider


class ModelCaller:
    """Completes requests through the provider registered for each request's model."""

    def __init__(self, base_dir: Path | None = None) -> None:
        self.base_dir = base_dir
        self._providers: dict[str, Provider] = {}

    def provider_for(self, model: str) -> Provider:
        """The provider for ``model`` (created once; creation may raise a ConfigError)."""
        if model not in self._providers:
            self._providers[model] = get_provider(model, self.base_dir)
        return self._providers[model]

    async def complete(self, request: CompletionRequest) -> Completion:
        """Complete one request. Raises ProviderError when the call fails."""
        return await self.provider_for(request.model).complete(request)

"""The one registry of named plug-ins: scorers and providers.

Built-ins register themselves when their module is imported; third-party packages register through
the entry-point groups ``evalkit.scorers`` and ``evalkit.providers`` (each entry point names a module
or object to import; importing it runs its ``@scorer`` / ``@provider`` decorators). Built-in names
are looked up first: installed packages' entry points are read (a scan of every installed
distribution, 30-100 ms) only for a name no built-in has, or to list every name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

# Built-in names and the module that registers each, imported on first lookup of the name: a suite
# of exact-match scorers does not import the judges, and `evalkit --help` imports none of them.
_BUILTINS = {
    "scorers": {
        "exact": "evalkit.scorers.text",
        "contains": "evalkit.scorers.text",
        "regex": "evalkit.scorers.text",
        "fuzzy": "evalkit.scorers.text",
        "json_valid": "evalkit.scorers.structured",
        "strict_format": "evalkit.scorers.structured",
        "json_schema": "evalkit.scorers.structured",
        "pydantic": "evalkit.scorers.structured",
        "json_fields": "evalkit.scorers.fields",
        "markdown_table": "evalkit.scorers.tables",
        "tagged": "evalkit.scorers.tagged",
        "tool_call": "evalkit.scorers.tools",
        "llm_judge": "evalkit.scorers.judge",
        "semantic_similarity": "evalkit.scorers.similarity",
        "pairwise_judge": "evalkit.scorers.pairwise",
    },
    "providers": {
        "litellm": "evalkit.providers.litellm",
        "python": "evalkit.providers.python",
        "http": "evalkit.providers.http_target",
        "replay": "evalkit.providers.replay",
    },
}


class Registry(Generic[T]):
    """A name → factory mapping for one kind of plug-in."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loaded = False
        self._plugins_loaded = False

    def register(self, name: str, item: T) -> None:
        """Add ``item`` under ``name``; a second registration of the same name replaces the first."""
        self._items[name] = item

    def get(self, name: str) -> T | None:
        """The item registered under ``name``, or None."""
        if name not in self._items and not self._loaded:
            module = _BUILTINS.get(self.kind, {}).get(name)
            if module is not None:
                importlib.import_module(module)
        if name not in self._items:
            self._load_plugins()
        return self._items.get(name)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self._load()
        self._load_plugins()
        return sorted(self._items)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in dict.fromkeys(_BUILTINS.get(self.kind, {}).values()):
            importlib.import_module(module)

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        self._load()  # every built-in first, so that a plug-in's name replaces a built-in's as before
        from importlib.metadata import entry_points  # ~10 ms with the email package it imports

        for ep in entry_points(group=f"evalkit.{self.kind}"):
            ep.load()

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated object and returns it unchanged."""

        def wrap(item: T) -> T:
            self.register(name, item)
            return item

        return wrap

"""pydantic's plug-in discovery, skipped in the ``evalkit`` process.

pydantic looks for plug-ins (a scan of every installed package's entry points, 30-100 ms) when it
builds its first model, unless ``PYDANTIC_DISABLE_PLUGINS`` turns them off. Even off, the module
that would look for them, ``pydantic.plugin._loader``, imports :mod:`importlib.metadata` (and with
it the :mod:`email` package, ~10 ms of CPU before the first request) only to return no plug-ins.

:func:`skip_plugin_discovery` turns plug-ins off unless the user set the variable, and, while they
are off, stands in for that module with one whose ``get_plugins()`` returns none. Asked for anything
else, or once plug-ins are back on, the stand-in hands over to pydantic's own module.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Iterable
from typing import Any

LOADER = "pydantic.plugin._loader"
_VARIABLE = "PYDANTIC_DISABLE_PLUGINS"
_ALL_OFF = ("__all__", "1", "true")  # the values pydantic reads as "no plug-ins at all"


def skip_plugin_discovery() -> None:
    """Turn pydantic's plug-ins off (unless ``PYDANTIC_DISABLE_PLUGINS`` is set) and, while off, skip its loader."""
    os.environ.setdefault(_VARIABLE, "__all__")
    if os.environ[_VARIABLE] in _ALL_OFF and LOADER not in sys.modules:
        sys.modules[LOADER] = _stand_in()


def _stand_in() -> types.ModuleType:
    module = types.ModuleType(
        LOADER, "pydantic's plug-in loader while plug-ins are off (evalkit.cli.pydantic_plugins)"
    )

    def get_plugins() -> Iterable[Any]:
        if os.environ.get(_VARIABLE) in _ALL_OFF:
            return ()
        plugins: Iterable[Any] = _real_attribute("get_plugins")()
        return plugins

    def _real_attribute(name: str) -> Any:
        if name.startswith("__"):  # what the import system and repr() probe for (__path__, __file__)
            raise AttributeError(name)
        if sys.modules.get(LOADER) is module:
            del sys.modules[LOADER]
        return getattr(importlib.import_module(LOADER), name)

    module.get_plugins = get_plugins  # type: ignore[attr-defined]
    module.__getattr__ = _real_attribute  # type: ignore[method-assign]  # PEP 562: any other name
    return module

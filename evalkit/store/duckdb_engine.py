"""DuckDB's engine, imported without the query-builder layer of its Python package when it can be.

From duckdb 2.0 the ``duckdb`` package is a Python layer (relations, expressions, DataFrame and
Arrow sources: ~55 ms of CPU to import, on top of the engine's ~13 ms) over the extension module
``_duckdb``, which holds connections, statements, results and every exception class. The store
uses only those, so a command that merely runs a suite or lists runs imports ``_duckdb`` alone.
Importing ``duckdb`` later (a DataFrame read, an analysis) completes the same classes: the package
adds its methods to ``_duckdb``'s connection class, so connections opened before gain them too.
Versions before 2.0 are laid out differently and are imported through the package. Either is
imported at its first use, not with this module.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING


def _engine() -> ModuleType:
    try:
        module = importlib.import_module("_duckdb")
        if int(str(module.__version__).split(".")[0]) >= 2:
            return module
    except (ImportError, AttributeError, ValueError):
        pass
    return importlib.import_module("duckdb")


class _Engine:
    """The engine module, imported at its first use: ``evalkit run`` on a new database creates it
    while the first calls are in flight, so the engine's ~13 ms of loading need not come before them.
    After the first use its names are this object's own attributes (no lookup cost)."""

    def __getattr__(self, name: str) -> object:
        module = _engine()
        self.__dict__.update(vars(module))
        return getattr(module, name)


if TYPE_CHECKING:
    import duckdb
else:
    duckdb = _Engine()


def with_dataframes() -> None:
    """Load the package's DataFrame and Arrow support (``.df()`` reads) onto the engine's classes."""
    importlib.import_module("duckdb")


__all__ = ["duckdb", "with_dataframes"]

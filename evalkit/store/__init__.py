"""The results store: a DuckDB file by default, or PostgreSQL. The schema is a public interface
(docs/store.md).

``open_store()`` picks the database from, in order: the ``db`` argument (``--db``), the
``EVALKIT_DB`` environment variable, and ``.evalkit/evalkit.duckdb`` under the current directory.
A ``postgresql://`` URL selects the PostgreSQL backend.
"""

from __future__ import annotations

from evalkit.store.opening import DEFAULT_DB, open_store, resolve_db
from evalkit.store.queries import Store
from evalkit.store.run_tables import RunTables, load_run

__all__ = ["DEFAULT_DB", "RunTables", "Store", "load_run", "open_store", "resolve_db"]

"""evalkit: evaluation and regression testing for transactional LLM features.

The public API is re-exported here and imported lazily, so ``evalkit --help`` stays fast::

    from evalkit import load_suite, open_store, run_suite
    outcome = run_suite(load_suite("suites/listings"), open_store())
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

# Importing litellm must never reach the network: use the price map it ships with.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__version__ = "0.1.0"

_EXPORTS = {
    "Case": "evalkit.cases",
    "CaseSource": "evalkit.cases",
    "Suite": "evalkit.suite.loading",
    "load_suite": "evalkit.suite.loading",
    "RunOptions": "evalkit.run.runner",
    "RunOutcome": "evalkit.run.runner",
    "run_suite": "evalkit.run.runner",
    "execute_run": "evalkit.run.runner",
    "Score": "evalkit.scorers.base",
    "ScoreContext": "evalkit.scorers.base",
    "FieldScore": "evalkit.scorers.base",
    "scorer": "evalkit.scorers.base",
    "provider": "evalkit.providers.base",
    "Completion": "evalkit.providers.base",
    "CompletionRequest": "evalkit.providers.base",
    "open_store": "evalkit.store",
    "Store": "evalkit.store",
    "CaseResult": "evalkit.results",
    "RunRecord": "evalkit.results",
    "EvalkitError": "evalkit.errors",
    "ExitCode": "evalkit.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'evalkit' has no attribute {name!r}")
    return getattr(import_module(module), name)

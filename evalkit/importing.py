"""Importing user code named as ``module:attribute`` (targets, pydantic models, scorers)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


def import_object(spec: str, *, search_path: Path | None = None) -> Any:
    """Import ``module:attr`` (``attr`` may be dotted). ``search_path`` is tried first for the module.

    Raises ValueError with a message fit for a one-line error.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{spec!r} is not of the form module:attribute")
    added = False
    if search_path is not None and str(search_path) not in sys.path:
        sys.path.insert(0, str(search_path))
        added = True
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module may fail in any way while importing
        raise ValueError(f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}") from None
    finally:
        if added:
            sys.path.remove(str(search_path))
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj

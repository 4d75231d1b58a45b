"""Built-in scorers and providers are found by name, importing only the module that registers each."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evalkit.providers.base import providers
from evalkit.registry import _BUILTINS
from evalkit.scorers import scorers

ROOT = Path(__file__).resolve().parents[1]


def test_each_builtin_name_is_registered_by_the_module_the_map_names() -> None:
    for kind, registry in (("scorers", scorers), ("providers", providers)):
        registered = {name: registry.get(name) for name in registry.names()}
        for name, module in _BUILTINS[kind].items():
            item = registered.get(name)
            assert item is not None, f"{kind} {name!r} is not registered"
            assert item.__module__ == module, f"{kind} {name!r} comes from {item.__module__}"
        # every built-in module's names are in the map (a new scorer must be added to it)
        builtin_modules = set(_BUILTINS[kind].values())
        unmapped = [n for n, item in registered.items() if item.__module__ in builtin_modules]
        assert set(unmapped) <= set(_BUILTINS[kind]), unmapped


def test_looking_up_one_scorer_imports_only_its_module() -> None:
    script = (
        "import sys\n"
        "from evalkit.scorers import scorers\n"
        "assert scorers.get('json_fields') is not None and scorers.get('json_valid') is not None\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('evalkit.scorers.', 'evalkit.judges')))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    ).stdout.split()
    assert "evalkit.scorers.fields" in out and "evalkit.scorers.structured" in out
    assert not {"evalkit.scorers.judge", "evalkit.scorers.pairwise", "evalkit.scorers.similarity"} & set(out)

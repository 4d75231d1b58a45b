"""What a ``python:`` target's answers depend on besides its inputs: its code and declared data.

The response cache must not answer an edited pipeline with the old pipeline's outputs, so a
``python:`` target's cache key includes a digest of

- the source file of the module that defines the function (through ``functools.partial`` and
  decorators) and of the module the target names, and of every module they import (directly or
  through those modules, at the top or inside a function that has not run yet) that lives outside
  the Python installation: your own code, not the standard library or installed packages;
- the files the target declares as data: ``evalkit_data`` on the function (or ``EVALKIT_DATA`` in its
  module), a list of paths or glob patterns relative to the module's directory;
- the environment variables the target declares it reads: ``evalkit_env`` on the function (or
  ``EVALKIT_ENV`` in its module), a list of names (a pipeline choosing its model by one: the same
  code with another model is another pipeline); their values when the run starts, set or not.

A target whose answers depend on something else (a database, a service, the clock) opts out of the
cache with ``evalkit_cache = False`` on the function (or ``EVALKIT_CACHE = False`` in its module):
it is called every time and its answers are not stored for reuse.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import os
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable
from importlib.machinery import PathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

from evalkit.errors import ConfigError


def _installed_roots() -> list[Path]:
    """Directories of the Python installation: the standard library and site-packages."""
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    roots = {Path(p).resolve() for p in (sysconfig.get_paths().get(n) for n in names) if p}
    roots |= {Path(p).resolve() for p in site.getsitepackages() if p}
    roots.add(Path(sys.base_prefix).resolve())
    if sys.prefix != sys.base_prefix:  # a virtualenv: its own site-packages live under it
        roots.add(Path(sys.prefix).resolve())
    return sorted(roots)


def _is_users(path: Path, installed: list[Path]) -> bool:
    return not any(path.is_relative_to(root) for root in installed)


def _module_file(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    if not file or not str(file).endswith(".py"):
        return None
    return Path(file).resolve()


def _imported_names(package: str, path: Path) -> set[str]:
    """Names of the modules the source at ``path`` imports, anywhere in it (in a function too: a
    pipeline may import its helpers when it first runs); ``from a import b`` names ``a`` and ``a.b``.
    ``package`` resolves relative imports."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".strip(".") if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _unloaded_file(name: str, search: list[str]) -> Path | None:
    """The source file module ``name`` would be imported from, found without importing anything."""
    top, *rest = name.split(".")
    spec = PathFinder.find_spec(top, search)
    for part in rest:
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = PathFinder.find_spec(part, list(spec.submodule_search_locations))
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin).resolve()


def _imports(name: str, package: str, path: Path, search: list[str]) -> Iterable[tuple[str, Path | None]]:
    """The modules the module ``name`` (source at ``path``) imports, each with its source file when
    it is not loaded yet; a loaded module also names the modules of the values it holds."""
    for imported in _imported_names(package, path):
        if imported in sys.modules:
            yield imported, None
        else:  # imported by a function that has not run yet: its file is where the import will find it
            yield imported, _unloaded_file(imported, search)
    module = sys.modules.get(name)
    if module is None:
        return
    for value in list(vars(module).values()):
        owner = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(owner, str) and owner in sys.modules:
            yield owner, None


def defining_module(fn: Callable[..., Any]) -> ModuleType | None:
    """The module whose code ``fn`` runs: through ``functools.partial`` and decorators' ``__wrapped__``
    (``inspect.getmodule`` of a partial is :mod:`functools`, whose source is not the user's)."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.getmodule(inspect.unwrap(target))


def source_files(fn: Callable[..., Any], also: Iterable[ModuleType] = ()) -> list[Path]:
    """The user's source files ``fn`` depends on: its module (and the modules in ``also``, such as
    the one a ``python:`` target names) and the user modules they import, loaded or not yet."""
    roots = [m for m in (defining_module(fn), *also) if m is not None]
    installed = _installed_roots()
    seen: dict[Path, None] = {}
    search = list(sys.path)
    for root in roots:  # a sibling module a pipeline imports later is found next to it
        file = _module_file(root)
        if file is not None and str(file.parent) not in search:
            search.append(str(file.parent))
    queue: list[tuple[str, Path | None]] = [(m.__name__, None) for m in roots]
    visited: set[str] = set()
    while queue:
        name, path = queue.pop()
        if name in visited:
            continue
        visited.add(name)
        module = sys.modules.get(name)
        if path is None and module is not None:
            path = _module_file(module)
        if path is None or not _is_users(path, installed):
            continue
        seen[path] = None
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        if module is not None and module.__package__ is not None:
            package = module.__package__
        queue.extend(_imports(name, package, path, search))
    return sorted(seen)


def _declared(fn: Callable[..., Any], attr: str, module_attr: str) -> Any:
    if hasattr(fn, attr):
        return getattr(fn, attr)
    module = defining_module(fn)
    return getattr(module, module_attr, None) if module is not None else None


def caches_answers(fn: Callable[..., Any]) -> bool:
    """False when the target opted out of the response cache (``evalkit_cache = False``)."""
    return _declared(fn, "evalkit_cache", "EVALKIT_CACHE") is not False


def data_files(fn: Callable[..., Any], model: str) -> list[Path]:
    """The data files the target declares (``evalkit_data``), resolved against its module's directory.

    A declared pattern that matches no file is a ConfigError: a typo would otherwise leave the data
    out of the cache key without anyone noticing.
    """
    declared = _declared(fn, "evalkit_data", "EVALKIT_DATA")
    if declared is None:
        return []
    patterns = [declared] if isinstance(declared, (str, Path)) else list(declared)
    module = defining_module(fn)
    source = _module_file(module) if module is not None else None
    base = source.parent if source else Path.cwd()
    found: dict[Path, None] = {}
    for pattern in patterns:
        text = str(pattern)
        candidate = Path(text)
        # a pattern may name files or directories (every file under a directory counts)
        matches = [candidate] if candidate.is_absolute() and candidate.exists() else sorted(base.glob(text))
        if not matches and (base / text).exists():
            matches = [base / text]
        files: list[Path] = []
        for path in matches:
            files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        if not files:
            raise ConfigError(
                f"target {model!r}: its evalkit_data entry {text!r} matches no file under {base}"
            )
        found.update(dict.fromkeys(p.resolve() for p in files))
    return sorted(found)


def env_names(fn: Callable[..., Any], model: str) -> list[str]:
    """The environment variables the target declares its answers depend on (``evalkit_env``)."""
    declared = _declared(fn, "evalkit_env", "EVALKIT_ENV")
    if declared is None:
        return []
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) and name for name in names):
        raise ConfigError(f"target {model!r}: evalkit_env must list environment variable names")
    return sorted(set(names))


def code_digest(fn: Callable[..., Any], model: str, also: Iterable[ModuleType] = ()) -> str:
    """SHA-256 over the target's source files and declared data files (their paths and bytes), and
    the values of its declared environment variables; ``also``: modules whose code counts too (see
    :func:`source_files`)."""
    digest = hashlib.sha256()
    for name in env_names(fn, model):
        value = os.environ.get(name)
        digest.update(f"env\0{name}\0{'unset' if value is None else 'set'}\0{value or ''}\0".encode())
    for kind, paths in (("source", source_files(fn, also)), ("data", data_files(fn, model))):
        for path in paths:
            digest.update(f"{kind}\0{path.name}\0".encode())
            try:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError as exc:
                raise ConfigError(f"target {model!r}: cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()

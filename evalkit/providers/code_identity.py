"""What a ``python:`` target's answers depend on besides its inputs: its code and declared data.

The response cache must not answer an edited pipeline with the old pipeline's outputs, so a
``python:`` target's cache key includes a digest of

- the source file of the module that defines the function, and of every module it imports
  (directly or through those modules) that lives outside the Python installation: your own code,
  not the standard library or installed packages;
- the files the target declares as data: ``evalkit_data`` on the function (or ``EVALKIT_DATA`` in its
  module), a list of paths or glob patterns relative to the module's directory.

A target whose answers depend on something else (a database, a service, the clock) opts out of the
cache with ``evalkit_cache = False`` on the function (or ``EVALKIT_CACHE = False`` in its module):
it is called every time and its answers are not stored for reuse.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import site
import sys
import sysconfig
from collections.abc import Callable, Iterable
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


def _imported_names(module: ModuleType, path: Path) -> set[str]:
    """Names of the modules ``module``'s source imports (``from a import b`` names ``a`` and ``a.b``)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    package = module.__package__ or ""
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


def _imported_modules(module: ModuleType, path: Path) -> Iterable[ModuleType]:
    """Loaded modules ``module`` imports: by its import statements, and the modules of names it holds."""
    for name in _imported_names(module, path):
        if name in sys.modules:
            yield sys.modules[name]
    for value in list(vars(module).values()):
        if isinstance(value, ModuleType):
            yield value
            continue
        owner = getattr(value, "__module__", None)
        if isinstance(owner, str) and owner in sys.modules:
            yield sys.modules[owner]


def source_files(fn: Callable[..., Any]) -> list[Path]:
    """The user's source files ``fn`` depends on: its module and the user modules it imports."""
    module = inspect.getmodule(fn)
    if module is None:
        return []
    installed = _installed_roots()
    seen: dict[Path, None] = {}
    queue = [module]
    visited: set[str] = set()
    while queue:
        current = queue.pop()
        if current.__name__ in visited:
            continue
        visited.add(current.__name__)
        path = _module_file(current)
        if path is None or not _is_users(path, installed):
            continue
        seen[path] = None
        queue.extend(_imported_modules(current, path))
    return sorted(seen)


def _declared(fn: Callable[..., Any], attr: str, module_attr: str) -> Any:
    if hasattr(fn, attr):
        return getattr(fn, attr)
    module = inspect.getmodule(fn)
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
    source = inspect.getsourcefile(fn)
    base = Path(source).resolve().parent if source else Path.cwd()
    found: dict[Path, None] = {}
    for pattern in patterns:
        text = str(pattern)
        candidate = Path(text)
        matches = (
            [candidate]
            if candidate.is_absolute() and candidate.exists()
            else sorted(p for p in base.glob(text) if p.is_file())
        )
        if not matches and (base / text).is_file():
            matches = [base / text]
        if not matches:
            raise ConfigError(
                f"target {model!r}: its evalkit_data entry {text!r} matches no file under {base}"
            )
        for path in matches:
            if path.is_dir():
                matches_in_dir = sorted(p for p in path.rglob("*") if p.is_file())
                found.update(dict.fromkeys(p.resolve() for p in matches_in_dir))
            else:
                found[path.resolve()] = None
    return sorted(found)


def code_digest(fn: Callable[..., Any], model: str) -> str:
    """SHA-256 over the target's source files and declared data files (their paths and bytes)."""
    digest = hashlib.sha256()
    for kind, paths in (("source", source_files(fn)), ("data", data_files(fn, model))):
        for path in paths:
            digest.update(f"{kind}\0{path.name}\0".encode())
            try:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            except OSError as exc:
                raise ConfigError(f"target {model!r}: cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()

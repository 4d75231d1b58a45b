"""What every scorer shares: the result types, the context a scorer sees, and the ``@scorer`` decorator.

A scorer is a small factory registered by name. The factory takes the scorer's arguments from the
suite file and returns a function from :class:`ScoreContext` to :class:`Score` (or an awaitable of
one, for scorers that call a model)::

    @scorer("shouting")
    def shouting(max_ratio: float = 0.3) -> ScoreFn:
        \"\"\"Fails when more than ``max_ratio`` of the output's letters are capitals.\"\"\"
        def score(ctx: ScoreContext) -> Score:
            ...
        return score

The suite then refers to it as ``- name: shouting`` with ``args: {max_ratio: 0.2}``.

A scorer that compares the output with the case's expected output says so when it registers,
``@scorer("fuzzy", needs_expected=True)``, or with a function of its arguments when they can make
``expected`` optional (``contains`` needs it only without ``value``). A suite whose case has no
``expected`` under such a scorer is refused when it loads (:func:`needs_expected`).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, validate_call

from evalkit.cases import Case
from evalkit.registry import Registry
from evalkit.scorers.field_values import Slot

FieldStatus = Literal["match", "partial", "mismatch", "missing", "extra"]


class FieldScore(BaseModel):
    """How one field of a structured output compares with the expected value."""

    field: str
    score: float = Field(ge=0.0, le=1.0)
    passed: bool
    status: FieldStatus
    expected: Any = None
    actual: Any = None
    # WDC-PAVE slot class (see evalkit.scorers.field_values): NN, NV, VN, VC or VW
    slot: Slot | None = None
    normalized: bool = False  # passed only after ignoring case/whitespace (the rule allowed it)


class Score(BaseModel):
    """One scorer's verdict on one output: a score in [0, 1], pass/fail and why."""

    value: float = Field(ge=0.0, le=1.0)
    passed: bool
    reason: str = ""
    fields: list[FieldScore] = Field(default_factory=lambda: [])
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # the scorer could not score (e.g. a judge failed); never counted as a fail


@dataclass(frozen=True)
class ScoreContext:
    """Everything a scorer may look at for one case."""

    case: Case
    output: str
    parsed: Any  # the JSON value found in the output, or None
    extraction: str  # how `parsed` was obtained: strict, fenced, embedded or none
    output_schema: dict[str, Any] | None = None
    # Model access for scorers that need one (the judge); goes through the runner's provider layer.
    complete: Callable[..., Awaitable[Any]] | None = None

    @property
    def expected(self) -> Any:
        return self.case.expected

    @property
    def parsed_found(self) -> bool:
        """True when a JSON value was found in the output (``parsed`` may still be JSON null)."""
        return self.extraction != "none"


ScoreFn = Callable[[ScoreContext], Score | Awaitable[Score]]
ScorerFactory = Callable[..., ScoreFn]
# Whether a scorer compares with the expected output: always, or as its arguments say.
ExpectedNeed = bool | Callable[[Mapping[str, Any]], bool]

scorers: Registry[ScorerFactory] = Registry("scorers")
_expected_needs: dict[str, ExpectedNeed] = {}


def scorer(name: str, *, needs_expected: ExpectedNeed = False) -> Callable[[ScorerFactory], ScorerFactory]:
    """Register a scorer factory under ``name`` (the name suites use).

    ``needs_expected``: True when the scorer compares the output with the case's expected output,
    or a function of the scorer's arguments saying whether they do (see :func:`needs_expected`).
    """

    def wrap(factory: ScorerFactory) -> ScorerFactory:
        scorers.register(name, factory)
        _expected_needs[name] = needs_expected
        return factory

    return wrap


def needs_expected(name: str, args: Mapping[str, Any]) -> bool:
    """Whether scorer ``name`` with ``args`` compares the output with the case's expected output.

    As its ``@scorer(..., needs_expected=...)`` declares; a factory registered otherwise (a plug-in
    calling ``scorers.register``) may say so with a ``needs_expected = True`` attribute.
    """
    factory = scorers.get(name)  # imports the module that registers a built-in
    need = _expected_needs.get(name) or getattr(factory, "needs_expected", False)
    return bool(need(args) if callable(need) else need)


class ScorerArgumentError(ValueError):
    """The arguments given to a scorer in the suite do not fit its factory."""


def build_scorer(name: str, args: dict[str, Any], *, base_dir: Path) -> ScoreFn:
    """Instantiate the scorer ``name`` with ``args``, validating them against the factory's signature.

    A factory that declares a ``base_dir`` parameter receives the suite's directory, so it can resolve
    relative paths in its arguments.
    """
    factory = scorers.get(name)
    if factory is None:
        known = ", ".join(scorers.names())
        raise ScorerArgumentError(f"unknown scorer {name!r} (known: {known})")
    params = inspect.signature(factory).parameters
    unknown = sorted(set(args) - set(params) - {"base_dir"})
    if unknown:
        allowed = ", ".join(p for p in params if p != "base_dir") or "none"
        raise ScorerArgumentError(f"scorer {name!r} has no argument {unknown[0]!r} (arguments: {allowed})")
    call_args = dict(args)
    if "base_dir" in params:
        call_args["base_dir"] = base_dir
    try:
        return validate_call(_with_resolved_annotations(factory))(**call_args)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ScorerArgumentError(f"scorer {name!r} argument {loc}: {err['msg']}") from None
    except (ValueError, TypeError) as exc:
        raise ScorerArgumentError(f"scorer {name!r}: {exc}") from None


def clamp(value: float) -> float:
    """Clamp a score into [0, 1] (rounding errors of fuzzy ratios can leave it just outside)."""
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def _with_resolved_annotations(factory: ScorerFactory) -> ScorerFactory:
    """``factory`` with its string annotations evaluated in its own globals.

    pydantic resolves a function's string annotations in the module it finds under the function's
    ``__module__`` in ``sys.modules``. A host that unloads modules it saw imported (pytest's pytester
    does, after each test) leaves the registry holding factories whose module is no longer there, and
    their annotations (``dict[str, FieldRule]``) would no longer resolve. ``__globals__`` always does.
    """
    if any(isinstance(a, str) for a in factory.__annotations__.values()):
        factory.__annotations__ = typing.get_type_hints(factory, include_extras=True)
    return factory

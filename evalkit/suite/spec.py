"""The suite file: its pydantic models (the published JSON Schema) and loading with file:line errors.

A suite says what to run (prompt versions + model + params + output schema), on which cases,
how to score the outputs and what makes the whole run pass. See ``suites/listings/suite.yaml``.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from evalkit.cases import Case, iter_case_file
from evalkit.errors import ConfigError, UsageError
from evalkit.suite.growth import GenerateSpec, MiningSpec
from evalkit.importing import import_object
from evalkit.suite.prompts import PromptVersion, load_prompt
from evalkit.scorers.base import ScoreFn, ScorerArgumentError, build_scorer
from evalkit.suite.yamlfile import LocatedYaml, load_yaml

DEFAULT_MODEL = "local/smollm2-135m"
SUITE_FILENAMES = ("suite.yaml", "suite.yml")


class ModelParams(BaseModel):
    """Sampling parameters passed to the model (anything else is passed through as-is)."""

    model_config = ConfigDict(extra="allow")

    temperature: float | None = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=512, gt=0)
    seed: int | None = Field(default=None, description="Sampling seed, where the provider supports one.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: list[str] | None = None
    timeout: float | None = Field(default=None, gt=0.0, description="Seconds per request.")


class TargetSpec(BaseModel):
    """What produces the outputs under test."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default=DEFAULT_MODEL,
        description="litellm model string (openai/gpt-4o-mini, anthropic/..., ollama/...), "
        f"`{DEFAULT_MODEL}` for the embedded offline model, or `python:module:function`.",
    )
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Prompt versions: name -> jinja2 template path (relative to the suite file).",
    )
    prompt: str | None = Field(default=None, description="Version run by default (default: the last listed).")
    params: ModelParams = Field(default_factory=ModelParams)
    output_schema: str | None = Field(
        default=None,
        description="JSON Schema file (relative path) or `module:PydanticModel` the output must follow. "
        "Passed to the provider as a constraint where supported.",
    )
    api_base: str | None = Field(default=None, description="Base URL of an OpenAI-compatible server.")
    confidence_field: str | None = Field(
        default=None,
        description="Dotted path of the output field holding the model's self-reported confidence "
        "(0-1, or a percentage); `evalkit reliability` checks it against the verdicts (ECE).",
    )

    @field_validator("model")
    @classmethod
    def _model_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class ScorerSpec(BaseModel):
    """One scorer of a suite, by its registered name."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Registered scorer name: exact, contains, regex, fuzzy, json_schema, ...")
    id: str | None = Field(default=None, description="Label in results (default: name); must be unique.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments of the scorer factory.")
    weight: float = Field(default=1.0, ge=0.0, description="Weight in the case's weighted score.")
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Pass when score >= threshold (default: the scorer's own rule).",
    )
    verified_only: bool = Field(
        default=False, description="Skip cases whose expected output is not verified by a person."
    )

    @property
    def label(self) -> str:
        return self.id or self.name


class PairwiseGateSpec(BaseModel):
    """A pairwise judge of B (this run) against A (the baseline), in both orders: an optional gate criterion."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(description="Judge model (any litellm model string, or local/...).")
    rubric: str | None = Field(
        default=None, description="What makes one output better (default: a generic rubric)."
    )
    verdict: Literal["auto", "logprobs", "text"] = Field(
        default="auto",
        description="Read the verdict from the answer token's log-probabilities (where the provider returns them) or from text.",
    )
    api_base: str | None = None
    min_win_rate: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Fail when B's win rate over A (wins / decisive cases) is significantly below this (95% interval).",
    )
    min_position_agreement: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Share of cases with the same winner in both orders the judge must reach (here and in its calibration).",
    )
    min_kappa: float | None = Field(
        default=None,
        ge=-1.0,
        le=1.0,
        description="Cohen's kappa against human labels (evalkit calibrate) the judge must have.",
    )
    calibration: Literal["warn", "fail"] = Field(
        default="warn",
        description="A judge below min_kappa / min_position_agreement: warn, or fail the gate.",
    )


class GateSpec(BaseModel):
    """What makes a case pass, and what makes the run pass."""

    model_config = ConfigDict(extra="forbid")

    case_pass: Literal["weighted", "all"] = Field(
        default="all",
        description="all (default): every scorer must pass, so one wrong field fails the case; "
        "weighted: the weighted mean of scores >= case_threshold (partial credit can pass a wrong answer).",
    )
    case_threshold: float = Field(
        default=0.8, ge=0.0, le=1.0, description="case_pass: weighted only: the weighted mean a case needs."
    )
    min_pass_rate: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Share of scored cases that must pass."
    )
    max_error_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of cases allowed to end in provider errors before the run exits 3.",
    )
    quarantine: list[str] = Field(
        default_factory=list,
        description="Case ids kept out of the gate (still run and reported), e.g. known-flaky ones.",
    )
    quarantine_flaky: bool = Field(
        default=False,
        description="With --repeat, keep cases that both passed and failed in this run out of the gate.",
    )
    regression_alpha: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description="With --baseline: a drop in pass rate counts only when McNemar's exact p < this.",
    )
    regression_min_effect: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="With --baseline: the smallest drop in pass rate (0.02 = 2 points) that counts, however significant.",
    )
    critical_tag: str = Field(
        default="critical",
        description="With --baseline: a case with this tag that passed in the baseline and fails now fails the run.",
    )
    pairwise: PairwiseGateSpec | None = Field(
        default=None,
        description="With --baseline (and `evalkit compare A B --judge`): a pairwise judge of this run against the baseline.",
    )


class SuiteFile(BaseModel):
    """The suite file format (YAML). `evalkit schema` prints this model's JSON Schema."""

    model_config = ConfigDict(extra="forbid", title="evalkit suite")

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$", description="Suite name (used in run ids and reports).")
    description: str = ""
    target: TargetSpec
    cases: list[str] = Field(
        min_length=1,
        description="Case files (JSONL), paths or globs relative to the suite. In a case's expected JSON, "
        '{"$any": [a, b]} as a field\'s value accepts any one of a, b (a list still means all of its items); '
        'json_fields\' `absent` argument lists the values meaning "not stated".',
    )
    scorers: list[ScorerSpec] = Field(min_length=1)
    gate: GateSpec = Field(default_factory=GateSpec)
    generate: GenerateSpec = Field(
        default_factory=GenerateSpec, description="How `evalkit generate` writes edge-case candidates."
    )
    mining: MiningSpec | None = Field(
        default=None, description="How `evalkit mine` reads production logs (field mapping, PII)."
    )


@dataclass(frozen=True)
class ConfiguredScorer:
    """A scorer of a loaded suite: its spec plus the ready-to-call scoring function."""

    spec: ScorerSpec
    fn: ScoreFn

    @property
    def label(self) -> str:
        return self.spec.label


@dataclass
class Suite:
    """A loaded, validated suite, ready to run."""

    path: Path
    config: SuiteFile
    prompts: dict[str, PromptVersion]
    output_schema: dict[str, Any] | None
    scorers: list[ConfiguredScorer]
    case_files: list[Path]
    source_hash: str
    _locations: LocatedYaml | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def prompt(self, name: str | None = None) -> PromptVersion:
        """The prompt version ``name`` (default: the suite's default version)."""
        chosen = name or self.config.target.prompt or next(reversed(self.prompts))
        if chosen not in self.prompts:
            known = ", ".join(self.prompts) or "none"
            raise UsageError(f"suite {self.name!r} has no prompt version {chosen!r} (versions: {known})")
        return self.prompts[chosen]

    def iter_cases(self) -> Iterator[Case]:
        """Stream every case of every case file, in file order (memory does not grow with suite size)."""
        for _, _, case in self.iter_located_cases():
            yield case

    def iter_located_cases(self) -> Iterator[tuple[Path, int, Case]]:
        """Like :meth:`iter_cases`, with the file and line each case comes from."""
        for path in self.case_files:
            for line, case in iter_case_file(path):
                yield path, line, case

    def check_cases(self, prompt: PromptVersion | None, accept: Callable[[Case], bool] | None = None) -> int:
        """Validate every case before anything is spent: JSON, fields, unique ids, template variables.

        Returns the number of cases (that ``accept`` accepts, when given). Reads the files once,
        keeping only the ids in memory.
        """
        accepted = 0
        seen: dict[str, tuple[Path, int]] = {}
        needed = prompt.variables if prompt is not None else frozenset()
        for path, line, case in self.iter_located_cases():
            if case.id in seen:
                first_path, first_line = seen[case.id]
                raise ConfigError(
                    f"duplicate case id {case.id!r} (first at {first_path}:{first_line})",
                    path=path,
                    line=line,
                )
            seen[case.id] = (path, line)
            missing = sorted(needed - case.input.keys())
            if missing and prompt is not None:
                raise ConfigError(
                    f"case {case.id!r} lacks input variable {missing[0]!r} used by prompt {prompt.name!r}",
                    path=path,
                    line=line,
                )
            accepted += accept is None or accept(case)
        if not seen:
            raise ConfigError("suite has no cases (its case files are empty)", path=self.path)
        return accepted


def resolve_suite_path(path: Path) -> Path:
    """Accept a suite file or a directory holding ``suite.yaml``."""
    if path.is_dir():
        for name in SUITE_FILENAMES:
            if (path / name).is_file():
                return path / name
        raise ConfigError("directory has no suite.yaml", path=path)
    if not path.exists():
        raise ConfigError("suite file not found", path=path)
    return path


def load_suite(path: Path | str) -> Suite:
    """Load and validate a suite file, its prompts, output schema, scorers and case file list."""
    suite_path = resolve_suite_path(Path(path))
    located = load_yaml(suite_path)
    if not isinstance(located.data, dict):
        raise ConfigError("a suite file must be a YAML mapping", path=suite_path, line=1)
    try:
        config = SuiteFile.model_validate(located.data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc)
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{dotted}: {msg}", path=suite_path, line=located.line_of(loc)) from None

    base = suite_path.parent

    def fail(message: str, loc: tuple[str | int, ...]) -> ConfigError:
        return ConfigError(message, path=suite_path, line=located.line_of(loc))

    target = config.target
    is_python_target = target.model.startswith("python:")
    if not target.prompts and not is_python_target:
        raise fail("target.prompts: a model target needs at least one prompt version", ("target",))
    prompts = {}
    for name, rel in target.prompts.items():
        try:
            prompts[name] = load_prompt(name, base / rel)
        except ConfigError as exc:
            if exc.line is None:  # the file itself is missing: point at the suite line naming it
                raise fail(
                    f"target.prompts.{name}: template not found: {rel}", ("target", "prompts", name)
                ) from None
            raise
    if target.prompt is not None and target.prompt not in prompts:
        raise fail(f"target.prompt: no prompt version {target.prompt!r}", ("target", "prompt"))

    output_schema = None
    if target.output_schema:
        try:
            output_schema = load_output_schema(target.output_schema, base)
        except ValueError as exc:
            raise fail(f"target.output_schema: {exc}", ("target", "output_schema")) from None

    labels: set[str] = set()
    scorers = []
    for i, spec in enumerate(config.scorers):
        if spec.label in labels:
            raise fail(f"scorers.{i}: duplicate scorer id {spec.label!r}; give one an `id`", ("scorers", i))
        labels.add(spec.label)
        try:
            fn = build_scorer(spec.name, spec.args, base_dir=base)
        except ScorerArgumentError as exc:
            where: tuple[str | int, ...] = ("scorers", i, "args") if spec.args else ("scorers", i, "name")
            raise fail(f"scorers.{i}: {exc}", where) from None
        scorers.append(ConfiguredScorer(spec=spec, fn=fn))

    case_files: list[Path] = []
    for i, pattern in enumerate(config.cases):
        matches = sorted(Path(p) for p in glob.glob(str(base / pattern), recursive=True))
        if not matches:
            if (base / pattern) in _growth_case_files(config, base):
                continue  # written by `evalkit generate`/`mine`; absent until the first case is added
            raise fail(f"cases.{i}: no case file matches {pattern!r}", ("cases", i))
        case_files.extend(m for m in matches if m not in case_files)

    return Suite(
        path=suite_path,
        config=config,
        prompts=prompts,
        output_schema=output_schema,
        scorers=scorers,
        case_files=case_files,
        source_hash=_suite_hash(suite_path, prompts, output_schema),
        _locations=located,
    )


def _growth_case_files(config: SuiteFile, base: Path) -> set[Path]:
    files = {base / config.generate.cases_file}
    if config.mining is not None:
        files.add(base / config.mining.cases_file)
    return files


def load_output_schema(spec: str, base: Path) -> dict[str, Any]:
    """A JSON Schema from a file path, or from a pydantic model named ``module:Model``."""
    candidate = base / spec
    if candidate.suffix == ".json" or candidate.is_file():
        try:
            schema = json.loads(candidate.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"file not found: {spec}") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{spec} is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(schema, dict):
            raise ValueError(f"{spec} must hold a JSON object")
        _check_schema(schema)
        return schema
    model = import_object(spec, search_path=base)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ValueError(f"{spec!r} is not a pydantic model class")
    return model.model_json_schema()


def _check_schema(schema: dict[str, Any]) -> None:
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None


def _suite_hash(path: Path, prompts: dict[str, PromptVersion], schema: dict[str, Any] | None) -> str:
    digest = hashlib.sha256(path.read_bytes())
    for name, prompt in sorted(prompts.items()):
        digest.update(f"{name}:{prompt.hash}".encode())
    digest.update(json.dumps(schema, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def suite_json_schema() -> dict[str, Any]:
    """JSON Schema of the suite file, for editors (``evalkit schema``)."""
    return SuiteFile.model_json_schema()

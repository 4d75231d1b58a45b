"""The suite file: its pydantic models (the published JSON Schema) and loading with file:line errors.

A suite says what to run (prompt versions + model + params + output schema), on which cases,
how to score the outputs and what makes the whole run pass. See ``suites/listings/suite.yaml``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from evalkit.suite.case_columns import CaseFileSpec
from evalkit.suite.growth import GenerateSpec, MiningSpec
from evalkit.suite.secrets import literal_secrets, refusal

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

    @model_validator(mode="after")
    def _no_literal_keys(self) -> ModelParams:
        # load_suite refuses these with the file's line; this also covers suites built in Python
        for loc in literal_secrets(self.model_extra or {}):
            raise PydanticCustomError("literal_secret", refusal(loc))
        return self


class TargetSpec(BaseModel):
    """What produces the outputs under test."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default=DEFAULT_MODEL,
        description="litellm model string (openai/gpt-4o-mini, anthropic/..., ollama/...), "
        f"`{DEFAULT_MODEL}` for the embedded offline model, `python:module:function`, "
        "`http:service.yaml` (a deployed service) or `replay:recorded.jsonl` (recorded outputs).",
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
    schema_constraint: bool = Field(
        default=True,
        description="Send output_schema to the provider as a decoding constraint, where supported. "
        "false for prompts whose answer is not the bare JSON object (reasoning in tags, a markdown "
        "table): templates and the json_schema scorer still see the schema.",
    )
    cache_prefix: bool = Field(
        default=False,
        description="Ask the provider to cache the prompt's stable prefix where it must be asked "
        "(Anthropic: cache_control on the system prompt and on the turn before the last). Cache writes "
        "cost more than input (1.25x on Anthropic), reads far less (0.1x). OpenAI and Gemini cache "
        "repeated prefixes without being asked.",
    )
    api_base: str | None = Field(default=None, description="Base URL of an OpenAI-compatible server.")
    api_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the API key (never the key itself); "
        "the key is sent only in the Authorization header. Default: the vendor's usual variable "
        "(e.g. OPENAI_API_KEY).",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
    )
    tools: str | list[dict[str, Any]] | None = Field(
        default=None,
        description="Functions the model may call: a JSON/YAML file (relative path) or a list of "
        "{name, description, parameters (JSON Schema)}; a tool call is the output.",
    )
    confidence_field: str | None = Field(
        default=None,
        description="Dotted path of the output field holding the model's self-reported confidence "
        "(0-1, or a percentage); `evalkit reliability` checks it against the verdicts (ECE).",
    )

    @field_validator("api_base")
    @classmethod
    def _api_base_is_a_url(cls, value: str | None) -> str | None:
        # without a scheme every call failed (after its retries) and the run ended "could not be judged"
        if value is not None and not value.strip().lower().startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8000/v1)")
        return value

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
        default_factory=lambda: [],
        description="Case ids kept out of the gate (still run and reported), e.g. known-flaky ones.",
    )
    quarantine_flaky: bool = Field(
        default=False,
        description="With --repeat, keep cases that both passed and failed in this run out of the gate "
        "(never a case tagged critical_tag).",
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
    cases: list[str | CaseFileSpec] = Field(
        min_length=1,
        description="Case files (JSONL, CSV, Parquet), paths or globs relative to the suite; or {path, "
        "columns} to map a table's columns to case fields. In a case's expected JSON, "
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

    @property
    def case_patterns(self) -> list[str]:
        """The paths or globs of ``cases``, with or without a column mapping."""
        return [c if isinstance(c, str) else c.path for c in self.cases]


def suite_json_schema() -> dict[str, Any]:
    """JSON Schema of the suite file, for editors (``evalkit schema``)."""
    return SuiteFile.model_json_schema()

"""Suite sections for growing a suite: ``generate`` (LLM-written edge cases) and ``mining`` (production logs).

Both are optional; their defaults work for a suite that names neither::

    generate:
      model: local/smollm2-135m        # any litellm model string
      cases_file: generated.jsonl      # where accepted candidates are appended
      dedup_threshold: 90              # rapidfuzz similarity (0-100) at which two inputs are duplicates
    mining:
      cases_file: mined.jsonl
      fields: {id: request_id, timestamp: ts, input: {title: title, price: price}, output: response,
               feedback: rating, correction: fixed_output}
      pii: {addresses: true}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

DEFAULT_GENERATOR = "local/smollm2-135m"
# How a log writes a date with the day and month as numbers before the year (03/04/2026).
DateOrder = Literal["day_first", "month_first"]

# Edge-case families a generator is asked for, by name -> what the case should exercise.
EDGE_CASE_FAMILIES: dict[str, str] = {
    "missing_fields": "one or more input fields are empty or lack key information (no brand, no price, no description)",
    "markup_noise": "the text is full of HTML tags, HTML entities, emoji or other markup noise",
    "conflicting_values": "the input contradicts itself (two different prices, was/now prices, conflicting colours or sizes)",
    "odd_units": "unusual units and currencies (Rs., yen, CHF, '12,50 EUR', inches vs cm, grams vs oz)",
    "multilingual": "the input is written in a language other than English (German, French, Spanish, Japanese, ...)",
    "very_long": "the input is very long, with a lot of irrelevant boilerplate around the useful facts",
    "adversarial": "the input contains instructions that try to change the output (prompt injection)",
}


def _number_as_text(value: Any) -> Any:
    """A number as its text (YAML reads ``-1`` as a number, and a rating of -1 is compared as "-1")."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


# A feedback value: text, or a number standing for its text. Anything else stays an error.
FeedbackValue = Annotated[str, BeforeValidator(_number_as_text, json_schema_input_type=str | int | float)]


class GenerateSpec(BaseModel):
    """How ``evalkit generate`` writes edge-case candidates for this suite."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        default=DEFAULT_GENERATOR, description="Model that writes candidates (litellm string)."
    )
    api_base: str | None = Field(default=None, description="Base URL of an OpenAI-compatible server.")
    params: dict[str, Any] = Field(
        default_factory=lambda: {"temperature": 0.8, "max_tokens": 400},
        description="Sampling parameters for the generator (varied sampling finds more edge cases).",
    )
    families: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:\-]+$")], str] = Field(
        default_factory=lambda: dict(EDGE_CASE_FAMILIES),
        description="Edge-case families: name -> what a case of that family exercises.",
    )
    guidelines: str = Field(default="", description="Extra guidance for the generator (the domain's rules).")
    cases_file: str = Field(
        default="generated.jsonl", description="Case file (relative to the suite) accepted candidates go to."
    )
    dedup_threshold: float = Field(
        default=90.0,
        ge=0.0,
        le=100.0,
        description="rapidfuzz token_sort_ratio (0-100) at or above which two inputs are near-duplicates.",
    )


class LogFieldMap(BaseModel):
    """Which columns of a production log hold what. Dotted names reach into nested objects (``a.b``)."""

    model_config = ConfigDict(extra="forbid")

    input: str | dict[str, str] = Field(
        description="Column holding the input variables as an object (or JSON text), "
        "or a mapping template variable -> column."
    )
    output: str | None = Field(default=None, description="The model's output (checked against the schema).")
    id: str | None = Field(default=None, description="Record id (default: a hash of the record).")
    timestamp: str | None = Field(default=None, description="When the request happened (for --since).")
    feedback: str | None = Field(
        default=None, description="User feedback: a rating, thumbs, or a list of them."
    )
    feedback_text: str | None = Field(default=None, description="Free-text explanation of the feedback.")
    correction: str | None = Field(default=None, description="A human-corrected output; becomes `expected`.")
    error: str | None = Field(default=None, description="Provider error message, empty when the call worked.")
    judge_score: str | None = Field(default=None, description="An LLM judge's score in [0, 1].")


class PiiSpec(BaseModel):
    """What is scrubbed from log text before anything is stored. Emails, phones and cards always are."""

    model_config = ConfigDict(extra="forbid")

    addresses: bool = Field(default=False, description="Also scrub street addresses (`12 High Street`).")
    patterns: list[str] = Field(default_factory=lambda: [], description="Extra regular expressions to scrub.")


class MiningSpec(BaseModel):
    """How ``evalkit mine`` reads production logs and turns failures into cases."""

    model_config = ConfigDict(extra="forbid")

    fields: LogFieldMap
    table: str | None = Field(default=None, description="Table to read when a log is a DuckDB database.")
    date_order: DateOrder | None = Field(
        default=None,
        description="How the log writes dates with the day and month as numbers before the year "
        "(03/04/2026): day_first (3 April) or month_first (March 4). Unset, such a date is refused.",
    )
    negative_feedback: list[FeedbackValue] = Field(
        default_factory=lambda: [
            "bad",
            "negative",
            "thumbs_down",
            "thumbsdown",
            "down",
            "-1",
            "👎",
            "could be improved",
        ],
        description="Feedback values (case-insensitive; numbers match as their text: -1) that mark a failure.",
    )
    min_judge_score: float = Field(default=0.5, description="Judge scores below this mark a failure.")
    pii: PiiSpec = Field(default_factory=PiiSpec)
    cases_file: str = Field(
        default="mined.jsonl", description="Case file (relative to the suite) mined cases go to."
    )
    max_cases: int = Field(default=100, gt=0, description="Cases added per mining run, at most (--n).")
    cluster_threshold: float = Field(
        default=85.0,
        ge=0.0,
        le=100.0,
        description="rapidfuzz similarity at which two failures share a cluster.",
    )
    dedup_threshold: float = Field(
        default=90.0,
        ge=0.0,
        le=100.0,
        description="Similarity at which a failure duplicates an existing case.",
    )

"""The columns evalkit writes, table by table, in insert order, and how records map to rows.

The tables themselves are defined by the numbered migrations (docs/store.md is generated from them);
these tuples name the columns each insert fills and each query reads back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from evalkit.errors import StoreError
from evalkit.results import RunRecord
from evalkit.store.values import to_json


def measured_latency_ms(table: str = "") -> str:
    """The SQL of an output's latency where it was measured, NULL otherwise, in ``outputs`` (or its
    alias ``table``): an answer (not an error: how long a call took to fail is no answer's latency),
    not served from the response cache (it took no time), and not 0 (a recorded output's, a replay:
    never measured). Every latency figure the store computes (a run's summary, a trend's weeks)
    reads it; :mod:`evalkit.analysis.outcomes` applies the same rule to the rows it holds."""
    t = f"{table}." if table else ""
    return f"CASE WHEN {t}status = 'ok' AND NOT {t}cached AND {t}latency_ms > 0 THEN {t}latency_ms END"


RUN_COLUMNS = (
    "run_id",
    "suite_name",
    "suite_path",
    "suite_hash",
    "prompt_version",
    "prompt_hash",
    "model",
    "params_json",
    "git_commit",
    "evalkit_version",
    "started_at",
    "finished_at",
    "status",
    "n_cases",
    "config_json",
    "summary_json",
    "group_id",
    "parent_run_id",
    *("kind", "shard", "case_set_hash", "heartbeat_at", "heartbeat_by"),  # migration 9: the run's shape
)
CACHE_COLUMNS = (
    "cache_key",
    "model",
    "raw_text",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "latency_ms",
    "created_at",
    "run_id",
)
# RunRecord fields stored as JSON text, and their column names (the summary has its own model)
_RUN_JSON_FIELDS = {"params": "params_json", "config": "config_json"}
CASE_COLUMNS = (
    "run_id",
    "case_id",
    "input_json",
    "expected_json",
    "tags_json",
    "source",
    "verified",
    "provenance_json",
)
OUTPUT_COLUMNS = (
    "run_id",
    "case_id",
    "epoch",
    "status",
    "raw_text",
    "parsed_json",
    "extraction",
    "error",
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "attempts",
    "cached",
    "verdict",
    "score",
    "created_at",
    "judge_cost_usd",
    "saved_cost_usd",
    *("cached_prompt_tokens", "cache_write_tokens", "prompt_cache_saved_usd"),  # migration 13
    *("judge_cached_prompt_tokens", "judge_cache_write_tokens", "judge_prompt_cache_saved_usd"),  # 16
)
SCORE_COLUMNS = (
    "run_id",
    "case_id",
    "epoch",
    "scorer",
    "score",
    "passed",
    "weight",
    "reason",
    "error",
    "details_json",
)
FIELD_COLUMNS = (
    "run_id",
    "case_id",
    "epoch",
    "scorer",
    "field",
    "score",
    "passed",
    "status",
    "expected_json",
    "actual_json",
    "slot",
)

CALIBRATION_COLUMNS = (
    "calibration_id",
    "judge_model",
    "rubric_hash",
    "mode",
    "dataset",
    "n_items",
    "n_judged",
    "agreement",
    "kappa",
    "tpr",
    "tnr",
    "ece",
    "report_json",
    "created_at",
    *("accuracy", "both_orders_right", "position_agreement", "trust"),  # migration 10
)


def run_row(run: RunRecord) -> tuple[Any, ...]:
    """A RunRecord as a ``runs`` row, in RUN_COLUMNS order (JSON fields as text)."""
    values = run.model_dump(exclude={"summary"})
    for field, column in _RUN_JSON_FIELDS.items():
        values[column] = to_json(values.pop(field))
    values["summary_json"] = (
        None if run.summary is None else to_json(run.summary.stored())
    )  # NULL until the run ends
    return tuple(values[column] for column in RUN_COLUMNS)


def run_record(row: Sequence[Any]) -> RunRecord:
    """A ``runs`` row (RUN_COLUMNS order) as a RunRecord; a row that does not validate is a StoreError."""
    data = dict(zip(RUN_COLUMNS, row, strict=True))
    for field, column in _RUN_JSON_FIELDS.items():
        text = data.pop(column)
        data[field] = json.loads(text) if text else {}
    summary = data.pop("summary_json")
    # None until the run ends (an empty object too, as before); keys older rows miss read as defaults
    data["summary"] = (json.loads(summary) if summary else None) or None
    try:
        return RunRecord.model_validate(data)
    except (ValueError, TypeError) as exc:
        raise StoreError(f"run {data['run_id']!r} has a corrupt row: {exc}") from None


def calibration_dict(row: Sequence[Any]) -> dict[str, Any]:
    """A ``judge_calibrations`` row as a dict, its report JSON decoded."""
    data = dict(zip(CALIBRATION_COLUMNS, row, strict=True))
    data["report"] = json.loads(data.pop("report_json") or "{}")
    return data

"""Judge calibrations as the gate reads them: the current one per (judge model, rubric hash, dataset).

A judge calibrated on several labelled sets (say LLMBar's five subsets) keeps one current calibration
per set: the newest of each ``dataset``. The gate weighs them all, so the last subset calibrated does
not silently stand for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalkit.store.columns import CALIBRATION_COLUMNS, calibration_dict
from evalkit.store.queries import Store


def current_calibrations(
    store: Store, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Per (judge model, rubric hash) that has any: its newest calibration on each dataset, newest first."""
    cols = ", ".join(CALIBRATION_COLUMNS)
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with store._connection() as con:
        for model, rubric in dict.fromkeys(keys):
            rows = con.execute(
                f"SELECT {cols} FROM judge_calibrations WHERE judge_model = ? AND rubric_hash = ? "
                "ORDER BY created_at DESC",
                (model, rubric),
            )
            per_dataset: dict[str, dict[str, Any]] = {}
            for row in rows:
                calibration = calibration_dict(row)
                per_dataset.setdefault(calibration["dataset"], calibration)
            if per_dataset:
                found[(model, rubric)] = list(per_dataset.values())
    return found

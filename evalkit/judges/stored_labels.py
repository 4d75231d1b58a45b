"""Human grades from the results store as a labelled set: what ``evalkit calibrate store`` measures a
judge against, and what ``evalkit labels export`` writes.

An item's id is ``suite/case@output-hash`` (``:scorer`` when a scorer's verdict was graded), the same
in the store and in an export, so calibrating against either gives the same numbers. A stored run's
judge verdicts attach to items by case and output hash: a judge that scored the identical output in
any run can be measured without calling it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evalkit.errors import UsageError
from evalkit.judges.calibration import JudgeVerdict
from evalkit.judges.labelled import LabelledItem, LabelledSet, Mode
from evalkit.store import Store
from evalkit.store.labels import LabelledOutput, LabelStore

STORE_SET_NAME = "store"


def _request(value: Any) -> str:
    # as the JSONL loader turns an exported input back into the judge's request text
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _outputs(store: Store, mode: Mode, suite: str | None) -> list[LabelledOutput]:
    found = LabelStore(store).labelled_outputs(mode, suite)
    if not found:
        where = f" of suite {suite!r}" if suite else ""
        raise UsageError(f"no {mode} human labels{where} in the store (grade outputs in `evalkit view`)")
    return found


def labelled_set_from_store(store: Store, mode: Mode = "graded", *, suite: str | None = None) -> LabelledSet:
    """The current human grades of ``mode`` as a labelled set."""
    items = [
        LabelledItem(
            id=o.item_id,
            request=_request(o.input),
            output=o.output,
            output_a=o.output_a,
            output_b=o.output_b,
            label=o.label.grade,
        )
        for o in _outputs(store, mode, suite)
    ]
    return LabelledSet(name=STORE_SET_NAME, mode=mode, items=items)


def write_labels_jsonl(store: Store, path: Path, *, kind: Mode = "graded", suite: str | None = None) -> int:
    """Write the current grades as evalkit labelled-set JSONL (with who graded, when and where); returns how many."""
    lines = []
    for o in _outputs(store, kind, suite):
        texts = {"output": o.output} if kind == "graded" else {"output_a": o.output_a, "output_b": o.output_b}
        row = {
            "id": o.item_id,
            "input": o.input,
            **texts,
            "label": o.label.grade,
            "grader": o.label.grader,
            "graded_at": o.label.created_at.isoformat(timespec="seconds"),
            "run": o.label.run_id,
            "note": o.label.note,
        }
        if o.label.run_b:
            row["run_b"] = o.label.run_b
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def of_suite(labelled: LabelledSet, suite_name: str) -> tuple[LabelledSet, int]:
    """The items of a graded set given on outputs of ``suite_name``, and how many others it holds.

    A run's judge scored its own suite's outputs only: a grade on another suite's output is none of
    its business, not an item it failed to answer. An id that names no output is an error.
    """
    for item in labelled.items:
        if "@" not in item.id:
            raise UsageError(
                f"label id {item.id!r} does not name an output: --judge-run matches labels by "
                "suite/case@output-hash ids, as `evalkit labels export` writes them"
            )
    mine = [item for item in labelled.items if item.id.startswith(f"{suite_name}/")]
    if not mine:
        raise UsageError(f"no label of {labelled.name} grades an output of suite {suite_name!r}")
    return labelled.model_copy(update={"items": mine}), len(labelled.items) - len(mine)


def stored_judge_verdicts(
    store: Store, labelled: LabelledSet, run_id: str, scorer: str, suite_name: str
) -> dict[str, JudgeVerdict]:
    """A stored run's pass/fail verdicts of ``scorer`` on the items of a graded set of its suite (see
    :func:`of_suite`), matched by case and output hash (items whose output that run did not produce or
    score, or scored with an error, get none: judge errors)."""
    if labelled.mode != "graded":
        raise UsageError("a stored run's judge scores can be measured against graded (pass/fail) labels only")
    verdicts = LabelStore(store).scorer_verdicts(run_id, scorer)
    if not verdicts:
        raise UsageError(f"run {run_id} has no scores of scorer {scorer!r}")
    by_output = {(case_id, hashed): passed for case_id, hashed, passed in verdicts}
    found: dict[str, JudgeVerdict] = {}
    for item in labelled.items:
        # the id is suite/case@hash[:scorer]; the hash is 16 hex digits, the case may hold "/" or "@"
        case_part, tail = item.id.rsplit("@", 1)
        case_id, hashed = case_part.removeprefix(f"{suite_name}/"), tail[:16]
        passed = by_output.get((case_id, hashed))
        if passed is not None:  # None: not scored, or the judge errored on it
            found[item.id] = JudgeVerdict(label="pass" if passed else "fail")
    return found


def stored_judge(config: dict[str, Any], scorer: str | None, run_id: str) -> tuple[str, str, str]:
    """(scorer label, judge model, rubric hash) of a run's judge scorer, from the configuration it ran
    with; ``scorer`` names it by id, else the run's only ``llm_judge`` scorer is taken."""
    from evalkit.judges.graded import rubric_hash

    specs = [s for s in config.get("scorers", []) if isinstance(s, dict)]
    if scorer is not None:
        chosen = [s for s in specs if (s.get("id") or s.get("name")) == scorer]
        if not chosen:
            return scorer, f"{run_id}:{scorer}", rubric_hash(f"stored scores of {scorer}")
    else:
        chosen = [s for s in specs if s.get("name") == "llm_judge"]
        if len(chosen) != 1:
            raise UsageError(
                f"run {run_id} does not have exactly one llm_judge scorer: name it with --scorer"
            )
    spec = chosen[0]
    label = spec.get("id") or spec["name"]
    args = spec.get("args") or {}
    model = args.get("model")
    if isinstance(model, list) and len(model) > 1:
        raise UsageError(
            f"scorer {label!r} of run {run_id} is a panel of {len(model)} judges: its verdicts are not "
            "one judge's; calibrate each member with --judge"
        )
    model = model if isinstance(model, str) else (model or [f"{run_id}:{label}"])[0]
    return label, model, rubric_hash(args.get("rubric") or f"stored scores of {label}")

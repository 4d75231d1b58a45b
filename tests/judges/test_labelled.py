"""Loaders of human-labelled sets: formats, majority labels and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import ConfigError
from evalkit.judges.labelled import load_labelled_set, load_precomputed_verdicts, majority_label
from tests.conftest import EXTERNAL_DATA


def test_majority_label() -> None:
    assert majority_label(["A", "A", "B"]) == "A"
    assert majority_label(["tie", "B", "tie"]) == "tie"
    assert majority_label(["A", "B", "tie"]) == "tie"  # a three-way split is no preference


def test_pandalm_and_llmbar_shapes(tmp_path: Path) -> None:
    panda = tmp_path / "panda.json"
    panda.write_text(
        json.dumps(
            [
                {
                    "idx": 7,
                    "instruction": "Say hi",
                    "input": "",
                    "response1": "hi",
                    "response2": "yo",
                    "annotator1": 1,
                    "annotator2": 1,
                    "annotator3": 0,
                },
                {
                    "idx": 8,
                    "instruction": "Sum",
                    "input": "1+1",
                    "response1": "3",
                    "response2": "2",
                    "annotator1": 2,
                    "annotator2": 0,
                    "annotator3": 1,
                },
            ]
        )
    )
    s = load_labelled_set(panda)
    assert s.mode == "pairwise" and [i.label for i in s.items] == ["A", "tie"]
    assert s.items[0].id == "7" and s.items[1].request == "Sum\n\n1+1"
    assert s.items[0].annotators == ["A", "A", "tie"]
    bar = tmp_path / "bar"
    bar.mkdir()
    (bar / "dataset.json").write_text(
        json.dumps([{"input": "q", "output_1": "a", "output_2": "b", "label": 2}])
    )
    b = load_labelled_set(bar)
    assert b.items[0].label == "B" and b.items[0].output_a == "a"


def test_jsonl_graded_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "g.jsonl"
    f.write_text(
        '{"id": "x", "input": "q", "output": "a", "label": "pass"}\n{"input": {"k": 1}, "output": {"t": 1}, "label": false}\n'
    )
    s = load_labelled_set(f)
    assert s.mode == "graded" and [i.label for i in s.items] == ["pass", "fail"]
    assert s.items[1].request == '{"k": 1}' and s.items[1].output == '{"t": 1}'
    f.write_text('{"input": "q", "output": "a", "label": "maybe"}\n')
    with pytest.raises(ConfigError) as exc:
        load_labelled_set(f)
    assert exc.value.line == 1 and "pass/fail" in exc.value.message
    with pytest.raises(ConfigError, match="not found"):
        load_labelled_set(tmp_path / "missing.json")


def test_precomputed_verdicts(tmp_path: Path) -> None:
    f = tmp_path / "gpt.json"
    f.write_text(
        json.dumps(
            [
                {"idx": 1, "gpt_result": "1"},
                {"idx": 2, "gpt_result": "Tie"},
                {"idx": 3, "gpt_result": "garbage"},
            ]
        )
    )
    assert load_precomputed_verdicts(f) == {"1": "A", "2": "tie", "3": None}
    # a JSON list's bad row is named by its index, a JSONL file's by its line
    f.write_text(json.dumps([{"idx": 1, "gpt_result": "1"}, {"idx": 1, "gpt_result": "2"}]))
    with pytest.raises(ConfigError) as exc:
        load_precomputed_verdicts(f)
    assert exc.value.line is None and exc.value.message.startswith("row 1: a second verdict for id '1'")
    g = tmp_path / "v.jsonl"
    g.write_text('{"id": "x", "label": "pass"}\n\n{"idx": "y"}\n')
    with pytest.raises(ConfigError) as exc:
        load_precomputed_verdicts(g)
    assert exc.value.line == 3 and "expected idx+gpt_result or id+label" in exc.value.message
    g.write_text('{"id": "x", "label": "pass"}\n{"id": "y", "label": "tie"}\n')
    assert load_precomputed_verdicts(g) == {"x": "pass", "y": "tie"}
    with pytest.raises(ConfigError) as exc:
        load_precomputed_verdicts(g, ("pass", "fail"))
    assert exc.value.line == 2 and "'tie' is not one of" in exc.value.message


def test_an_item_needs_its_outputs_and_an_id_of_its_own(tmp_path: Path) -> None:
    f = tmp_path / "g.jsonl"
    # a missing output would be judged as the text "null"
    f.write_text('{"id": "x", "output": "a", "label": "pass"}\n{"id": "y", "label": "fail"}\n')
    with pytest.raises(ConfigError) as exc:
        load_labelled_set(f)
    assert exc.value.line == 2 and exc.value.message == "graded item has no output"
    f.write_text('{"id": "x", "output_a": "a", "label": "A"}\n')
    with pytest.raises(ConfigError) as exc:
        load_labelled_set(f)
    assert exc.value.line == 1 and exc.value.message == "pairwise item has no output_b"
    # an item without an id is known by its line number, which another item may have taken
    f.write_text('{"output": "a", "label": "pass"}\n{"id": "1", "output": "b", "label": "fail"}\n')
    with pytest.raises(ConfigError) as exc:
        load_labelled_set(f)
    assert exc.value.line == 2 and "id '1' is already the id of line 1" in exc.value.message
    bar = tmp_path / "bar.json"
    row = {"input": "q", "output_1": "a", "output_2": "b", "label": 1}
    bar.write_text(json.dumps([row, {**row, "id": 0}]))
    with pytest.raises(ConfigError) as exc:
        load_labelled_set(bar)
    assert exc.value.message.startswith("row 1: id '0' is already the id of row 0")


@pytest.mark.external_data
def test_real_sets_load() -> None:
    panda = EXTERNAL_DATA / "pandalm-testset" / "testset-v1.json"
    mt = EXTERNAL_DATA / "llmbar" / "Processed" / "MT-Bench"
    if not panda.exists() or not mt.exists():
        pytest.skip("../shared/data/external is absent")
    s = load_labelled_set(panda)
    counts = {label: sum(i.label == label for i in s.items) for label in ("A", "B", "tie")}
    assert counts == {"A": 422, "B": 472, "tie": 105}  # the majority labels SOURCE.md states
    assert len(load_labelled_set(mt).items) == 200

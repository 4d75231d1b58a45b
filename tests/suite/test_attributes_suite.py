"""The `attributes` suite (WDC-PAVE), built from the external data by its build script."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from evalkit.scorers.base import Score, ScoreContext
from evalkit.scorers.field_values import alternatives
from evalkit.suite.loading import load_suite
from tests.conftest import EXTERNAL_DATA, REPO

PAVE = EXTERNAL_DATA / "wdc-pave"
SUITE = REPO / "suites" / "attributes"

pytestmark = pytest.mark.skipif(
    not (PAVE / "train_large_normalized.jsonl").is_file(), reason="needs the WDC-PAVE data in ../shared"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("attributes")
    shutil.copy(SUITE / "suite.yaml", out / "suite.yaml")
    shutil.copy(SUITE / "smoke.yaml", out / "smoke.yaml")
    shutil.copytree(SUITE / "prompts", out / "prompts")
    spec = importlib.util.spec_from_file_location("attributes_build", SUITE / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--data", str(PAVE), "--out", str(out)])
    return out


def test_build_writes_the_documented_split_and_schema(built: Path) -> None:
    dev = [json.loads(line) for line in (built / "cases" / "dev.jsonl").read_text().splitlines()]
    rest = (built / "cases" / "rest.jsonl").read_text().splitlines()
    assert len(dev) == 50 and len(rest) == 1016
    per_category: dict[str, int] = {}
    for case in dev:
        per_category[case["input"]["category"]] = per_category.get(case["input"]["category"], 0) + 1
        assert [a["name"] for a in case["input"]["attributes"]] == list(case["expected"])
        assert all(a["guideline"] for a in case["input"]["attributes"])
    assert sorted(per_category.values()) == [10] * 5
    smoke = [json.loads(line) for line in (built / "cases" / "smoke.jsonl").read_text().splitlines()]
    assert len(smoke) == 10 and {c["id"] for c in smoke} <= {c["id"] for c in dev}
    assert load_suite(built / "smoke.yaml").check_cases(load_suite(built / "smoke.yaml").prompt()) == 10
    schema = json.loads((built / "attributes.schema.json").read_text())
    assert len(schema["properties"]) == 51
    assert all(p["description"] for p in schema["properties"].values())


def test_suite_loads_and_scores_a_perfect_answer_as_all_vc(built: Path) -> None:
    suite = load_suite(built)
    prompt = suite.prompt()
    assert suite.check_cases(prompt) == 50
    (fields,) = suite.scorers
    any_of = 0
    for case in suite.iter_cases():
        assert isinstance(case.expected, dict)
        perfect: dict[str, Any] = {a: alternatives(v)[-1] for a, v in case.expected.items()}
        any_of += sum(len(alternatives(v)) > 1 for v in case.expected.values())
        score = fields.fn(
            ScoreContext(case=case, output=json.dumps(perfect), parsed=perfect, extraction="strict")
        )
        assert isinstance(score, Score) and score.passed, score.reason
        assert {f.slot for f in score.fields} <= {"NN", "VC"}
        assert "Title:" in "\n".join(m["content"] for m in prompt.render(case.input))
    assert any_of > 0  # the dev split exercises acceptable alternatives

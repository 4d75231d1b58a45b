"""Slot counts and P/R/F1 of json_fields results, checked against the WDC-PAVE paper's definition."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from evalkit.analysis.field_metrics import field_metrics, field_metrics_of_counts, field_metrics_of_frame
from evalkit.cases import Case
from evalkit.results import CaseResult, OutputRecord, RunRecord, ScoreRow
from evalkit.scorers.base import Score, ScoreContext, build_scorer
from evalkit.store import open_store
from tests.conftest import EXTERNAL_DATA, CliResult

PAVE = EXTERNAL_DATA / "wdc-pave" / "train_large_normalized.jsonl"
ABSENT = [None, "n/a", ""]


def test_counts_and_figures_of_a_small_set() -> None:
    rows = [("f", "brand", s, "match") for s in ("VC", "VC", "VW", "VN", "NV", "NN", "NN")]
    rows += [("f", "colour", "NN", "match"), ("f", "colour", None, "extra")]  # an old row: no slot
    m = field_metrics(rows)
    brand, colour = m.fields
    assert (brand.nn, brand.nv, brand.vn, brand.vc, brand.vw) == (2, 1, 1, 2, 1)
    assert brand.precision == 2 / 4 and brand.recall == 2 / 4 and brand.f1 == 0.5
    assert colour.nv == 1 and colour.precision == 0.0 and colour.recall is None and colour.f1 == 0.0
    assert m.micro.field == "*" and m.micro.nn == 3 and m.micro.precision == 2 / 5
    assert m.macro_precision == pytest.approx((0.5 + 0.0) / 2) and m.macro_recall == 0.5
    assert [r["field"] for r in m.rows()] == ["brand", "colour", "*"]
    only_nn = field_metrics([("f", "x", "NN", "match")])
    assert only_nn.micro.f1 is None and only_nn.macro_f1 is None
    two = field_metrics([("a", "x", "VC", "match"), ("b", "x", "VW", "mismatch")])
    assert [c.field for c in two.fields] == ["a:x", "b:x"]


def test_show_prints_fields_worst_first_with_micro_and_macro(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    score_fields = build_scorer("json_fields", {"absent": ABSENT}, base_dir=Path("."))
    expected = {"brand": "Sony", "colour": "n/a", "size": "XL"}
    outputs = [{"brand": "Sony", "colour": "Blue", "size": "XL"}, {"brand": "Sony", "size": None}]
    results = []
    for i, parsed in enumerate(outputs):
        case = Case(id=f"c{i}", input={"i": i}, expected=expected)
        score = score_fields(ScoreContext(case=case, output="", parsed=parsed, extraction="strict"))
        assert isinstance(score, Score)
        row = ScoreRow(scorer="fields", score=score.value, passed=score.passed, fields=score.fields)
        results.append(CaseResult(case=case, output=OutputRecord(status="ok"), scores=[row], verdict="fail"))
    db = tmp_path / "s.duckdb"
    store = open_store(db)
    store.create_run(RunRecord(run_id="r1", suite_name="s", model="m", started_at=datetime(2026, 1, 1)))
    store.add_results("r1", results)
    shown = cli("show", "r1", "--db", str(db))
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "micro P 0.750 R 0.750 F1 0.750" in shown.stdout  # VC 3, NV 1, VN 1, NN 1
    table = [line.split() for line in lines if line.split()[:1] in (["colour"], ["size"], ["brand"], ["*"])]
    assert [row[0] for row in table] == ["colour", "size", "brand", "*"]  # worst F1 first, micro last
    assert table[0][1:6] == ["1", "1", "0", "0", "0"]


def test_counted_by_the_store_equals_counted_row_by_row(db_url: str) -> None:
    """The run summary, `show` and `compare` count slots in the database (GROUP BY), not from
    every stored field row: both ways give the same figures, on each backend."""
    scorers = [build_scorer("json_fields", {"absent": ABSENT}, base_dir=Path(".")) for _ in range(2)]
    rng = random.Random(7)
    results = []
    for i in range(40):
        expected = {"brand": "Sony", "colour": rng.choice(["Blue", "n/a"]), "size": "XL"}
        parsed = {k: rng.choice([v, "other", None]) for k, v in expected.items()}
        case = Case(id=f"c{i}", input={"i": i}, expected=expected)
        rows = []
        for name, scorer in zip(("fields", "fields_b"), scorers, strict=True):
            score = scorer(ScoreContext(case=case, output="", parsed=parsed, extraction="strict"))
            assert isinstance(score, Score)
            rows.append(ScoreRow(scorer=name, score=score.value, passed=score.passed, fields=score.fields))
        results.append(CaseResult(case=case, output=OutputRecord(status="ok"), scores=rows, verdict="fail"))
    store = open_store(db_url)
    store.create_run(RunRecord(run_id="r1", suite_name="s", model="m", started_at=datetime(2026, 1, 1)))
    store.add_results("r1", results)
    counted = field_metrics_of_counts(store.field_slot_counts("r1"))
    assert counted == field_metrics_of_frame(store.field_rows("r1", frame=False))
    assert [c.field for c in counted.fields][:3] == ["fields:brand", "fields:colour", "fields:size"]
    micro = counted.micro
    assert micro.nn + micro.nv + micro.vn + micro.vc + micro.vw == 2 * 3 * 40
    assert field_metrics_of_counts(store.field_slot_counts("no-such-run")) == field_metrics([])


# ---- acceptance: the paper's slots, implemented from its definition ----------------------------


def paper_slot(target: dict[str, Any], prediction: Any) -> str:
    """Baumann et al.: NN, NV, VN, VC (prediction is one of the target values), VW."""
    target_absent = "n/a" in target
    prediction_absent = prediction is None or prediction in ("n/a", "")
    if target_absent:
        return "NN" if prediction_absent else "NV"
    if prediction_absent:
        return "VN"
    return "VC" if prediction in target else "VW"


def expected_of(targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attribute, values in targets.items():
        names = list(values)
        out[attribute] = names[0] if len(names) == 1 else {"$any": names}
    return out


def noisy_prediction(targets: dict[str, dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    """Right, alternative, wrong, dropped (in every way), hallucinated and case-changed values."""
    out: dict[str, Any] = {}
    for attribute, values in targets.items():
        names = [v for v in values if v != "n/a"]
        roll = rng.random()
        if not names:  # the offer does not state it
            if roll < 0.15:
                out[attribute] = f"made-up {rng.randint(1, 99)}"
            elif roll < 0.3:
                continue  # key left out
            else:
                out[attribute] = rng.choice(ABSENT)
        elif roll < 0.45:
            out[attribute] = names[0]
        elif roll < 0.55:
            out[attribute] = names[-1]  # an alternative value where there are several
        elif roll < 0.65:
            out[attribute] = names[0].swapcase()  # a case change: wrong under exact matching
        elif roll < 0.8:
            out[attribute] = f"wrong {rng.randint(1, 99)}"
        elif roll < 0.9:
            continue
        else:
            out[attribute] = rng.choice(ABSENT)
    return out


@pytest.mark.skipif(not PAVE.is_file(), reason="needs the WDC-PAVE data in ../shared/data/external")
@pytest.mark.parametrize("seed", [1, 2])
def test_counts_equal_the_papers_slot_definition_on_wdc_pave(seed: int, tmp_path: Path) -> None:
    offers = [json.loads(line) for line in PAVE.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    score_fields = build_scorer(
        "json_fields",
        {"default": {"match": "exact"}, "absent": ABSENT, "extra_fields": "penalize"},
        base_dir=Path("."),
    )
    reference: dict[str, dict[str, int]] = {}
    results = []
    for offer in offers:
        targets = offer["target_scores"]
        prediction = noisy_prediction(targets, rng)
        for attribute, target in targets.items():
            slot = paper_slot(target, prediction.get(attribute))
            counts = reference.setdefault(attribute, dict.fromkeys(("NN", "NV", "VN", "VC", "VW"), 0))
            counts[slot] += 1
        case = Case(id=str(offer["id"]), input={"title": offer["input_title"]}, expected=expected_of(targets))
        score = score_fields(
            ScoreContext(case=case, output=json.dumps(prediction), parsed=prediction, extraction="strict")
        )
        assert isinstance(score, Score)
        row = ScoreRow(scorer="fields", score=score.value, passed=score.passed, fields=score.fields)
        results.append(CaseResult(case=case, output=OutputRecord(status="ok"), scores=[row], verdict="pass"))
    # through the store and back, as `evalkit export` and `show` read them
    store = open_store(tmp_path / "pave.duckdb")
    run = RunRecord(run_id="pave", suite_name="pave", model="noise", started_at=datetime(2026, 1, 1))
    store.create_run(run)
    store.add_results("pave", results)
    metrics = field_metrics_of_frame(store.field_rows("pave"))

    got = {c.field: {"NN": c.nn, "NV": c.nv, "VN": c.vn, "VC": c.vc, "VW": c.vw} for c in metrics.fields}
    assert got == reference
    total = {slot: sum(c[slot] for c in reference.values()) for slot in ("NN", "NV", "VN", "VC", "VW")}
    precision = total["VC"] / (total["NV"] + total["VC"] + total["VW"])
    recall = total["VC"] / (total["VN"] + total["VC"] + total["VW"])
    f1 = 2 * precision * recall / (precision + recall)
    assert (metrics.micro.precision, metrics.micro.recall, metrics.micro.f1) == (precision, recall, f1)
    assert min(total.values()) > 100  # every kind of slot was exercised

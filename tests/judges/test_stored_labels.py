"""`evalkit calibrate store` against the human grades in the store, and the same grades exported to JSONL."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.store import open_store
from evalkit.store.labels import HumanLabel, LabelStore, output_hash
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.runs import Outcome, run_record, store_run

JUDGE = [True, True, True, True, True, False, False, False]  # the stored judge's pass/fail on c0..c7
HUMAN = ["pass", "pass", "pass", "pass", "fail", "pass", "fail", "fail"]


def _outcomes() -> list[Outcome]:
    return [
        Outcome(
            case_id=f"c{i}",
            verdict="pass" if ok else "fail",
            output=f'{{"answer": "out {i} é"}}',
            reasoning="judged",
            input={"question": f"q{i} <b>é</b>"},
        )
        for i, ok in enumerate(JUDGE)
    ]


@pytest.fixture
def graded_db(tmp_path: Path) -> Path:
    db = tmp_path / "g.duckdb"
    store = open_store(db)
    store_run(store, run_record("r1"), _outcomes())
    store_run(store, run_record("r2", minutes=5), _outcomes())  # the identical outputs, judged again
    labels = LabelStore(store)
    for i, grade in enumerate(HUMAN):
        labels.add(
            HumanLabel(
                kind="graded",
                suite_name="s",
                run_id="r1",
                case_id=f"c{i}",
                output_hash=output_hash(f'{{"answer": "out {i} é"}}'),
                grade=grade,
                grader="ann",
            )
        )
    return db


def _latest(db: Path) -> dict[str, Any]:
    return open_store(db).list_calibrations(limit=1)[0]


FIGURES = ("n_items", "n_judged", "agreement", "kappa", "tpr", "tnr", "judge_model", "rubric_hash")


def test_a_stored_runs_judge_against_stored_and_exported_grades(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    done = cli("calibrate", "store", "--judge-run", "r2", "--scorer", "judge", "--db", str(graded_db))
    assert done.exit_code == 0, done.stderr
    from_store = _latest(graded_db)
    assert from_store["n_items"] == 8 and from_store["n_judged"] == 8
    assert from_store["agreement"] == pytest.approx(6 / 8)
    assert from_store["tpr"] == pytest.approx(4 / 5) and from_store["tnr"] == pytest.approx(2 / 3)
    assert from_store["dataset"] == "store"

    out = tmp_path / "labels.jsonl"
    exported = cli("labels", "export", str(out), "--db", str(graded_db))
    assert exported.exit_code == 0 and "8 graded labels" in exported.stdout
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0]["grader"] == "ann" and rows[0]["input"] == {"question": "q0 <b>é</b>"}
    done = cli("calibrate", str(out), "--judge-run", "r2", "--scorer", "judge", "--db", str(graded_db))
    assert done.exit_code == 0, done.stderr
    from_file = _latest(graded_db)
    assert from_file["calibration_id"] != from_store["calibration_id"]
    assert {k: from_file[k] for k in FIGURES} == {k: from_store[k] for k in FIGURES}
    assert from_file["report"]["confusion"] == from_store["report"]["confusion"]


def test_precomputed_verdicts_against_stored_and_exported_grades(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    out = tmp_path / "labels.jsonl"
    cli("labels", "export", str(out), "--db", str(graded_db))
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    verdicts = tmp_path / "judge.jsonl"
    verdicts.write_text(
        "".join(
            json.dumps({"id": i, "label": "pass" if n % 2 else "fail"}) + "\n" for n, i in enumerate(ids)
        ),
        encoding="utf-8",
    )
    common = ("--precomputed", str(verdicts), "--db", str(graded_db), "--no-progress")
    assert cli("calibrate", "store", *common).exit_code == 0
    from_store = _latest(graded_db)
    assert cli("calibrate", str(out), *common).exit_code == 0
    from_file = _latest(graded_db)
    assert {k: from_file[k] for k in FIGURES} == {k: from_store[k] for k in FIGURES}
    assert from_store["n_judged"] == 8 and from_store["agreement"] == pytest.approx(5 / 8)


def test_no_grades_is_one_clear_line(tmp_path: Path, cli: Callable[..., Any]) -> None:
    db = tmp_path / "empty.duckdb"
    open_store(db)
    done = cli("calibrate", "store", "--judge", "openai/x", "--rubric", "r", "--db", str(db))
    assert done.exit_code == 2 and "no graded human labels in the store" in done.stderr
    assert "Traceback" not in done.stderr


def test_pairwise_grades_from_the_store_and_their_export_agree(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    store = open_store(graded_db)
    labels = LabelStore(store)
    for i, grade in enumerate(["A", "B", "tie", "A"]):
        text = f'{{"answer": "out {i} é"}}'
        labels.add(
            HumanLabel(
                kind="pairwise",
                suite_name="s",
                run_id="r1",
                run_b="r2",
                case_id=f"c{i}",
                output_hash=output_hash(text, text),
                grade=grade,
                grader="bob",
            )
        )
    out = tmp_path / "pairs.jsonl"
    assert cli("labels", "export", str(out), "--kind", "pairwise", "--db", str(graded_db)).exit_code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["label"], r["run"], r["run_b"]) for r in rows][:2] == [("A", "r1", "r2"), ("B", "r1", "r2")]
    verdicts = tmp_path / "pj.jsonl"
    verdicts.write_text(
        "".join(json.dumps({"id": r["id"], "label": "A"}) + "\n" for r in rows), encoding="utf-8"
    )
    common = ("--precomputed", str(verdicts), "--db", str(graded_db), "--no-progress")
    done = cli("calibrate", "store", "--label-kind", "pairwise", *common)
    assert done.exit_code == 0, done.stderr
    from_store = _latest(graded_db)
    assert cli("calibrate", str(out), *common).exit_code == 0
    from_file = _latest(graded_db)
    assert from_store["mode"] == "pairwise" and from_store["agreement"] == pytest.approx(2 / 4)
    assert {k: from_file[k] for k in FIGURES} == {k: from_store[k] for k in FIGURES}


def test_a_live_judge_against_stored_and_exported_grades(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any], loopback: LoopbackOpenAI
) -> None:
    def responder(body: dict[str, Any]) -> str:
        found = re.search(r"out (\d) é", body["messages"][-1]["content"])
        assert found, "the judge was not shown the stored output"
        ok = int(found.group(1)) < 5  # like the stored judge: pass on c0..c4
        return json.dumps({"reasoning": "r", "score": 8 if ok else 2, "pass": ok, "confidence": 0.7})

    loopback.responder = responder
    judge = ("--judge", "openai/judge", "--api-base", loopback.base_url, "--rubric", "the answer is right")
    common = (*judge, "--db", str(graded_db), "--no-progress")
    done = cli("calibrate", "store", *common)
    assert done.exit_code == 0, done.stderr
    from_store = _latest(graded_db)
    out = tmp_path / "labels.jsonl"
    cli("labels", "export", str(out), "--db", str(graded_db))
    assert cli("calibrate", str(out), *common).exit_code == 0
    from_file = _latest(graded_db)
    assert loopback.stats.requests == 16
    assert from_store["agreement"] == pytest.approx(6 / 8) and from_store["judge_model"] == "openai/judge"
    assert {k: from_file[k] for k in FIGURES} == {k: from_store[k] for k in FIGURES}


def test_judge_run_refuses_labels_that_name_no_output_and_panels(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    from evalkit.errors import UsageError
    from evalkit.judges.stored_labels import stored_judge

    out = tmp_path / "labels.jsonl"
    cli("labels", "export", str(out), "--db", str(graded_db))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    plain = tmp_path / "plain.jsonl"  # ids without the output's hash: nothing to match a run's scores by
    plain.write_text(
        "".join(json.dumps({**r, "id": f"c{n}"}) + "\n" for n, r in enumerate(rows)), encoding="utf-8"
    )
    done = cli("calibrate", str(plain), "--judge-run", "r2", "--scorer", "judge", "--db", str(graded_db))
    assert done.exit_code == 2, done.stderr
    assert "label id 'c0' does not name an output" in done.stderr and "Traceback" not in done.stderr

    panel = {"scorers": [{"name": "llm_judge", "args": {"model": ["openai/a", "openai/b"], "rubric": "r"}}]}
    with pytest.raises(UsageError, match="panel of 2 judges"):
        stored_judge(panel, None, "r9")
    one = {"scorers": [{"name": "llm_judge", "args": {"model": ["openai/a"], "rubric": "r"}}]}
    assert stored_judge(one, None, "r9")[1] == "openai/a"


def test_a_run_whose_judge_errored_on_every_item_counts_them_as_judge_errors(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # errored scores are judge errors to count, not scores that do not exist
    from evalkit.results import ScoreRow
    from tests.runs import case_result

    store = open_store(graded_db)
    store.create_run(run_record("r3", minutes=9).model_copy(update={"n_cases": len(JUDGE)}))
    results = []
    for outcome in _outcomes():
        result = case_result(outcome)
        broken = ScoreRow(scorer="judge", score=0.0, passed=False, error="judge reply is not a verdict")
        results.append(result.model_copy(update={"scores": [broken], "verdict": "error"}))
    store.add_results("r3", results)
    store.finish_run("r3", status="complete", summary=store.summarize("r3"))
    done = cli("calibrate", "store", "--judge-run", "r3", "--scorer", "judge", "--db", str(graded_db))
    assert "has no scores" not in done.stderr, done.stderr
    latest = _latest(graded_db)
    assert (latest["n_items"], latest["n_judged"], latest["trust"]) == (8, 0, "refused")


def test_judge_run_leaves_out_grades_of_other_suites_outputs(
    graded_db: Path, tmp_path: Path, cli: Callable[..., Any]
) -> None:
    # grades on suite t's outputs counted as errors of suite s's judge, which never saw them: a judge
    # right on 6 of its 8 outputs was reported right on 6 of 12 and refused
    store = open_store(graded_db)
    store_run(store, run_record("t1", suite="t", minutes=7), _outcomes())
    for i in range(4):
        LabelStore(store).add(
            HumanLabel(
                kind="graded",
                suite_name="t",
                run_id="t1",
                case_id=f"c{i}",
                output_hash=output_hash(f"other output {i}"),
                grade="fail",
                grader="ann",
            )
        )
    done = cli("calibrate", "store", "--judge-run", "r2", "--scorer", "judge", "--db", str(graded_db))
    assert done.exit_code == 0, done.stderr
    assert "note: 4 label(s) grade outputs of other suites than 's': left out" in done.stderr
    from_store = _latest(graded_db)
    assert (from_store["n_items"], from_store["n_judged"]) == (8, 8)
    assert from_store["agreement"] == pytest.approx(6 / 8) and from_store["trust"] == "usable"
    # the export holds all 12 grades; calibrated against it, the run's judge measures the same
    out = tmp_path / "labels.jsonl"
    assert "12 graded labels" in cli("labels", "export", str(out), "--db", str(graded_db)).stdout
    done = cli("calibrate", str(out), "--judge-run", "r2", "--scorer", "judge", "--db", str(graded_db))
    assert done.exit_code == 0, done.stderr
    assert {k: _latest(graded_db)[k] for k in FIGURES} == {k: from_store[k] for k in FIGURES}
    # a run of a suite none of whose outputs were graded: one line, no calibration stored
    store_run(store, run_record("u1", suite="u", minutes=8), _outcomes())
    stored = len(store.list_calibrations(limit=100))
    done = cli("calibrate", "store", "--judge-run", "u1", "--scorer", "judge", "--db", str(graded_db))
    assert done.exit_code == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == "evalkit: error: no label of store grades an output of suite 'u'"
    assert len(store.list_calibrations(limit=100)) == stored

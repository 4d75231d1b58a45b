"""`evalkit calibrate` in both orders: live judges on the loopback server, precomputed verdicts, field mappings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalkit.judges.pairwise_calibration import load_order_verdicts, parse_field_mapping
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import EXTERNAL_DATA, one_error_line
from tests.judges.test_pairwise import content_text, first_slot_logprobs, first_slot_text

# LLMBar's format: the better output is named by label 1 or 2
ITEMS = [
    {"input": "q0", "output_1": "good answer", "output_2": "bad answer", "label": 1},
    {"input": "q1", "output_1": "bad answer", "output_2": "good answer", "label": 2},
    {"input": "q2", "output_1": "good one", "output_2": "poor", "label": 1},
    {"input": "q3", "output_1": "weak", "output_2": "good one", "label": 2},
]


def llmbar_set(tmp_path: Path) -> Path:
    path = tmp_path / "llmbar" / "dataset.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ITEMS))
    return path.parent


def calibrate(cli: Any, labels: Path, db: Path, *args: str) -> Any:
    return cli("calibrate", str(labels), "--db", str(db), "--no-progress", *args)


def test_first_slot_judge_calibrates_to_zero_position_agreement(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    with LoopbackOpenAI(responder=first_slot_text, top_logprobs=first_slot_logprobs) as server:
        result = calibrate(
            cli, llmbar_set(tmp_path), db, "--judge", "openai/judge", "--api-base", server.base_url
        )
        assert server.stats.requests == 8  # both orders of 4 items, one short log-prob answer each
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert (
        "output 1 shown first 50.0% · output 2 shown first 50.0% · mean accuracy over orders 50.0% · combined decision 0.0%"
        in out
    )
    assert "Positional agreement 0.0% · both orders right 0.0% · first-slot answers 100.0%" in out
    stored = open_store(db).list_calibrations()[0]
    assert stored["mode"] == "pairwise_orders" and stored["judge_model"] == "openai/judge"
    assert stored["report"]["stats"]["position_agreement"] == 0.0
    assert stored["report"]["decided_by"] == {"logprobs": 4}


def test_content_judge_with_text_verdicts_calibrates_to_full_agreement(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    with LoopbackOpenAI(responder=content_text, logprobs=False) as server:
        result = calibrate(
            cli, llmbar_set(tmp_path), db, "--judge", "openai/judge", "--api-base", server.base_url
        )
    assert result.exit_code == 0, result.stderr
    assert "mean accuracy over orders 100.0% · combined decision 100.0%" in result.stdout
    assert (
        "Positional agreement 100.0% · both orders right 100.0% · first-slot answers 50.0%" in result.stdout
    )
    assert "Cohen's kappa (combined) 1.000" in result.stdout
    stored = open_store(db).list_calibrations()[0]
    assert stored["kappa"] == pytest.approx(1.0) and stored["agreement"] == pytest.approx(1.0)


def test_one_order_is_still_available(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    with LoopbackOpenAI(responder=content_text, logprobs=False) as server:
        result = calibrate(
            cli,
            llmbar_set(tmp_path),
            db,
            "--judge",
            "openai/judge",
            "--api-base",
            server.base_url,
            "--orders",
            "one",
        )
        assert server.stats.requests == 4
    assert result.exit_code == 0, result.stderr
    assert open_store(db).list_calibrations()[0]["mode"] == "pairwise"


def test_precomputed_both_order_verdicts_by_hand(cli: Any, tmp_path: Path) -> None:
    verdicts = tmp_path / "verdicts.jsonl"
    rows = [
        {"id": "0", "order_12": "1", "order_21": "1"},  # right in both orders
        {"id": "1", "order_12": "1", "order_21": "2"},  # first slot both times: a tie
        {"id": "2", "order_12": "1", "order_21": "2", "margin_12": 0.5, "margin_21": -0.1},  # margins: 1
        {"id": "3", "order_12": "garbage", "order_21": "2"},  # no verdict in one order
    ]
    verdicts.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "c.duckdb"
    result = calibrate(cli, llmbar_set(tmp_path), db, "--precomputed", str(verdicts), "--judge", "other-tool")
    assert result.exit_code == 0, result.stderr
    # gold 1,2,1,2; order 12: 1,1,1,- -> 2/4 right; order 21: 1,2,2,2 -> 3/4 right (items 0, 1, 3)
    # combined: 1, tie, 1, error -> 2/4; agreement: item 0 only -> 1/4; both right: item 0 -> 1/4
    out = result.stdout
    assert (
        "output 1 shown first 50.0% · output 2 shown first 75.0% · mean accuracy over orders 62.5% · combined decision 50.0%"
        in out
    )
    # first slot: "1" with output 1 first (3), "2" with output 2 first (3), of 7 answers
    assert "Positional agreement 25.0% · both orders right 25.0% · first-slot answers 85.7%" in out
    assert "no verdict in some order 1" in out
    assert "Cohen's kappa (combined) 0.400 on 3 of 4 labelled items; 1 unanswered" in out
    stored = open_store(db).list_calibrations()[0]
    assert stored["report"]["decided_by"] == {"agreement": 1, "disagreement": 1, "logprobs": 1, "error": 1}
    # kappa on the 3 judged items: gold 1,2,1 vs 1,tie,1: p_o 2/3, p_e (2*2 + 1*0)/9 = 4/9
    assert stored["kappa"] == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))


def test_field_mapping_for_another_tools_file(tmp_path: Path) -> None:
    """A FastChat-style file names models per game; a raw-judge file names slots."""
    fastchat = tmp_path / "pair.jsonl"
    fastchat.write_text(
        json.dumps({"question_id": 7, "g1_winner": "model_1", "g2_winner": "model_1"})
        + "\n"
        + json.dumps({"question_id": 8, "g1_winner": "model_1", "g2_winner": "model_2"})
        + "\n"
    )
    mapping = parse_field_mapping("id=question_id,order_12=g1_winner,order_21=g2_winner")
    found = load_order_verdicts(fastchat, mapping)
    assert (found["7"].winner, found["7"].decided_by) == ("a", "agreement")
    assert (found["8"].winner, found["8"].decided_by) == ("tie", "disagreement")

    slots = tmp_path / "slots.json"
    slots.write_text(
        json.dumps([{"key": "x", "first": "A", "second": "A"}, {"key": "y", "first": "A", "second": "B"}])
    )
    mapping = parse_field_mapping("id=key,order_12=first,order_21=second,terms=slots")
    found = load_order_verdicts(slots, mapping)
    # "A" both times is the first slot both times: output 1, then output 2 -> a tie
    assert found["x"].winner == "tie" and found["x"].ab.slot == "first" and found["x"].ba.slot == "first"
    assert found["y"].winner == "a"  # "B" with output 2 first names output 1


def test_bad_field_mapping_is_a_usage_error(cli: Any, tmp_path: Path) -> None:
    verdicts = tmp_path / "v.jsonl"
    verdicts.write_text(json.dumps({"id": "0", "order_12": "1", "order_21": "1"}) + "\n")
    result = calibrate(
        cli, llmbar_set(tmp_path), tmp_path / "c.duckdb", "--precomputed", str(verdicts), "--fields", "who=id"
    )
    assert result.exit_code == 2 and "--fields" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.external_data
def test_llmbar_processed_loads_for_both_orders(tmp_path: Path) -> None:
    from evalkit.judges.labelled import load_labelled_set

    folder = EXTERNAL_DATA / "llmbar" / "Processed" / "MT-Bench"
    if not (folder / "dataset.json").exists():
        pytest.skip("../shared/data/external is absent")
    labelled = load_labelled_set(folder)
    raw = json.loads((folder / "dataset.json").read_text())
    assert len(labelled.items) == len(raw) == 200
    assert [i.label for i in labelled.items[:5]] == [{1: "A", 2: "B"}[r["label"]] for r in raw[:5]]
    assert labelled.items[0].output_a == raw[0]["output_1"]


def test_calibrate_and_compare_default_to_the_same_judge_prompt() -> None:
    """So a calibration made with the defaults is the one `compare --judge` and gate.pairwise find."""
    from evalkit.cli.judge import DEFAULT_PAIRWISE_RUBRIC as calibrate_default
    from evalkit.judges.pairwise import DEFAULT_PAIRWISE_RUBRIC, PairwiseJudge

    assert calibrate_default == DEFAULT_PAIRWISE_RUBRIC
    auto = PairwiseJudge(model="m").prompt_hash
    assert auto == PairwiseJudge(model="m", verdict="logprobs").prompt_hash
    assert auto != PairwiseJudge(model="m", verdict="text").prompt_hash
    assert auto != PairwiseJudge(model="m", rubric="another rubric").prompt_hash


def test_calibrate_ends_with_a_verdict_line_and_its_thresholds(cli: Any, tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    with LoopbackOpenAI(responder=content_text, logprobs=False) as server:
        good = calibrate(
            cli, llmbar_set(tmp_path), db, "--judge", "openai/judge", "--api-base", server.base_url
        )
    assert good.exit_code == 0, good.stderr
    lines = good.stdout.strip().splitlines()
    assert lines[-2].startswith("thresholds: trusted at accuracy >= 85%, positional agreement >= 90%")
    assert lines[-1].startswith("verdict: trusted (mean accuracy over orders 100% >= 85%")
    with LoopbackOpenAI(responder=first_slot_text, top_logprobs=first_slot_logprobs) as server:
        biased = calibrate(
            cli, llmbar_set(tmp_path), db, "--judge", "openai/biased", "--api-base", server.base_url,
            "--usable-at", "accuracy=0.5",
        )  # fmt: skip
    assert biased.stdout.strip().splitlines()[-1] == (
        "verdict: refused (positional agreement 0% < 75% usable; kappa 0.00 < 0.30 usable)"
    )
    stored = {c["judge_model"]: c for c in open_store(db).list_calibrations()}
    assert stored["openai/judge"]["trust"] == "trusted" and stored["openai/biased"]["trust"] == "refused"
    # the columns hold what they are named for
    assert stored["openai/biased"]["accuracy"] == pytest.approx(0.5)  # mean over orders
    assert stored["openai/biased"]["position_agreement"] == 0.0
    assert stored["openai/biased"]["both_orders_right"] == 0.0
    assert stored["openai/biased"]["report"]["trust_detail"]["thresholds"]["usable"]["accuracy"] == 0.5


def test_nested_fields_read_a_verdict_deep_in_each_row(cli: Any, tmp_path: Path) -> None:
    verdicts = tmp_path / "nested.json"
    rows = [
        {
            "meta": {"id": str(i)},
            "results": [
                {"swap = False": {"winner": item["label"]}, "swap = True": {"winner": item["label"]}}
            ],
        }
        for i, item in enumerate(ITEMS)
    ]
    verdicts.write_text(json.dumps(rows))
    fields = 'id=meta.id,order_12=results[0]["swap = False"].winner,order_21=results.0["swap = True"].winner'
    db = tmp_path / "c.duckdb"
    result = calibrate(
        cli, llmbar_set(tmp_path), db, "--precomputed", str(verdicts), "--judge", "t", "--fields", fields
    )
    assert result.exit_code == 0, result.stderr
    assert "mean accuracy over orders 100.0%" in result.stdout
    unclosed = calibrate(
        cli, llmbar_set(tmp_path), db, "--precomputed", str(verdicts), "--fields", 'order_12=results[0]["x'
    )
    assert unclosed.exit_code == 2 and 'unclosed ["..."]' in unclosed.stderr


def test_unmatched_ids_are_counted_and_all_unmatched_is_an_error(cli: Any, tmp_path: Path) -> None:
    shifted = tmp_path / "shifted.jsonl"  # ids off by one: 1..4 against items 0..3
    shifted.write_text(
        "".join(json.dumps({"id": str(i + 1), "order_12": "1", "order_21": "1"}) + "\n" for i in range(4))
    )
    db = tmp_path / "c.duckdb"
    result = calibrate(cli, llmbar_set(tmp_path), db, "--precomputed", str(shifted), "--judge", "t")
    assert result.exit_code == 0
    assert "warning: 1 verdict id(s) match no item of" in result.stderr and "(e.g. '4')" in result.stderr
    assert "1 of 4 items have no verdict (counted as judge errors)" in result.stderr
    nothing = tmp_path / "nothing.jsonl"
    nothing.write_text(json.dumps({"id": "q-9", "order_12": "1", "order_21": "1"}) + "\n")
    none = calibrate(cli, llmbar_set(tmp_path), db, "--precomputed", str(nothing), "--judge", "t")
    assert none.exit_code == 2 and "no verdict id matches an item" in none.stderr
    assert "nothing.jsonl" in none.stderr and len(none.stderr.strip().splitlines()) == 1


def test_the_gate_finds_a_precomputed_calibration_by_the_judge_it_declares(cli: Any, tmp_path: Path) -> None:
    from evalkit.gate.judges import judge_checks
    from evalkit.judges.pairwise import PairwiseJudge
    from evalkit.store.calibrations import current_calibrations

    db = tmp_path / "c.duckdb"
    store = open_store(db)
    spec = {
        "name": "llm_judge",
        "args": {"rubric": "Pick the better.", "model": "openai/gpt-x", "min_kappa": 0.5},
    }
    (before,) = judge_checks([spec], store)
    assert before.status == "uncalibrated"

    # one verdict per item, the judge and rubric declared by flags: found by the llm_judge scorer
    one = tmp_path / "one.jsonl"
    one.write_text(
        "".join(json.dumps({"id": str(i), "label": it["label"]}) + "\n" for i, it in enumerate(ITEMS))
    )
    declared = calibrate(
        cli, llmbar_set(tmp_path), db, "--precomputed", str(one), "--judge", "openai/gpt-x",
        "--rubric", "Pick the better.", "--orders", "one",
    )  # fmt: skip
    assert declared.exit_code == 0, declared.stderr
    (check,) = judge_checks([spec], store)
    assert check.status == "ok" and check.kappa == pytest.approx(1.0)

    # both orders, declared by a sidecar: keyed as the pairwise judge is live (gate.pairwise finds it),
    # and the llm_judge scorer of the same model and rubric weighs it too
    verdicts = tmp_path / "gpt.jsonl"
    verdicts.write_text(
        "".join(json.dumps({"id": str(i), "order_12": "1", "order_21": "2"}) + "\n" for i in range(4))
    )
    (tmp_path / "gpt.judge.json").write_text(
        json.dumps({"judge": "openai/gpt-x", "rubric": "Pick the better."})
    )
    result = calibrate(
        cli,
        llmbar_set(tmp_path),
        db,
        "--precomputed",
        str(verdicts),
        "--verdict",
        "text",
        "--dataset",
        "slots",
    )
    assert result.exit_code == 0, result.stderr
    assert "declares no rubric" not in result.stdout
    live = PairwiseJudge(model="openai/gpt-x", rubric="Pick the better.", verdict="text")
    key = ("openai/gpt-x", live.prompt_hash)
    assert [c["trust"] for c in current_calibrations(store, [key])[key]] == [
        "refused"
    ]  # first slot every time
    (check,) = judge_checks([spec], store)
    assert check.status == "below" and check.refused_on == ["slots"]


def test_calibrations_are_kept_per_dataset_and_the_weakest_counts(cli: Any, tmp_path: Path) -> None:
    from evalkit.gate.judges import judge_checks

    db = tmp_path / "c.duckdb"
    spec = {"name": "llm_judge", "args": {"rubric": "R", "model": "m", "min_kappa": 0.5}}
    for name, right in (("easy", True), ("hard", False)):
        verdicts = tmp_path / f"{name}.jsonl"
        verdicts.write_text(
            "".join(
                json.dumps({"id": str(i), "label": it["label"] if right else 3 - it["label"]}) + "\n"
                for i, it in enumerate(ITEMS)
            )
        )
        result = calibrate(
            cli, llmbar_set(tmp_path / name), db, "--precomputed", str(verdicts), "--judge", "m",
            "--rubric", "R", "--orders", "one", "--dataset", f"llmbar/{name}",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    (check,) = judge_checks([spec], open_store(db))
    # the hard subset, calibrated last or first, is not hidden by the easy one
    assert check.status == "below" and sorted(check.datasets) == ["llmbar/easy", "llmbar/hard"]
    assert (
        check.refused_on == ["llmbar/hard"]
        and "refused by `evalkit calibrate` on llmbar/hard" in check.message
    )


def test_unreadable_labels_verdicts_and_rubrics_are_one_line_errors(cli: Any, tmp_path: Path) -> None:
    """Each of these crashed calibrate with a traceback (exit 70): labels or a rubric not in UTF-8, a
    precomputed JSONL with a broken or non-object line, an LLMBar label that is a list."""
    db = tmp_path / "c.duckdb"
    latin = tmp_path / "labels.jsonl"
    latin.write_bytes(b'{"id": "1", "input": "caf\xe9", "output": "x", "label": "pass"}\n')
    rubric = tmp_path / "rubric.md"
    rubric.write_bytes(b"Be strict \xff\n")
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "1", "input": "q", "output": "x", "label": "pass"}) + "\n")
    broken, scalar = tmp_path / "broken.jsonl", tmp_path / "scalar.jsonl"
    broken.write_text('{"id": "1", "label": "pass"}\n{"id": \n')
    scalar.write_text("5\n")
    listed = tmp_path / "llmbar" / "dataset.json"
    listed.parent.mkdir()
    listed.write_text(json.dumps([{**ITEMS[0], "label": [1]}]))
    cases = [
        ((str(latin), "--judge", "openai/j"), f"{latin}:1: not valid UTF-8"),
        ((str(good), "--judge", "openai/j", "--rubric-file", str(rubric)), f"{rubric}:1: not valid UTF-8"),
        ((str(good), "--judge", "openai/j", "--precomputed", str(broken)), f"{broken}:2: invalid JSON"),
        ((str(good), "--judge", "openai/j", "--precomputed", str(scalar)), f"{scalar}:1: each line must be"),
        ((str(listed.parent), "--judge", "openai/j"), "label must be 1 or 2"),
    ]
    for args, message in cases:
        result = cli("calibrate", *args, "--db", str(db), "--no-progress")
        assert result.exit_code == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr


def test_a_both_order_file_names_its_bad_rows_and_refuses_a_second_row_for_an_id(
    cli: Any, tmp_path: Path
) -> None:
    db = tmp_path / "c.duckdb"
    row = {"id": "0", "order_12": "1", "order_21": "1"}
    # the second row for item 0 silently replaced the first: a judge right in both orders was
    # measured as wrong in both
    twice = tmp_path / "twice.jsonl"
    twice.write_text(json.dumps(row) + "\n" + json.dumps({**row, "order_12": "2", "order_21": "2"}) + "\n")
    result = calibrate(cli, llmbar_set(tmp_path), db, "--precomputed", str(twice), "--judge", "j")
    line = one_error_line(result, 2, f"{twice}:2: ")
    assert "a second row for id '0'" in line
    # a JSONL row is named by its line (blank lines count), not by its index among the rows
    no_id = tmp_path / "no_id.jsonl"
    no_id.write_text(json.dumps(row) + "\n\n" + json.dumps({"order_12": "1", "order_21": "1"}) + "\n")
    result = calibrate(cli, llmbar_set(tmp_path), db, "--precomputed", str(no_id), "--judge", "j")
    assert one_error_line(result, 2, f"{no_id}:3: ").endswith("no 'id' field")
    listed = tmp_path / "twice.json"
    listed.write_text(json.dumps([row, row]))
    result = calibrate(cli, llmbar_set(tmp_path), db, "--precomputed", str(listed), "--judge", "j")
    assert "row 1: a second row for id '0'" in one_error_line(result, 2, f"{listed}: ")

"""`evalkit rescore`: new scorers on stored outputs, zero target calls, a linked run, the judge gate."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from evalkit.judges.calibration import JudgeVerdict, build_report
from evalkit.judges.graded import rubric_hash
from evalkit.judges.labelled import LabelledItem, LabelledSet
from evalkit.results import OutputRecord, RunRecord, new_run_id
from evalkit.run.evaluate import scored_result
from evalkit.store import Store, open_store
from evalkit.suite.loading import load_suite
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import loopback_suite

RUBRIC = "The answer names a colour."
CASES = [
    {"id": "red", "input": {"question": "red"}, "expected": '{"echo": "red"}'},
    {"id": "sky", "input": {"question": "sky"}, "expected": "something else"},
]


def judge_scorer(base_url: str, extra: str = "") -> str:
    return (
        "  - name: exact\n"
        "  - name: llm_judge\n"
        "    id: colour\n"
        "    args:\n"
        f"      rubric: {json.dumps(RUBRIC)}\n"
        "      model: openai/judge\n"
        f"      api_base: {base_url}\n"
        f"{extra}"
    )


def colour_judge(body: dict[str, Any]) -> str:
    ok = "red" in body["messages"][1]["content"].split("<<<BEGIN OUTPUT")[1]
    return json.dumps(
        {
            "reasoning": "names red" if ok else "no colour",
            "score": 9 if ok else 1,
            "pass": ok,
            "confidence": 0.8,
        }
    )


def test_rescore_applies_new_scorers_without_calling_the_target(
    make_suite: Any, cli: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "r.duckdb")
    with LoopbackOpenAI() as target, LoopbackOpenAI(responder=colour_judge) as judge:
        suite = make_suite(loopback_suite(target.base_url), cases=CASES)
        first = cli("run", str(suite), "--db", db, "--no-progress")
        assert first.exit_code == 1, first.stderr  # exact passes 1 of 2
        target_calls = target.stats.requests
        assert target_calls == 2
        parent = open_store(db).get_run()

        suite.write_text(loopback_suite(target.base_url, scorers=judge_scorer(judge.base_url)))
        # the suite as edited since the run: named, as the run's own suite file is no longer it
        result = cli("rescore", parent.run_id, "--suite", str(suite), "--db", db, "--no-progress")
        assert target.stats.requests == target_calls  # not one call to the target
        assert judge.stats.requests == 2
        # the judge's answers are cached like a run's; --no-cache asks again
        assert (
            cli("rescore", parent.run_id, "--suite", str(suite), "--db", db, "--no-progress").exit_code == 1
        )
        assert judge.stats.requests == 2
        again = cli(
            "rescore", parent.run_id, "--suite", str(suite), "--db", db, "--no-progress", "--no-cache"
        )
        assert again.exit_code == 1
        assert judge.stats.requests == 4

    assert result.exit_code == 1, result.stderr
    assert f"Re-scored {parent.run_id} into" in result.stdout and "0 target calls" in result.stdout
    assert (
        "WARNING: judge 'openai/judge' of scorer 'colour'" in result.stdout
        and "no calibration" in result.stdout
    )
    store = open_store(db)
    child = store.get_run()
    assert child.run_id != parent.run_id and child.parent_run_id == parent.run_id
    assert child.model == parent.model and child.prompt_hash == parent.prompt_hash
    scores = store.score_rows(child.run_id)
    assert sorted(set(scores.scorer)) == ["colour", "exact"]
    colour = scores[scores.scorer == "colour"].set_index("case_id")
    assert bool(colour.loc["red"].passed) and not bool(colour.loc["sky"].passed)
    assert json.loads(colour.loc["sky"].details_json)["reasoning"] == "no colour"
    # the stored outputs are the parent's, marked as not requested again
    outputs = store.case_results(child.run_id)
    assert list(outputs.raw_text) == list(store.case_results(parent.run_id).raw_text)
    assert outputs.cached.all() and child.summary.cost_usd == 0.0
    # the parent run is untouched
    assert sorted(set(store.score_rows(parent.run_id).scorer)) == ["exact"]


def test_rescore_gate_fails_on_a_judge_below_min_kappa_when_asked(
    make_suite: Any, cli: Any, tmp_path: Path
) -> None:
    db = str(tmp_path / "k.duckdb")
    with LoopbackOpenAI() as target, LoopbackOpenAI(responder=colour_judge) as judge:
        suite = make_suite(
            loopback_suite(target.base_url, gate="gate: {min_pass_rate: 0.0}\n"),
            cases=CASES,
        )
        assert cli("run", str(suite), "--db", db, "--no-progress").exit_code == 0
        # a calibration with kappa 0 for exactly this judge + rubric
        items = [
            LabelledItem(id=str(i), request="q", output="o", label=lab)
            for i, lab in enumerate(["pass", "fail", "pass", "fail"])
        ]
        labelled = LabelledSet(name="labels.jsonl", mode="graded", items=items)
        verdicts = {str(i): JudgeVerdict(label=lab) for i, lab in enumerate(["pass", "pass", "fail", "fail"])}
        open_store(db).add_calibration(
            build_report(labelled, verdicts, judge_model="openai/judge", rubric_hash=rubric_hash(RUBRIC))
        )

        gate = "gate: {min_pass_rate: 0.0}\n"
        suite.write_text(
            loopback_suite(
                target.base_url, scorers=judge_scorer(judge.base_url, "      min_kappa: 0.6\n"), gate=gate
            )
        )
        warned = cli("rescore", "--suite", str(suite), "--db", db, "--no-progress")
        assert warned.exit_code == 0, warned.stderr
        assert "WARNING: judge 'openai/judge' of scorer 'colour'" in warned.stdout
        assert "kappa 0.00 on all 4 labelled items, below min_kappa 0.60" in warned.stdout

        strict = judge_scorer(judge.base_url, "      min_kappa: 0.6\n      calibration: fail\n")
        suite.write_text(loopback_suite(target.base_url, scorers=strict, gate=gate))
        failed = cli("rescore", "--suite", str(suite), "--db", db, "--no-progress")
    assert failed.exit_code == 1
    assert "Gate FAILED" in failed.stdout and "below min_kappa 0.60" in failed.stdout


def test_run_gate_warns_then_fails_on_an_uncalibrated_judge(
    make_suite: Any, cli: Any, tmp_path: Path
) -> None:
    """`evalkit run` applies the same judge checks as rescore: loud by default, fatal when the suite asks."""
    db = str(tmp_path / "g.duckdb")
    gate = "gate: {min_pass_rate: 0.0}\n"
    with LoopbackOpenAI() as target, LoopbackOpenAI(responder=colour_judge) as judge:
        suite = make_suite(
            loopback_suite(target.base_url, scorers=judge_scorer(judge.base_url), gate=gate), cases=CASES
        )
        warned = cli("run", str(suite), "--db", db, "--no-progress")
        assert warned.exit_code == 0, warned.stderr
        assert (
            "WARNING: judge 'openai/judge' of scorer 'colour'" in warned.stdout
            and "no calibration" in warned.stdout
        )
        strict = judge_scorer(judge.base_url, "      min_kappa: 0.6\n      calibration: fail\n")
        suite.write_text(loopback_suite(target.base_url, scorers=strict, gate=gate))
        failed = cli("run", str(suite), "--db", db, "--no-progress")
    assert failed.exit_code == 1 and "Gate FAILED" in failed.stdout
    assert open_store(db).get_run("latest").summary.gate.exit_code == 1


def test_rescore_judges_as_the_run_did_and_counts_reused_answers_at_their_first_cost(
    make_suite: Any, cli: Any, tmp_path: Path
) -> None:
    """Same outputs, same scorers: the same verdict (quarantine kept out of the gate) and, in
    `compare`, the same cost per case (the target's answers count at what they cost the run)."""
    db = str(tmp_path / "q.duckdb")
    gate = "gate: {min_pass_rate: 0.9, quarantine: [sky]}\n"
    with LoopbackOpenAI() as target:
        text = loopback_suite(target.base_url, gate=gate).replace("openai/loopback", "openai/gpt-4o-mini")
        suite = make_suite(text, cases=CASES)
        first = cli("run", str(suite), "--db", db, "--no-progress")
        assert first.exit_code == 0, first.stdout  # sky fails, but it is quarantined
        parent = open_store(db).get_run()
        again = cli("rescore", parent.run_id, "--db", db, "--no-progress")
    assert again.exit_code == 0, again.stdout
    store = open_store(db)
    child = store.get_run()
    assert child.summary is not None and child.summary.quarantined == ["sky"]
    assert child.summary.gate is not None and child.summary.gate.passed
    paid = store.case_results(parent.run_id).set_index("case_id")
    reused = store.case_results(child.run_id).set_index("case_id")
    assert (paid.cost_usd > 0).all() and (reused.cost_usd == 0).all()  # nothing spent on the target again
    assert list(reused.saved_cost_usd) == list(paid.cost_usd)
    compared = cli("compare", parent.run_id, child.run_id, "--db", db)
    cost = next(line for line in compared.stdout.splitlines() if "cost per case" in line)
    assert "better" not in cost and "worse" not in cost, cost


def test_a_judge_required_calibrated_fails_a_run_gated_on_a_baseline_too(
    make_suite: Any, cli: Any, tmp_path: Path
) -> None:
    """`calibration: fail` holds with --baseline: the comparison leans on the same judge's verdicts."""
    db = str(tmp_path / "b.duckdb")
    strict = "      min_kappa: 0.6\n      calibration: fail\n"
    with LoopbackOpenAI() as target, LoopbackOpenAI(responder=colour_judge) as judge:
        text = loopback_suite(
            target.base_url, scorers=judge_scorer(judge.base_url, strict), gate="gate: {min_pass_rate: 0.0}\n"
        )
        suite = make_suite(text, cases=CASES)
        assert cli("run", str(suite), "--db", db, "--no-progress").exit_code == 1
        assert cli("baseline", "set", "main", "latest", "--db", db).exit_code == 0
        gated = cli("run", str(suite), "--db", db, "--no-progress", "--baseline", "main")
    assert gated.exit_code == 1, gated.stdout
    line = next(x for x in gated.stdout.splitlines() if x.startswith("Regression gate"))
    assert "no calibration" in line and line.endswith("(exit 1)"), line
    listing = cli("runs", "--db", db).stdout
    latest = next(x for x in listing.splitlines() if open_store(db).get_run("latest").run_id in x)
    assert latest.rstrip().endswith("fail (1)"), latest


# Answers the parser once read as their nested price object ('embedded'), before the fixes for an
# answer cut off at max_tokens and one a stray quote broke; the current parser finds no JSON in them.
CUT_OFF = (
    '{"title": "Lamp", "brand": "Ikea", "price": {"amount": 12.5, "currency": "EUR"}, '
    '"key_attributes": ["bright'
)
STRAY_QUOTE = (
    '{"title": "Cerave 454G 10.9" 128 Go Gris", "brand": "Cerave", '
    '"price": {"amount": 454.0, "currency": "EUR"}}'
)
WHOLE = '{"title": "Mug", "brand": "Ikea", "price": {"amount": 3.0, "currency": "EUR"}}'
ANSWERS = {"lamp": CUT_OFF, "cerave": STRAY_QUOTE, "mug": WHOLE}
OLD_PARSE = {"lamp": {"amount": 12.5, "currency": "EUR"}, "cerave": {"amount": 454.0, "currency": "EUR"}}
LISTINGS = [
    {
        "id": "lamp",
        "input": {"question": "lamp"},
        "expected": {"title": "Lamp", "brand": "Ikea", "price": {"amount": 12.5, "currency": "EUR"}},
    },
    {
        "id": "cerave",
        "input": {"question": "cerave"},
        "expected": {
            "title": "Cerave 454G",
            "brand": "Cerave",
            "price": {"amount": 454.0, "currency": "EUR"},
        },
    },
    {"id": "mug", "input": {"question": "mug"}, "expected": json.loads(WHOLE)},
]
FORMAT_SCORERS = "  - name: json_valid\n  - name: strict_format\n  - name: json_fields\n"


def stored_with_the_old_parse(store: Store, fresh: RunRecord, suite_path: Path) -> RunRecord:
    """A copy of ``fresh`` as evalkit stored it before the parser fixes: the same answers, the cut-off
    and broken ones with their nested price object as parsed JSON, scored on that."""
    suite = load_suite(suite_path)
    old = fresh.model_copy(
        update={"run_id": new_run_id(fresh.suite_name), "status": "running", "summary": None}
    )
    store.create_run(old)
    results = []
    for case in suite.iter_cases():
        output = OutputRecord(
            status="ok",
            text=ANSWERS[case.id],
            parsed=OLD_PARSE[case.id] if case.id in OLD_PARSE else json.loads(ANSWERS[case.id]),
            extraction="embedded" if case.id in OLD_PARSE else "strict",
        )
        results.append(asyncio.run(scored_result(suite, case, 0, output, None)))
    store.add_results(old.run_id, results)
    store.finish_run(old.run_id, status="complete", summary=store.summarize(old.run_id))
    return store.get_run(old.run_id)


def scored(store: Store, run_id: str) -> dict[str, Any]:
    """What a run stored of its outputs' parse, scores and field metrics, without its run id."""
    outputs = store.case_results(run_id)
    scores = store.score_rows(run_id)
    fields = store.field_rows(run_id)
    parsed_json = [p if isinstance(p, str) else None for p in outputs.parsed_json]  # NULL: NaN in the frame
    return {
        "parsed": sorted(zip(outputs.case_id, parsed_json, outputs.extraction, outputs.verdict, strict=True)),
        "scores": sorted(
            zip(scores.case_id, scores.scorer, scores.score, scores.passed, scores.reason, strict=True)
        ),
        "fields": sorted(
            zip(
                fields.case_id,
                fields.scorer,
                fields.field,
                fields.score,
                fields.slot,
                fields.status,
                strict=True,
            )
        ),
    }


def test_rescore_parses_stored_answers_as_a_new_run_would(make_suite: Any, cli: Any, tmp_path: Path) -> None:
    """A run stored before a parser fix keeps its old parsed JSON; rescore reads the answers' text
    again, so its scores and field metrics are a new run's over the same answers, and it says how
    many outputs the parser now reads otherwise."""
    db = str(tmp_path / "p.duckdb")
    with LoopbackOpenAI(responder=lambda body: ANSWERS[body["messages"][-1]["content"].strip()]) as target:
        suite = make_suite(
            loopback_suite(target.base_url, scorers=FORMAT_SCORERS, gate="gate: {min_pass_rate: 0.0}\n"),
            cases=LISTINGS,
        )
        first = cli("run", str(suite), "--db", db, "--no-progress")
        assert first.exit_code == 0, first.stdout
    store = open_store(db)
    fresh = store.get_run()
    old = stored_with_the_old_parse(store, fresh, suite)
    before = scored(store, old.run_id)
    assert ("lamp", "json_valid", 1.0, True, "JSON found (embedded)") in before["scores"]  # the old read

    again = cli("rescore", old.run_id, "--db", db, "--no-progress")
    assert again.exit_code == 0, again.stdout
    assert f"2 outputs parsed differently from run {old.run_id} (evalkit's parser changed)" in again.stdout
    rescored = store.get_run()
    assert rescored.parent_run_id == old.run_id
    assert scored(store, rescored.run_id) == scored(store, fresh.run_id) != before
    assert rescored.summary is not None and fresh.summary is not None
    assert rescored.summary.scorers == fresh.summary.scorers

    # the rescored run stores the current parse: rescoring it finds nothing parsed differently
    settled = cli("rescore", rescored.run_id, "--db", db, "--no-progress")
    assert settled.exit_code == 0 and "parsed differently" not in settled.stdout, settled.stdout

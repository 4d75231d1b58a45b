"""Judge calibration: report figures, the PandaLM precomputed baseline, judging labelled sets (gate checks: tests/gate/test_judges.py)."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evalkit.judges.calibration import JudgeVerdict, build_report, judge_labelled_set
from evalkit.judges.graded import JudgeConfig
from evalkit.judges.labelled import LabelledItem, LabelledSet
from evalkit.providers.calls import ModelCaller
from evalkit.store import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import EXTERNAL_DATA, interrupted, one_error_line

PANDALM = EXTERNAL_DATA / "pandalm-testset"


def pairwise_set(labels: list[str]) -> LabelledSet:
    items = [
        LabelledItem(id=str(i), request=f"q{i}", output_a="a", output_b="b", label=label)
        for i, label in enumerate(labels)
    ]
    return LabelledSet(name="t", mode="pairwise", items=items)


def test_report_counts_errors_apart_and_computes_figures() -> None:
    labelled = pairwise_set(["A", "A", "B", "B", "tie"])
    verdicts = {
        "0": JudgeVerdict(label="A", confidence=0.9),
        "1": JudgeVerdict(label="B", confidence=0.6),
        "2": JudgeVerdict(label="B", confidence=0.8),
        "3": JudgeVerdict(label=None, error="garbage"),
        # item 4 never judged: also an error
    }
    r = build_report(labelled, verdicts, judge_model="m", rubric_hash="h")
    assert (r.n_items, r.n_judged, r.n_errors) == (5, 3, 2)
    assert r.agreement == pytest.approx(2 / 3)
    assert r.agreement_all == pytest.approx(2 / 5)
    assert r.tpr == pytest.approx(0.5) and r.tnr == pytest.approx(1.0)
    assert r.confusion.count("B", "error") == 1 and r.confusion.count("tie", "error") == 1
    assert r.judge_counts == {"A": 1, "B": 2, "error": 2}
    # judged pairs (A,A) (A,B) (B,B): p_o 2/3; human A2 B1, judge A1 B2 -> p_e = (2+2)/9
    assert r.kappa == pytest.approx((2 / 3 - 4 / 9) / (1 - 4 / 9))
    # confidences .9 (right) .6 (wrong) .8 (right): three bins, ECE = (.1 + .6 + .2)/3
    assert r.ece == pytest.approx(0.3)


def _independent_pandalm_figures() -> dict[str, Any]:
    """Agreement of PandaLM's GPT-3.5 verdicts with the human majority, straight from the raw files."""
    tests = json.loads((PANDALM / "testset-v1.json").read_text())
    gpt = {
        row["idx"]: row["gpt_result"]
        for row in json.loads((PANDALM / "gpt-3.5-turbo-testset-v1.json").read_text())
    }
    human_of = {0: "tie", 1: "A", 2: "B"}
    judge_of = {"1": "A", "2": "B", "Tie": "tie", "0": "tie"}
    pairs = []
    errors = 0
    for row in tests:
        votes = Counter(human_of[row[f"annotator{k}"]] for k in (1, 2, 3)).most_common()
        human = votes[0][0] if len(votes) == 1 or votes[0][1] > votes[1][1] else "tie"
        judge = judge_of.get(gpt[row["idx"]])
        if judge is None:
            errors += 1
        else:
            pairs.append((human, judge))
    n = len(pairs)
    p_o = sum(h == j for h, j in pairs) / n
    hc, jc = Counter(h for h, _ in pairs), Counter(j for _, j in pairs)
    p_e = sum(hc[k] * jc[k] for k in hc) / (n * n)
    return {
        "n_judged": n,
        "errors": errors,
        "agreement": p_o,
        "agreement_all": sum(h == j for h, j in pairs) / len(tests),  # errors counted wrong
        "kappa": (p_o - p_e) / (1 - p_e),
        "tpr": sum(h == j == "A" for h, j in pairs) / hc["A"],
        "tnr": sum(h == j == "B" for h, j in pairs) / hc["B"],
    }


@pytest.mark.external_data
def test_calibrate_reproduces_pandalm_gpt35_agreement(cli: Any, tmp_path: Path) -> None:
    if not (PANDALM / "testset-v1.json").exists():
        pytest.skip("../shared/data/external is absent")
    want = _independent_pandalm_figures()
    db = str(tmp_path / "c.duckdb")
    result = cli(
        "calibrate",
        str(PANDALM / "testset-v1.json"),
        "--precomputed",
        str(PANDALM / "gpt-3.5-turbo-testset-v1.json"),
        "--judge",
        "gpt-3.5-turbo",
        "--db",
        db,
        "--no-progress",
    )
    assert result.exit_code == 0, result.stderr
    assert f"judged {want['n_judged']}, judge errors {want['errors']}" in result.stdout
    assert f"agreement {want['agreement']:.1%}" in result.stdout
    unanswered = f"on {want['n_judged']} of 999 labelled items; {want['errors']} unanswered"
    assert f"Cohen's kappa {want['kappa']:.3f} {unanswered}" in result.stdout
    assert f"kappa {want['kappa']:.2f} ({unanswered}) < 0.60 trusted" in result.stdout.splitlines()[-1]
    # one verdict per pair: accuracy counts judge errors wrong; position bias is not measured
    assert (
        result.stdout.strip()
        .splitlines()[-1]
        .startswith(
            f"verdict: usable (accuracy {want['agreement_all']:.1%} < 85% trusted; positional agreement not measured"
        )
    )
    assert "declares no rubric" in result.stdout
    stored = open_store(db).list_calibrations()[0]
    assert stored["judge_model"] == "gpt-3.5-turbo" and stored["mode"] == "pairwise"
    assert stored["n_items"] == 999 and stored["n_judged"] == want["n_judged"]
    assert stored["agreement"] == pytest.approx(want["agreement"])
    assert stored["kappa"] == pytest.approx(want["kappa"])
    assert stored["tpr"] == pytest.approx(want["tpr"]) and stored["tnr"] == pytest.approx(want["tnr"])
    assert sum(map(sum, stored["report"]["confusion"]["counts"])) == 999


def test_judging_a_labelled_set_through_a_server(loopback: LoopbackOpenAI) -> None:
    """A pairwise judge on a real server: it prefers the longer answer; one reply is garbage."""

    def responder(body: dict[str, Any]) -> str:
        user = body["messages"][1]["content"]
        a = re.search(r"<<<BEGIN RESPONSE A \w+>>>\n(.*?)\n<<<END", user, re.DOTALL)
        b = re.search(r"<<<BEGIN RESPONSE B \w+>>>\n(.*?)\n<<<END", user, re.DOTALL)
        assert a and b
        if a.group(1) == "broken":
            return "I refuse to answer in JSON"
        winner = "A" if len(a.group(1)) > len(b.group(1)) else "B"
        return json.dumps({"reasoning": "longer", "winner": winner, "confidence": 0.8})

    loopback.responder = responder
    items = [
        LabelledItem(id="1", request="q", output_a="long answer", output_b="short", label="A"),
        LabelledItem(id="2", request="q", output_a="x", output_b="longer", label="B"),
        LabelledItem(id="3", request="q", output_a="longest answer", output_b="y", label="B"),
        LabelledItem(id="4", request="q", output_a="broken", output_b="y", label="A"),
    ]
    labelled = LabelledSet(name="t", mode="pairwise", items=items)
    config = JudgeConfig(
        rubric="prefer the better answer",
        models=["openai/judge"],
        api_base=loopback.base_url,
        parse_retries=1,
    )

    async def go() -> dict[str, JudgeVerdict]:
        caller = ModelCaller()
        try:
            return await judge_labelled_set(labelled, config, caller.complete, concurrency=2)
        finally:
            await caller.aclose()

    verdicts = asyncio.run(go())
    assert {k: v.label for k, v in verdicts.items()} == {"1": "A", "2": "B", "3": "A", "4": None}
    assert loopback.stats.requests == 5  # the garbage reply was asked again once
    report = build_report(labelled, verdicts, judge_model="openai/judge", rubric_hash=config.rubric_hash)
    assert report.n_judged == 3 and report.agreement == pytest.approx(2 / 3)


def test_store_keeps_the_latest_calibration_per_key(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.duckdb")
    labelled = pairwise_set(["A", "B"])
    first = build_report(
        labelled,
        {"0": JudgeVerdict(label="A"), "1": JudgeVerdict(label="A")},
        judge_model="m",
        rubric_hash="h",
    )
    store.add_calibration(first)
    second = build_report(
        labelled,
        {"0": JudgeVerdict(label="A"), "1": JudgeVerdict(label="B")},
        judge_model="m",
        rubric_hash="h",
    )
    store.add_calibration(second)
    latest = store.latest_calibrations([("m", "h"), ("m", "other")])
    assert list(latest) == [("m", "h")]
    assert latest[("m", "h")]["calibration_id"] == second.calibration_id
    assert latest[("m", "h")]["kappa"] == pytest.approx(1.0)
    assert latest[("m", "h")]["report"]["confusion"]["labels"] == ["A", "B", "tie", "error"]


def _pass_if_good(body: dict[str, Any]) -> str:
    """A graded judge that passes an output saying "good" and fails any other."""
    user = body["messages"][-1]["content"]
    output = re.search(r"<<<BEGIN OUTPUT \w+>>>\n(.*?)\n<<<END", user, re.DOTALL)
    assert output
    good = "good" in output.group(1)
    return json.dumps({"reasoning": "r", "score": 9 if good else 1, "pass": good, "confidence": 0.9})


def test_two_items_with_one_id_are_an_error_not_both_given_one_verdict(
    cli: Any, loopback: LoopbackOpenAI, tmp_path: Path
) -> None:
    # verdicts meet items by id: both items got the second one's verdict, and a judge right on both
    # was reported at 50% agreement
    loopback.responder = _pass_if_good
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        '{"id": "a", "output": "good", "label": "pass"}\n{"id": "a", "output": "bad", "label": "fail"}\n'
    )
    args = ("--judge", "openai/j", "--api-base", loopback.base_url, "--rubric", "good")
    result = cli("calibrate", str(labels), *args, "--db", str(tmp_path / "c.duckdb"), "--no-progress")
    line = one_error_line(result, 2, f"{labels}:2: ")
    assert "id 'a' is already the id of line 1" in line
    assert loopback.stats.requests == 0 and not (tmp_path / "c.duckdb").exists()
    # with their own ids, the judge is right on both
    labels.write_text(labels.read_text().replace('"id": "a", "output": "bad"', '"id": "b", "output": "bad"'))
    result = cli("calibrate", str(labels), *args, "--db", str(tmp_path / "c.duckdb"), "--no-progress")
    assert result.exit_code == 0, result.stderr
    assert "agreement 100.0%" in result.stdout


def test_a_precomputed_verdict_of_the_other_kind_is_a_one_line_error(cli: Any, tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        '{"id": "a", "output": "x", "label": "pass"}\n{"id": "b", "output": "y", "label": "fail"}\n'
    )
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text('{"id": "a", "label": "pass"}\n{"id": "b", "label": "B"}\n')
    db = str(tmp_path / "c.duckdb")
    result = cli("calibrate", str(labels), "--precomputed", str(verdicts), "--judge", "j", "--db", db)
    line = one_error_line(result, 2, f"{verdicts}:2: ")
    assert "'B' is not one of this labelled set's pass, fail" in line
    # true/false are read as a graded label is: pass/fail, not judge errors
    verdicts.write_text('{"id": "a", "label": true}\n{"id": "b", "label": false}\n')
    result = cli("calibrate", str(labels), "--precomputed", str(verdicts), "--judge", "j", "--db", db)
    assert result.exit_code == 0, result.stderr
    assert "judged 2, judge errors 0 · agreement 100.0%" in result.stdout


def test_the_verdict_line_never_shows_a_figure_short_of_a_bar_as_the_bar(cli: Any, tmp_path: Path) -> None:
    labels, verdicts = tmp_path / "labels.jsonl", tmp_path / "verdicts.jsonl"
    grades = ["pass", "fail"] * 500
    labels.write_text(
        "".join(
            json.dumps({"id": str(i), "output": "x", "label": g}) + "\n" for i, g in enumerate(grades[:999])
        )
    )
    # right on 849 of the 999 items
    verdicts.write_text(
        "".join(
            json.dumps({"id": str(i), "label": g if i < 849 else ("fail" if g == "pass" else "pass")}) + "\n"
            for i, g in enumerate(grades[:999])
        )
    )
    db = str(tmp_path / "c.duckdb")
    result = cli(
        "calibrate", str(labels), "--precomputed", str(verdicts), "--judge", "j", "--rubric", "r", "--db", db
    )
    assert result.exit_code == 0, result.stderr
    assert "agreement 85.0%" in result.stdout  # the report's one-decimal figure
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict == "verdict: usable (accuracy 84.98% < 85% trusted)"
    assert open_store(db).list_calibrations()[0]["accuracy"] == pytest.approx(849 / 999)


def test_with_limit_only_the_items_measured_are_counted_without_a_verdict(cli: Any, tmp_path: Path) -> None:
    # the warning counted the items past --limit as judge errors the report never counted
    labels, verdicts = tmp_path / "labels.jsonl", tmp_path / "verdicts.jsonl"
    labels.write_text(
        "".join(json.dumps({"id": f"i{n}", "output": "x", "label": "pass"}) + "\n" for n in range(10))
    )
    verdicts.write_text("".join(json.dumps({"id": f"i{n}", "label": "pass"}) + "\n" for n in range(3)))
    common = (
        "--precomputed",
        str(verdicts),
        "--judge",
        "j",
        "--rubric",
        "r",
        "--db",
        str(tmp_path / "c.duckdb"),
    )
    result = cli("calibrate", str(labels), *common, "--limit", "3")
    assert result.exit_code == 0 and result.stderr == ""
    assert "Items 3: judged 3, judge errors 0" in result.stdout
    result = cli("calibrate", str(labels), *common, "--limit", "5")
    assert result.stderr.strip() == "warning: 2 of 5 items have no verdict (counted as judge errors)"
    assert "Items 5: judged 3, judge errors 2" in result.stdout
    # a verdict for an item past the limit names an item all the same: no "match no item" warning
    verdicts.write_text(json.dumps({"id": "i9", "label": "pass"}) + "\n")
    result = cli("calibrate", str(labels), *common, "--limit", "2")
    assert result.stderr.strip() == "warning: 2 of 2 items have no verdict (counted as judge errors)"


def test_flags_a_calibration_would_ignore_are_refused(cli: Any, tmp_path: Path) -> None:
    labels, verdicts = tmp_path / "labels.jsonl", tmp_path / "verdicts.jsonl"
    labels.write_text(json.dumps({"id": "a", "output": "x", "label": "pass"}) + "\n")
    verdicts.write_text(json.dumps({"id": "a", "label": "pass"}) + "\n")
    db = tmp_path / "c.duckdb"
    base = (
        "calibrate",
        str(labels),
        "--precomputed",
        str(verdicts),
        "--judge",
        "j",
        "--rubric",
        "r",
        "--db",
        str(db),
    )
    # a graded set is judged once per item: both orders, a verdict method or a field mapping were ignored
    for extra, shown in (
        (("--orders", "both"), "--orders both"),
        (("--verdict", "logprobs"), "--verdict logprobs"),
        (("--fields", "id=key"), "--fields"),
    ):
        line = one_error_line(cli(*base, *extra), 2, shown)
        assert line.endswith("for pairwise sets, and these labels are graded (pass/fail), judged once each")
    # --judge-run measures the run's stored verdicts, and the precomputed file was silently not read
    one_error_line(cli(*base, "--judge-run", "latest"), 2, "--judge-run and --precomputed")
    assert not db.exists()
    assert cli(*base, "--orders", "one").exit_code == 0


def test_a_judge_that_cannot_be_reached_is_not_measured_nor_stored(cli: Any, tmp_path: Path) -> None:
    # every call failed with a 500 after the call path's retries; counted as the judge's errors, the
    # judge was stored as refused (accuracy 0%, below chance), and the gate then reported it so
    from evalkit.testing.openai_server import Faults

    graded, pairwise = tmp_path / "graded.jsonl", tmp_path / "pairwise.jsonl"
    graded.write_text(json.dumps({"id": "a", "output": "x", "label": "pass"}) + "\n")
    pairwise.write_text(json.dumps({"id": "p", "output_a": "x", "output_b": "y", "label": "A"}) + "\n")
    db = tmp_path / "c.duckdb"
    with LoopbackOpenAI(faults=Faults(error_500=1.0)) as server:
        for labels in (graded, pairwise):
            result = cli(
                "calibrate", str(labels), "--judge", "openai/j", "--api-base", server.base_url, "--rubric", "r",
                "--db", str(db), "--no-progress",
            )  # fmt: skip
            line = one_error_line(result, 3, "judge calls failed on 1 of 1 items (judge call failed: ")
            assert line.endswith("the judge was not measured, and nothing is stored")
    assert not db.exists()


def test_a_suites_judge_is_calibrated_with_its_own_timeout(cli: Any, make_suite: Any, tmp_path: Path) -> None:
    # the scorer's `timeout` was dropped, so calibrate waited on the call path's default (60 s) for a
    # judge the suite gives 0.5 s: not the judge the gate relies on
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"id": "a", "output": "good", "label": "pass"}) + "\n")
    with LoopbackOpenAI(responder=_pass_if_good, latency=2.0) as server:
        suite = make_suite(
            "name: s\ntarget: {model: openai/t, prompts: {v1: prompts/v1.j2}}\ncases: [cases.jsonl]\n"
            "scorers:\n  - name: llm_judge\n    args:\n"
            f"      model: openai/j\n      api_base: {server.base_url}\n      rubric: good\n      timeout: 0.5\n",
            cases=[{"id": "c", "input": {"question": "q"}}],
        )
        common = ("calibrate", str(labels), "--db", str(tmp_path / "c.duckdb"), "--no-progress")
        result = cli(*common, "--suite", str(suite))
        assert "judge calls failed on 1 of 1 items" in one_error_line(result, 3, "")
        assert "(judge call failed: timeout after 0.5s" in result.stderr


def test_a_suites_panel_is_calibrated_one_member_at_a_time(cli: Any, make_suite: Any, tmp_path: Path) -> None:
    # only the panel's first model was calibrated, silently; the gate asks it of every member
    labels = tmp_path / "labels.jsonl"
    labels.write_text(json.dumps({"id": "a", "output": "good", "label": "pass"}) + "\n")
    with LoopbackOpenAI(responder=_pass_if_good) as server:
        suite = make_suite(
            "name: s\ntarget: {model: openai/t, prompts: {v1: prompts/v1.j2}}\ncases: [cases.jsonl]\n"
            "scorers:\n  - name: llm_judge\n    args:\n"
            f"      model: [openai/a, openai/b]\n      api_base: {server.base_url}\n      rubric: good\n",
            cases=[{"id": "c", "input": {"question": "q"}}],
        )
        common = ("calibrate", str(labels), "--suite", str(suite), "--db", str(tmp_path / "c.duckdb"))
        line = one_error_line(cli(*common, "--no-progress"), 2, "the suite's judge is a panel of 2 models")
        assert line.endswith("calibrate each with --judge MODEL")
        assert server.stats.requests == 0
        member = cli(*common, "--no-progress", "--judge", "openai/b")
        assert member.exit_code == 0, member.stderr
        assert member.stdout.startswith("openai/b · rubric ")


def test_both_order_flags_are_refused_with_orders_one(cli: Any, tmp_path: Path) -> None:
    labels = tmp_path / "pairs.jsonl"
    labels.write_text(json.dumps({"id": "p", "output_a": "x", "output_b": "y", "label": "A"}) + "\n")
    common = ("calibrate", str(labels), "--judge", "j", "--orders", "one", "--db", str(tmp_path / "c.duckdb"))
    # one order is one written verdict per pair: --verdict logprobs was dropped without a word
    line = one_error_line(cli(*common, "--verdict", "logprobs"), 2, "--verdict logprobs")
    assert line.endswith("for judging both orders, not --orders one")


def test_ctrl_c_during_calibrate_says_so_in_one_line(tmp_path: Path) -> None:
    """typer turns Ctrl-C into exit 130 before evalkit's handler sees it: every command but `run`
    ended without a word. The code stays 130 (docs: interrupted), and one line says why."""
    import threading

    asked = threading.Event()

    def slow_judge(body: dict[str, Any]) -> str:
        asked.set()
        return _pass_if_good(body)

    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(f'{{"id": "i{i}", "output": "good", "label": "pass"}}\n' for i in range(50)))
    with LoopbackOpenAI(responder=slow_judge, latency=5.0) as server:
        judge = ["--judge", "openai/j", "--api-base", server.base_url, "--rubric", "good"]
        proc = interrupted(
            ["calibrate", str(labels), *judge, "--db", str(tmp_path / "c.duckdb")], asked, "calibrate"
        )
    assert proc.returncode == 130
    assert proc.stderr.strip() == "evalkit: interrupted", proc.stderr

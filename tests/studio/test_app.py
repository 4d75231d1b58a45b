"""The studio's pages and writes through its ASGI app (Starlette's test client, a real DuckDB file)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from evalkit.store.growth import GrowthStore
from evalkit.store.labels import LabelStore
from evalkit.studio.app import create_app
from evalkit.studio.security import CONTENT_SECURITY_POLICY
from tests.studio.conftest import StudioData, case_lines


def client(data: StudioData, **options: Any) -> TestClient:
    return TestClient(create_app(data.store, grader="ann", **options), base_url="http://127.0.0.1")


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def test_runs_list_newest_first_with_headline_figures(studio_data: StudioData) -> None:
    page = client(studio_data).get("/")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    rows = re.findall(r'<tr><td><a href="/runs/([^"]+)">', page.text)
    assert rows == ["run-b", "run-a"]
    assert "76.7%" in page.text  # run-b: 23 of 30 pass
    assert "<script" not in page.text.replace('<script src="/static/studio.js" defer></script>', "")


def test_the_runs_list_shows_no_cost_for_a_run_on_an_unpriced_model(studio_data: StudioData) -> None:
    store = studio_data.store
    run = store.get_run("run-a")
    assert run.summary is not None
    store.finish_run(
        "run-a", status="complete", summary=run.summary.model_copy(update={"unpriced_models": ["openai/m"]})
    )
    row = next(r for r in client(studio_data).get("/").text.split("<tr>") if "/runs/run-a" in r)
    assert "unknown (no price for openai/m)" in row and "$0.0000" not in row


def test_run_page_filters_and_paginates(studio_data: StudioData) -> None:
    c = client(studio_data)
    failures = c.get("/runs/run-b?verdict=fail")
    ids = re.findall(r'class="case-link" href="[^"]+">([^<]+)</a>', failures.text)
    assert ids == ["case-000", "case-001", "case-002", "case-003", "case-004", "case-005", "case-020"]
    assert "7 matching" in failures.text
    tagged = c.get("/runs/run-b", params={"tag": "critical"})
    assert re.findall(r'class="case-link" href="[^"]+">([^<]+)</a>', tagged.text) == ["case-002"]
    searched = c.get("/runs/run-b", params={"q": "Q17"})
    assert re.findall(r'class="case-link" href="[^"]+">([^<]+)</a>', searched.text) == ["case-017"]
    assert "no case matches" in c.get("/runs/run-b", params={"verdict": "error"}).text.lower()
    assert c.get("/runs/nope").status_code == 404


def test_grading_needs_the_csrf_token_and_the_grade_shows_after_reload(studio_data: StudioData) -> None:
    c = client(studio_data)
    url = "/runs/run-b/case?id=case-003"
    page = c.get(url)
    assert "Not graded yet." in page.text
    form = {"run": "run-b", "case": "case-003", "epoch": "0", "grade": "fail", "note": "<b>bad</b>"}
    assert c.post("/grade", data=form).status_code == 403
    assert c.post("/grade", data=form | {"csrf": "0" * 40}).status_code == 403
    assert LabelStore(studio_data.store).current() == []
    done = c.post("/grade", data=form | {"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == url
    again = c.get(url).text
    assert re.search(r'id="grade-0">Human grade: <span class="grade g-fail">fail</span> by ann', again)
    assert "<q>&lt;b&gt;bad&lt;/b&gt;</q>" in again
    # another browser (another session) cannot use this session's token
    other = client(studio_data)
    other.get("/")
    assert other.post("/grade", data=form | {"csrf": csrf_of(page.text)}).status_code == 403
    assert len(LabelStore(studio_data.store).current()) == 1


def test_a_grade_reattaches_to_the_same_output_in_another_run(studio_data: StudioData) -> None:
    c = client(studio_data)
    page = c.get("/runs/run-a/case?id=case-010")  # passes with '{"answer": "a"}' in both runs
    c.post(
        "/grade",
        data={"csrf": csrf_of(page.text), "run": "run-a", "case": "case-010", "epoch": "0", "grade": "pass"},
    )
    in_b = c.get("/runs/run-b/case?id=case-010").text
    assert "(given in run run-a on this identical output)" in in_b
    listing = c.get("/runs/run-b", params={"q": "case-010"}).text
    assert '<span class="grade g-pass">pass</span>' in listing


def test_read_only_refuses_every_write(studio_data: StudioData) -> None:
    c = client(studio_data, read_only=True)
    page = c.get("/runs/run-b/case?id=case-003")
    assert "grade-form" not in page.text and "read-only" in page.text
    refused = c.post("/grade", data={"run": "run-b", "case": "case-003", "epoch": "0", "grade": "fail"})
    assert refused.status_code == 403
    assert LabelStore(studio_data.store).current() == []


def test_beyond_loopback_every_request_needs_the_token(studio_data: StudioData) -> None:
    c = client(studio_data, token="s3cret")
    assert c.get("/").status_code == 401
    assert c.get("/", params={"token": "wrong"}).status_code == 401
    entered = c.get("/", params={"token": "s3cret"}, follow_redirects=False)
    assert entered.status_code == 303 and "token" not in entered.headers["location"]
    assert c.get("/").status_code == 200  # the token is now a cookie


def test_pages_escape_payloads(studio_data: StudioData) -> None:
    c = client(studio_data)
    for url in ("/runs/run-b", "/runs/run-b/case?id=case-001", "/compare?a=run-a&b=run-b", "/queue"):
        text = c.get(url).text
        assert "<img src=x" not in text and "<script>window" not in text, url
        assert "&lt;" in text, url


def test_compare_lists_flips_first_and_takes_pairwise_grades(studio_data: StudioData) -> None:
    c = client(studio_data)
    page = c.get("/compare", params={"a": "run-a", "b": "run-b"})
    flips = re.findall(r'<td class="(v-fail|v-pass)">(pass→fail|fail→pass)</td>', page.text)
    assert [d for _, d in flips] == ["pass→fail"] * 6 + ["fail→pass"]
    assert "pass rate" in page.text
    form = {
        "csrf": csrf_of(page.text),
        "kind": "pairwise",
        "run": "run-a",
        "run_b": "run-b",
        "case": "case-000",
    }
    assert c.post("/grade", data=form | {"grade": "A"}, follow_redirects=False).status_code == 303
    [label] = LabelStore(studio_data.store).current(kind="pairwise")
    assert (label.run_id, label.run_b, label.grade) == ("run-a", "run-b", "A")


def test_accepting_a_candidate_appends_it_to_the_suite(studio_data: StudioData) -> None:
    c = client(studio_data)
    queue = c.get("/queue").text
    assert "gen-empty-001" in queue and "gen-long-002" in queue
    csrf = csrf_of(queue)
    c.post("/candidate", data={"csrf": csrf, "suite": "s", "id": "gen-empty-001", "action": "accept"})
    edited = {
        "csrf": csrf,
        "suite": "s",
        "id": "gen-long-002",
        "action": "edit",
        "expected": '{"answer": "LONG"}',
    }
    c.post("/candidate", data=edited)
    lines = [json.loads(line) for line in studio_data.generated_file.read_text(encoding="utf-8").splitlines()]
    assert [(r["id"], r["expected"]) for r in lines] == [
        ("gen-empty-001", {"answer": "none"}),
        ("gen-long-002", {"answer": "LONG"}),
    ]
    assert lines[0]["provenance"]["reviewer"] == "ann" and lines[0]["verified"] is False
    assert lines[1]["provenance"]["expected_edited"]["previous"] == {"answer": "long"}
    assert "gen-empty-001" not in c.get("/queue").text
    bad = c.post("/candidate", data=edited | {"id": "gen-nope", "action": "accept"})
    assert bad.status_code == 400 and "gen-nope" in bad.text
    # a decided candidate is not decided again: a stale page's second "edit" changed the store only
    again = c.post("/candidate", data=edited | {"expected": '{"answer": "LONGER"}'})
    assert again.status_code == 400 and "already accepted" in again.text
    [stored] = GrowthStore(studio_data.store).candidates("s", ids=["gen-long-002"])
    assert stored.expected == {"answer": "LONG"}


def test_an_edit_the_suite_refuses_leaves_the_candidate_as_it_was(studio_data: StudioData) -> None:
    """The edited expected was stored before the case was checked: a refused edit still changed the
    candidate, and after it even a plain accept was refused."""
    c = client(studio_data)
    queue = c.get("/queue").text
    # the field holds JSON (a text expected output in its quotes: submitted unchanged, it stays text)
    assert '<textarea name="expected" rows="3">{\n  &#34;answer&#34;: &#34;long&#34;\n}</textarea>' in queue
    form = {"csrf": csrf_of(queue), "suite": "s", "id": "gen-long-002", "action": "edit"}
    [before] = GrowthStore(studio_data.store).candidates("s", ids=["gen-long-002"])
    refused = c.post("/candidate", data=form | {"expected": "42"})  # a case's expected is no number
    [after] = GrowthStore(studio_data.store).candidates("s", ids=["gen-long-002"])
    assert refused.status_code == 400 and "\n" not in refused.text.strip(), refused.text
    assert (after.status, after.expected, after.provenance) == ("pending", before.expected, before.provenance)
    accepted = c.post("/candidate", data=form | {"action": "accept"}, follow_redirects=False)
    assert accepted.status_code == 303  # a plain accept still works


def test_correcting_a_golden_case_rewrites_exactly_its_line(studio_data: StudioData) -> None:
    c = client(studio_data)
    page = c.get("/runs/run-b/case?id=case-004").text
    csrf = csrf_of(page)
    flag = {"csrf": csrf, "run": "run-b", "case": "case-004", "epoch": "0", "note": "should be b"}
    c.post("/flag", data=flag)
    assert "case-004" in c.get("/queue").text
    before = studio_data.cases_file.read_bytes()
    bad = c.post("/correct", data=flag | {"expected": "{not json"})
    assert bad.status_code == 400 and studio_data.cases_file.read_bytes() == before
    c.post("/correct", data=flag | {"expected": '{"answer": "b"}'})
    old, new = before.split(b"\n"), studio_data.cases_file.read_bytes().split(b"\n")
    changed = [i for i, (x, y) in enumerate(zip(old, new, strict=True)) if x != y]
    assert changed == [4]
    row = json.loads(new[4])
    assert list(row)[:4] == ["id", "input", "expected", "tags"]  # the line keeps its keys in order
    assert row["expected"] == {"answer": "b"}
    [correction] = row["provenance"]["corrections"]
    assert correction | {"at": None} == {
        "by": "ann",
        "at": None,
        "previous": {"answer": "a"},
        "run": "run-b",
        "note": "should be b",
    }
    assert case_lines() != studio_data.cases_file.read_bytes()
    assert "case-004" not in c.get("/queue").text  # fixed: no longer flagged


def test_a_correction_from_another_runs_page_settles_the_flag(studio_data: StudioData) -> None:
    """A flag is keyed on the output it was given on: corrected from another run (another output),
    the case file was fixed but the queue still listed the flag."""
    c = client(studio_data)
    store = studio_data.store
    outputs = {
        run: dict(zip(*store.case_results(run)[["case_id", "raw_text"]].T.values.tolist(), strict=True))
        for run in ("run-a", "run-b")
    }
    case = next(cid for cid in outputs["run-a"] if outputs["run-a"][cid] != outputs["run-b"].get(cid))
    csrf = csrf_of(c.get(f"/runs/run-a/case?id={case}").text)
    c.post("/flag", data={"csrf": csrf, "run": "run-a", "case": case, "epoch": "0", "note": "wrong"})
    assert case in c.get("/queue").text
    fix = {
        "csrf": csrf,
        "run": "run-b",
        "case": case,
        "epoch": "0",
        "note": "",
        "expected": '{"answer": "z"}',
    }
    assert c.post("/correct", data=fix, follow_redirects=False).status_code == 303
    assert case not in c.get("/queue").text


@pytest.mark.parametrize("url", ["/trend?suite=s", "/static/studio.js", "/static/studio.css"])
def test_other_pages_and_static_files(studio_data: StudioData, url: str) -> None:
    page = client(studio_data).get(url)
    assert page.status_code == 200 and page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_grading_into_a_shared_postgresql_store(tmp_path: Any, postgres_url: str) -> None:
    from tests.studio.conftest import build_studio_data

    data = build_studio_data(tmp_path, postgres_url)
    c = client(data)
    failures = c.get("/runs/run-b", params={"verdict": "fail", "q": "CASE-00"})
    assert re.findall(r'class="case-link" href="[^"]+">([^<]+)</a>', failures.text) == [
        f"case-00{i}" for i in range(6)
    ]
    page = c.get("/runs/run-b/case?id=case-002")
    form = {"csrf": csrf_of(page.text), "run": "run-b", "case": "case-002", "epoch": "0", "grade": "pass"}
    assert c.post("/grade", data=form, follow_redirects=False).status_code == 303
    # a second studio on the same store (another team member) sees the grade
    other = client(data)
    assert re.search(
        r'id="grade-0">Human grade: <span class="grade g-pass">pass</span> by ann',
        other.get("/runs/run-b/case?id=case-002").text,
    )
    c.post("/candidate", data={"csrf": form["csrf"], "suite": "s", "id": "gen-empty-001", "action": "accept"})
    assert "gen-empty-001" in data.generated_file.read_text(encoding="utf-8")


def test_a_page_asked_for_under_another_host_name_is_refused(studio_data: StudioData) -> None:
    app = create_app(studio_data.store, grader="ann")
    rebound = TestClient(app, base_url="http://attacker.example:8000").get("/")
    assert rebound.status_code == 421 and "run-b" not in rebound.text
    for base in ("http://localhost:8123", "http://[::1]:8123", "http://127.0.0.1"):
        assert TestClient(app, base_url=base).get("/").status_code == 200, base


def test_judge_votes_and_reasoning_show_on_the_case_page(tmp_path: Any) -> None:
    from evalkit.store import open_store
    from tests.runs import Outcome, case_result, run_record

    store = open_store(tmp_path / "v.duckdb")
    result = case_result(Outcome(case_id="c1", verdict="fail", reasoning="summary <b>"))
    votes = [
        {
            "judge": "openai/j1",
            "pass": False,
            "score": 2.0,
            "confidence": 0.9,
            "reasoning": "misses <i>price</i>",
        },
        {
            "judge": "openai/j2",
            "pass": None,
            "score": None,
            "confidence": None,
            "reasoning": None,
            "error": "bad JSON",
        },
    ]
    result.scores[0].details["votes"] = votes
    store.create_run(run_record("r1").model_copy(update={"n_cases": 1}))
    store.add_results("r1", [result])
    page = (
        TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
        .get("/runs/r1/case?id=c1")
        .text
    )
    assert '<div class="reasoning judge-reasoning">summary &lt;b&gt;</div>' in page
    cells = re.findall(
        r"<tr><td>(openai/j\d)</td><td class=\"v-(\w+)\">\w+</td><td>([^<]*)</td><td>([^<]*)</td><td class=\"reasoning\">([^<]*)</td></tr>",
        page,
    )
    assert cells == [
        ("openai/j1", "fail", "2.0", "0.90", "misses &lt;i&gt;price&lt;/i&gt;"),
        ("openai/j2", "error", "-", "-", "bad JSON"),
    ]


def test_the_case_page_counts_the_judge_and_names_an_unpriced_model(studio_data: StudioData) -> None:
    store = studio_data.store
    page = client(studio_data).get("/runs/run-a/case?id=case-000").text
    epoch = re.search(r'id="epoch-0">.*?</h2>', page, re.S)
    assert epoch is not None and re.search(r"· \$\d+\.\d{6}", epoch.group(0))
    run = store.get_run("run-a")
    assert run.summary is not None
    store.finish_run(
        "run-a", status="complete", summary=run.summary.model_copy(update={"unpriced_models": ["openai/m"]})
    )
    page = client(studio_data).get("/runs/run-a/case?id=case-000").text
    epoch = re.search(r'id="epoch-0">.*?</h2>', page, re.S)
    assert epoch is not None and "cost unknown (no price for openai/m)" in epoch.group(0)
    assert "$0.000000" not in epoch.group(0)


def test_an_epoch_cost_adds_the_judge_and_names_a_cached_answer() -> None:
    from evalkit.studio.views import epoch_cost

    assert epoch_cost({"cost_usd": 0.001, "judge_cost_usd": 0.0005}, []) == "$0.001500 (judge $0.000500)"
    cached = {"cost_usd": 0.0, "judge_cost_usd": None, "cached": True, "saved_cost_usd": 0.002}
    assert epoch_cost(cached, []) == "$0.000000 · cached answer, $0.002000 when first made"
    assert epoch_cost({"cost_usd": float("nan")}, []) == "$0.000000"


def test_the_compare_page_judges_a_pair_as_evalkit_compare_does(tmp_path: Any) -> None:
    """B's gate sets min_effect 10 points: a significant 8-point drop is no verdict anywhere."""
    from evalkit.analysis.compare import compare_runs
    from evalkit.gate.suite import gate_thresholds
    from evalkit.report.formatting import metric_cells
    from evalkit.store import open_store
    from tests.runs import Outcome, run_record, store_run

    store = open_store(str(tmp_path / "p.duckdb"))
    gate = {"regression_min_effect": 0.10}
    store_run(
        store,
        run_record("ra", gate=gate),
        [Outcome(f"c{i:03d}", "pass" if i < 180 else "fail") for i in range(200)],
    )
    store_run(
        store,
        run_record("rb", gate=gate, minutes=1),
        [Outcome(f"c{i:03d}", "pass" if i < 164 else "fail") for i in range(200)],
    )
    a, b = store.get_run("ra"), store.get_run("rb")
    alpha, min_effect = gate_thresholds(b)
    expected = [
        metric_cells(m) for m in compare_runs(store, a, b, alpha=alpha, min_effect=min_effect).metrics
    ]
    page = (
        TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1")
        .get("/compare?a=ra&b=rb")
        .text
    )
    rows = re.findall(r"<tr><td>([^<]+)</td>(.*?)</tr>", page.split('id="metrics"')[1])
    shown = {label: re.findall(r"<td[^>]*>([^<]*)</td>", rest) for label, rest in rows}
    for m in expected:
        assert shown[m.label] == [m.a, m.b, m.diff, m.ci, m.p, m.p_adjusted, str(m.n), m.verdict], m.label
    assert shown[expected[0].label][-1] == "no significant difference"  # not "worse"


def test_the_runs_list_counts_fields_by_slot_as_show_and_the_report_do(tmp_path: Any) -> None:
    """A passing fuzzy 'partial' match is a correct value (VC), both absent (NN) counts in neither
    precision nor recall, a value where none was expected (NV) is in precision only."""
    from evalkit.analysis.field_metrics import field_metrics_of_counts
    from evalkit.results import ScoreRow
    from evalkit.scorers.base import FieldScore
    from evalkit.store import open_store
    from evalkit.studio.views import pct
    from tests.runs import Outcome, case_result, run_record

    store = open_store(str(tmp_path / "f.duckdb"))
    run = run_record("rf")
    store.create_run(run)
    slots = [("match", "VC", True), ("partial", "VC", True), ("match", "NN", True), ("extra", "NV", False)]
    slots += [("mismatch", "VW", False), ("missing", "VN", False)]
    results = []
    for i in range(12):
        status, slot, ok = slots[i % len(slots)]
        result = case_result(Outcome(f"c{i:02d}", "pass" if ok else "fail"))
        field = FieldScore(field="title", score=float(ok), passed=ok, status=status, slot=slot)
        row = ScoreRow(scorer="fields", score=float(ok), passed=ok, reason="", fields=[field])
        results.append(result.model_copy(update={"scores": [row]}))
    store.add_results("rf", results)
    store.finish_run("rf", status="complete", summary=store.summarize("rf"))
    micro = field_metrics_of_counts(store.field_slot_counts("rf")).micro
    page = TestClient(create_app(store, grader="ann"), base_url="http://127.0.0.1").get("/").text
    row = next(r for r in page.split("<tr>") if "/runs/rf" in r)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert [pct(micro.precision), pct(micro.recall), pct(micro.f1)] == cells[2:5], cells


def test_the_compare_page_says_why_a_pair_is_not_like_for_like(studio_data: StudioData) -> None:
    """`evalkit compare` and the report warn when a paired case's expected output changed between the
    runs; the studio showed 'not comparable' verdicts with no reason."""
    from tests.runs import Outcome, run_record, store_run

    store = studio_data.store
    for name, answer in (("x-a", "old"), ("x-b", "corrected")):
        outcomes = [Outcome("c1", "pass", expected={"answer": answer}), Outcome("c2", "pass")]
        store_run(store, run_record(name, suite="x", minutes=50), outcomes)
    page = client(studio_data).get("/compare", params={"a": "x-a", "b": "x-b"}).text
    assert 'id="warnings"' in page
    assert "1 paired case(s) have a different expected output in each run" in page


def test_the_runs_list_counts_a_stopped_runs_results_as_the_cli_does(studio_data: StudioData) -> None:
    """A run stopped by --budget before any result showed 12 cases, as if it had run them; `evalkit
    runs` says 0/12."""
    from evalkit.results import RunSummary
    from tests.runs import run_record

    store = studio_data.store
    store.create_run(run_record("stopped", minutes=60).model_copy(update={"n_cases": 12}))
    store.finish_run("stopped", status="incomplete", summary=RunSummary())
    page = client(studio_data).get("/").text
    row = page[page.index('<a href="/runs/stopped">') :].split("</tr>")[0]
    assert '<td class="num">0/12</td>' in row, row

"""`evalkit trend`: twelve weekly runs written through the Store API, one of them a planted regression."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from evalkit.analysis.trend import TrendQuery, build_trend, build_trends, find_regressions, week_start
from evalkit.candidates import MinedRecord
from evalkit.cases import Case
from evalkit.results import CallCounts, CaseResult, OutputRecord, RunKind, RunRecord, RunSummary, ScoreRow
from evalkit.scorers.base import FieldScore
from evalkit.store import Store, open_store
from evalkit.store.growth import GrowthStore
from tests.conftest import CliResult

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
WEEKS = 12
REGRESSION_WEEK = 8  # index of the planted bad week
CASES = 20


def monday(i: int) -> datetime:
    """Monday 10:00 of week i of the last twelve (11 is the current week)."""
    return datetime.combine(
        week_start(NOW.date()) - timedelta(weeks=WEEKS - 1 - i), datetime.min.time()
    ) + timedelta(hours=10)


def seed_week(
    store: Store,
    i: int,
    *,
    passes: int,
    status: str = "complete",
    suite: str = "listings",
    kind: RunKind = "full",
    prompt: str | None = None,
    unpriced: bool = False,
    uncounted: bool = False,
    scorers: tuple[str, ...] = ("json_schema", "fields"),
    case_set: str = "cases-1",
    hours: int = 0,
    unmetered: str | None = None,
    in_flight: int = 0,
    timed_out: int = 0,
) -> None:
    run = RunRecord(
        run_id=f"{suite}-w{i:02d}-{status}-{kind}-{prompt}-{'-'.join(scorers)}",
        suite_name=suite,
        model="openai/m",
        started_at=monday(i) + timedelta(hours=hours),
        kind=kind,
        prompt_version=prompt,
        config={"scorers": [{"name": name} for name in scorers]},
        case_set_hash=case_set,
    )
    store.create_run(run)
    results = []
    for c in range(CASES):
        ok = c < passes
        price_ok = ok or c % 2 == 0 if i != REGRESSION_WEEK else ok
        fields = [
            FieldScore(field="title", score=1.0, passed=True, status="match"),
            FieldScore(
                field="price.amount",
                score=float(price_ok),
                passed=price_ok,
                status="match" if price_ok else "mismatch",
            ),
        ]
        results.append(
            CaseResult(
                case=Case(id=f"case-{c}", input={"title": f"item {c}"}, expected={"title": "x"}),
                output=OutputRecord(
                    status="ok",
                    text="{}",
                    parsed={},
                    extraction="strict",
                    latency_ms=100.0 + 10 * i,
                    cost_usd=0.001,
                    prompt_tokens=50,
                    completion_tokens=20,
                ),
                scores=[
                    ScoreRow(scorer="json_schema", score=1.0, passed=True),
                    ScoreRow(scorer="fields", score=float(ok), passed=ok, fields=fields),
                ],
                verdict="pass" if ok else "fail",
                score=float(ok),
            )
        )
    results.append(  # a provider error: counted apart, never in a pass rate
        CaseResult(
            case=Case(id="flaky-provider", input={"title": "x"}),
            output=OutputRecord(status="error", error="503"),
            verdict="error",
        )
    )
    store.add_results(run.run_id, results)
    if status == "complete":
        summary = RunSummary(
            unpriced_models=["openai/m"] if unpriced else [],
            unmetered_target=unmetered,
            uncounted_models=["openai/text-embedding-3-small"] if uncounted else [],
            calls=(
                CallCounts(requests=CASES + 1, in_flight_at_stop=in_flight, timed_out=timed_out)
                if in_flight or timed_out
                else None
            ),
        )
        store.finish_run(run.run_id, status="complete", summary=summary)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    db = tmp_path / "trend.duckdb"
    store = open_store(db)
    for i in range(WEEKS):
        seed_week(store, i, passes=10 if i == REGRESSION_WEEK else 18)
    seed_week(store, REGRESSION_WEEK, passes=0, status="running")  # unfinished runs are left out
    seed_week(store, 3, passes=0, suite="other")  # so are other suites
    records = [
        MinedRecord(
            suite_name="listings",
            log_id=f"log-{k}",
            log_source="prod.jsonl",
            logged_at=monday(9 + k % 2),
            failure="negative_feedback",
            cluster_id="c1" if k < 5 else "c2",
            cluster_label="<b>SONY</b> headphones" if k < 5 else "beanie",
            mined_at=NOW,
        )
        for k in range(8)
    ]
    GrowthStore(store).record_mining(records, [])
    return db


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_trend_csv_and_html_show_the_planted_regression_week(
    seeded: Path, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    result = cli("trend", "listings", "--weeks", "12", "--db", str(seeded), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    bad_week = monday(REGRESSION_WEEK).date().isoformat()
    assert f"regression week of {bad_week}: suite listings 90.0% -> 50.0%" in result.stdout
    assert f"regression week of {bad_week}: field fields/price.amount" in result.stdout
    assert result.stdout.count("regression week of") == 3  # suite, the fields scorer, price.amount

    rows = read_csv(out / "trend-listings.csv")

    def value(week: str, kind: str, name: str, metric: str) -> str:
        (row,) = [
            r for r in rows if (r["week"], r["kind"], r["name"], r["metric"]) == (week, kind, name, metric)
        ]
        return row["value"]

    weeks = sorted({r["week"] for r in rows})
    assert len(weeks) == 12 and weeks[REGRESSION_WEEK] == bad_week
    flagged = [w for w in weeks if value(w, "suite", "listings", "regression") == "1"]
    assert flagged == [bad_week]
    assert float(value(bad_week, "suite", "listings", "pass_rate")) == pytest.approx(0.5)
    assert float(value(weeks[0], "suite", "listings", "pass_rate")) == pytest.approx(0.9)
    assert (
        value(bad_week, "suite", "listings", "runs") == "1"
        and value(bad_week, "suite", "listings", "errors") == "1"
    )
    assert float(value(weeks[2], "suite", "listings", "cost_usd")) == pytest.approx(0.02)
    assert float(value(weeks[2], "suite", "listings", "latency_p50_ms")) == pytest.approx(120.0)
    assert value(bad_week, "field", "fields/price.amount", "regression") == "1"
    assert value(bad_week, "field", "fields/title", "regression") == "0"
    assert float(value(weeks[0], "field", "fields/price.amount", "pass_rate")) == pytest.approx(0.95)
    # rows without a slot count by status: 19 VC + 1 VW -> P = R = F1 = 0.95; all fields pooled: 39 / 40
    assert float(value(weeks[0], "field", "fields/price.amount", "f1")) == pytest.approx(0.95)
    assert float(value(weeks[0], "suite", "listings", "field_micro_f1")) == pytest.approx(39 / 40)
    assert value(weeks[9], "cluster", "<b>SONY</b> headphones (c1)", "failures") == "3"

    html = (out / "trend-listings.html").read_text()
    assert re.search(rf'<tr class="regression">\s*<td>{bad_week}</td>', html)
    # drops are points of pass rate, not a relative %
    assert "a regression is a week 5.0 pts or more below" in html and "\u221240.0 pts" in html  # a minus sign
    assert html.count('<tr class="regression">') == 1 + 3  # the week row + three regression-table rows
    assert "&lt;b&gt;SONY&lt;/b&gt; headphones" in html and "<b>SONY</b>" not in html
    assert html.count('src="data:image/png;base64,') == 6  # field F1 among them
    assert "<script" not in html and not re.search(r'(src|href)="https?:', html)  # self-contained


def test_weeks_with_a_run_on_an_unpriced_model_have_no_cost(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """Such a run's calls were counted at $0 (its summary lists the model): its week's cost is
    unknown, not a lower spend; the other weeks keep theirs."""
    db = tmp_path / "trend.duckdb"
    store = open_store(db)
    for i in (8, 9, 10):
        seed_week(store, i, passes=18, unpriced=i == 9)
    report = build_trend(store, "listings", TrendQuery(weeks=WEEKS, now=NOW))
    cost = report.suite_metrics["cost_usd"]
    assert cost[8] == pytest.approx(0.02) and cost[10] == pytest.approx(0.02)
    assert cost[9] is None and report.suite_metrics["judge_cost_usd"][9] is None
    assert report.unpriced_models == ["openai/m"]
    out = tmp_path / "reports"
    shown = cli("trend", "listings", "--db", str(db), "--out", str(out))
    assert shown.exit_code == 0, shown.stderr
    assert "no price for openai/m: weeks with its runs have no cost (n/a)" in shown.stdout
    assert "No price for openai/m in litellm's price map" in (out / "trend-listings.html").read_text()


def test_weeks_with_a_target_whose_own_calls_are_not_counted_have_no_cost(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """A python: or http: target's own model calls are invisible to evalkit: no $0 week for it."""
    db = tmp_path / "trend.duckdb"
    store = open_store(db)
    for i in (8, 9):
        seed_week(store, i, passes=18, unmetered="python:pipe:run" if i == 9 else None)
    report = build_trend(store, "listings", TrendQuery(weeks=WEEKS, now=NOW))
    assert report.suite_metrics["cost_usd"][8] == pytest.approx(0.02)
    assert report.suite_metrics["cost_usd"][9] is None
    assert report.unmetered_targets == ["python:pipe:run"]
    shown = cli("trend", "listings", "--db", str(db), "--out", str(tmp_path / "reports"))
    assert "python:pipe:run: the target's own model calls are not counted" in shown.stdout


def test_weeks_with_embeddings_no_cost_counts_have_no_cost(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    """semantic_similarity's litellm embeddings are in no cost of their run: no lower week for it."""
    db = tmp_path / "trend.duckdb"
    store = open_store(db)
    for i in (8, 9):
        seed_week(store, i, passes=18, uncounted=i == 9)
    report = build_trend(store, "listings", TrendQuery(weeks=WEEKS, now=NOW))
    assert report.suite_metrics["cost_usd"][8] == pytest.approx(0.02)
    assert report.suite_metrics["cost_usd"][9] is None
    assert report.uncounted_models == ["openai/text-embedding-3-small"]
    out = tmp_path / "reports"
    shown = cli("trend", "listings", "--db", str(db), "--out", str(out))
    assert "the embedding calls to openai/text-embedding-3-small are not counted" in shown.stdout
    page = (out / "trend-listings.html").read_text()
    assert (
        "The embedding calls to openai/text-embedding-3-small (semantic_similarity) are not counted" in page
    )


@pytest.mark.parametrize("cut", ["in_flight", "timed_out"])
def test_weeks_with_a_run_whose_figures_are_lower_bounds_show_at_least_that_cost(
    tmp_path: Path, cli: Callable[..., CliResult], cut: str
) -> None:
    """A run stopped with requests in flight (then resumed to the end), or one with attempts evalkit
    stopped waiting for, paid for calls its figures miss: its week's cost and tokens are lower bounds,
    shown as such (at least, in the CSV and on the page), not as a total and not hidden."""
    db = tmp_path / "trend.duckdb"
    store = open_store(db)
    for i in (8, 9):
        seed_week(store, i, passes=18, **{cut: 2 if i == 9 else 0})
    report = build_trend(store, "listings", TrendQuery(weeks=WEEKS, now=NOW))
    metrics = report.suite_metrics
    assert metrics["cost_usd"][8] == pytest.approx(0.02) and metrics["prompt_tokens"][8] == 50 * CASES
    assert metrics["cost_usd"][9] == pytest.approx(0.02) and metrics["prompt_tokens"][9] == 50 * CASES
    assert report.at_least_weeks == {9} and report.partial_runs == 1
    rows = {(week, metric): value for week, kind, _, metric, value in report.rows() if kind == "suite"}
    assert rows[report.weeks[9].isoformat(), "cost_at_least"] == 1
    assert rows[report.weeks[8].isoformat(), "cost_at_least"] == 0
    out = tmp_path / "reports"
    shown = cli("trend", "listings", "--db", str(db), "--out", str(out))
    assert shown.exit_code == 0, shown.stderr
    assert "1 run(s) made calls whose cost is in none of their figures" in shown.stdout
    page = (out / "trend-listings.html").read_text()
    assert "1 run(s) made calls whose cost is in none of their figures" in page
    assert "<td>≥ 0.0200</td>" in page and page.count("≥ ") == 1


def test_runs_scored_otherwise_are_their_own_series(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    """Another suite called `listings` in a shared store, scored by other scorers, answers badly in the
    last week: that is not a regression of the first suite, whose weeks stay its own."""
    db = tmp_path / "trend.duckdb"
    store = open_store(db)
    for i in range(WEEKS):
        seed_week(store, i, passes=18)
    seed_week(store, WEEKS - 1, passes=0, scorers=("contains",), hours=1)
    out = tmp_path / "reports"
    shown = cli("trend", "listings", "--db", str(db), "--out", str(out))
    assert shown.exit_code == 0, shown.stderr
    assert "regression" not in shown.stdout
    assert "prompt - · model openai/m · scored by contains [" in shown.stdout
    assert "prompt - · model openai/m · scored by json_schema, fields [" in shown.stdout
    assert "1 run(s) prompt - · model openai/m scored otherwise (by contains" in shown.stdout
    assert len(list(out.glob("*.csv"))) == 2  # each series its own files
    first = [
        r
        for r in build_trends(store, "listings", TrendQuery(weeks=WEEKS, now=NOW))
        if r.series and "fields" in r.series.scorers
    ]
    assert first[0].pass_rates[-1] == pytest.approx(0.9) and not first[0].regressions


def test_failures_without_a_log_time_count_in_the_week_they_were_mined(tmp_path: Path) -> None:
    store = open_store(tmp_path / "trend.duckdb")
    seed_week(store, WEEKS - 1, passes=18)
    records = [
        MinedRecord(
            suite_name="listings",
            log_id=f"log-{k}",
            log_source="prod.jsonl",
            logged_at=monday(9) if k == 0 else None,  # a log without timestamps
            failure="schema_violation",
            cluster_id="c1",
            cluster_label="beanie",
            mined_at=monday(10),
        )
        for k in range(3)
    ]
    GrowthStore(store).record_mining(records, [])
    report = build_trend(store, "listings", TrendQuery(weeks=WEEKS, now=NOW))
    assert report.clusters == {"beanie (c1)": [0] * 9 + [1, 2, 0]}


def test_a_regression_says_when_the_case_files_changed_under_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "trend.duckdb")
    for i in range(WEEKS):
        bad = i == REGRESSION_WEEK
        seed_week(
            store, i, passes=10 if bad else 18, case_set="cases-2" if i >= REGRESSION_WEEK else "cases-1"
        )
    (suite_drop,) = [
        r
        for r in build_trend(store, "listings", TrendQuery(weeks=WEEKS, now=NOW)).regressions
        if r.kind == "suite"
    ]
    assert suite_drop.changes == ("case files changed",)
    assert suite_drop.note == " (case files changed)"


def test_a_relaxed_rescore_subsets_and_other_prompts_are_not_pooled(
    seeded: Path, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    store = open_store(seeded)
    # the bad week also holds a rescore with a relaxed scorer (everything passes), a pytest -k subset
    # and a shard that pass, and a run of another prompt version: none may lift the week's number
    for kind in ("rescore", "subset", "shard"):
        seed_week(store, REGRESSION_WEEK, passes=CASES, kind=kind)
    seed_week(store, REGRESSION_WEEK, passes=CASES, prompt="v2")
    out = tmp_path / "reports"
    result = cli("trend", "listings", "--db", str(seeded), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    bad_week = monday(REGRESSION_WEEK).date().isoformat()
    assert f"regression week of {bad_week}: suite listings 90.0% -> 50.0%" in result.stdout
    assert "1 run(s) kind rescore" in result.stdout and "1 run(s) kind subset" in result.stdout

    written = sorted(p.name for p in out.iterdir())
    assert written == [
        "trend-listings-none-openai_m.csv",
        "trend-listings-none-openai_m.html",
        "trend-listings-v2-openai_m.csv",
        "trend-listings-v2-openai_m.html",
    ]  # one series per prompt version and model
    rows = read_csv(out / "trend-listings-none-openai_m.csv")

    def value(kind: str, name: str, metric: str) -> str:
        (row,) = [
            r
            for r in rows
            if (r["week"], r["kind"], r["name"], r["metric"]) == (bad_week, kind, name, metric)
        ]
        return row["value"]

    assert float(value("suite", "listings", "pass_rate")) == pytest.approx(0.5)
    assert value("suite", "listings", "runs") == "1"
    assert value("pooled", "full", "runs") == "1"
    assert value("left_out", "kind rescore", "runs") == "1"
    assert value("left_out", "prompt v2 · model openai/m, kind full", "runs") == "1"
    assert {r["model"] for r in rows} == {"openai/m"} and {r["prompt"] for r in rows} == {""}
    html = (out / "trend-listings-none-openai_m.html").read_text()
    assert "What this trend pools" in html and "left out: kind rescore" in html

    rescores = build_trend(store, "listings", TrendQuery(kinds=("rescore",)))
    assert rescores.pass_rates[REGRESSION_WEEK] == pytest.approx(1.0)  # asked for: its own series
    assert [r for r in rescores.pass_rates if r is not None] == [pytest.approx(1.0)]
    v2 = cli("trend", "listings", "--prompt", "v2", "--db", str(seeded), "--out", str(tmp_path / "v2"))
    assert v2.exit_code == 0 and "prompt v2 · model openai/m" in v2.stdout
    assert (tmp_path / "v2" / "trend-listings.csv").exists()
    bad = cli("trend", "listings", "--kind", "weekly", "--db", str(seeded), "--out", str(tmp_path / "x"))
    assert bad.exit_code == 2 and "--kind 'weekly'" in bad.stderr


def test_trend_page_renders_in_chromium(seeded: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian's chromium is not installed (.ci/setup installs it as root)")
    from evalkit.report.trend import write_trend

    _, html_path = write_trend(build_trend(open_store(seeded), "listings"), tmp_path / "reports")
    shot = tmp_path / "trend.png"
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    dom = subprocess.run(
        [*args, "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "Trend of suite listings" in dom.stdout and "regression" in dom.stdout
    subprocess.run(
        [*args, f"--screenshot={shot}", "--window-size=1200,1600", html_path.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 20_000  # a page with charts, not a blank or error page


def test_empty_history_and_no_database(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    missing = cli("trend", "listings", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path))
    assert missing.exit_code == 2 and "no results database" in missing.stderr
    open_store(tmp_path / "empty.duckdb")
    # no run of the suite: said as such (a misspelt name once wrote a report of empty weeks, exit 0)
    empty = cli("trend", "listings", "--db", str(tmp_path / "empty.duckdb"), "--out", str(tmp_path / "r"))
    assert empty.exit_code == 2 and "'listings' has no runs" in empty.stderr
    assert not (tmp_path / "r").exists()


def test_regression_rule() -> None:
    weeks = [datetime(2026, 1, 5).date() + timedelta(weeks=i) for i in range(7)]
    values = [0.9, None, 0.88, 0.92, 0.80, 0.9, 0.86]
    # the first two weeks with data make no baseline; 0.80 is 0.10 below median(0.9, 0.88, 0.92)
    assert find_regressions(weeks, values, 0.05) == [(weeks[4], 0.9, 0.80)]
    assert find_regressions(weeks, values, 0.15) == []

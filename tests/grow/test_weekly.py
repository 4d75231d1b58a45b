"""`evalkit weekly`: mine → run → trend → webhook, against a loopback model and a local webhook server."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, interrupted, write_cases

NOW = datetime.now(timezone.utc).replace(tzinfo=None)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
GOLDEN = [
    {"id": "france", "input": {"question": "capital of France?"}, "expected": {"answer": "Paris"}},
    {"id": "spain", "input": {"question": "capital of Spain?"}, "expected": {"answer": "Madrid"}},
]
WRONG = {"Spain": "Barcelona", "Peru": "Cusco", "Kenya": "Mombasa"}


def answers(body: dict[str, Any]) -> str:
    question = body["messages"][-1]["content"]
    country = question.split("of ")[-1].rstrip("?")
    if country == "Chad":
        return "I think N'Djamena"  # not JSON: the schema check fails
    return json.dumps({"answer": WRONG.get(country, "Paris" if country == "France" else country + " City")})


def production_log() -> list[dict[str, Any]]:
    rows = []
    for i, country in enumerate(["Peru", "Kenya", "Chad", "Norway", "Peru", "Japan"]):
        rows.append(
            {
                "id": f"req-{i}",
                "at": (NOW - timedelta(days=i)).isoformat(),
                "q": f"capital of {country}?",
                "out": json.dumps({"answer": "?"}),
                "thumbs": "down" if i % 2 == 0 else "up",
                "note": f"wrong answer, mail me at user{i}@example.com",
            }
        )
    return rows


SUITE = """\
name: capitals
target:
  model: openai/loopback
  api_base: {base}
  prompts: {{v1: prompts/v1.j2}}
  output_schema: answer.schema.json
cases: [cases.jsonl, mined.jsonl]
scorers:
  - name: json_schema
  - name: json_fields
    verified_only: true
    args: {{fields: {{answer: {{match: exact}}}}}}
gate: {{min_pass_rate: 0.9, max_error_rate: 0.5}}
mining:
  fields: {{id: id, timestamp: at, input: {{question: q}}, output: out, feedback: thumbs, feedback_text: note}}
"""


class Webhook:
    """A local HTTP server standing in for a Slack incoming webhook; answers with ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(hook.status)
                self.end_headers()
                self.wfile.write(b"ok" if hook.status == 200 else b"invalid_token")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_ok() -> Iterator[Webhook]:
    hook = Webhook(200)
    yield hook
    hook.close()


def weekly(
    cli: Callable[..., CliResult],
    make_suite: Callable[..., Path],
    tmp_path: Path,
    base: str,
    *extra: str,
    min_pass_rate: float = 0.9,
    model: str = "openai/loopback",
) -> tuple[CliResult, Path, Path]:
    text = SUITE.format(base=base).replace("min_pass_rate: 0.9", f"min_pass_rate: {min_pass_rate}")
    text = text.replace("model: openai/loopback", f"model: {model}")
    suite = make_suite(text, GOLDEN, prompt="[user]\n{{ question }}\n")
    (suite.parent / "answer.schema.json").write_text(json.dumps(SCHEMA))
    log = write_cases(tmp_path / "logs" / "week.jsonl", production_log())
    db = tmp_path / "r.duckdb"
    result = cli(
        "weekly",
        str(suite),
        "--logs",
        str(log),
        "--db",
        str(db),
        "--out",
        str(tmp_path / "reports"),
        "--no-progress",
        *extra,
    )
    return result, db, suite


def stored(db: Path) -> dict[str, Any]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "runs": con.execute("SELECT COUNT(*) FROM runs WHERE status = 'complete'").fetchone()[0],  # type: ignore[index]
            "outputs": sorted(r[0] for r in con.execute("SELECT case_id FROM outputs").fetchall()),
            "mined": con.execute("SELECT COUNT(*) FROM mined_records").fetchone()[0],  # type: ignore[index]
        }
    finally:
        con.close()


def test_weekly_mines_runs_reports_and_posts(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, webhook_ok: Webhook
) -> None:
    with LoopbackOpenAI(responder=answers) as server:
        result, db, _ = weekly(cli, make_suite, tmp_path, server.base_url, "--webhook", webhook_ok.url)
    # mined: thumbs-down on Peru (twice: one cluster) and Chad -> 2 cases, run with the 2 golden ones
    assert result.exit_code == 1, result.stderr  # Spain -> Barcelona and Chad's prose fail the 90% gate
    assert "Failures 3 (negative_feedback 3) in 2 clusters" in result.stdout
    assert "Added 2 cases" in result.stdout and "Posted the summary to the webhook." in result.stdout
    facts = stored(db)
    assert facts["runs"] == 1 and len(facts["outputs"]) == 4 and facts["mined"] == 3
    assert (tmp_path / "reports" / "trend-capitals.html").exists() and (
        tmp_path / "reports" / "trend-capitals.csv"
    ).exists()

    (body,) = webhook_ok.bodies
    assert set(body) == {"text"}
    text = body["text"]
    # the gate's figures: Peru's mined case awaits an expected output (its pass on json_schema alone
    # is no pass), so France passes, Spain and Chad fail
    assert text.startswith(
        "evalkit weekly · capitals: gate FAILED (exit 1), pass rate 33.3% over 3 cases "
        "(0 errors; 1 awaiting an expected output)"
    )
    assert "Mined 3 new production failures in 2 clusters; added 2 cases" in text
    assert "trend-capitals.html" in text and "@example.com" not in text


def test_the_webhook_s_pass_rate_is_the_one_the_gate_decided_on(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, webhook_ok: Webhook
) -> None:
    """A case awaiting its expected output passes json_schema alone; counted as a pass, the post
    read 'gate FAILED, pass rate 50.0%' for a gate that asks for 40%."""
    with LoopbackOpenAI(responder=answers) as server:
        result, _, _ = weekly(
            cli, make_suite, tmp_path, server.base_url, "--webhook", webhook_ok.url, min_pass_rate=0.4
        )
    assert result.exit_code == 1, result.stderr
    assert "Gate FAILED: pass rate 33.3% < min_pass_rate 40%" in result.stdout
    (body,) = webhook_ok.bodies
    assert "gate FAILED (exit 1), pass rate 33.3% over 3 cases (0 errors; 1 awaiting" in body["text"]


def right_about_spain(body: dict[str, Any]) -> str:
    if body["messages"][-1]["content"].endswith("of Spain?"):
        return json.dumps({"answer": "Madrid"})
    return answers(body)


def test_weekly_says_what_changed_under_a_regression(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Like `evalkit trend`, the weekly job says the case files changed under a regression week."""
    suite = make_suite(SUITE.format(base="{base}"), GOLDEN, prompt="[user]\n{{ question }}\n")
    (suite.parent / "answer.schema.json").write_text(json.dumps(SCHEMA))
    log = write_cases(tmp_path / "logs" / "week.jsonl", production_log())
    db = tmp_path / "r.duckdb"
    with LoopbackOpenAI(responder=right_about_spain) as server:
        suite.write_text(SUITE.format(base=server.base_url))
        for weeks_back in (2, 1):  # two earlier weeks at 100%, over the golden cases only
            done = cli("run", str(suite), "--db", str(db), "--no-progress")
            assert done.exit_code == 0, done.stderr
            con = duckdb.connect(str(db))
            try:
                con.execute(
                    "UPDATE runs SET started_at = started_at - to_days(?) "
                    "WHERE started_at = (SELECT MAX(started_at) FROM runs)",
                    [7 * weeks_back],
                )
            finally:
                con.close()
        result = cli(
            "weekly",
            str(suite),
            "--logs",
            str(log),
            "--db",
            str(db),
            "--out",
            str(tmp_path / "r"),
            "--no-progress",
        )
    # Chad's prose fails; Peru's mined case awaits an expected output, in no pass rate: 2 of 3 pass
    assert result.exit_code == 1, result.stderr
    this_week = (NOW.date() - timedelta(days=NOW.weekday())).isoformat()
    assert (
        f"regression week of {this_week}: suite capitals 100.0% -> 66.7% (case files changed)\n"
        in result.stdout
    )
    trend = cli("trend", "capitals", "--db", str(db), "--out", str(tmp_path / "t"))
    assert trend.exit_code == 0, trend.stderr

    def regressions(stdout: str) -> list[str]:
        return [line for line in stdout.splitlines() if "regression week of" in line]

    assert regressions(result.stdout) == regressions(trend.stdout) and len(regressions(trend.stdout)) == 2


@pytest.mark.parametrize("kind", ["http_500", "unreachable"])
def test_a_failing_webhook_changes_neither_exit_code_nor_results(
    kind: str,
    make_suite: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    webhook_ok: Webhook,
) -> None:
    with LoopbackOpenAI(responder=answers) as server:
        good, good_db, _ = weekly(
            cli, make_suite, tmp_path / "good", server.base_url, "--webhook", webhook_ok.url
        )
        if kind == "http_500":
            broken = Webhook(500)
            url = broken.url
        else:
            broken = Webhook(200)
            url = broken.url
            broken.close()  # nothing listens there any more: connection refused
        try:
            bad, bad_db, _ = weekly(cli, make_suite, tmp_path / "bad", server.base_url, "--webhook", url)
        finally:
            if kind == "http_500":
                broken.close()
    assert bad.exit_code == good.exit_code == 1
    assert stored(bad_db) == stored(good_db)
    assert "evalkit: warning: webhook 127.0.0.1:" in bad.stderr and "exit code unchanged" in bad.stderr
    assert "secret" not in bad.stderr  # the webhook URL's path is a credential: never printed
    assert ("HTTP 500" in bad.stderr) if kind == "http_500" else ("ConnectError" in bad.stderr)
    assert "Traceback" not in bad.stderr


def test_a_suite_the_run_would_refuse_is_refused_before_anything_is_mined(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Exit 2 is a configuration error with nothing done: the job used to mine (writing cases and
    recording the log ids as mined) and only then have the run refuse the unknown model vendor."""
    result, db, suite = weekly(cli, make_suite, tmp_path, "http://127.0.0.1:9/v1", model="nosuchvendor/x")
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "unknown vendor 'nosuchvendor'" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (suite.parent / "mined.jsonl").exists()
    assert not db.exists() or stored(db)["mined"] == 0


def test_what_was_mined_is_said_even_when_the_run_is_then_stopped(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """Ctrl-C during the run: its one line says how to resume it, and the mining paragraph (cases
    already written to mined.jsonl) was printed before the run began, not lost with the rest."""
    golden = [
        {"id": f"g{i}", "input": {"question": f"capital of G{i}?"}, "expected": {"answer": "x"}}
        for i in range(40)
    ]
    started = threading.Event()

    def slow(body: dict[str, Any]) -> str:
        started.set()
        return answers(body)

    with LoopbackOpenAI(latency=0.3, responder=slow) as server:
        suite = make_suite(SUITE.format(base=server.base_url), golden, prompt="[user]\n{{ question }}\n")
        (suite.parent / "answer.schema.json").write_text(json.dumps(SCHEMA))
        log = write_cases(tmp_path / "logs" / "week.jsonl", production_log())
        args = ["weekly", str(suite), "--logs", str(log), "--db", str(tmp_path / "r.duckdb")]
        proc = interrupted(
            [*args, "--out", str(tmp_path / "out"), "--no-progress", "-c", "1"], started, "the run"
        )
    stdout, stderr = proc.stdout, proc.stderr
    assert proc.returncode == 130, stderr
    assert "stopped by SIGINT" in stderr and "Traceback" not in stderr
    assert "Failures 3 (negative_feedback 3) in 2 clusters" in stdout
    assert f"Added 2 cases to {suite.parent / 'mined.jsonl'}" in stdout
    assert not list((tmp_path / "out").glob("trend-*"))  # no trend: the job stopped with the run


def test_the_trend_leaves_cases_awaiting_an_expected_output_out_of_the_pass_rate(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Mined cases without an expected output pass json_schema alone; counted as passes, every week's
    new mined cases would lift the trend (50% here) above what the gate decided on (33.3%)."""
    with LoopbackOpenAI(responder=answers) as server:
        result, _, _ = weekly(cli, make_suite, tmp_path, server.base_url)
    assert "Gate FAILED: pass rate 33.3%" in result.stdout
    this_week = (NOW.date() - timedelta(days=NOW.weekday())).isoformat()
    with (tmp_path / "reports" / "trend-capitals.csv").open() as handle:
        rows = {
            row["metric"]: row["value"]
            for row in csv.DictReader(handle)
            if row["week"] == this_week and row["kind"] == "suite"
        }
    assert float(rows["pass_rate"]) == pytest.approx(1 / 3)  # France passes; Spain and Chad fail
    assert (rows["passed"], rows["failed"], rows["errors"], rows["awaiting_expected"]) == ("1", "2", "0", "1")
    page = (tmp_path / "reports" / "trend-capitals.html").read_text()
    assert "<th title=" in page and ">awaiting expected</th>" in page


def test_a_log_without_a_time_column_is_mined_whole_when_no_since_is_given(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """weekly's 7-day window needs the log's time column; a suite that maps none was refused with
    '--since needs mining.fields.timestamp', a flag the user never gave, and could not run at all."""
    with LoopbackOpenAI(responder=answers) as server:
        no_time = SUITE.replace("timestamp: at, ", "")
        suite = make_suite(no_time.format(base=server.base_url), GOLDEN, prompt="[user]\n{{ question }}\n")
        (suite.parent / "answer.schema.json").write_text(json.dumps(SCHEMA))
        log = write_cases(tmp_path / "logs" / "week.jsonl", production_log())
        args = ["weekly", str(suite), "--logs", str(log), "--db", str(tmp_path / "r.duckdb")]
        result = cli(*args, "--out", str(tmp_path / "out"), "--no-progress")
        again = cli(*args, "--out", str(tmp_path / "out"), "--no-progress")
        given = cli(*args, "--since", "7d", "--out", str(tmp_path / "out"), "--no-progress")
    assert result.exit_code == 1, result.stderr  # the gate's verdict, as with a time column
    assert (
        "read 6 records (0 outside the window, 3 ok, 0 duplicate ids, 0 already mined, 3 new failures)"
        in (result.stdout)
    )
    assert "Added 2 cases" in result.stdout
    assert "3 already mined, 0 new failures" in again.stdout and "Added 0 cases" in again.stdout
    # a window asked for still needs the time column: refused in one line, before anything is run
    assert given.exit_code == 2 and "--since needs mining.fields.timestamp" in given.stderr


def test_an_out_path_that_is_a_file_is_refused_before_anything_is_run(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The trend report goes in --out: a file there ended the job with exit 2 ('nothing run')
    after the run was stored and its gate decided, and without the run's summary."""
    (tmp_path / "reports").write_text("not a directory\n")
    with LoopbackOpenAI(responder=answers) as server:
        result, db, suite = weekly(cli, make_suite, tmp_path, server.base_url)
    assert result.exit_code == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("evalkit: error: ") and str(tmp_path / "reports") in line
    assert not (suite.parent / "mined.jsonl").exists()
    assert not db.exists() or stored(db) == {"runs": 0, "outputs": [], "mined": 0}


def test_the_run_s_summary_is_said_before_the_trend_is_written(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """The run is stored and its gate decided before the trend report is written: when writing it
    fails (here a directory where its CSV goes), the run's summary was never printed."""
    (tmp_path / "reports" / "trend-capitals.csv").mkdir(parents=True)
    with LoopbackOpenAI(responder=answers) as server:
        result, db, _ = weekly(cli, make_suite, tmp_path, server.base_url)
    assert result.exit_code == 2 and "trend-capitals.csv" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert stored(db)["runs"] == 1
    assert "Gate FAILED: pass rate 33.3% < min_pass_rate 90% (exit 1)" in result.stdout


def test_a_suite_without_a_mining_section_is_refused_before_anything_is_made(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    with LoopbackOpenAI(responder=answers) as server:
        text = SUITE.format(base=server.base_url).split("mining:")[0].replace(", mined.jsonl]", "]")
        suite = make_suite(text, GOLDEN, prompt="[user]\n{{ question }}\n")
        (suite.parent / "answer.schema.json").write_text(json.dumps(SCHEMA))
        log = write_cases(tmp_path / "logs" / "week.jsonl", production_log())
        out = tmp_path / "reports"
        result = cli(
            "weekly", str(suite), "--logs", str(log), "--db", str(tmp_path / "r.duckdb"), "--out", str(out)
        )
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"evalkit: error: {suite}: suite has no `mining:` section; add one with `fields:` "
        + ("naming the log's input/output/... columns\n")
    )
    assert not out.exists()


def test_weekly_lists_corrections_that_break_the_output_schema(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path, webhook_ok: Webhook
) -> None:
    """Kenya's correction answers a number where the schema wants text: not made a case, said in
    what the job prints and in what it posts."""
    rows = production_log()
    rows[1]["fix"] = json.dumps({"answer": 42})
    log = write_cases(tmp_path / "logs" / "week.jsonl", rows)
    with LoopbackOpenAI(responder=answers) as server:
        text = SUITE.format(base=server.base_url).replace("note}", "note, correction: fix}")
        suite = make_suite(text, GOLDEN, prompt="[user]\n{{ question }}\n")
        (suite.parent / "answer.schema.json").write_text(json.dumps(SCHEMA))
        result = cli(
            "weekly",
            str(suite),
            "--logs",
            str(log),
            "--db",
            str(tmp_path / "r.duckdb"),
            "--out",
            str(tmp_path / "reports"),
            "--no-progress",
            "--webhook",
            webhook_ok.url,
        )
    assert result.exit_code == 1, result.stderr
    assert "3 new failures, 1 with a correction that breaks the output schema)" in result.stdout
    assert f"  ! {log}:2 (id req-1): answer: 42 is not of type 'string'" in result.stdout
    assert "Added 2 cases" in result.stdout
    mined = (suite.parent / "mined.jsonl").read_text()
    assert '"log_id": "req-1"' not in mined
    (body,) = webhook_ok.bodies
    assert (
        "1 record(s) with a correction that breaks the output schema, not made cases (fix them in the "
        f"log): {log}:2"
    ) in body["text"]

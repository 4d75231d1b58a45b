"""Broken input and a misbehaving environment: one line naming the file, exit 2 (input) or 3
(infrastructure), never a traceback, never exit 1, and no run stored for input that fails validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from evalkit.store.opening import open_store
from evalkit.testing.openai_server import LoopbackOpenAI
from tests.conftest import CliResult, loopback_suite, one_error_line

CASES = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": "x"} for i in range(3)]
ALIAS_BOMB = "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def stored_runs(db: Path) -> int:
    if not db.exists():
        return 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM runs").fetchall()[0][0])
    finally:
        con.close()


@pytest.fixture
def suite_on_loopback(make_suite: Callable[..., Path], loopback: LoopbackOpenAI) -> Callable[..., Path]:
    def build(suite_extra: str = "", cases: list[dict[str, object]] | None = None) -> Path:
        return make_suite(loopback_suite(loopback.base_url) + suite_extra, CASES if cases is None else cases)

    return build


# ---- input: exit 2, file and line, nothing stored, nothing sent ---------------------------------

# (what to write where, error line, message fragment)
INPUT_ERRORS = [
    (
        "cases.jsonl",
        b'{"id": "a", "input": {"question": "caf\xe9"}}\n',
        1,
        "not valid UTF-8 (byte 0xe9 at column 39)",
    ),
    (
        "cases.jsonl",
        b'{"id": "a", "input": {"question": "ok"}, "expected": "x"}\n{"id": "b", "input": {"question": "\\ud800"}}\n',
        2,
        "lone surrogate",
    ),
    (
        "cases.jsonl",
        b'{"id": "a", "input": {"question": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}\n",
        1,
        "nested too deeply",
    ),
    ("cases.jsonl", b'{"id": "a", "input": {"n": ' + b"7" * 5000 + b"}}\n", 1, "cannot read this JSON"),
    # a line cut short is wrong where it stops, not at column 1 of the line after it
    ("cases.jsonl", b'{"id": "bad", "input": {\n', 1, "invalid JSON at column 25: Expecting property name"),
    ("prompts/v1.j2", b"[user]\n{{ question }} \xff\n", 2, "not valid UTF-8 (byte 0xff at column 16)"),
    (
        "prompts/v1.j2",
        b"[user]\n{{ question }}\n{% include 'shared.j2' %}\n",
        3,
        "{% include %} is not supported",
    ),
    (
        "prompts/v1.j2",
        b"[user]\n{% from 'm.j2' import x %}{{ question }}\n",
        2,
        "{% from %} is not supported",
    ),
    ("prompts/v1.j2", b"[user]\n{{ question }} {{ 1 / 0 }}\n", 2, "template failed: ZeroDivisionError"),
    ("suite.yaml", "SUITE# caf\xe9\n".encode("latin-1"), 9, "not valid UTF-8 (byte 0xe9"),
    (
        "suite.yaml",
        f"SUITEa: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n{ALIAS_BOMB}".encode(),
        None,
        "alias bomb",
    ),
    ("suite.yaml", b'SUITEx: "pair \\ud83d\\ude00"\n', 9, "surrogate escape"),
    ("suite.yaml", b"SUITEx: " + b"[" * 5000 + b"]" * 5000 + b"\n", None, "nested too deeply"),
    ("suite.yaml", b"SUITE" + b"#" * (9 * 1024 * 1024) + b"\n", None, "over 8 MB"),
]


@pytest.mark.parametrize(("filename", "content", "line", "message"), INPUT_ERRORS)
def test_malformed_input_is_one_line_with_file_line_exit_2_and_no_run(
    suite_on_loopback: Callable[..., Path],
    cli: Callable[..., CliResult],
    loopback: LoopbackOpenAI,
    tmp_path: Path,
    filename: str,
    content: bytes,
    line: int | None,
    message: str,
) -> None:
    path = suite_on_loopback()
    target = path.parent / filename
    if content.startswith(b"SUITE"):
        content = path.read_bytes() + content[len(b"SUITE") :]
    target.write_bytes(content)
    db = tmp_path / "r.duckdb"
    result = cli("run", str(path), "--db", str(db), "--no-progress")
    where = f"{target}:{line}: " if line is not None else f"{target}"
    error = one_error_line(result, 2, where)
    assert message in error
    assert stored_runs(db) == 0  # validation failed before a run row was written
    assert loopback.stats.requests == 0


@pytest.mark.parametrize(
    ("model_option", "suite_model", "where_line", "message"),
    [
        ("nosuchvendor/x", None, None, "--model: unknown vendor 'nosuchvendor'"),
        ("nosuchmodel", None, None, "names no vendor litellm knows: write it as vendor/model"),
        (None, "acme/loopback", 3, "target.model: unknown vendor 'acme'"),
    ],
)
def test_unknown_vendor_fails_before_any_case_is_sent(
    suite_on_loopback: Callable[..., Path],
    cli: Callable[..., CliResult],
    loopback: LoopbackOpenAI,
    tmp_path: Path,
    model_option: str | None,
    suite_model: str | None,
    where_line: int | None,
    message: str,
) -> None:
    path = suite_on_loopback()
    if suite_model is not None:
        path.write_text(path.read_text().replace("openai/loopback", suite_model))
    db = tmp_path / "r.duckdb"
    args = ["run", str(path), "--db", str(db), "--no-progress"]
    result = cli(*args, *(["--model", model_option] if model_option else []))
    where = f"{path}:{where_line}: " if where_line else f"{path}: "
    assert message in one_error_line(result, 2, where)
    assert loopback.stats.requests == 0
    assert stored_runs(db) == 0


# ---- the database: exit 3 naming the file, reading still works where it can ----------------------


@pytest.fixture
def stored_db(suite_on_loopback: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path) -> Path:
    """A real database holding one finished run (1.8 MB: migrations plus three results)."""
    db = tmp_path / "db" / "e.duckdb"
    assert cli("run", str(suite_on_loopback()), "--db", str(db), "--no-progress").exit_code in (0, 1)
    return db


def _random_bytes(db: Path) -> None:
    db.write_bytes(os.urandom(20_000))


def _truncated(db: Path) -> None:
    with db.open("r+b") as handle:
        handle.truncate(db.stat().st_size // 3)


def _damaged_blocks(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as handle:  # keep DuckDB's file headers (3 x 4 KB), overwrite every block
        handle.seek(3 * 4096)
        handle.write(b"\xa5" * (size - 3 * 4096))


@pytest.mark.parametrize("damage", [_random_bytes, _truncated, _damaged_blocks])
@pytest.mark.parametrize("command", [("runs",), ("show", "latest"), ("report", "latest")])
def test_damaged_database_is_one_line_exit_3(
    stored_db: Path,
    cli: Callable[..., CliResult],
    damage: Callable[[Path], None],
    command: tuple[str, ...],
) -> None:
    damage(stored_db)
    error = one_error_line(cli(*command, "--db", str(stored_db)), 3, f"{stored_db}: ")
    assert "restore it from a backup, or move it aside" in error


def _mount_tmpfs(where: Path, size: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Callable[[Path], Path]]:
    """Copies a file into a directory that is then made read-only (a read-only tmpfs as root)."""
    where = tmp_path / "ro"
    mounted = False

    def freeze(source: Path) -> Path:
        nonlocal mounted
        if os.geteuid() == 0:  # root ignores permissions: only a read-only mount stops it
            _mount_tmpfs(where, "16m")
            mounted = True
            (where / source.name).write_bytes(source.read_bytes())
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        else:
            where.mkdir()
            (where / source.name).write_bytes(source.read_bytes())
            where.chmod(0o555)
        return where / source.name

    yield freeze
    if mounted:
        _unmount(where)
    elif where.exists():
        where.chmod(0o755)


def test_read_only_directory_reads_work_and_a_run_is_one_line_exit_3(
    stored_db: Path,
    read_only_dir: Callable[[Path], Path],
    suite_on_loopback: Callable[..., Path],
    cli: Callable[..., CliResult],
    loopback: LoopbackOpenAI,
) -> None:
    db = read_only_dir(stored_db)
    listing = cli("runs", "--db", str(db))
    assert listing.exit_code == 0 and "complete" in listing.stdout, listing.stderr
    shown = cli("show", "latest", "--db", str(db))
    assert shown.exit_code == 0 and "loop" in shown.stdout, shown.stderr
    sent = loopback.stats.requests
    error = one_error_line(
        cli("run", str(suite_on_loopback()), "--db", str(db), "--no-progress"), 3, f"{db}: "
    )
    assert "writable" in error
    assert loopback.stats.requests == sent  # refused before any case was sent
    new = db.parent / "sub" / "new.duckdb"  # a database created later is checked for room at once
    error = one_error_line(
        cli("run", str(suite_on_loopback()), "--db", str(new), "--no-progress"), 3, f"{new}: "
    )
    assert "writable" in error
    assert loopback.stats.requests == sent


def test_a_process_run_on_a_read_only_database_sends_nothing(
    stored_db: Path,
    read_only_dir: Callable[[Path], Path],
    suite_on_loopback: Callable[..., Path],
    loopback: LoopbackOpenAI,
) -> None:
    """As users run it, with a first round of calls big enough to leave before a late refusal would
    stop it: a run on an existing database records its run while its first calls are in flight,
    except on a file opened read-only, whose refusal must come first (16 requests went out when it
    did not)."""
    db = read_only_dir(stored_db)
    sent = loopback.stats.requests
    many = [{"id": f"m{i}", "input": {"question": f"q{i}"}, "expected": "x"} for i in range(64)]
    evalkit = [sys.executable, "-m", "evalkit", "run", str(suite_on_loopback(cases=many))]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    ran = subprocess.run(
        [*evalkit, "--db", str(db), "--no-progress"], env=env, capture_output=True, text=True
    )
    assert "writable" in one_error_line(ran, 3, f"{db}: ")
    assert loopback.stats.requests == sent


def test_disk_full_keeps_committed_results_and_the_run_resumes(
    make_suite: Callable[..., Path], tmp_path: Path
) -> None:
    """A real full disk (a small tmpfs) in a real process: exit 3, one line with the resume command."""
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "32m")
    try:
        cases = [{"id": f"c{i:03d}", "input": {"question": f"q{i}"}, "expected": "x"} for i in range(300)]
        # 6 KB answers, 0.1 s each at 8 at a time: a commit of ~80 results a second, then the disk fills
        with LoopbackOpenAI(latency=0.1, responder=lambda body: os.urandom(3000).hex()) as server:
            suite = make_suite(loopback_suite(server.base_url), cases)
            db = disk / "e.duckdb"
            evalkit = [sys.executable, "-m", "evalkit"]
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
            run = [*evalkit, "run", str(suite), "--db", str(db), "--no-progress", "--concurrency", "8"]
            open_store(db)  # the database and its schema fit; then fill the disk to 2.5 MB short of full
            stat = os.statvfs(disk)
            (disk / "filler").write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 2_500_000))
            full = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
            error = one_error_line(full, 3, f"{db}: ")
            assert "No space left on device" in error and "free space" in error
            run_id = error.rsplit("--resume ", 1)[1].split()[0]
            # as it can be typed, with the --concurrency that --resume does not restore by itself
            assert error.endswith(f"evalkit run {suite} --resume {run_id} --concurrency 8 --db {db}")
            con = duckdb.connect(str(db), read_only=True)
            kept = con.execute("SELECT count(*) FROM outputs WHERE run_id = ?", [run_id]).fetchall()[0][0]
            con.close()
            assert 0 < kept < len(cases)
            (disk / "filler").unlink()
            resumed = subprocess.run([*run, "--resume", run_id], env=env, capture_output=True, text=True)
            assert resumed.returncode == 1, resumed.stderr  # finished: the answers are wrong on purpose
            con = duckdb.connect(str(db), read_only=True)
            status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
            outputs = con.execute("SELECT count(*) FROM outputs WHERE run_id = ?", [run_id]).fetchall()[0][0]
            con.close()
            assert (status, outputs) == ("complete", len(cases))
    finally:
        _unmount(disk)


def test_a_write_failing_with_enospc_is_one_line_exit_3(
    suite_on_loopback: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Without root: the write-ahead log is /dev/full, where every write fails with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    db = tmp_path / "e.duckdb"
    open_store(db)
    (tmp_path / "e.duckdb.wal").symlink_to("/dev/full")
    result = cli("run", str(suite_on_loopback()), "--db", str(db), "--no-progress")
    error = one_error_line(result, 3, f"{db}: ")
    assert "No space left on device" in error and "free space" in error


def test_unwritable_report_location_is_one_line(
    stored_db: Path, read_only_dir: Callable[[Path], Path], cli: Callable[..., CliResult]
) -> None:
    frozen = read_only_dir(stored_db)
    out = frozen.parent / "report.html"
    result = cli("report", "latest", "--db", str(stored_db), "--out", str(out))
    assert result.exit_code in (2, 3)
    one_error_line(result, result.exit_code, f"{out}: ")


def test_case_file_that_is_json_but_not_utf8_names_line(
    suite_on_loopback: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = suite_on_loopback()
    cases = path.parent / "cases.jsonl"
    good = "".join(json.dumps(c) + "\n" for c in CASES).encode()
    cases.write_bytes(good + '{"id": "z", "input": {"question": "na\u00efve"}}\n'.encode("latin-1"))
    error = one_error_line(cli("run", str(path), "--db", str(tmp_path / "r.duckdb")), 2, f"{cases}:4: ")
    assert "save the file as UTF-8" in error


def test_a_byte_order_mark_is_accepted(
    suite_on_loopback: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = suite_on_loopback()
    cases = path.parent / "cases.jsonl"
    cases.write_bytes(b"\xef\xbb\xbf" + cases.read_bytes())
    result = cli("run", str(path), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 1 and "Cases 3:" in result.stdout, result.stderr  # ran (wrong answers)


def test_db_that_is_a_directory_is_one_line_exit_2(
    suite_on_loopback: Callable[..., Path],
    loopback: LoopbackOpenAI,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    """Bad input, not a failing database file: it was exit 3 (could not be judged)."""
    results = tmp_path / "results"
    results.mkdir()
    suite = suite_on_loopback()
    for command in (("runs",), ("run", str(suite), "--no-progress")):
        error = one_error_line(cli(*command, "--db", str(results)), 2, f"{results}: ")
        assert error.endswith(
            f"is a directory: --db (or EVALKIT_DB) must name a database file, e.g. {results / 'evalkit.duckdb'}"
        )
    assert list(results.iterdir()) == [] and list(tmp_path.glob("results.*")) == []
    assert loopback.stats.requests == 0


def test_the_summary_counts_attempts_it_stopped_waiting_for(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A hung first attempt is cut and retried: the provider may still finish and bill it, so the
    cost and tokens read as lower bounds, and the Calls line says how many were cut and why."""
    from evalkit.testing.openai_server import Faults

    hangs_once = lambda body, seen: "hang" if seen == 1 and "q1" in json.dumps(body) else None  # noqa: E731
    with LoopbackOpenAI(fault_plan=hangs_once, faults=Faults(hang_seconds=30)) as server:
        suite = make_suite(loopback_suite(server.base_url), CASES)
        result = cli(
            "run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress", "--timeout", "0.5"
        )
    assert result.exit_code in (0, 1), result.stderr
    assert "Calls 4 requests (1 retry, 0 failed)" in result.stdout  # the cut attempt, asked again
    assert "· 1 attempt timed out: a provider may still finish and bill an attempt" in result.stdout
    assert "Tokens at least 12 in" in result.stdout and "cost at least $" in result.stdout
    (run,) = open_store(tmp_path / "r.duckdb").list_runs()
    assert run.summary is not None and run.summary.calls is not None and run.summary.calls.timed_out == 1


def test_an_output_path_that_cannot_be_written_is_one_line_exit_2(
    suite_on_loopback: Callable[..., Path],
    loopback: LoopbackOpenAI,
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    """A directory given for a file, or a file for a directory: a traceback and exit 1 ('gate
    failed') before; now one line naming the path, exit 2, and for run before any call."""
    db = tmp_path / "r.duckdb"
    suite = suite_on_loopback()
    for option in ("--junit", "--summary-md"):
        refused = cli("run", str(suite), "--db", str(db), "--no-progress", option, str(tmp_path))
        assert (
            refused.exit_code == 2
            and f"{option} {tmp_path}: not a file that can be written" in refused.stderr
        )
    assert loopback.stats.requests == 0 and not db.exists()
    assert cli("run", str(suite), "--db", str(db), "--no-progress").exit_code in (0, 1)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for command in (("export", "latest", "--out", str(a_file)), ("trend", "loop", "--out", str(a_file))):
        failed = cli(*command, "--db", str(db))
        assert failed.exit_code == 2, (command, failed.stderr)
        lines = failed.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"evalkit: error: {a_file}"), failed.stderr


def test_mining_input_and_settings_errors_are_one_line_exit_2(
    suite_on_loopback: Callable[..., Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A latin-1 log, a --since before the year 1 and a lock timeout written as '2m' crashed with a
    traceback (exit 70)."""
    suite = suite_on_loopback("mining:\n  fields: {input: input}\n")
    db = tmp_path / "r.duckdb"
    log = tmp_path / "l.jsonl"
    log.write_bytes(b'{"input": {"question": "ok"}}\n{"input": {"question": "caf\xe9"}}\n')
    error = one_error_line(cli("mine", str(suite), "--logs", str(log), "--db", str(db)), 2, f"{log}:2: ")
    assert "not valid UTF-8" in error
    log.write_bytes(b'\xef\xbb\xbf{"input": {"question": "ok"}}\n')  # a byte order mark is read past
    far = cli("mine", str(suite), "--logs", str(log), "--since", "1000000d", "--db", str(db))
    assert "too far back" in one_error_line(far, 2, "--since")
    monkeypatch.setenv("EVALKIT_LOCK_TIMEOUT", "2m")
    assert "EVALKIT_LOCK_TIMEOUT='2m'" in one_error_line(
        cli("runs", "--db", str(db)), 2, "EVALKIT_LOCK_TIMEOUT"
    )


def test_an_output_schema_ref_that_leads_nowhere_is_refused_at_load(
    make_suite: Callable[..., Path], loopback: LoopbackOpenAI, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """It passed loading and lint; then json_schema errored on every case and the gate passed."""
    suite = make_suite(
        loopback_suite(loopback.base_url, extra_target="  output_schema: schema.json\n"), CASES
    )
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}
    (suite.parent / "schema.json").write_text(json.dumps(schema))
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    error = one_error_line(result, 2, "")
    assert "schema.json" in error and "$ref '#/$defs/nope' leads nowhere" in error
    assert loopback.stats.requests == 0


def test_a_scorer_that_cannot_score_the_run_cannot_pass_its_gate(
    make_suite: Callable[..., Path], loopback: LoopbackOpenAI, cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """json_fields errors on every case (an expected text, not an object), json_valid passes them: the
    cases passed on json_valid alone and the gate said PASSED, exit 0, with the field check silently off."""
    cases = [{"id": f"c{i}", "input": {"question": f"q{i}"}, "expected": "text"} for i in range(3)]
    scorers = "  - name: json_valid\n  - name: json_fields\n"
    suite = make_suite(loopback_suite(loopback.base_url, scorers=scorers), cases)
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "scorer json_fields could not score 3 of 3 results (100.0% > max_error_rate" in result.stdout


def test_an_api_base_without_a_scheme_is_refused_at_load(
    make_suite: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """Every call failed after its retries and the run ended exit 3, 'could not be judged'."""
    suite = make_suite(loopback_suite("127.0.0.1:19531/v1"), CASES)
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    assert "is not an http:// or https:// URL" in one_error_line(result, 2, f"{suite}:")
    assert not (tmp_path / "r.duckdb").exists()


def test_duckdb_out_of_memory_is_one_line_with_the_setting_to_raise(
    make_suite: Callable[..., Path],
    loopback: LoopbackOpenAI,
    cli: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """8 MB cases under the 32 MB limit docs/store.md suggests for small runners: a traceback, exit 70."""
    monkeypatch.setenv("EVALKIT_DUCKDB_MEMORY", "32MB")
    big = [
        {"id": f"c{i}", "input": {"question": "x" * 8_000_000 + str(i)}, "expected": "x"} for i in range(3)
    ]
    suite = make_suite(loopback_suite(loopback.base_url), big)
    result = cli("run", str(suite), "--db", str(tmp_path / "r.duckdb"), "--no-progress")
    error = one_error_line(result, 3, f"{tmp_path / 'r.duckdb'}: ")
    assert "DuckDB ran out of memory: raise EVALKIT_DUCKDB_MEMORY" in error and "--resume" in error


def test_another_programs_duckdb_file_is_refused_and_left_as_it_was(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """A DuckDB file with its own `runs` table crashed (table exists, exit 70); one without a clash
    silently got evalkit's 16 tables added, even by the read-only `evalkit runs`."""
    for table in ("runs", "logs"):
        path = tmp_path / f"{table}.duckdb"
        con = duckdb.connect(str(path))
        con.execute(f"CREATE TABLE {table} (x INTEGER)")
        con.close()
        error = one_error_line(cli("runs", "--db", str(path)), 2, f"{path}: ")
        assert f"not an evalkit database: it holds other tables ({table})" in error
        con = duckdb.connect(str(path), read_only=True)
        assert [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()] == [
            table
        ]
        con.close()


def _shard_folder_and_foreign(
    suite_on_loopback: Callable[..., Path], cli: Callable[..., CliResult], tmp_path: Path
) -> tuple[Path, Path, Path]:
    """A shard's database to merge, a directory, and another program's DuckDB file."""
    shard = tmp_path / "shard.duckdb"
    ran = cli("run", str(suite_on_loopback()), "--db", str(shard), "--shard", "1/1", "--no-progress")
    assert ran.exit_code in (0, 1), ran.stderr
    folder = tmp_path / "folder"
    folder.mkdir()
    foreign = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(foreign))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    return shard, folder, foreign


def test_merge_and_sync_errors_about_the_destination_name_into_and_to(
    suite_on_loopback: Callable[..., Path],
    read_only_dir: Callable[[Path], Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    """They said `--db (or EVALKIT_DB)` and `give --db ...`, an option these commands do not have."""
    shard, folder, foreign = _shard_folder_and_foreign(suite_on_loopback, cli, tmp_path)
    frozen = read_only_dir(foreign).parent
    commands = {
        "--into": ("merge", str(shard), "--into"),
        "--to": ("sync", "latest", "--db", str(shard), "--to"),
    }
    for option, command in commands.items():
        error = one_error_line(cli(*command, str(folder)), 2, f"{folder}: ")
        assert f"is a directory: {option} must name a database file" in error
        error = one_error_line(cli(*command, str(foreign)), 2, f"{foreign}: ")
        assert error.endswith(f"give {option} a new file or an evalkit database")
        new = frozen / "new.duckdb"
        error = one_error_line(cli(*command, str(new)), 3, f"{new}: ")
        assert error.endswith(f"or point {option} at a writable path"), error
        assert "--db" not in error.replace(str(shard), "")


def test_merge_errors_about_a_source_name_its_argument_not_db(
    suite_on_loopback: Callable[..., Path],
    read_only_dir: Callable[[Path], Path],
    cli: Callable[..., CliResult],
    tmp_path: Path,
) -> None:
    """A source database is given as `evalkit merge DB... --into DB`: its errors said `--db (or
    EVALKIT_DB)`, `give --db ...` or `pass --db`, an option merge does not have."""
    shard, folder, foreign = _shard_folder_and_foreign(suite_on_loopback, cli, tmp_path)
    into = str(tmp_path / "merged.duckdb")
    missing = tmp_path / "missing.duckdb"

    def merge(source: Path) -> CliResult:
        return cli("merge", str(shard), str(source), "--into", into)

    errors = [one_error_line(merge(folder), 2, f"{folder}: ")]
    assert errors[-1].endswith(
        f"is a directory: merge's DB argument must name a database file, e.g. {folder / 'evalkit.duckdb'}"
    )
    errors.append(one_error_line(merge(foreign), 2, f"{foreign}: "))
    # a new file is no advice for a source: it has no runs to merge
    assert errors[-1].endswith(
        "no evalkit schema; merge's DB argument must name an evalkit database, one `evalkit run` wrote"
    )
    assert "new file" not in errors[-1]
    errors.append(one_error_line(merge(missing), 2, ""))
    assert errors[-1].endswith(
        f"no results database at {missing} (merge's DB argument must name an existing one)"
    )
    from evalkit.store.duckdb import DuckDBBackend
    from evalkit.store.migrate import migrate

    old = tmp_path / "old" / "old.duckdb"  # an older evalkit's database: opening it migrates it
    backend = DuckDBBackend(old)
    with backend.connect() as connection:
        migrate(connection, backend, target=1)
    frozen = read_only_dir(old)
    errors.append(one_error_line(merge(frozen), 3, f"{frozen}: "))
    assert errors[-1].endswith("or point merge's DB argument at a writable path")
    assert not [e for e in errors if "--db" in e]


def test_an_older_database_in_a_read_only_place_says_it_needs_migrating(
    read_only_dir: Callable[[Path], Path], cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    """`evalkit runs` on an archived older database: DuckDB's 'Cannot execute statement of type
    "CREATE"' on a read command did not say that opening it migrates it."""
    from evalkit.store.duckdb import DuckDBBackend
    from evalkit.store.migrate import available_migrations, migrate

    old = tmp_path / "old" / "old.duckdb"
    backend = DuckDBBackend(old)
    with backend.connect() as connection:
        migrate(connection, backend, target=5)
    frozen = read_only_dir(old)
    error = one_error_line(cli("runs", "--db", str(frozen)), 3, f"{frozen}: ")
    newest = len(available_migrations())
    assert f"schema version 5 is older than this evalkit's ({newest}): opening it migrates it" in error
    assert error.endswith("copy it to a writable directory, or point --db (or EVALKIT_DB) at a writable path")


def test_output_closed_early_is_not_read_as_a_failed_gate(
    suite_on_loopback: Callable[..., Path], tmp_path: Path
) -> None:
    """`evalkit run ... | head -1`: click ended such a command with 1, a failed gate to CI, though it
    never reached its own verdict. It is 141 (128 + SIGPIPE), with one line saying why."""
    db = tmp_path / "r.duckdb"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    evalkit = [sys.executable, "-m", "evalkit"]
    stored = subprocess.run(
        [*evalkit, "run", str(suite_on_loopback()), "--db", str(db), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert stored.returncode in (0, 1), stored.stderr
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written: every write fails with EPIPE
    try:
        closed = subprocess.run(
            [*evalkit, "show", "latest", "--db", str(db)],
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert closed.returncode == 141, closed.stderr
    assert closed.stderr.strip() == "evalkit: output closed early (broken pipe): no verdict"

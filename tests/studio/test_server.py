"""`evalkit view` refuses what it should before serving anything: other hosts without --allow-remote, no store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from evalkit.errors import UsageError
from evalkit.studio.server import plan


def test_loopback_needs_no_token_and_gets_a_free_port() -> None:
    listening = plan("127.0.0.1", None, allow_remote=False)
    assert listening.token is None and listening.port > 0
    assert listening.url == f"http://127.0.0.1:{listening.port}/"


def test_other_hosts_need_the_flag_and_then_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="--allow-remote"):
        plan("0.0.0.0", 8765, allow_remote=False)
    monkeypatch.setenv("EVALKIT_VIEW_TOKEN", "team-token")
    listening = plan("0.0.0.0", 8765, allow_remote=True)
    assert listening.token == "team-token" and listening.url == "http://0.0.0.0:8765/?token=team-token"
    monkeypatch.delenv("EVALKIT_VIEW_TOKEN")
    assert len(plan("0.0.0.0", 8765, allow_remote=True).token or "") >= 24


def test_cli_errors_are_one_line(tmp_path: Path, cli: Callable[..., Any]) -> None:
    remote = cli("view", "--host", "0.0.0.0", "--no-open", "--db", str(tmp_path / "x.duckdb"))
    assert remote.exit_code == 2 and "--allow-remote" in remote.stderr and "Traceback" not in remote.stderr
    missing = cli("view", "--no-open", "--db", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 2 and "no results database" in missing.stderr


def test_an_idle_studio_hands_the_database_to_a_process_that_asks(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import threading

    from evalkit.store import open_store
    from evalkit.studio.server import hand_over_when_asked
    from tests.conftest import REPO
    from tests.runs import Outcome, run_record, store_run

    db = tmp_path / "held.duckdb"
    store = open_store(db)
    store_run(store, run_record("r1"), [Outcome(case_id="c", verdict="pass")])
    stop = threading.Event()
    watcher = threading.Thread(target=hand_over_when_asked, args=(store, stop, 0.05))
    with store.hold():
        assert store.list_runs()[0].run_id == "r1"  # the file is now open (and locked) here
        watcher.start()
        try:
            other = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"from evalkit.store import open_store; print(open_store({str(db)!r}).list_runs()[0].run_id)",
                ],
                env={**os.environ, "PYTHONPATH": str(REPO), "EVALKIT_LOCK_TIMEOUT": "30"},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        finally:
            stop.set()
            watcher.join()
        assert other.returncode == 0, other.stderr[-1000:]
        assert other.stdout.strip() == "r1"
        assert store.backend.handoffs == 1
        assert store.list_runs()[0].run_id == "r1"  # reopened on the next use


def test_a_taken_port_is_refused_in_one_line_before_saying_it_listens(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """The studio announced "listening on 127.0.0.1" (and would open the browser on whatever held the
    port), then uvicorn logged the bind error and the process ended with exit 3."""
    import socket

    from evalkit.store import open_store
    from tests.conftest import one_error_line

    db = tmp_path / "s.duckdb"
    open_store(db).list_runs()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = cli("view", "--no-open", "--db", str(db), "--port", str(port))
    line = one_error_line(result, 2, f"--port {port}: ")
    assert f"127.0.0.1:{port}" in line and "listening on" not in result.stderr + result.stdout


def test_a_host_that_is_not_this_machines_address_is_refused_in_one_line(
    tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """Without --port, picking a free port on such a host raised a traceback (exit 70)."""
    from evalkit.store import open_store
    from tests.conftest import one_error_line

    db = tmp_path / "s.duckdb"
    open_store(db).list_runs()
    result = cli("view", "--no-open", "--db", str(db), "--host", "192.0.2.1", "--allow-remote")
    one_error_line(result, 2, "--host 192.0.2.1: not an address of this machine")

"""`evalkit view` on a 10,000-case run: server time of the run page and a case page, and the server's RSS.

python bench/studio.py            # 10,000 cases
python bench/studio.py 2000       # another size

Builds a DuckDB store with one run (each case: an output, two scorers, three field scores), starts
`evalkit view --read-only --no-open` as its own process, asks each page 20 times and prints the
server time the studio reports (its `Server-Timing` header: from the request reaching the app to
the response being ready) and the process's RSS (now and peak).
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from evalkit.cases import Case
from evalkit.results import CaseResult, OutputRecord, RunRecord, ScoreRow
from evalkit.scorers.base import FieldScore
from evalkit.store import open_store

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 20


def build(db: Path, n: int) -> None:
    store = open_store(db)
    run = RunRecord(
        run_id="bench-run", suite_name="bench", model="openai/m", started_at=datetime(2026, 1, 5), n_cases=n
    )
    store.create_run(run)
    batch: list[CaseResult] = []
    for i in range(n):
        ok = i % 7 != 0
        case = Case(
            id=f"case-{i:05d}",
            input={"question": f"listing {i}: a two-bedroom flat near the station, balcony, {i % 90} m2"},
            expected={"rooms": 2, "balcony": True, "area": i % 90},
            tags=["critical"] if i % 50 == 0 else ["listing"],
        )
        output = OutputRecord(
            status="ok",
            text=f'{{"rooms": 2, "balcony": {str(ok).lower()}, "area": {i % 90}}}',
            extraction="strict",
            latency_ms=300.0 + i % 100,
            prompt_tokens=120,
            completion_tokens=20,
            cost_usd=0.0001,
        )
        scores = [
            ScoreRow(
                scorer="fields",
                score=1.0 if ok else 0.66,
                passed=ok,
                reason="all fields match" if ok else "balcony differs",
                fields=[
                    FieldScore(field=f, score=1.0, passed=True, status="match") for f in ("rooms", "area")
                ]
                + [
                    FieldScore(
                        field="balcony", score=float(ok), passed=ok, status="match" if ok else "mismatch"
                    )
                ],
            ),
            ScoreRow(
                scorer="judge",
                score=1.0 if ok else 0.0,
                passed=ok,
                reason="judged",
                details={"reasoning": "fine" if ok else "wrong balcony"},
            ),
        ]
        batch.append(
            CaseResult(
                case=case,
                epoch=0,
                output=output,
                scores=scores,
                verdict="pass" if ok else "fail",
                score=1.0 if ok else 0.5,
            )
        )
        if len(batch) == 1000:
            store.add_results(run.run_id, batch)
            batch = []
    store.add_results(run.run_id, batch)
    store.finish_run(run.run_id, status="complete", summary=store.summarize(run.run_id))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return now / 1024, peak / 1024


def server_ms(client: httpx.Client, url: str) -> list[float]:
    times = []
    for _ in range(REPEATS):
        response = client.get(url)
        response.raise_for_status()
        times.append(float(response.headers["server-timing"].split("dur=")[1]))
    return times


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        start = time.perf_counter()
        build(db, n)
        print(f"store with a {n:,}-case run built in {time.perf_counter() - start:.1f} s")
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "evalkit",
                "view",
                "--db",
                str(db),
                "--port",
                str(port),
                "--read-only",
                "--no-open",
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            print("  " + server.stderr.readline().strip())  # the line it prints once it is about to listen
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                for _ in range(100):  # until it answers
                    try:
                        client.get("/static/studio.css")
                        break
                    except httpx.TransportError:
                        time.sleep(0.05)
                pages = {
                    "runs list": "/",
                    "run page (first 50)": "/runs/bench-run",
                    "run page, failures": "/runs/bench-run?verdict=fail",
                    "run page, last page": f"/runs/bench-run?offset={n - 50}",
                    "run page, text search": "/runs/bench-run?q=false",
                    "run page, wrong field": "/runs/bench-run?field=balcony",
                    "case page": f"/runs/bench-run/case?id=case-{n // 2 + 1:05d}",
                }
                print(f"server RSS when ready: {rss_mb(server.pid)[0]:.0f} MB")
                print(f"server time over {REPEATS} requests each (median / max), 2 cores shared:")
                for name, url in pages.items():
                    times = server_ms(client, url)
                    print(
                        f"  {name:24s} {statistics.median(times):7.1f} ms / {max(times):7.1f} ms"
                        f"   (first {times[0]:.1f} ms; RSS after: {rss_mb(server.pid)[0]:.0f} MB)"
                    )
            now, peak = rss_mb(server.pid)
            print(f"server RSS {now:.0f} MB now, {peak:.0f} MB peak")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)

"""`evalkit run` the way users run it: a process, measured as a whole process tree.

    python bench/cli.py                      # 2000 cases at 0 and 200 ms, 3 repetitions each
    python bench/cli.py --n 200 --repeat 1   # smoke test
    python bench/cli.py --tls                # HTTPS, as vendors are reached; aiohttp's transport beside

Against `python -m evalkit.testing.openai_server` in its own process, each repetition starts a fresh
`evalkit run SUITE --no-cache --concurrency 50` (the installed console script, as users run it;
`python -m evalkit` when there is none) on a new database, the same again on that database (as a
CI job with a restored `.evalkit` cache runs it), and a raw aiohttp client (50 in flight, the same requests,
nothing stored) as processes. Per process:

- wall: from spawning it to its exit, interpreter start and imports included;
- start-up: spawn to the first request the server saw; wind-down: the last answer to the exit;
  each also as CPU time of the process tree (sampled from /proc every 20 ms), which a busy machine
  disturbs far less than wall time;
- CPU: user + system of the process tree (``os.wait4``), per case;
- peak RSS: the largest of ``wait4``'s maxrss and the sum over the process tree sampled from /proc
  every 20 ms (a tree with Ray workers or other children is summed).

``--tls``: the server speaks HTTPS with a certificate from a throwaway CA (trustme) that every
process trusts through ``SSL_CERT_FILE`` (the system's CA store with that CA added, so that each
process loads as many certificates as it would in use), and evalkit also runs with
``EVALKIT_HTTP_CLIENT=aiohttp`` (the transport ``https://`` went through before evalkit's own
client spoke TLS).

Beside them, the stack's floor: the wall time of a process that sends nothing and only imports
what evalkit's run path needs before its first request (typer, which parses options through
pydantic, pydantic's models, asyncio, PyYAML), and of one that also creates a DuckDB file with one
table and closes it. What evalkit spends on start-up and wind-down beyond that is its own.

evalkit's bytecode is compiled first, as installing it does: a checkout used with
``PYTHONDONTWRITEBYTECODE`` set would otherwise compile every module in every measured process
(~0.1 s of CPU at start-up).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, Server, make_suite

RAW_CLIENT = """
import asyncio, json, sys, aiohttp
url, n, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    gate = asyncio.Semaphore(limit)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit)) as session:
        async def one(i):
            body = {"model": "bench-model", "temperature": 0, "max_tokens": 64, "messages": [
                {"role": "system", "content": "Answer with JSON."}, {"role": "user", "content": f"q{i}"}]}
            async with gate, session.post(url + "/chat/completions", json=body) as reply:
                data = await reply.json()
            return json.loads(data["choices"][0]["message"]["content"])["echo"] == f"q{i}"
        ok = sum(await asyncio.gather(*(one(i) for i in range(n))))
    print(ok)
asyncio.run(main())
"""


# what evalkit's run path imports before its first request, and a DuckDB file created and closed
FLOOR_IMPORTS = "import asyncio, yaml, typer, typer._adapters, pydantic; pydantic.BaseModel"
FLOOR_DUCKDB = """
from duckdb import _duckdb
con = _duckdb.connect(sys.argv[1]); con.execute("CREATE TABLE t (a INTEGER)"); con.execute("INSERT INTO t VALUES (1)")
con.close()
"""

TICK = os.sysconf("SC_CLK_TCK")


def tree_usage(pid: int) -> tuple[float, float]:
    """(resident MB, CPU seconds) of a process and all its descendants, from /proc (0 once gone)."""
    total, cpu, todo = 0, 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return total / 2**20, cpu


def measure(argv: list[str], server_url: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one process to completion: wall, start-up, wind-down, CPU and peak RSS of its tree."""
    started = time.time()
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    peak = 0.0
    cpu_at: list[tuple[float, float]] = []  # (wall clock, CPU seconds so far)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            rss, cpu = tree_usage(proc.pid)
            peak = max(peak, rss)
            if rss:
                cpu_at.append((time.time(), cpu))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    ended = time.time()
    done.set()
    sampler.join()
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    trust = ssl.create_default_context(cafile=TLS["ca"]) if TLS else None
    with urllib.request.urlopen(server_url.removesuffix("/v1") + "/stats", context=trust) as reply:
        stats = json.loads(reply.read())
    total_cpu = usage.ru_utime + usage.ru_stime

    def cpu_until(moment: float) -> float:
        before = [cpu for at, cpu in cpu_at if at <= moment]
        return before[-1] if before else 0.0

    return {
        "startup_cpu": cpu_until(stats["first_request_at"]),
        "winddown_cpu": total_cpu - cpu_until(stats["last_answer_at"]),
        "exit": proc.returncode,
        "stdout": out,
        "stderr": err,
        "wall": ended - started,
        "startup": stats["first_request_at"] - started,
        "winddown": ended - stats["last_answer_at"],
        "cpu": total_cpu,
        "peak_rss_mb": max(peak, usage.ru_maxrss / 1024),
        "maxrss_mb": usage.ru_maxrss / 1024,  # the largest single process of the tree
        "sampled_rss_mb": peak,
        "requests": stats["requests"],
    }


# the console script users run (its wrapper imports less than `python -m`'s runpy)
_SCRIPT = Path(sys.executable).with_name("evalkit")
EVALKIT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "evalkit"]


# the second evalkit run finds the first one's database: it opens it (DuckDB's engine and ~25 ms of
# catalog set-up) before the first call, as a run with a restored cache does
NAMES = ("raw aiohttp client", "evalkit run", "evalkit run, existing database")
AIOHTTP = "evalkit run, aiohttp transport"  # --tls: a new database, EVALKIT_HTTP_CLIENT=aiohttp
TLS: dict[str, str] = {}  # --tls: the CA file ("ca") and the server's certificate and key files


def make_tls(directory: Path) -> None:
    """A throwaway CA and a certificate for 127.0.0.1 it issued, written under ``directory``."""
    import trustme

    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    TLS.update(ca=str(directory / "ca.pem"), cert=str(directory / "cert.pem"), key=str(directory / "key.pem"))
    # what a user's process loads: the system's CA store, here with the throwaway CA added to it
    system = ssl.get_default_verify_paths().cafile
    Path(TLS["ca"]).write_bytes((Path(system).read_bytes() if system else b"") + ca.cert_pem.bytes())
    issued.cert_chain_pems[0].write_to_path(TLS["cert"])
    issued.private_key_pem.write_to_path(TLS["key"])


def one_round(n: int, latency: float, concurrency: int) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    tls_args = ["--tls-cert", TLS["cert"], "--tls-key", TLS["key"]] if TLS else []
    env = {"SSL_CERT_FILE": TLS["ca"]} if TLS else {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in (*NAMES, AIOHTTP) if TLS else NAMES:
            # a fresh server: its request clock starts at 0
            server = Server("--latency", str(latency), *tls_args)
            try:
                if name.startswith("evalkit run"):  # a new database, then the same one again
                    suite = make_suite(Path(tmp) / name.replace(" ", "-"), n, server.url)
                    db = f"{tmp}/{'aiohttp' if name == AIOHTTP else 'r'}.duckdb"
                    argv = [*EVALKIT, "run", str(suite), "--db", db]
                    argv += ["--no-progress", "--no-cache", "--concurrency", str(concurrency)]
                else:
                    argv = [sys.executable, "-c", RAW_CLIENT, server.url, str(n), str(concurrency)]
                transport = {"EVALKIT_HTTP_CLIENT": "aiohttp"} if name == AIOHTTP else {}
                got = measure(argv, server.url, {**env, **transport})
            finally:
                server.stop()
            if got["exit"] not in (0,) or got["requests"] != n:
                raise RuntimeError(
                    f"{name}: exit {got['exit']}, {got['requests']} requests\n{got['stderr'][-2000:]}"
                )
            figures[name] = got
        for name, code in (("imports", FLOOR_IMPORTS), ("imports + DuckDB", FLOOR_IMPORTS + FLOOR_DUCKDB)):
            start = time.perf_counter()
            run = [sys.executable, "-c", f"import os, sys\n{code}\nos._exit(0)", f"{tmp}/floor.duckdb"]
            subprocess.run(run, check=True)
            figures[f"floor: {name}"] = {"wall": time.perf_counter() - start}
            Path(f"{tmp}/floor.duckdb").unlink(missing_ok=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--latency", type=float, action="append", help="seconds (repeatable; default 0 and 0.2)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="HTTPS (a throwaway CA, trusted by SSL_CERT_FILE)")
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "evalkit", quiet=1)
    certificates = tempfile.TemporaryDirectory()
    if args.tls:
        make_tls(Path(certificates.name))
    for latency in args.latency or [0.0, 0.2]:
        rounds = [one_round(args.n, latency, args.concurrency) for _ in range(args.repeat)]
        limit = args.n * latency / args.concurrency
        print(
            f"== {args.n} cases, {latency * 1000:.0f} ms latency, {args.concurrency} in flight (limit {limit:.2f} s)"
            + (", HTTPS" if args.tls else "")
        )
        names = ["evalkit run", "evalkit run, existing database", "raw aiohttp client"]
        for name in [*names, AIOHTTP] if args.tls else names:
            runs = [r[name] for r in rounds]

            def span(
                key: str, scale: float = 1.0, fmt: str = ".2f", runs: list[dict[str, Any]] = runs
            ) -> str:
                values = sorted(r[key] * scale for r in runs)
                return f"{values[0]:{fmt}}-{values[-1]:{fmt}}" if len(values) > 1 else f"{values[0]:{fmt}}"

            print(f"   {name}")
            print(
                f"      peak RSS, process tree   {span('peak_rss_mb', fmt='.0f')} MB "
                f"(largest process {span('maxrss_mb', fmt='.0f')}, tree sampled {span('sampled_rss_mb', fmt='.0f')})"
            )
            print(f"      wall, process            {span('wall')} s")
            for r in runs:  # the issue's aim: what a user waits for besides the calls themselves
                r["edges"] = r["startup"] + r["winddown"]
            print(f"      start-up (to 1st request) {span('startup', 1000, '.0f')} ms")
            print(f"      wind-down (after last)   {span('winddown', 1000, '.0f')} ms")
            print(f"      start-up + wind-down     {span('edges', 1000, '.0f')} ms")
            print(f"      start-up CPU             {span('startup_cpu', 1000, '.0f')} ms")
            print(f"      wind-down CPU            {span('winddown_cpu', 1000, '.0f')} ms")
            print(f"      CPU per case             {span('cpu', 1000 / args.n, '.3f')} ms")
        for name in ("imports", "imports + DuckDB"):
            walls = sorted(r[f"floor: {name}"]["wall"] * 1000 for r in rounds)
            print(f"   the stack's floor, {name}: {walls[0]:.0f}-{walls[-1]:.0f} ms (wall, nothing sent)")
        ratios = [r["evalkit run"]["wall"] / r["raw aiohttp client"]["wall"] for r in rounds]
        print(f"   evalkit / raw client wall: {statistics.median(ratios):.3f} (median of {len(ratios)})")
    print(
        f"(load average {os.getloadavg()[0]:.1f} at the end on {os.cpu_count()} cores, shared with other "
        "work: figures are indicative)"
    )


if __name__ == "__main__":
    main()

"""Benchmark the runner against a loopback OpenAI-compatible server in its own process.

    python bench/harness.py                 # every scenario of issue 3, printed as a table
    python bench/harness.py --quick         # small N, for a smoke test
    python bench/harness.py --scenario latency --n 2000 --latency 0.2 --concurrency 50

Each scenario runs `evalkit.run.runner.run_suite` in a fresh child process (so its peak RSS is its
own) against `python -m evalkit.testing.openai_server` in another. Interpreter start and imports
(evalkit and its HTTP client) are excluded from the wall times; the child reports them separately.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "[system]\nAnswer with JSON.\n[user]\n{{ question }}\n"
SUITE = """name: bench
target:
  model: openai/bench-model
  api_base: {url}
  prompts: {{v1: prompts/v1.j2}}
  params: {{temperature: 0, max_tokens: 64}}
cases: [cases.jsonl]
scorers:
  - name: json_valid
  - name: json_fields
gate: {{min_pass_rate: 0.0, max_error_rate: {max_error_rate}}}
"""


def make_suite(root: Path, n: int, url: str, max_error_rate: float = 0.5) -> Path:
    """A suite of ``n`` generated cases whose correct answer is the loopback server's echo."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "v1.j2").write_text(PROMPT)
    with (root / "cases.jsonl").open("w") as f:
        for i in range(n):
            f.write(
                json.dumps({"id": f"c{i:06d}", "input": {"question": f"q{i}"}, "expected": {"echo": f"q{i}"}})
                + "\n"
            )
    (root / "suite.yaml").write_text(SUITE.format(url=url, max_error_rate=max_error_rate))
    return root / "suite.yaml"


class Server:
    """The loopback server in a child process."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evalkit.testing.openai_server", *args],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


CHILD = """
import json, os, resource, sys, time
t0 = time.perf_counter()
from evalkit.run.runner import RunOptions, run_suite
from evalkit.store import open_store
from evalkit.suite.loading import load_suite
import evalkit.providers.openai_compat  # the HTTP client: a one-off start-up cost
imports = time.perf_counter() - t0
suite = load_suite(sys.argv[1]); store = open_store(sys.argv[2])
opts = json.loads(sys.argv[3])
if opts.get("ray"):  # start the session before timing (3-4 s once per driver)
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
runs = []
for i in range(opts.pop("runs", 1)):
    start = time.perf_counter()
    out = run_suite(suite, store, RunOptions(**opts))
    runs.append({"wall": time.perf_counter() - start, "summary": out.summary.model_dump(mode="json"),
                 "exit": out.decision.exit_code})
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"imports": imports, "runs": runs, "peak_rss_mb": usage.ru_maxrss / 1024,
                  "cpu_s": usage.ru_utime + usage.ru_stime,
                  "litellm_imported": "litellm" in sys.modules}, default=str))
"""


def run_child(
    suite: Path, db: Path, options: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(suite), str(db), json.dumps(options)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def scenario_latency(
    n: int, latency: float, concurrency: int | None, env: dict[str, str] | None = None, ray: bool = False
) -> dict[str, Any]:
    """Wall time against the physical limit n*latency/concurrency (None: the adaptive default,
    whose limit is taken as its maximum)."""
    server = Server("--latency", str(latency))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = make_suite(Path(tmp) / "s", n, server.url)
            options: dict[str, Any] = {"concurrency": concurrency, "use_cache": False}
            if ray:
                # the first run on a new session also starts the workers and imports evalkit in
                # them (like the interpreter start and imports a local run excludes); time both
                options.update(ray="local", runs=2)
            result = run_child(suite, Path(tmp) / "r.duckdb", options, env)
    finally:
        server.stop()
    wall = result["runs"][-1]["wall"]
    label: int | str = concurrency or "adaptive (default)"
    if concurrency is None:
        from evalkit.run.runner import ADAPTIVE_MAX

        concurrency = ADAPTIVE_MAX
    limit = n * latency / concurrency
    counts = result["runs"][-1]["summary"]["gate_counts"]
    return {
        "n": n,
        # a fast run of failed calls is no result: every case must have been answered and scored
        "passed": f"{counts['passed']} of {n}"
        + (f" ({counts['errors']} ERRORS)" if counts["errors"] else ""),
        "latency_s": latency,
        "concurrency": label,
        "wall_s": round(wall, 2),
        **({"wall_s_first_run_cold_workers": round(result["runs"][0]["wall"], 2)} if ray else {}),
        "limit_s": round(limit, 2),
        "limit_share": round(limit / wall, 3) if limit else None,
        "ms_per_case": round(wall / n * 1000, 3),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "cpu_ms_per_case": round(result["cpu_s"] / n * 1000, 3),  # the runner's process, imports included
        "imports_s": round(result["imports"], 2),
        "litellm_imported": result["litellm_imported"],
    }


def scenario_cached(n: int, concurrency: int) -> dict[str, Any]:
    """A second run with nothing changed: wall time and requests reaching the server."""
    server = Server("--latency", "0.2")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = make_suite(Path(tmp) / "s", n, server.url)
            result = run_child(suite, Path(tmp) / "r.duckdb", {"concurrency": concurrency, "runs": 2})
    finally:
        server.stop()
    first, second = result["runs"]
    return {
        "n": n,
        "first_wall_s": round(first["wall"], 2),
        "cached_wall_s": round(second["wall"], 2),
        "requests_in_cached_run": second["summary"]["calls"]["requests"],
        "cache_hits": second["summary"]["calls"]["cache_hits"],
    }


FAULT_MIX = ("--error-500", "0.2", "--rate-limit-429", "0.1", "--hang", "0.05", "--malformed", "0.05")


def scenario_faults(
    n: int, latency: float, concurrency: int | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """The fault mix: 20% 500s, 10% 429 with Retry-After, 5% hung connections, 5% malformed bodies.

    Hung connections never answer (they hang far past any timeout), so every one of them costs the
    client whatever its timeouts allow. ``concurrency`` None is the adaptive default; ``timeout``
    None the default per-request timeout (60 s).
    """
    server = Server(
        "--latency", str(latency), *FAULT_MIX, "--retry-after", "0.5", "--hang-seconds", "600", "--seed", "7"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = make_suite(Path(tmp) / "s", n, server.url, max_error_rate=0.05)
            options: dict[str, Any] = {"concurrency": concurrency}
            if timeout is not None:
                options["timeout"] = timeout
            result = run_child(suite, Path(tmp) / "r.duckdb", options)
            import duckdb

            con = duckdb.connect(str(Path(tmp) / "r.duckdb"), read_only=True)
            verdicts = dict(con.execute("SELECT verdict, COUNT(*) FROM outputs GROUP BY verdict").fetchall())
            max_attempts, sum_attempts, stored, no_reason = con.execute(
                "SELECT MAX(attempts), SUM(attempts), COUNT(*),"
                " COUNT(*) FILTER (WHERE verdict = 'error' AND coalesce(error, '') = '') FROM outputs"
            ).fetchone()  # type: ignore[misc]
            reasons = con.execute(
                "SELECT error, COUNT(*) FROM outputs WHERE verdict = 'error' GROUP BY 1 ORDER BY 2 DESC LIMIT 3"
            ).fetchall()
            con.close()
    finally:
        server.stop()
    run = result["runs"][0]
    calls = run["summary"]["calls"]
    return {
        "n": n,
        "concurrency": concurrency or "adaptive (default)",
        "wall_s": round(run["wall"], 2),
        "stored": stored,
        "verdicts": verdicts,
        "errors_without_reason": no_reason,
        "max_attempts_per_case": max_attempts,
        "requests": calls["requests"],
        "requests_per_case": round(sum_attempts / n, 2),
        "exit_code": run["exit"],
        "top_error_reasons": reasons,
        "answered_429": calls.get("rate_limited"),
        "limit_decreases": calls["rate_limit_backoffs"],
        "limit_at_end": calls["concurrency_limit_end"],
    }


def scenario_capacity(n: int, latency: float, capacity: int) -> dict[str, Any]:
    """A provider that serves ``capacity`` calls at once and answers 429 (Retry-After 0.5 s) beyond:
    where the adaptive limit settles, and how many requests the 429s cost."""
    server = Server("--latency", str(latency), "--max-concurrent", str(capacity), "--retry-after", "0.5")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            suite = make_suite(Path(tmp) / "s", n, server.url, max_error_rate=0.05)
            result = run_child(suite, Path(tmp) / "r.duckdb", {"concurrency": None, "use_cache": False})
    finally:
        server.stop()
    run = result["runs"][0]
    calls = run["summary"]["calls"]
    counts = run["summary"]["gate_counts"]
    return {
        "n": n,
        "provider_capacity": capacity,
        "wall_s": round(run["wall"], 2),
        "limit_s": round(n * latency / capacity, 2),
        "passed": f"{counts['passed']} of {n}"
        + (f" ({counts['errors']} ERRORS)" if counts["errors"] else ""),
        "limit_at_end": calls["concurrency_limit_end"],
        "limit_decreases": calls["rate_limit_backoffs"],
        "answered_429": calls.get("rate_limited"),
        "requests_per_case": round(calls["requests"] / n, 2),
    }


def compare(name: str, default: dict[str, Any], fixed: dict[str, Any], aim: float) -> dict[str, Any]:
    """The default (adaptive) run against the fixed one: the ratio of their wall times."""
    ratio = default["wall_s"] / fixed["wall_s"]
    return {
        f"{name}: default wall_s": default["wall_s"],
        f"{name}: -c {fixed['concurrency']} wall_s": fixed["wall_s"],
        "ratio": round(ratio, 3),
        "aim": f"<= {aim}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small N (smoke test)")
    parser.add_argument(
        "--scenario",
        choices=[
            "latency",
            "adaptive",
            "capacity",
            "overhead",
            "cached",
            "faults",
            "memory",
            "litellm",
            "ray",
        ],
        action="append",
    )
    parser.add_argument("--n", type=int)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 2000)
    chosen = args.scenario or [
        "latency",
        "adaptive",
        "overhead",
        "cached",
        "faults",
        "memory",
        "litellm",
        "ray",
    ]
    results: dict[str, Any] = {}
    started = time.perf_counter()
    if "latency" in chosen:
        results["latency"] = scenario_latency(n, args.latency, args.concurrency)
    if "overhead" in chosen:
        results["overhead (0 ms latency)"] = scenario_latency(n, 0.0, args.concurrency)
    if "cached" in chosen:
        results["cached re-run"] = scenario_cached(n, args.concurrency)
    if "adaptive" in chosen:  # the default (adaptive) limit against a fixed one, no faults
        default = scenario_latency(n, args.latency, None)
        fixed = scenario_latency(n, args.latency, args.concurrency)
        results["no faults, default concurrency"] = default
        results["no faults, default vs fixed"] = compare("no faults", default, fixed, 1.15)
    if "capacity" in chosen:
        results["a provider serving 20 at once, default concurrency"] = scenario_capacity(n, args.latency, 20)
    if "faults" in chosen:
        default = scenario_faults(n, args.latency)
        fixed = scenario_faults(n, args.latency, args.concurrency)
        results["fault mix, default settings"] = default
        results[f"fault mix, -c {args.concurrency}"] = fixed
        results["fault mix, default vs fixed"] = compare("fault mix", default, fixed, 1.3)
    if "memory" in chosen:
        results["memory (100k cases)"] = scenario_latency(
            2000 if args.quick else 100_000, 0.0, args.concurrency
        )
    if "litellm" in chosen:
        results["through litellm.acompletion"] = scenario_latency(
            # litellm's OpenAI client insists on a key, even for a server that checks none
            n,
            args.latency,
            args.concurrency,
            {"EVALKIT_FAST_PATH": "0", "OPENAI_API_KEY": "sk-loopback"},
        )
    if "ray" in chosen:
        results["shards on Ray (local session, 2 CPUs)"] = scenario_latency(
            n, args.latency, args.concurrency, ray=True
        )
    for name, figures in results.items():
        print(f"== {name}")
        for key, value in figures.items():
            print(f"   {key:26} {value}")
    print(f"(benchmark took {time.perf_counter() - started:.0f} s; machine: {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

"""CPU per call of each vendor protocol, evalkit's lean client against litellm.acompletion.

    python bench/vendors.py                # 2000 calls per protocol and client, 50 in flight, 0 ms latency
    python bench/vendors.py --n 300        # quicker (litellm takes ~15 ms of CPU per call)

Each measurement is a fresh child process that makes N calls through evalkit's call path
(``ModelCaller``: retries, pricing, classification) to a loopback server speaking the protocol
(``python -m evalkit.testing.vendor_servers`` / ``openai_server``) in its own process, at 0 ms
latency. The figure is the child's CPU time (user + system) during the calls divided by N: imports,
litellm's included, are left out, as is the first call (connection set-up, lazy imports).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "openai": "openai/bench-model",
    "anthropic": "anthropic/claude-haiku-4-5-20251001",
    "gemini": "gemini/gemini-2.5-flash",
}
CHILD = """
import asyncio, json, sys, time
from evalkit.providers.base import CompletionRequest
from evalkit.providers.calls import ConcurrencyLimit, ModelCaller, RetryPolicy
model, base, n, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def request(i):
    messages = [{"role": "system", "content": "Answer with JSON."}, {"role": "user", "content": f"q{i}"}]
    return CompletionRequest(model=model, messages=messages, params={"temperature": 0, "max_tokens": 64},
                             api_base=base, timeout=30)

async def main():
    caller = ModelCaller(limit=ConcurrencyLimit(concurrency, maximum=concurrency, adaptive=False),
                         retry=RetryPolicy(max_attempts=1))
    try:
        await caller.complete(request(-1))  # connection, lazy imports (litellm's too)
        cpu = time.process_time()
        done = await asyncio.gather(*(caller.complete(request(i)) for i in range(n)), return_exceptions=True)
        cpu = time.process_time() - cpu
    finally:
        await caller.aclose()
    ok = sum(1 for i, d in enumerate(done) if not isinstance(d, BaseException) and json.loads(d.text)["echo"] == f"q{i}")
    errors = [str(d) for d in done if isinstance(d, BaseException)][:1]
    print(json.dumps({"cpu_ms_per_call": cpu / n * 1000, "ok": ok, "error": errors,
                      "cost": sum(d.cost_usd for d in done if not isinstance(d, BaseException)),
                      "litellm": "litellm" in sys.modules}))
asyncio.run(main())
"""


def server(protocol: str) -> tuple[subprocess.Popen[str], str]:
    module = (
        ["evalkit.testing.openai_server"]
        if protocol == "openai"
        else ["evalkit.testing.vendor_servers", protocol]
    )
    proc = subprocess.Popen([sys.executable, "-m", *module], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def measure(protocol: str, lean: bool, n: int, concurrency: int) -> dict[str, Any]:
    proc, url = server(protocol)
    env = {
        **os.environ,
        "EVALKIT_FAST_PATH": "1" if lean else "0",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # keys the clients insist on; the loopback servers check none
        "OPENAI_API_KEY": "sk-loopback",
        "ANTHROPIC_API_KEY": "sk-ant-loopback",
        "GEMINI_API_KEY": "loopback",
    }
    try:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, MODELS[protocol], url, str(n), str(concurrency)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=False,
        )
    finally:
        proc.terminate()
        proc.wait(10)
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-2000:])
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--protocol", choices=sorted(MODELS), action="append")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(
        f"CPU per call, {args.n} calls, {args.concurrency} in flight, 0 ms latency (child process, imports excluded)"
    )
    for protocol in args.protocol or ["anthropic", "gemini", "openai"]:
        for lean in (True, False):
            got = [measure(protocol, lean, args.n, args.concurrency) for _ in range(args.repeat)]
            cpu = sorted(g["cpu_ms_per_call"] for g in got)
            span = f"{cpu[0]:.2f}-{cpu[-1]:.2f}" if len(cpu) > 1 else f"{cpu[0]:.2f}"
            label = "evalkit lean client" if lean else "litellm.acompletion"
            print(
                f"   {protocol:9} {label:20} {span:>12} ms CPU per call; answered {got[-1]['ok']}/{args.n}, "
                f"cost ${got[-1]['cost']:.4f}, litellm imported: {got[-1]['litellm']}"
                + (f", first error: {got[-1]['error'][0][:160]}" if got[-1]["error"] else "")
            )
    print(
        f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores shared with other work: indicative)"
    )


if __name__ == "__main__":
    main()

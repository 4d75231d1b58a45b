"""The embedded model: the flagship suite's wall time, and the accept-first grammar sampler's speed-up.

python bench/embedded.py            # both
python bench/embedded.py sampler    # only the sampler comparison (12 listings)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def flagship() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "evalkit",
                "run",
                "suites/listings",
                "--db",
                f"{tmp}/r.duckdb",
                "--no-progress",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - start
    head = proc.stdout.splitlines()[:2]
    print(
        f"flagship suite on local/smollm2-135m: {wall:.1f} s wall, process start included (exit {proc.returncode})"
    )
    for line in head:
        print("  ", line)


def sampler() -> None:
    from llama_cpp import Llama

    from evalkit.providers.grammar import FastGrammarLlama
    from evalkit.providers.local import gguf_path
    from evalkit.suite.loading import load_suite

    suite = load_suite(ROOT / "suites" / "listings")
    prompt = suite.prompt("v2")
    cases = list(suite.iter_cases())[:12]
    params = {
        "temperature": 0,
        "max_tokens": 120,
        "response_format": {"type": "json_object", "schema": suite.output_schema},
    }
    outputs = {}
    for cls in (Llama, FastGrammarLlama):
        llm = cls(model_path=str(gguf_path("smollm2-135m")), n_ctx=4096, n_threads=2, verbose=False, seed=0)
        llm.create_chat_completion(
            messages=prompt.render(cases[0].input, output_schema=suite.output_schema), **params
        )
        start = time.perf_counter()
        texts, tokens = [], 0
        for case in cases:
            reply = llm.create_chat_completion(
                messages=prompt.render(case.input, output_schema=suite.output_schema), **params
            )
            texts.append(reply["choices"][0]["message"]["content"])
            tokens += reply["usage"]["completion_tokens"]
        wall = time.perf_counter() - start
        outputs[cls.__name__] = texts
        print(
            f"{cls.__name__:18} {wall:6.1f} s for 12 listings, {tokens} tokens, {wall / tokens * 1000:.1f} ms/token"
        )
    print("identical outputs:", outputs["Llama"] == outputs["FastGrammarLlama"])


if __name__ == "__main__":
    which = sys.argv[1:] or ["sampler", "flagship"]
    if "sampler" in which:
        sampler()
    if "flagship" in which:
        flagship()

"""How long `evalkit --help` takes (the CLI must never import litellm or the data stack for it)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def main() -> None:
    timings = []
    for _ in range(10):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "evalkit", "--help"], check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    print(f"evalkit --help: median {statistics.median(timings):.3f} s, max {max(timings):.3f} s over 10 runs")


if __name__ == "__main__":
    main()

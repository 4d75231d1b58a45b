"""Entry point of `nox -s bench`: runs every benchmark script in bench/ and prints their figures.

nox -s bench                 # all
nox -s bench -- harness      # only bench/harness.py (extra args after the name go to it)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in {"run.py", "__init__.py"})
    wanted, extra = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else (None, [])
    status = 0
    for script in scripts:
        if wanted and script.stem != wanted:
            continue
        print(f"\n##### bench/{script.name}", flush=True)
        status |= subprocess.call([sys.executable, str(script), *extra])
    return status


if __name__ == "__main__":
    sys.exit(main())

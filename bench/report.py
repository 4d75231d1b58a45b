"""Benchmark `evalkit report` at 10k cases: how long the HTML takes, and how big it is.

    python bench/report.py               # 10,000 cases, one run and two runs compared
    python bench/report.py --cases 2000

Two synthetic runs of a listings-like suite (input, expected JSON, an output that differs in a
few fields for ~30% of cases, four scorers, six field scores per case) are stored through the real
Store, then reported the way `evalkit report RUN [--compare RUN2]` does: once in this process
(imports done first, and timed on their own) and once as a fresh `evalkit report` process (what a
user waits for, imports included). Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIELDS = ("title", "brand", "category", "price.amount", "price.currency", "key_attributes")
BRANDS = ("Sony", "Samsung", "Le Creuset", "JBL", "Apple", None)
CATEGORIES = ("Electronics", "Home & Kitchen", "Mobile Phones", "Clothing")


def store_runs(db: Path, n: int) -> tuple[str, str]:
    from evalkit.cases import Case
    from evalkit.results import CaseResult, OutputRecord, RunRecord, ScoreRow
    from evalkit.scorers.base import FieldScore
    from evalkit.store import open_store

    store = open_store(db)
    rng = random.Random(5)
    ids = []
    for key, wrong_share in (("a", 0.30), ("b", 0.27)):
        run_id = f"bench-{key}"
        store.create_run(
            RunRecord(
                run_id=run_id,
                suite_name="bench",
                prompt_version=f"v{len(ids) + 1}",
                model="openai/bench",
                started_at=datetime(2026, 1, 1, 10, len(ids)),
                n_cases=n,
            )
        )
        results = []
        for i in range(n):
            brand = BRANDS[i % len(BRANDS)]
            expected = {
                "title": f"{brand or 'Generic'} Product {i} Wireless Black",
                "brand": brand,
                "category": CATEGORIES[i % len(CATEGORIES)],
                "price": {"amount": round(10 + i * 0.37, 2), "currency": "EUR"},
                "key_attributes": ["Wireless", "Black", f"{i % 64}GB"],
            }
            wrong = rng.random() < wrong_share
            actual = dict(expected)
            if wrong:
                actual = {
                    **expected,
                    "title": expected["title"].upper() + " FREE SHIPPING",
                    "category": "Other",
                }
            case = Case(
                id=f"case-{i:05d}",
                input={
                    "title": f"<b>{(brand or 'generic').upper()}</b> product {i} wireless &ndash; BLACK!!!",
                    "description": "<p>Industry-leading sound.</p> " * 3,
                    "price": f"Now €{expected['price']['amount']}",
                },
                expected=expected,
                tags=["html"] if i % 3 == 0 else [],
            )
            import json

            text = json.dumps(actual)
            fields = [
                FieldScore(
                    field=name,
                    score=0.0 if wrong and name in ("title", "category") else 1.0,
                    passed=not (wrong and name in ("title", "category")),
                    status="mismatch" if wrong and name in ("title", "category") else "match",
                )
                for name in FIELDS
            ]
            scores = [
                ScoreRow(scorer="json_schema", score=1.0, passed=True, reason="matches schema"),
                ScoreRow(
                    scorer="strict_format", score=1.0, passed=True, reason="output is bare JSON", weight=0.5
                ),
                ScoreRow(
                    scorer="fields",
                    score=0.67 if wrong else 1.0,
                    passed=not wrong,
                    weight=4,
                    reason="4/6 fields ok; title, category differ" if wrong else "6/6 fields ok",
                    fields=fields,
                ),
                ScoreRow(
                    scorer="no_injection",
                    score=0.0 if wrong else 1.0,
                    passed=not wrong,
                    reason="found 'FREE'",
                ),
            ]
            results.append(
                CaseResult(
                    case=case,
                    output=OutputRecord(
                        status="ok",
                        text=text,
                        parsed=actual,
                        extraction="strict",
                        latency_ms=rng.uniform(150, 900),
                        prompt_tokens=640,
                        completion_tokens=70,
                        cost_usd=0.0004,
                    ),
                    scores=scores,
                    verdict="fail" if wrong else "pass",
                    score=0.7 if wrong else 1.0,
                )
            )
        for start in range(0, n, 1000):
            store.add_results(run_id, results[start : start + 1000])
        store.finish_run(run_id, status="complete", summary=store.summarize(run_id))
        ids.append(run_id)
    return ids[0], ids[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        started = time.perf_counter()
        a, b = store_runs(db, args.cases)
        print(f"stored 2 runs x {args.cases:,} cases in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        for module in ("matplotlib.figure", "scipy.stats", "evalkit.analysis.compare", "evalkit.report.html"):
            importlib.import_module(module)
        print(f"imports (matplotlib, scipy.stats, jinja2, pandas): {time.perf_counter() - started:.2f} s")
        from evalkit.report.html import build_context, render_report
        from evalkit.store import open_store

        store = open_store(db)
        for label, other in (("one run", None), ("two runs compared", store.get_run(b))):
            started, cpu = time.perf_counter(), time.process_time()
            context = build_context(store, store.get_run(a), other)
            built = time.perf_counter()
            html = render_report(context)
            out = Path(tmp) / f"{label.replace(' ', '-')}.html"
            out.write_text(html, encoding="utf-8")
            done = time.perf_counter()
            print(
                f"{args.cases:,} cases, {label}: {done - started:.2f} s in process, {time.process_time() - cpu:.2f} s CPU "
                f"(load + stats + charts {built - started:.2f} s, template + write {done - built:.2f} s), "
                f"{len(html.encode()) / 1e6:.1f} MB"
            )

        for label, extra in (("one run", []), ("two runs compared", ["--compare", b])):
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "evalkit",
                    "report",
                    a,
                    *extra,
                    "--db",
                    str(db),
                    "--out",
                    str(Path(tmp) / "cli.html"),
                ],
                check=True,
                capture_output=True,
            )
            print(
                f"{args.cases:,} cases, {label}: {time.perf_counter() - started:.2f} s as a fresh `evalkit report` process"
            )
    load = os.getloadavg()[0]
    print(
        f"(2-core machine shared with other work, load average {load:.1f} at the end: figures are indicative)"
    )


if __name__ == "__main__":
    main()

"""Two stored runs whose outputs, inputs, tags and judge explanations carry HTML/script payloads."""

from __future__ import annotations

from pathlib import Path

from evalkit.results import RunRecord
from evalkit.store import Store
from evalkit.suite.loading import load_suite
from tests.runs import Outcome, run_record, store_run

SCRIPT = "<script>window.__pwned = 1; document.title = 'pwned-script'</script>"
IMG = "<img src=x onerror=\"document.title='pwned-img';document.documentElement.setAttribute('data-pwned','1')\">"
PROMPT = "[system]\nAnswer in JSON. <b>bold</b> is not markup here.\n[user]\n{{ question }}\n"


def payload_runs(
    store: Store, root: Path, n: int = 30, suite_yaml: str | None = None
) -> tuple[RunRecord, RunRecord]:
    """Run A (prompt v1) and run B (prompt v2) of a suite written under ``root``; B breaks cases 0-5.
    ``suite_yaml``: a loadable suite file (its case files written already), whose hash the runs
    record as a real run's would; without it, a suite file that does not load."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "v1.j2").write_text(PROMPT)
    (root / "prompts" / "v2.j2").write_text(PROMPT.replace("JSON.", "JSON, carefully."))
    (root / "suite.yaml").write_text(suite_yaml or "name: s\n")
    suite_hash = load_suite(root / "suite.yaml").source_hash if suite_yaml else ""
    config = {"target": {"prompts": {"v1": "prompts/v1.j2", "v2": "prompts/v2.j2"}}, "gate": {}}

    def record(run_id: str, prompt: str, minutes: int) -> RunRecord:
        import hashlib

        text = (root / "prompts" / f"{prompt}.j2").read_text()
        return run_record(run_id, prompt=prompt, minutes=minutes).model_copy(
            update={
                "suite_path": str(root / "suite.yaml"),
                "suite_hash": suite_hash,
                "config": config,
                "prompt_hash": hashlib.sha256(text.encode()).hexdigest()[:12],
            }
        )

    def outcomes(broken: set[int], payload: str) -> list[Outcome]:
        return [
            Outcome(
                case_id=f"case-{i:03d}",
                verdict="fail" if i in broken else "pass",
                output=f'{{"answer": "{payload.replace(chr(34), chr(39))}"}}'
                if i in broken
                else '{"answer": "a"}',
                expected={"answer": "a"},
                input={"question": f"q{i} {IMG}"},
                tags=[IMG] if i == 1 else (["critical"] if i == 2 else []),
                reasoning=f"the output holds {SCRIPT}" if i in broken else None,
                fields={"answer": i not in broken},
                latency_ms=100.0 + i,
            )
            for i in range(n)
        ]

    a = store_run(store, record("run-a", "v1", 0), outcomes({20, 21}, SCRIPT))
    b = store_run(store, record("run-b", "v2", 5), outcomes({0, 1, 2, 3, 4, 5, 20}, IMG))
    return a, b

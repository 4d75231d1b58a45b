"""A store with two runs whose outputs, inputs, tags and judge reasons carry HTML/script payloads, a
loadable suite on disk (so candidates can be accepted and golden cases corrected), and a pending candidate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from evalkit.candidates import Candidate
from evalkit.store import Store, open_store
from evalkit.store.growth import GrowthStore
from tests.report.payloads import SCRIPT, payload_runs

SUITE_YAML = (
    "name: s\n"
    "target:\n"
    "  model: openai/m\n"
    "  prompts: {v1: prompts/v1.j2, v2: prompts/v2.j2}\n"
    "cases: [cases.jsonl]\n"
    "scorers:\n"
    "  - name: exact\n"
)


@dataclass
class StudioData:
    store: Store
    db: str
    root: Path  # the suite's folder

    @property
    def cases_file(self) -> Path:
        return self.root / "cases.jsonl"

    @property
    def generated_file(self) -> Path:
        return self.root / "generated.jsonl"


def case_lines(n: int = 30) -> bytes:
    """The golden case file, written by hand: key orders and spacing vary, one line is CRLF-ended."""
    lines = []
    for i in range(n):
        if i % 3 == 0:
            line = json.dumps(
                {"expected": {"answer": "a"}, "id": f"case-{i:03d}", "input": {"question": f"q{i}"}}
            )
        else:
            line = f'{{"id":"case-{i:03d}",  "input":{{"question":"q{i} é"}},"expected":{{"answer":"a"}}, "tags":[]}}'
        lines.append(line + ("\r\n" if i == 7 else "\n"))
    return "".join(lines).encode("utf-8")


def build_studio_data(base: Path, db: str | None = None) -> StudioData:
    """The data under ``base``, in ``db`` (default: a DuckDB file there)."""
    db = db or str(base / "studio.duckdb")
    store = open_store(db)
    root = base / "suite"
    root.mkdir(parents=True, exist_ok=True)
    (root / "cases.jsonl").write_bytes(case_lines())
    payload_runs(store, root, suite_yaml=SUITE_YAML)  # the runs' own suite, as they recorded it
    GrowthStore(store).add_candidates(
        [
            Candidate(
                suite_name="s",
                candidate_id="gen-empty-001",
                source="generated",
                family="empty input",
                input={"question": f"empty {SCRIPT}"},
                expected={"answer": "none"},
                tags=["edge"],
                provenance={"generator": "openai/g"},
                created_at=datetime(2026, 1, 6),
            ),
            Candidate(
                suite_name="s",
                candidate_id="gen-long-002",
                source="generated",
                family="long input",
                input={"question": "long " * 20},
                expected={"answer": "long"},
                created_at=datetime(2026, 1, 6, 0, 1),
            ),
        ]
    )
    return StudioData(store=store, db=db, root=root)


@pytest.fixture
def studio_data(tmp_path: Path) -> StudioData:
    return build_studio_data(tmp_path)

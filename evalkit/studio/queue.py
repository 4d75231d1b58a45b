"""The review queue: per suite, pending candidates and cases people flagged as "expected is wrong"."""

from __future__ import annotations

from typing import Any

from evalkit.store import Store
from evalkit.store.browse import suite_paths
from evalkit.store.growth import GrowthStore
from evalkit.store.labels import LabelStore
from evalkit.studio.views import json_text, pretty


def review_queue(store: Store) -> list[dict[str, Any]]:
    """One entry per suite with something to review."""
    paths = suite_paths(store)
    growth = GrowthStore(store)
    labels = LabelStore(store)
    # a flag is keyed on the output it was given on; a correction made from another run's page (a
    # different output) settles it too: a flag older than its case's latest fix is not shown
    fixed: dict[tuple[str, str], Any] = {}
    for fix in labels.current(kind="expected", grade="fixed"):
        key = (fix.suite_name, fix.case_id)
        fixed[key] = max(fixed.get(key, fix.created_at), fix.created_at)
    flagged = [
        lab
        for lab in labels.current(kind="expected", grade="wrong")
        if (lab.suite_name, lab.case_id) not in fixed or fixed[(lab.suite_name, lab.case_id)] < lab.created_at
    ]
    names = sorted(set(paths) | {lab.suite_name for lab in flagged})
    queue = []
    for name in names:
        candidates = growth.candidates(name, status="pending")
        mine = [lab for lab in flagged if lab.suite_name == name]
        if not candidates and not mine:
            continue
        queue.append(
            {
                "suite": name,
                "path": paths.get(name),
                "candidates": [
                    {
                        "id": c.candidate_id,
                        "source": c.source,
                        "family": c.family,
                        "input": pretty(c.input),
                        "expected": pretty(c.expected) if c.expected is not None else "",
                        "expected_json": json_text(c.expected) if c.expected is not None else "",
                        "tags": c.tags,
                        "provenance": pretty(c.provenance),
                    }
                    for c in candidates
                ],
                "flagged": mine,
            }
        )
    return queue

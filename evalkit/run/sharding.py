"""Splitting a suite's cases into shards for a CI matrix: ``evalkit run --shard 2/4``.

A case's shard depends only on its id and the number of shards (rendezvous hashing: the shard whose
hash of ``(shard, case id)`` is highest wins). So adding or removing cases never moves the other
cases, and going from n to n+1 shards moves only about 1/(n+1) of them, which keeps each runner's
response cache warm. Sizes are balanced in expectation, not exactly.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from evalkit.cases import Case
from evalkit.errors import UsageError
from evalkit.results import RunRecord

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(case_id: str, count: int) -> int:
    """The shard (1-based, of ``count``) that owns ``case_id``."""
    if count < 1:
        raise ValueError("count must be at least 1")

    def weight(shard: int) -> bytes:
        return hashlib.sha256(f"{shard}\x00{case_id}".encode()).digest()

    return max(range(1, count + 1), key=weight)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (both 1-based, as CI matrices number them)."""

    index: int
    count: int

    @classmethod
    def parse(cls, spec: str) -> Shard:
        """Read ``I/N`` (e.g. ``2/4``); a clear usage error otherwise."""
        match = _SPEC.match(spec)
        if not match:
            raise UsageError(f"--shard {spec!r}: expected I/N, e.g. 2/4")
        index, count = int(match.group(1)), int(match.group(2))
        if count < 1 or not 1 <= index <= count:
            raise UsageError(f"--shard {spec!r}: I must be between 1 and N (N >= 1)")
        return cls(index, count)

    def accepts(self, case: Case) -> bool:
        """Whether ``case`` belongs to this shard (a ``RunOptions.case_filter``)."""
        return shard_of(case.id, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def resumed_options(run: RunRecord, options: Any) -> Any:
    """``options`` (``RunOptions``) for resuming ``run``: a shard's run finishes its own shard's
    cases, with or without ``--shard`` (the same one); a run of a subset it cannot tell is refused."""
    if options.shard is not None and options.shard != run.shard:
        what = f"shard {run.shard}" if run.shard else "not a shard"
        raise UsageError(f"run {run.run_id} is {what}: resume it without --shard")
    if run.shard is not None:
        return replace(options, shard=run.shard, case_filter=Shard.parse(run.shard).accepts)
    if run.kind == "subset" and options.case_filter is None:
        raise UsageError(
            f"run {run.run_id} ran a subset of the suite's cases, which --resume cannot tell; start a new run"
        )
    return options


# kinds of run that set out to run every case of their suite
_WHOLE_KINDS = ("full", "repeat", "merged")


def covered_cases(run: RunRecord) -> Callable[[str], bool] | None:
    """Whether a case id is among those ``run`` set out to run: every case of the suite, its shard's,
    or a merge's sources' together. None when the run cannot tell: a subset chosen by a filter it
    does not record, a partial merge stored before its sources' kinds were, a re-scored run."""
    merge = run.config.get("merge")
    sources = merge.get("sources") if isinstance(merge, dict) else None
    if sources and all("kind" in source for source in sources):
        parts = [_covered(source["kind"], source.get("shard")) for source in sources]
        if any(part is None for part in parts):
            return None
        return lambda case_id: any(part is not None and part(case_id) for part in parts)
    return _covered(run.kind, run.shard)


def _covered(kind: str, shard: str | None) -> Callable[[str], bool] | None:
    if kind in _WHOLE_KINDS:
        return lambda _case_id: True
    if kind == "shard" and shard is not None:
        spec = Shard.parse(shard)
        return lambda case_id: shard_of(case_id, spec.count) == spec.index
    return None

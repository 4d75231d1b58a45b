"""Named baselines (migration 005): ``evalkit baseline set NAME RUN`` and ``evalkit run --baseline NAME``.

A name belongs to a suite: ``main`` of suite ``listings`` points at one run of that suite. Setting
the name again moves it. Portable SQL only, like the rest of the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evalkit.errors import UsageError
from evalkit.results import RunRecord
from evalkit.store.queries import Store
from evalkit.store.values import to_json, utcnow

NAME_PATTERN = r"^[A-Za-z0-9_.\-/]+$"
# words a run reference gives a meaning of its own (Store.get_run): a baseline of that name would
# make `--baseline latest` and `evalkit compare main latest` name two runs
RESERVED_NAMES = {"latest": "the latest run"}


@dataclass(frozen=True)
class Baseline:
    """A suite's named reference run."""

    suite_name: str
    name: str
    run_id: str
    set_at: datetime


class BaselineStore:
    """The baselines of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def check_name(self, name: str) -> None:
        """Refuse a name a run reference already gives a meaning: ``latest``, or a stored run's id. (A
        prefix of run ids is not refused: it names a run only while it is unique, and the name, which
        is looked up first, keeps its meaning as runs accumulate; so may a suite and its baseline
        share a name.)"""
        if name in RESERVED_NAMES:
            raise UsageError(
                f"baseline name {name!r} is reserved: {name!r} names {RESERVED_NAMES[name]} wherever a "
                "run is named (`--baseline`, `evalkit compare`); choose another name"
            )
        if self.store.has_run(name):
            raise UsageError(f"baseline name {name!r} is the id of a stored run; choose another name")

    def set(self, name: str, run: RunRecord) -> Baseline:
        """Point ``name`` (of the run's suite) at ``run``, replacing where it pointed before."""
        self.check_name(name)
        baseline = Baseline(suite_name=run.suite_name, name=name, run_id=run.run_id, set_at=utcnow())
        with self.store._transaction() as con:
            con.execute("DELETE FROM baselines WHERE suite_name = ? AND name = ?", (run.suite_name, name))
            con.execute(
                "INSERT INTO baselines (suite_name, name, run_id, set_at) VALUES (?, ?, ?, ?)",
                (baseline.suite_name, baseline.name, baseline.run_id, baseline.set_at),
            )
        return baseline

    def get(self, suite_name: str, name: str) -> Baseline | None:
        """The baseline ``name`` of a suite, if set."""
        with self.store._connection() as con:
            rows = con.execute(
                "SELECT suite_name, name, run_id, set_at FROM baselines WHERE suite_name = ? AND name = ?",
                (suite_name, name),
            )
        return Baseline(*rows[0]) if rows else None

    def unset(self, baseline: Baseline) -> None:
        """Remove a baseline (the run it named is kept)."""
        with self.store._transaction() as con:
            con.execute(
                "DELETE FROM baselines WHERE suite_name = ? AND name = ?",
                (baseline.suite_name, baseline.name),
            )

    def list(self, suite_name: str | None = None) -> list[Baseline]:
        """Every baseline (of one suite, when given), by suite and name."""
        where, params = ("WHERE suite_name = ?", [suite_name]) if suite_name else ("", [])
        with self.store._connection() as con:
            rows = con.execute(
                f"SELECT suite_name, name, run_id, set_at FROM baselines {where} ORDER BY suite_name, name",
                params,
            )
        return [Baseline(*row) for row in rows]

    def run_named(self, ref: str, suite_name: str | None = None) -> RunRecord:
        """The run ``ref`` names where a command takes a run: a baseline name (of ``suite_name``, or of
        the one suite that has it), else a run id, unique prefix or ``latest``."""
        named = [b for b in self._named(ref) if suite_name is None or b.suite_name == suite_name]
        if named:
            _refuse_reserved(named[0])
        if len(named) > 1:
            suites = ", ".join(repr(b.suite_name) for b in named)
            raise UsageError(f"baseline {ref!r} is set for suites {suites}: name a run id instead")
        if named:
            return self.store.get_run(named[0].run_id)
        return self._run(ref, f"suite {suite_name!r}" if suite_name else "any suite")

    def run_pair(self, ref_a: str, ref_b: str) -> tuple[RunRecord, RunRecord]:
        """Runs A and B of a comparison (``evalkit compare A B``, ``evalkit report A --compare B``),
        each named as :meth:`run_named` reads it: a baseline name is one of the other run's suite, and
        a name neither run nor baseline is looked for in the other run's suite (so the error says which)."""
        if not self.is_name(ref_a) and (self.is_name(ref_b) or not self._stored(ref_b)):
            run_a = self.run_named(ref_a)  # the run first: B is read for its suite
            return run_a, self.run_named(ref_b, run_a.suite_name)
        run_b = self.run_named(ref_b)
        return self.run_named(ref_a, run_b.suite_name), run_b

    def is_name(self, ref: str) -> bool:
        """Whether ``ref`` is a baseline name of some suite."""
        return bool(self._named(ref))

    def _named(self, name: str) -> tuple[Baseline, ...]:
        with self.store._connection() as con:
            rows = con.execute(
                "SELECT suite_name, name, run_id, set_at FROM baselines WHERE name = ? ORDER BY suite_name",
                (name,),
            )
        return tuple(Baseline(*row) for row in rows)

    def _stored(self, ref: str) -> bool:
        """Whether ``ref`` names one stored run (an id, unique prefix or ``latest``)."""
        try:
            self.store.get_run(ref)
        except UsageError:
            return False
        return True

    def _run(self, ref: str, whose: str) -> RunRecord:
        try:
            return self.store.get_run(ref)
        except UsageError as exc:
            if not str(exc).startswith("no run "):
                raise  # an ambiguous prefix says so
            raise UsageError(
                f"no baseline {ref!r} of {whose} and no run {ref!r} "
                "(see `evalkit baseline list` and `evalkit runs`)"
            ) from None

    def record_check(self, run_id: str, decision: dict[str, Any]) -> None:
        """Add a regression-gate decision to a finished run's summary (``summary_json["baseline"]``).

        Everything already in the summary is kept.
        """
        with self.store._transaction() as con:
            rows = con.execute("SELECT summary_json FROM runs WHERE run_id = ?", (run_id,))
            if not rows:
                raise UsageError(f"no run {run_id!r}")
            summary = json.loads(rows[0][0]) if rows[0][0] else {}
            summary["baseline"] = decision
            con.execute("UPDATE runs SET summary_json = ? WHERE run_id = ?", (to_json(summary), run_id))

    def resolve(self, suite_name: str, ref: str) -> RunRecord:
        """The run a ``--baseline`` value names: a baseline name of the suite, else a run id or prefix."""
        named = self.get(suite_name, ref)
        if named:
            _refuse_reserved(named)
        run = self.store.get_run(named.run_id) if named else self._run(ref, f"suite {suite_name!r}")
        if run.suite_name != suite_name:
            raise UsageError(
                f"baseline {ref!r} is run {run.run_id} of suite {run.suite_name!r}, not of {suite_name!r}"
            )
        return run


def _refuse_reserved(baseline: Baseline) -> None:
    """A baseline named ``latest`` set before the word was reserved: the word now names two runs, and
    which one was meant is not ours to guess (neither the baseline, as before, nor the latest run)."""
    if baseline.name in RESERVED_NAMES:
        raise UsageError(
            f"{baseline.name!r} names both {RESERVED_NAMES[baseline.name]} and baseline {baseline.name!r} "
            f"of suite {baseline.suite_name!r} (run {baseline.run_id}), set before the word was reserved: "
            f"name the run by its id, or remove the baseline "
            f"(`evalkit baseline unset {baseline.name} --suite {baseline.suite_name}`)"
        )

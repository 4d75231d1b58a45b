"""Combining shard databases into one run: ``evalkit merge shard-*.duckdb --into results.duckdb``.

Each source database contributes its most recent run, with the other cells of that run's matrix
group when it was a prompts x models matrix. Runs of the same cell (suite, prompt, model, params,
epochs) across the sources become one new run in the target database holding every source row
unchanged but for the run id: nothing is dropped, and a case found in two sources stops the merge
before anything is written. The sources must be every shard of one run (``--shard I/N`` for each I
of one N, run on the same case files): a missing shard, a shard given twice or a run that is not a
shard stops the merge too, unless ``allow_partial`` (``--allow-partial``), which stores the merged
run with kind ``partial`` instead of ``merged``. The merged run's summary and gate decision are recomputed from the
merged rows; its ``config_json`` records the source runs under ``merge.sources``. The response
caches of the sources are copied too, so the merged database warms the next run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from evalkit.errors import ExitCode, UsageError
from evalkit.gate.suite import GateDecision
from evalkit.results import RunRecord, RunSummary, new_run_id
from evalkit.run.call_counts import summed_calls
from evalkit.run.sharding import Shard
from evalkit.run.summary import judged_summary, with_unstored_spend
from evalkit.store import Store, open_store
from evalkit.store.run_tables import RunRows, add_cache_rows, insert_run, read_cache_rows, read_run_rows
from evalkit.suite.spec import GateSpec

# how the errors about a source database name it: `evalkit merge DB... --into DB`, not --db
SOURCE_ARGUMENT = "merge's DB argument"


@dataclass(frozen=True)
class SourceRun:
    """One run found in a source database."""

    db: Path
    run: RunRecord


@dataclass(frozen=True)
class MergedRun:
    """A run created by a merge, its summary and gate decision, and the source runs it combines."""

    run: RunRecord
    sources: list[SourceRun]
    summary: RunSummary
    decision: GateDecision


def cell_key(run: RunRecord) -> tuple[str, ...]:
    """What makes runs combinable: same suite content, prompt, model, params and number of epochs."""
    repeat = str(run.config.get("run", {}).get("repeat", 1))
    params = json.dumps(run.params, sort_keys=True)
    return (run.suite_name, run.suite_hash, run.prompt_hash or "", run.model, params, repeat)


def _describe(key: tuple[str, ...]) -> str:
    return f"suite {key[0]} ({key[1][:12]}), prompt {key[2][:12] or '-'}, model {key[3]}"


def latest_runs(store: Store, db: Path) -> list[SourceRun]:
    """The runs a database contributes: its latest run, plus the rest of that run's matrix group."""
    latest = store.get_run("latest")
    if latest.group_id is None:
        return [SourceRun(db, latest)]
    # a matrix's cells start one after another, so they are among the most recent runs
    recent = store.list_runs(suite=latest.suite_name, limit=1000)
    return [SourceRun(db, r) for r in recent if r.group_id == latest.group_id]


@dataclass
class MergePlan:
    """What a merge will write, read and checked before anything is written."""

    sources: list[Path]
    cells: dict[tuple[str, ...], list[SourceRun]]
    parts: dict[tuple[str, ...], list[RunRows]]
    stores: dict[Path, Store]
    gaps: dict[tuple[str, ...], str] = field(default_factory=dict)  # cell -> what is missing (allow_partial)

    @property
    def suite_name(self) -> str:
        return next(iter(self.cells.values()))[0].run.suite_name


def merge_databases(sources: list[Path], into: Path, *, allow_partial: bool = False) -> list[MergedRun]:
    """Merge the latest run(s) of each source database into new runs in ``into`` (see the module doc)."""
    return apply_merge(plan_merge(sources, into, allow_partial=allow_partial), open_store(into))


def plan_merge(sources: list[Path], into: Path, *, allow_partial: bool = False) -> MergePlan:
    """Read the runs to merge and refuse whatever would lose or duplicate a result; writes nothing."""
    if not sources:
        raise UsageError("merge needs at least one source database")
    resolved = [p.resolve() for p in sources]
    duplicates = [p for p, n in Counter(resolved).items() if n > 1]
    if duplicates:
        raise UsageError("source database given twice", path=duplicates[0])
    if into.resolve() in resolved:
        raise UsageError("--into must not be one of the source databases", path=into)
    cells: dict[tuple[str, ...], list[SourceRun]] = {}
    stores: dict[Path, Store] = {}
    for db in sources:
        store = open_store(db, must_exist=True, option=SOURCE_ARGUMENT)
        stores[db] = store
        found = latest_runs(store, db)
        for source in found:
            if source.run.status == "running":
                raise UsageError(
                    f"run {source.run.run_id} is still running (or was killed): finish it with "
                    f"`evalkit run SUITE --resume {source.run.run_id} --db {db}` before merging",
                    path=db,
                )
            cells.setdefault(cell_key(source.run), []).append(source)
    for key, members in cells.items():
        missing = [db for db in sources if db not in {m.db for m in members}]
        if missing:
            raise UsageError(
                f"has no run of {_describe(key)}, which {members[0].db} has: were these shards of one run?",
                path=missing[0],
            )
    parts = {
        key: [read_run_rows(stores[m.db], m.run.run_id) for m in members] for key, members in cells.items()
    }
    gaps: dict[tuple[str, ...], str] = {}
    for key, members in cells.items():
        _check_disjoint(members, parts[key])
        gap = shard_gap(members)
        if gap and not allow_partial:
            raise UsageError(f"{gap}; merge every shard, or pass --allow-partial to store a partial run")
        if gap:
            gaps[key] = gap
    return MergePlan(sources=sources, cells=cells, parts=parts, stores=stores, gaps=gaps)


def shard_gap(members: list[SourceRun]) -> str:
    """What keeps ``members`` from being every shard of one run ("" when they are)."""
    first = members[0]
    for member in members:
        if member.run.shard is None:
            if len(members) == 1:
                return ""  # one whole run copied into another database
            return f"{member.db}: run {member.run.run_id} is not a shard (kind {member.run.kind})"
        if member.run.case_set_hash != first.run.case_set_hash:
            return f"{member.db}: shard {member.run.shard} was run on other case files than {first.db}"
    specs = [Shard.parse(m.run.shard or "") for m in members]
    counts = {spec.count for spec in specs}
    if len(counts) > 1:
        return "shards of different counts: " + ", ".join(
            f"{s} ({m.db})" for s, m in zip(specs, members, strict=True)
        )
    count = counts.pop()
    seen: dict[int, Path] = {}
    for spec, member in zip(specs, members, strict=True):
        if spec.index in seen:
            return f"{member.db}: shard {spec} is also in {seen[spec.index]}"
        seen[spec.index] = member.db
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in seen]
    return f"shard(s) {', '.join(missing)} missing" if missing else ""


def apply_merge(plan: MergePlan, target: Store) -> list[MergedRun]:
    """Write the planned runs into ``target``, then the sources' response caches."""
    matrix_group = _new_group(plan.cells) if len(plan.cells) > 1 else None
    merged = [
        _merge_cell(target, members, plan.parts[key], matrix_group, plan.gaps.get(key, ""))
        for key, members in plan.cells.items()
    ]
    for db in plan.sources:
        add_cache_rows(target, read_cache_rows(plan.stores[db]))
    return merged


def _new_group(cells: dict[tuple[str, ...], list[SourceRun]]) -> str:
    first = next(iter(cells.values()))[0].run
    return new_run_id(f"{first.suite_name}-matrix")


def _check_disjoint(members: list[SourceRun], parts: list[RunRows]) -> None:
    """Refuse cases stored in two sources: shards never overlap, so this is a mistake worth stopping."""
    owner: dict[str, Path] = {}
    for member, rows in zip(members, parts, strict=True):
        for row in rows["cases"]:
            case_id = row[1]
            if case_id in owner:
                raise UsageError(
                    f"case {case_id!r} of run {member.run.run_id} is also in {owner[case_id]}: "
                    "the databases overlap (same --shard twice, or not shards of one run)",
                    path=member.db,
                )
            owner[case_id] = member.db


def _merge_cell(
    target: Store, members: list[SourceRun], parts: list[RunRows], group_id: str | None, gap: str
) -> MergedRun:
    runs = [m.run for m in members]
    first = runs[0]
    config = dict(first.config)
    config["merge"] = {
        "sources": [
            {
                "db": str(m.db),
                "run_id": m.run.run_id,
                "status": m.run.status,
                "results": len(rows["outputs"]),
                "kind": m.run.kind,  # with the shard: which cases the merged run set out to hold
                "shard": m.run.shard,
                "git_commit": m.run.git_commit,
            }
            for m, rows in zip(members, parts, strict=True)
        ],
        "missing": gap or None,  # set on a partial merge (--allow-partial)
    }
    record = RunRecord.new(
        suite_name=first.suite_name,
        suite_path=first.suite_path,
        suite_hash=first.suite_hash,
        prompt_version=first.prompt_version,
        prompt_hash=first.prompt_hash,
        model=first.model,
        params=first.params,
        git_commit=first.git_commit if len({r.git_commit for r in runs}) == 1 else None,
        n_cases=sum(r.n_cases for r in runs),
        config=config,
        started_at=min(r.started_at for r in runs),
        evalkit_version=first.evalkit_version,
        group_id=group_id,
        # what the merged numbers stand for: an unsharded run of the same would be a `repeat` with
        # several epochs (trend pools full and merged runs only: one epoch over every case)
        kind="partial"
        if gap
        else ("repeat" if int(config.get("run", {}).get("repeat", 1)) > 1 else "merged"),
        case_set_hash=first.case_set_hash if len({r.case_set_hash for r in runs}) == 1 else None,
    )
    insert_run(target, record, parts)
    status = "complete" if all(r.status == "complete" for r in runs) else "incomplete"
    summary, decision = _summary(target, record, runs, status)
    target.finish_run(record.run_id, status=status, summary=summary)
    final = target.get_run(record.run_id)
    return MergedRun(run=final, sources=members, summary=summary, decision=decision)


def _summary(
    store: Store, record: RunRecord, runs: list[RunRecord], status: str
) -> tuple[RunSummary, GateDecision]:
    """The summary a run of all the cases would have stored: aggregates, flaky cases, the gate
    (its judges' calibrations included)."""
    gate = GateSpec.model_validate(record.config.get("gate", {}))
    summary, decision, _ = judged_summary(
        store,
        record.run_id,
        gate,
        record.config.get("scorers", []),  # their judges checked in the database merged into
        int(record.config.get("run", {}).get("repeat", 1)),
        calls=summed_calls([r.summary.calls if r.summary is not None else None for r in runs]),
        unpriced_models=sorted({m for r in runs if r.summary is not None for m in r.summary.unpriced_models}),
        uncounted_models=sorted(
            {m for r in runs if r.summary is not None for m in r.summary.uncounted_models}
        ),
        unmetered_target=next((r.summary.unmetered_target for r in runs if r.summary is not None), None),
    )
    summary = with_unstored_spend(summary)  # what a stopped shard paid for and did not store
    if status != "complete":
        unfinished = ", ".join(r.run_id for r in runs if r.status != "complete")
        decision = GateDecision(
            passed=False,
            exit_code=ExitCode.INCOMPLETE,
            reasons=[f"source run(s) {unfinished} did not finish; resume them and merge again"],
        )
    return summary.model_copy(update={"gate": decision}), decision

"""Production failures → new cases: ``evalkit mine SUITE --logs PATH|GLOB --since 7d``.

1. **Read** the logs (JSONL, JSON, CSV, Parquet or a DuckDB table) through the suite's field mapping
   (``mining.fields``), keeping records inside the time window.
2. **Scrub** personal data from every text of a record (:mod:`evalkit.grow.pii`) at once, before
   anything else looks at it; nothing unscrubbed is ever stored or written.
3. **Detect failures**: a provider error, an output that breaks the output schema, a human
   correction, negative user feedback, or a judge score below ``min_judge_score``.
4. **Cluster** similar failures by input (rapidfuzz, leader clustering at ``cluster_threshold``).
5. **Pick** one representative per cluster, biggest clusters first, skipping clusters whose
   representative nearly duplicates an existing case or an earlier pick, up to N cases.
6. **Write** the cases to the suite's mined-case file (``mining.cases_file``) with provenance
   (log id, time, failure reasons, cluster), then record the log ids of the clusters that became a
   case or were already covered in the store, so mining the same window again adds nothing. Clusters
   past the N limit are not recorded: the next run offers them again.

A human correction becomes the case's expected output (verified: a person wrote it), when it follows
the suite's output schema: one that breaks it would make a case no right answer passes, so its record
is not made a case, nor recorded as mined; it is listed (log file and line, the schema error) for a
person to fix, and the next run mines it again. Other mined
cases have no expected output and are unverified, so scorers that need one skip them
(``verified_only``) or report that they could not score. Being unverified is what keeps the suite's
check from refusing them as a golden case without ``expected`` is refused
(:func:`evalkit.suite.loading.awaits_expected`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from evalkit.candidates import Candidate, MinedRecord
from evalkit.cases import Case, CaseSource, content_id, iter_case_file
from evalkit.errors import ConfigError, UsageError
from evalkit.grow.log_records import (
    Failure,
    RecordReader,
    comparable_text,
    field_value,
    is_blank,
    parse_since,
)
from evalkit.grow.logfiles import iter_log, resolve_logs
from evalkit.grow.neardup import NearDuplicateIndex
from evalkit.grow.pii import PiiScrubber
from evalkit.grow.review import append_cases, suite_case_ids
from evalkit.providers.base import needs_prompt
from evalkit.store import Store
from evalkit.store.growth import GrowthStore
from evalkit.suite.growth import MiningSpec
from evalkit.suite.loading import Suite

_CLIP = 2000  # characters of the failing output kept in a case's provenance


@dataclass
class Cluster:
    cluster_id: str
    label: str
    members: list[Failure] = field(default_factory=list)


@dataclass
class MiningReport:
    """What one mining run read, found and added."""

    records: int = 0  # records read
    outside_window: int = 0
    ok: int = 0  # records that did not fail
    duplicates: int = 0  # records whose log id an earlier record of this run had: counted once
    already_mined: int = 0
    unusable: Counter[str] = field(default_factory=Counter)  # reason -> records skipped
    failures: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    clusters: int = 0
    covered: int = 0  # clusters whose representative duplicates an existing case or an earlier pick
    over_limit: int = 0  # clusters that would have become a case but for the limit: not recorded as mined
    limit: int = 0
    limit_source: str = "--n"  # or "mining.max_cases": where the limit came from
    added: list[Case] = field(default_factory=list)
    case_file: Path | None = None
    pii: dict[str, int] = field(default_factory=dict)
    # new failures whose correction breaks the output schema: not made cases, not recorded as mined
    bad_corrections: list[Failure] = field(default_factory=list)


def cluster_failures(failures: Sequence[Failure], threshold: float) -> list[Cluster]:
    """Leader clustering: each failure joins the first-made cluster whose leader it resembles, else leads one.

    Leaders are pairwise below ``threshold``. Clusters come back biggest first (ties: oldest first).
    """
    index = NearDuplicateIndex(threshold)
    clusters: dict[str, Cluster] = {}
    for failure in failures:
        match = index.match(failure.text)
        if match is None:
            cid = "c" + content_id(failure.text)[1:9]
            while (
                cid in clusters
            ):  # same text hash twice cannot happen (it would match); keep ids unique anyway
                cid += "x"
            clusters[cid] = Cluster(cid, _label(failure))
            index.add(cid, failure.text)
            match = (cid, 100.0)
        failure.cluster_id = match[0]
        clusters[match[0]].members.append(failure)
    order = list(clusters)
    return sorted(clusters.values(), key=lambda c: (-len(c.members), order.index(c.cluster_id)))


def _label(failure: Failure) -> str:
    text = " | ".join(str(v) for v in failure.input.values() if not is_blank(v))
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 80 else text[:79] + "…"


def _representative(cluster: Cluster) -> Failure:
    """A member with a human correction when there is one (it brings a verified expected output)."""
    return next((m for m in cluster.members if m.correction is not None), cluster.members[0])


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _CLIP:
        return value[: _CLIP - 1] + "…"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return value if len(text) <= _CLIP else text[: _CLIP - 1] + "…"
    return value


def _case_for(failure: Failure, cluster: Cluster, mined_at: str) -> Case:
    return Case(
        id="mined-" + content_id(failure.log_id)[1:],
        input=failure.input,
        expected=failure.correction,
        tags=["mined", failure.reasons[0]],
        source=CaseSource.MINED,
        verified=failure.correction is not None,
        provenance={
            "log_id": failure.log_id,
            "log_source": failure.source,
            "logged_at": failure.logged_at.isoformat(timespec="seconds") + "Z" if failure.logged_at else None,
            "failure": failure.reasons,
            "cluster": cluster.cluster_id,
            "cluster_size": len(cluster.members),
            "output": _clip(failure.output),
            "feedback": _clip(failure.feedback),
            "mined_at": mined_at,
        },
    )


def mined_cases_path(suite: Suite) -> Path:
    """The case file mined cases are appended to."""
    spec = suite.config.mining
    return suite.base_dir / (spec.cases_file if spec is not None else "mined.jsonl")


def mining_spec(suite: Suite) -> MiningSpec:
    """The suite's ``mining:`` section; a suite without one cannot be mined."""
    if suite.config.mining is None:
        raise ConfigError(
            "suite has no `mining:` section; add one with `fields:` naming the log's input/output/... columns",
            path=suite.path,
        )
    return suite.config.mining


def mine(
    suite: Suite,
    store: Store,
    logs: Sequence[str],
    *,
    since: str | None = None,
    n: int | None = None,
    table: str | None = None,
    now: datetime | None = None,
) -> MiningReport:
    """Mine ``logs`` for failures and add up to ``n`` representative cases to the suite (see module doc)."""
    spec = mining_spec(suite)
    window_start = parse_since(since, now)
    if window_start is not None and not spec.fields.timestamp:
        raise UsageError("--since needs mining.fields.timestamp in the suite (the log's time column)")
    limit = n if n is not None else spec.max_cases
    paths = resolve_logs(logs)
    target = suite.config.target.model
    prompt = suite.prompt() if needs_prompt(target) else None
    variables = sorted(prompt.variables) if prompt is not None else []
    scrubber = PiiScrubber(addresses=spec.pii.addresses, patterns=spec.pii.patterns)
    reader = RecordReader(suite, spec, variables, scrubber)
    report = MiningReport(
        case_file=mined_cases_path(suite),
        limit=limit,
        limit_source="--n" if n is not None else "mining.max_cases",
    )

    failures: list[Failure] = []
    seen_ids: set[str] = set()
    for path in paths:
        for position, record in iter_log(path, table=table or spec.table):
            report.records += 1
            if window_start is not None:
                raw_stamp = field_value(record, spec.fields.timestamp or "")
                stamp = reader.time_of(raw_stamp, str(path), position)
                if stamp is None:  # neither inside nor outside the window: unusable
                    report.unusable["no timestamp" if is_blank(raw_stamp) else "unreadable timestamp"] += 1
                    continue
                if stamp < window_start:
                    report.outside_window += 1
                    continue
            result = reader.read(record, str(path), position)
            if isinstance(result, str):
                if result == "ok":
                    report.ok += 1
                else:
                    report.unusable[result] += 1
                continue
            if result.log_id in seen_ids:  # the same record twice in the logs counts once
                report.duplicates += 1
                continue
            seen_ids.add(result.log_id)
            failures.append(result)

    growth = GrowthStore(store)
    known = growth.mined_log_ids(suite.name, [f.log_id for f in failures])
    report.already_mined = len(known)
    failures = [f for f in failures if f.log_id not in known]
    report.bad_corrections = [f for f in failures if f.correction_error is not None]
    failures = [f for f in failures if f.correction_error is None]
    failures.sort(key=lambda f: (f.logged_at or datetime.min, f.log_id))
    report.failures = len(failures)
    report.reasons = Counter(f.reasons[0] for f in failures)
    pii: Counter[str] = Counter()  # counted over the failures kept, not the duplicates or mined ones
    for failure in failures:
        pii.update(failure.pii)
    report.pii = dict(pii)

    clusters = cluster_failures(failures, spec.cluster_threshold)
    report.clusters = len(clusters)
    case_file = mined_cases_path(suite)
    present = suite_case_ids(suite, [case_file])
    index = NearDuplicateIndex(
        spec.dedup_threshold, ((c.id, comparable_text(c.input)) for c in suite.iter_cases())
    )
    if case_file.exists() and case_file not in suite.case_files:
        for _, case in iter_case_file(case_file):
            index.add(case.id, comparable_text(case.input))
    stamp = datetime.now(timezone.utc).replace(tzinfo=None)
    mined_at = stamp.isoformat(timespec="seconds") + "Z"
    picked: dict[str, Case] = {}  # cluster id -> case
    done: set[str] = set()  # clusters a case stands for (picked or already covered): recorded as mined
    for cluster in clusters:
        rep = _representative(cluster)
        if index.match(rep.text) is not None:
            report.covered += 1
            done.add(cluster.cluster_id)
            continue
        if len(picked) >= limit:  # kept out of mined_records, so the next run offers it again
            report.over_limit += 1
            continue
        done.add(cluster.cluster_id)
        case = _case_for(rep, cluster, mined_at)
        index.add(case.id, rep.text)
        picked[cluster.cluster_id] = case

    written = append_cases(case_file, list(picked.values()), present)
    report.added = [c for c in picked.values() if c.id in written]
    labels = {c.cluster_id: c.label for c in clusters}
    records = [
        MinedRecord(
            suite_name=suite.name,
            log_id=f.log_id,
            log_source=f.source,
            logged_at=f.logged_at,
            failure=f.reasons[0],
            cluster_id=f.cluster_id,
            cluster_label=labels[f.cluster_id],
            case_id=picked[f.cluster_id].id
            if f.cluster_id in picked and picked[f.cluster_id].provenance["log_id"] == f.log_id
            else None,
            mined_at=stamp,
        )
        for f in failures
        if f.cluster_id in done
    ]
    candidates = [
        Candidate(
            suite_name=suite.name,
            candidate_id=c.id,
            source="mined",
            family=c.tags[1],
            input=c.input,
            expected=c.expected,
            tags=c.tags,
            provenance=c.provenance,
            status="accepted",
            created_at=stamp,
            decided_at=stamp,
        )
        for c in picked.values()
    ]
    growth.record_mining(records, candidates)
    return report

"""The studio's pages (GET): runs, one run's cases, one case, a comparison, a suite's trend, the review queue."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from evalkit.errors import EvalkitError
from evalkit.store import browse
from evalkit.store.browse import CaseQuery
from evalkit.store.labels import LabelStore, output_hash
from evalkit.store.opening import database_file
from evalkit.studio.queue import review_queue
from evalkit.studio.state import studio_of
from evalkit.studio.views import (
    PAGE_SIZE,
    epoch_view,
    json_text,
    page_links,
    pct,
    pretty,
    prompt_messages,
    run_row,
)
from evalkit.suite.recorded import run_suite_note

FILTERS = ("verdict", "scorer", "field", "tag", "source", "q")
MAX_OFFSET = 2**62  # the database's offsets are 64-bit
RUNS_PAGE = 200  # runs on one page of the runs list


def _not_found(message: str) -> Response:
    return PlainTextResponse(message, status_code=404)


def _offset(request: Request) -> int:
    """The page's first row (``?offset=``): 0 when absent or not a number."""
    try:
        return min(max(int(request.query_params.get("offset", "0")), 0), MAX_OFFSET)
    except ValueError:
        return 0


async def runs_page(request: Request) -> Response:
    """The runs, newest first, :data:`RUNS_PAGE` at a time, with their headline figures. How many
    there are in all, and where the next page starts, is said on the page and in the
    ``X-Total-Count`` and ``Link: <...>; rel="next"`` headers."""
    studio = studio_of(request)
    total, offset = browse.run_count(studio.store), _offset(request)
    if total and offset >= total:  # past the end (an old link, an edited URL): the last page
        offset = (total - 1) // RUNS_PAGE * RUNS_PAGE
    runs = studio.store.list_runs(limit=RUNS_PAGE, offset=offset)
    from evalkit.analysis.field_metrics import field_metrics_of_counts

    # micro P/R/F1 over field slots, as `evalkit show`, the report and `export` count them
    counts = studio.store.field_slot_counts_by_run([r.run_id for r in runs])
    micro = {run_id: field_metrics_of_counts(rows).micro for run_id, rows in counts.items()}
    prf = {k: {"precision": m.precision, "recall": m.recall, "f1": m.f1} for k, m in micro.items()}
    # a run in progress has no figures yet: its pass rate waits for the end, and so do its fields
    rows = [run_row(r, prf.get(r.run_id) if r.settled_summary else None) for r in runs]
    pages = page_links(total, offset, RUNS_PAGE)
    response = studio.render(
        request,
        "runs.html.j2",
        title="runs",
        runs=rows,
        suites=sorted({r.suite_name for r in runs}),
        groups=sorted({r.group_id for r in runs if r.group_id}),
        pages=pages,
    )
    response.headers["X-Total-Count"] = str(total)
    if pages["next"] is not None:
        response.headers["Link"] = f'</?offset={pages["next"]}>; rel="next"'
    return response


async def run_page(request: Request) -> Response:
    """One run's cases under the filters in the query string, one page at a time."""
    studio = studio_of(request)
    try:
        run = studio.store.get_run(request.path_params["run_id"])
    except EvalkitError as exc:
        return _not_found(exc.one_line())
    chosen = {name: request.query_params.get(name, "") for name in FILTERS}
    offset = _offset(request)
    query = CaseQuery(
        verdict=chosen["verdict"],
        scorer=chosen["scorer"],
        field=chosen["field"],
        tag=chosen["tag"],
        source=chosen["source"],
        text=chosen["q"],
        offset=offset,
        limit=PAGE_SIZE,
    )
    page = browse.case_page(studio.store, run.run_id, query)
    if page.total and offset >= page.total:  # past the end (an old link, an edited URL): the last page
        offset = (page.total - 1) // PAGE_SIZE * PAGE_SIZE
        page = browse.case_page(studio.store, run.run_id, replace(query, offset=offset))
    grades = LabelStore(studio.store).current_for_outputs(
        run.suite_name, [(r["case_id"], output_hash(r["raw_text"] or "")) for r in page.rows]
    )
    rows = [r | {"grade": grades.get((r["case_id"], output_hash(r["raw_text"] or "")))} for r in page.rows]
    kept = {k: v for k, v in chosen.items() if v}
    return studio.render(
        request,
        "run.html.j2",
        title=f"run {run.run_id}",
        run=run,
        summary=run.settled_summary.model_dump() if run.settled_summary else {},
        stored=None if run.settled_summary else studio.store.verdict_counts(run.run_id),
        rows=rows,
        facets=browse.run_facets(studio.store, run.run_id),
        chosen=chosen,
        kept=kept,
        pages=page_links(page.total, offset),
    )


async def case_page(request: Request) -> Response:
    """One case of a run in full, its grades and its history across runs."""
    studio = studio_of(request)
    case_id = request.query_params.get("id", "")
    try:
        run = studio.store.get_run(request.path_params["run_id"])
    except EvalkitError as exc:
        return _not_found(exc.one_line())
    detail = browse.case_detail(studio.store, run.run_id, case_id)
    if detail is None:
        return _not_found(f"run {run.run_id} has no case {case_id!r}")
    unpriced = run.summary.unpriced_models if run.summary is not None else []
    epochs = [
        epoch_view(o, detail["expected"], detail["scores"], detail["fields"], unpriced)
        for o in detail["outputs"]
    ]
    labels = LabelStore(studio.store).of_case(run.suite_name, case_id)
    current: dict[str, Any] = {}
    for label in labels:  # newest first
        if label.kind == "graded" and label.scorer is None:
            current.setdefault(label.output_hash, label)
    flagged = next((lab for lab in labels if lab.kind == "expected"), None)
    # the run's suite, unchanged since: its prompt, and the case file a correction rewrites
    suite, suite_note = run_suite_note(run, database_file(studio.store))
    messages, prompt_note = prompt_messages(run, detail["input"], suite, suite_note)
    return studio.render(
        request,
        "case.html.j2",
        title=f"{case_id} · {run.run_id}",
        run=run,
        case_id=case_id,
        case=detail,
        input_text=pretty(detail["input"]),
        expected_text=json_text(detail["expected"]) if detail["expected"] is not None else None,
        provenance_text=pretty(detail["provenance"]),
        epochs=epochs,
        current=current,
        labels=labels,
        expected_wrong=flagged is not None and flagged.grade == "wrong",
        messages=messages,
        prompt_note=prompt_note,
        history=browse.case_history(studio.store, run, case_id),
        correctable=detail["source"] == "golden" and suite is not None,
        suite_note=suite_note if detail["source"] == "golden" else "",
    )


async def compare_page(request: Request) -> Response:
    """Run B against run A: the flipped cases first, then the paired statistics."""
    from evalkit.analysis.compare import compare_runs
    from evalkit.gate.regression import removed_critical_line
    from evalkit.gate.suite import gate_thresholds
    from evalkit.report.formatting import metric_cells

    studio = studio_of(request)
    refs = [request.query_params.get(side, "") for side in ("a", "b")]
    if not all(refs):  # an empty reference would be read as a prefix of every run id
        return PlainTextResponse("a comparison names two runs: /compare?a=RUN&b=RUN", status_code=400)
    try:
        a, b = (studio.store.get_run(ref) for ref in refs)
    except EvalkitError as exc:
        return _not_found(exc.one_line())
    if a.run_id == b.run_id:  # refused as `evalkit compare` refuses them: no verdicts on nothing
        return PlainTextResponse(
            f"both sides name run {a.run_id}; compare two different runs", status_code=400
        )
    alpha, min_effect = gate_thresholds(b)  # as `evalkit compare` and the report judge the pair
    comparison = compare_runs(studio.store, a, b, alpha=alpha, min_effect=min_effect)
    if comparison.paired == 0:
        return PlainTextResponse(
            f"runs {a.run_id} and {b.run_id} have no case scored in both", status_code=400
        )
    flips = sorted(comparison.flips, key=lambda f: (f.direction != "pass→fail", f.case_id))
    pair_grades = {
        label.case_id: label
        for label in reversed(LabelStore(studio.store).current(kind="pairwise", suite_name=a.suite_name))
        if label.run_id == a.run_id and label.run_b == b.run_id
    }
    return studio.render(
        request,
        "compare.html.j2",
        title=f"{a.run_id} vs {b.run_id}",
        a=a,
        b=b,
        comparison=comparison,
        removed_critical=removed_critical_line(studio.store, a, b),  # cases the pairs leave out
        flips=flips[:200],
        metrics=[metric_cells(m) for m in comparison.metrics],
        pair_grades=pair_grades,
    )


async def trend_page(request: Request) -> Response:
    """A suite's runs over time: pass rate, cost and model, oldest first."""
    studio = studio_of(request)
    suite = request.query_params.get("suite", "")
    if not suite:  # without one, every suite's runs would be drawn as one line
        return PlainTextResponse("a trend is of one suite: /trend?suite=NAME", status_code=400)
    runs = list(reversed(studio.store.list_runs(suite=suite, limit=100)))
    if not runs:
        return _not_found(f"no runs of suite {suite!r}")
    points = [
        {
            "run": r,
            "pass_rate": pct(r.settled_summary.pass_rate if r.settled_summary else None),
            "width": round(100 * ((r.settled_summary.pass_rate or 0.0) if r.settled_summary else 0.0)),
        }
        for r in runs
    ]
    return studio.render(request, "trend.html.j2", title=f"trend · {suite}", suite=suite, points=points)


async def queue_page(request: Request) -> Response:
    """Pending generated and mined candidates, and cases flagged as having a wrong expected output."""
    studio = studio_of(request)
    return studio.render(request, "queue.html.j2", title="review queue", queue=review_queue(studio.store))

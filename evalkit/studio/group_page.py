"""The studio's page of a run group (a prompts x models matrix): its model frontier."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from evalkit.analysis.frontier_cells import gate_alpha, group_frontier
from evalkit.errors import EvalkitError
from evalkit.report.formatting import milliseconds, pvalue
from evalkit.report.frontier import cell_note, diff_text, interval_text, pass_rate_text, usd_per_1k
from evalkit.run.signals import incomplete_group
from evalkit.store.groups import group_runs
from evalkit.studio.state import studio_of


async def group_page(request: Request) -> Response:
    """Every cell of the group: pass rate with its interval, $/1k cases, p95, the Pareto mark, and the
    cheapest cell not significantly worse than the best (as ``evalkit compare GROUP`` prints them).
    Of a matrix stopped before each of its cells started, the cells that ran under a warning that
    names the others, with no best, Pareto mark or comparison with a best (as compare refuses them)."""
    studio = studio_of(request)
    try:
        runs = group_runs(studio.store, request.path_params["group_id"])
    except EvalkitError as exc:
        return PlainTextResponse(exc.one_line(), status_code=404)
    group_id = runs[0].group_id or ""
    # a matrix stopped before each of its cells started: the cells that ran, and no best among them
    incomplete = incomplete_group(studio.store, group_id, runs)
    frontier = group_frontier(studio.store, runs, alpha=gate_alpha(runs[0]))
    rows = [
        {
            "cell": cell,
            "pass_rate": pass_rate_text(cell.stats),
            "f1": interval_text(cell.stats.f1, cell.stats.f1_low, cell.stats.f1_high),
            "cost": usd_per_1k(cell.stats.cost_per_1k),
            "p95": milliseconds(cell.stats.p95_ms),
            "diff": diff_text(frontier, cell.stats.run_id),
            "p": "" if cell.p_vs_best is None else pvalue(cell.p_vs_best),
            "note": cell_note(frontier, cell.stats.run_id),
        }
        for cell in frontier.cells
    ]
    return studio.render(
        request,
        "group.html.j2",
        title=f"group {group_id}",
        group_id=group_id,
        frontier=frontier,
        rows=rows,
        incomplete=incomplete or "",
    )

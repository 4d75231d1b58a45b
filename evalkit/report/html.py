"""``evalkit report``: one self-contained HTML file per run (or pair of runs), readable offline.

The page holds everything inline: CSS, one script, and matplotlib charts as base64 PNGs. The
summary, comparison, flipped cases and prompt versions are rendered by jinja2 with autoescaping.
The case table is data: one JSON block (``<`` ``>`` ``&`` written as ``\\u`` escapes, so it cannot
close its ``<script type="application/json">``) that the page's script turns into rows 100 at a time,
building each case's details (input, word diffs, scorer notes, judge explanations) when it is
opened, with ``textContent`` only. So 10k cases make a light page, and a model output holding
``<script>`` is shown as text and never runs. The script is allowed by its hash in the page's
Content-Security-Policy, which also forbids every external fetch.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from evalkit import __version__
from evalkit.analysis.caching import prompt_cache_text
from evalkit.analysis.compare import Comparison, compare_outcomes
from evalkit.analysis.field_metrics import field_metrics_of_frame
from evalkit.analysis.human_baseline import baseline_error_rates
from evalkit.analysis.outcomes import outcomes_from_frames
from evalkit.gate.regression import removed_critical_line
from evalkit.gate.suite import gate_thresholds
from evalkit.report.case_table import case_records
from evalkit.report.charts import Chart, RunSeries, render_charts
from evalkit.report.formatting import gate_outcome, metric_cells, milliseconds
from evalkit.report.input_files import input_file_views
from evalkit.report.pairwise import pairwise_view
from evalkit.results import RunRecord
from evalkit.store.opening import database_file
from evalkit.store.pairwise import PairwiseStore

if TYPE_CHECKING:
    from evalkit.store import Store

REPORTS_DIR = Path("reports")
FLIPS_SHOWN = 50


@dataclass(frozen=True)
class PromptText:
    """A run's prompt version as the report shows it: the template text, if it can be found unchanged."""

    version: str | None
    hash: str | None
    text: str | None
    note: str = ""


@dataclass
class RunView:
    """One run's columns in the report."""

    record: RunRecord
    key: str  # "a" or "b"
    frame: Any
    scores: Any
    fields: Any
    prompt: PromptText
    epochs: int = 1

    @property
    def label(self) -> str:
        return f"{self.record.prompt_version or '-'} · {self.record.model}"


def load_run_view(store: Store, record: RunRecord, key: str) -> RunView:
    """Read one run's cases, scores and fields from the store."""
    with store.session():
        frame = store.case_results(record.run_id)
        scores = store.score_rows(record.run_id)
        fields = store.field_rows(record.run_id)
    epochs = int(frame["epoch"].max()) + 1 if len(frame) else 1
    if record.summary is not None:  # a run stopped early may hold fewer epochs than it asked for
        epochs = max(epochs, record.summary.repeat)
    return RunView(record, key, frame, scores, fields, prompt_text(record, database_file(store)), epochs)


def prompt_text(run: RunRecord, db_file: Path | None = None) -> PromptText:
    """The run's prompt template, from the run's suite file found unchanged
    (:func:`evalkit.suite.recorded.locate_run_suite`), or else the template at its recorded path when
    its hash is the one the run recorded; otherwise no text and why."""
    from evalkit.suite.recorded import run_suite_note, suite_candidates

    version, recorded = run.prompt_version, run.prompt_hash
    if version is None:
        return PromptText(version, recorded, None, "no prompt (a python:, http: or replay: target)")
    rel = run.config.get("target", {}).get("prompts", {}).get(version)
    if not rel or not run.suite_path:
        return PromptText(version, recorded, None, "the run did not record where its template was")
    suite, why = run_suite_note(run, db_file)
    roots = (
        [suite.base_dir]
        if suite is not None
        else [r / Path(run.suite_path).parent for r in suite_candidates(run.suite_path, db_file)]
    )
    for root in roots:
        path = root / rel
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        now = hashlib.sha256(text.encode()).hexdigest()[:12]
        if recorded and now != recorded:  # not the run's: its text would pass for the run's prompt
            return PromptText(
                version,
                recorded,
                None,
                f"{path} is not this run's template (hash {recorded} then, {now} now: edited since, or "
                "another suite's)",
            )
        return PromptText(version, recorded, text, str(path))
    return PromptText(version, recorded, None, why or f"template {rel} is not found beside the run's suite")


def build_context(
    store: Store, run: RunRecord, other: RunRecord | None = None, *, seed: int = 0
) -> dict[str, Any]:
    """Everything the template shows, for one run or for ``run`` (A, the reference) against ``other`` (B)."""
    views = [load_run_view(store, run, "a")]
    if other is not None:
        views.append(load_run_view(store, other, "b"))
    # a case's outcome over its epochs; a single run of one epoch needs none (its rows are its cases)
    outcomes = (
        [outcomes_from_frames(v.record, v.frame, v.scores, v.fields) for v in views]
        if other is not None or views[0].epochs > 1
        else None
    )
    comparison: Comparison | None = None
    if other is not None and outcomes is not None:
        alpha, min_effect = gate_thresholds(other)
        comparison = compare_outcomes(*outcomes, alpha=alpha, min_effect=min_effect, seed=seed)
    cases = case_records(views, outcomes)
    pairwise = None
    if other is not None:
        pairwise = pairwise_view(PairwiseStore(store).latest(run.run_id, other.run_id))
    return {
        "pairwise": pairwise,
        "title": _title(views),
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "runs": views,
        "comparison": comparison,
        "human_baseline": baseline_error_rates(comparison, run, other) if comparison and other else None,
        "removed_critical": removed_critical_line(store, run, other) if comparison and other else None,
        "input_files": input_file_views(store, run.run_id),
        "flips": comparison.flips[:FLIPS_SHOWN] if comparison else [],
        "charts": render_charts([_series(v, qualify_fields=_field_scorers(views) > 1) for v in views]),
        "field_metrics": [(v, field_metrics_of_frame(v.fields)) for v in views if len(v.fields)],
        "case_data": _script_json(
            {"runs": [{"key": v.key, "label": v.label} for v in views], "cases": cases}
        ),
        "counts": {
            "all": len(cases),
            "failing": sum(c["fail"] for c in cases),
            "errors": sum(c["err"] for c in cases),
            "flipped": sum(bool(c["flip"]) for c in cases),
        },
    }


def render_report(context: dict[str, Any]) -> str:
    """The HTML page for a context from :func:`build_context`."""
    script = _script()
    # The page's one script is allowed by its hash (Content-Security-Policy): even if some text
    # escaped escaping, an injected script or event handler would not run.
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    template = _environment().get_template("report.html.j2")
    html: str = template.render(**context, script=Markup(script), script_hash=f"sha256-{digest}")
    return html


def _script() -> str:
    from importlib import resources

    return resources.files("evalkit.report").joinpath("templates", "report.js").read_text(encoding="utf-8")


def write_report(
    store: Store,
    run: RunRecord,
    other: RunRecord | None = None,
    *,
    path: Path | None = None,
    seed: int = 0,
) -> Path:
    """Render the report and write it (default ``reports/<run>[-vs-<other>].html``); returns the path."""
    if path is None:
        name = run.run_id if other is None else f"{run.run_id}-vs-{other.run_id}"
        path = REPORTS_DIR / f"{_safe_name(name)}.html"
    html = render_report(build_context(store, run, other, seed=seed))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=True,  # every value is escaped unless it is Markup built from escaped pieces
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = _pct
    env.filters["ms"] = milliseconds
    env.filters["fig"] = lambda v: "-" if v is None else f"{v:.3f}"
    # a failing case's score rounds down: a failure never reads "1.00"
    env.filters["case_score"] = lambda v, passed: (
        f"{v if passed else min(math.floor(v * 100) / 100, 0.99):.2f}"
    )
    env.globals["metric_cells"] = metric_cells
    env.filters["gate_outcome"] = gate_outcome
    env.filters["prompt_cache"] = prompt_cache_text
    return env


def _title(views: list[RunView]) -> str:
    first = views[0].record
    if len(views) == 1:
        return f"{first.suite_name} · {views[0].label}"
    return f"{first.suite_name} · {views[0].label} vs {views[1].label}"


def _field_scorers(views: list[RunView]) -> int:
    return len({s for v in views if len(v.fields) for s in v.fields["scorer"].unique()})


def _series(view: RunView, *, qualify_fields: bool) -> RunSeries:
    frame, scores, fields = view.frame, view.scores, view.fields
    ok = frame[frame["status"] == "ok"]
    usable = scores[scores["error"].isna()] if len(scores) else scores
    scorer_rates = (
        {str(k): float(v) for k, v in usable.groupby("scorer", sort=False)["passed"].mean().items()}
        if len(usable)
        else {}
    )
    field_rates = (
        {
            (f"{s}:{f}" if qualify_fields else str(f)): float(v)
            for (s, f), v in fields.groupby(["scorer", "field"], sort=False)["passed"].mean().items()
        }
        if len(fields)
        else {}
    )
    return RunSeries(
        label=view.label,
        scorer_pass_rates=scorer_rates,
        field_accuracy=field_rates,
        case_scores=[float(s) for s in frame["score"].dropna()],
        latencies_ms=[float(v) for v in ok.loc[~ok["cached"].astype(bool), "latency_ms"]],
        cost_usd=float(frame["cost_usd"].sum() + frame["judge_cost_usd"].fillna(0.0).sum()),  # target + judge
        cost_known=view.record.summary is None or view.record.summary.cost_known,
        cost_at_least=view.record.summary is not None and view.record.summary.cost_at_least,
        prompt_tokens=int(frame["prompt_tokens"].sum()),
        completion_tokens=int(frame["completion_tokens"].sum()),
    )


def _script_json(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">``: no character of it can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name)


def _pct(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


__all__ = ["Chart", "build_context", "render_report", "write_report"]

"""Judge commands: ``evalkit calibrate`` (a judge against human labels) and ``evalkit reliability``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evalkit.cli.app import app
from evalkit.cli.options import DB_DEFAULT, DbOption, ProgressOption, RunArgument

if TYPE_CHECKING:
    from evalkit.gate.judge_trust import TrustThresholds
    from evalkit.judges.calibration import JudgeVerdict
    from evalkit.judges.graded import JudgeConfig

DEFAULT_PAIRWISE_RUBRIC = (
    "The better response follows the request's instruction precisely, is correct and helpful, and "
    "contains nothing harmful or made up. Length and style matter only when the request asks for them."
)


@app.command()
def calibrate(
    labels: Path = typer.Argument(
        ...,
        metavar="LABELS",
        help="Human-labelled set: PandaLM testset JSON, an LLMBar dataset (file or folder), evalkit JSONL, "
        "or `store`: the grades given in `evalkit view`.",
    ),
    judge: str | None = typer.Option(
        None, "--judge", "-j", help="Judge model (any litellm model string); default: the suite scorer's."
    ),
    rubric: str | None = typer.Option(None, "--rubric", help="Rubric text."),
    rubric_file: Path | None = typer.Option(None, "--rubric-file", help="Read the rubric from this file."),
    suite: Path | None = typer.Option(
        None, "--suite", help="Take the judge configuration from this suite's llm_judge scorer."
    ),
    scorer: str | None = typer.Option(
        None, "--scorer", help="Id of the llm_judge scorer in --suite (default: the only one)."
    ),
    precomputed: Path | None = typer.Option(
        None,
        "--precomputed",
        help="Verdicts computed elsewhere (e.g. PandaLM's gpt-3.5-turbo file): no model is called.",
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", help="Base URL of the judge's OpenAI-compatible server."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="Use only the first N items."),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, help="Judge calls in flight."),
    db: Annotated[
        str | None, typer.Option("--db", help=f"Results database, where the report is stored {DB_DEFAULT}.")
    ] = None,
    progress: ProgressOption = True,
    label_kind: str = typer.Option(
        "graded", "--label-kind", help="With LABELS `store`: graded (pass/fail) or pairwise (A/B/tie) grades."
    ),
    judge_run: str | None = typer.Option(
        None,
        "--judge-run",
        help="Measure the judge verdicts a stored run already holds (its llm_judge scorer, or --scorer), "
        "matched to graded labels by case and identical output: no model is called.",
    ),
    orders: str = typer.Option(
        "auto",
        "--orders",
        help="Pairwise sets: judge each pair in both orders (both; the default, except for a "
        "--precomputed file with one verdict per item) or once (one).",
    ),
    verdict: str = typer.Option(
        "auto",
        "--verdict",
        help="Both orders: read the verdict from the answer token's log-probabilities (logprobs), "
        "from a written verdict (text), or logprobs where the provider returns them (auto).",
    ),
    fields: str | None = typer.Option(
        None,
        "--fields",
        help="Both-order --precomputed file of another tool: id=PATH,order_12=PATH,order_21=PATH"
        "[,margin_12=PATH,margin_21=PATH][,terms=slots]; a PATH may reach into nested rows, e.g. "
        'results[0]["swap = False"].winner (see docs/judge.md).',
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Name to store the calibration under (default: the set's folder/file)."
    ),
    trusted_at: str | None = typer.Option(
        None,
        "--trusted-at",
        help="Minimums for 'trusted', e.g. accuracy=0.85,agreement=0.90,kappa=0.60 (the defaults).",
    ),
    usable_at: str | None = typer.Option(
        None,
        "--usable-at",
        help="Minimums for 'usable', e.g. accuracy=0.65,agreement=0.75,kappa=0.30 (the defaults).",
    ),
) -> None:
    """Measure a judge against human labels and say whether to trust it: verdict trusted|usable|refused.

    Reports agreement, Cohen's kappa, TPR/TNR and the confusion matrix; pairwise sets are judged in
    both orders (accuracy per order and their mean, positional agreement, both orders right). Ends
    with the thresholds applied and `verdict: trusted|usable|refused`. Stored per judge model, rubric
    (prompt) hash and dataset; the gate checks a judge scorer's min_kappa against each dataset's latest.
    A --precomputed file stands for the judge and rubric given by --judge and --rubric,
    --rubric-file or --suite, or by a sidecar FILE.judge.json.
    """
    import asyncio

    from evalkit.cli.calibration_trust import (
        check_flags,
        dataset_name,
        declared_judge,
        finish_calibration,
        print_calibration,
        stop_if_unreached,
        trust_thresholds,
        warn_ids,
    )
    from evalkit.cli.console import progress_bar
    from evalkit.errors import UsageError
    from evalkit.judges.calibration import build_report, judge_labelled_set, precomputed_verdicts
    from evalkit.judges.labelled import load_precomputed_verdicts, match_ids
    from evalkit.providers.calls import ModelCaller

    thresholds = trust_thresholds(trusted_at, usable_at)  # a bad flag fails before any judging
    labelled = _labelled(labels, label_kind, db)  # a file, or the human grades in the store
    name = dataset or (dataset_name(labels) if labels.exists() else labelled.name)
    labelled = labelled.model_copy(update={"name": name})
    check_flags(
        labelled.mode,
        judge_run=judge_run,
        precomputed=precomputed,
        orders=orders,
        verdict=verdict,
        fields=fields,
    )
    declaration = declared_judge(precomputed) if precomputed is not None else {}
    judge = judge or declaration.get("judge")
    rubric = rubric or declaration.get("rubric")
    declared = precomputed is None or bool(rubric or rubric_file or suite)
    full = labelled
    if judge_run is not None:
        _calibrate_stored_run(labelled, judge_run, scorer, db, thresholds, limit)
        return
    if limit is not None:
        labelled = labelled.model_copy(update={"items": labelled.items[:limit]})
    config = _judge_config(judge, rubric, rubric_file, suite, scorer, api_base, labelled.mode, precomputed)
    if labelled.mode == "pairwise":
        from evalkit.cli.pairwise import calibrate_orders, print_order_calibration, wants_both_orders

        if wants_both_orders(orders, precomputed, fields):
            pairs = None
            if precomputed is not None:
                from evalkit.judges.pairwise_calibration import load_order_verdicts, parse_field_mapping

                pairs = load_order_verdicts(precomputed, parse_field_mapping(fields))
                warn_ids(match_ids(full, pairs, precomputed, measured=labelled), full.name)
            report = calibrate_orders(
                labelled, config, suite, pairs, declared, verdict, concurrency, progress
            )
            finish_calibration(report, thresholds, db, print_order_calibration, declared)
            return
    if precomputed is not None:
        found = load_precomputed_verdicts(precomputed, labelled.labels)
        warn_ids(match_ids(full, found, precomputed, measured=labelled), full.name)
        verdicts = precomputed_verdicts(found)
    else:
        if not config.models:
            raise UsageError("name the judge: --judge MODEL, or --suite with an llm_judge scorer")
        base_dir = suite.parent if suite is not None and suite.is_file() else suite
        bar = progress_bar(progress)
        task = bar.add_task(f"judging with {config.models[0]}", total=len(labelled.items))

        async def go() -> dict[str, JudgeVerdict]:
            caller = ModelCaller(base_dir)
            try:
                return await judge_labelled_set(
                    labelled,
                    config,
                    caller.complete,
                    concurrency=concurrency,
                    on_item=lambda: bar.advance(task),
                )
            finally:
                await caller.aclose()

        with bar:
            verdicts = asyncio.run(go())
        stop_if_unreached([[v.error] for v in verdicts.values()])
    report = build_report(labelled, verdicts, judge_model=config.models[0], rubric_hash=config.rubric_hash)
    finish_calibration(report, thresholds, db, print_calibration, declared)


def _labelled(labels: Path, kind: str, db: str | None) -> Any:
    """The labelled set named by LABELS: a file, or ``store`` (the human grades in the results store)."""
    from evalkit.errors import UsageError
    from evalkit.judges.labelled import load_labelled_set
    from evalkit.judges.stored_labels import STORE_SET_NAME, labelled_set_from_store
    from evalkit.store import open_store

    if str(labels) != STORE_SET_NAME or labels.exists():
        return load_labelled_set(labels)
    if kind not in ("graded", "pairwise"):
        raise UsageError(f"--label-kind must be graded or pairwise, not {kind!r}")
    return labelled_set_from_store(open_store(db, must_exist=True), kind)  # type: ignore[arg-type]


def _calibrate_stored_run(
    labelled: Any,
    run_ref: str,
    scorer: str | None,
    db: str | None,
    thresholds: TrustThresholds,
    limit: int | None,
) -> None:
    """Calibrate the judge verdicts stored in a run against the labels of its suite's outputs (the first
    ``limit`` of them); store, print and give the verdict."""
    from evalkit.cli.calibration_trust import finish_calibration, print_calibration
    from evalkit.cli.console import err
    from evalkit.judges.calibration import build_report
    from evalkit.judges.stored_labels import of_suite, stored_judge, stored_judge_verdicts
    from evalkit.store import open_store

    store = open_store(db, must_exist=True)
    run = store.get_run(run_ref)
    label, model, rubric_hash = stored_judge(run.config, scorer, run.run_id)
    labelled, others = of_suite(labelled, run.suite_name)
    if others:
        err.print(
            f"note: {others} label(s) grade outputs of other suites than {run.suite_name!r}: left out "
            f"(run {run.run_id}'s judge never saw them)",
            soft_wrap=True,
        )
    if limit is not None:
        labelled = labelled.model_copy(update={"items": labelled.items[:limit]})
    verdicts = stored_judge_verdicts(store, labelled, run.run_id, label, run.suite_name)
    report = build_report(labelled, verdicts, judge_model=model, rubric_hash=rubric_hash)
    finish_calibration(report, thresholds, db, print_calibration, True)


def _judge_config(
    judge: str | None,
    rubric: str | None,
    rubric_file: Path | None,
    suite: Path | None,
    scorer: str | None,
    api_base: str | None,
    mode: str,
    precomputed: Path | None,
) -> JudgeConfig:
    """The judge configuration from the command line, or from a suite's llm_judge scorer."""
    from evalkit.errors import UsageError
    from evalkit.judges.graded import DEFAULT_JUDGE_PARAMS, JudgeConfig

    args: dict[str, Any] = {}
    if suite is not None:
        from evalkit.suite.loading import load_suite

        loaded = load_suite(suite)
        judges = [
            s
            for s in loaded.config.scorers
            if s.name == "llm_judge" and (scorer is None or s.label == scorer)
        ]
        if len(judges) != 1:
            what = f"an llm_judge scorer with id {scorer!r}" if scorer else "exactly one llm_judge scorer"
            raise UsageError(f"suite {loaded.name!r} has no {what} (use --scorer ID)")
        args = judges[0].args
    if rubric_file is not None:
        from evalkit.suite.textfile import read_utf8

        rubric = read_utf8(rubric_file, what="rubric file")
        if not rubric.strip():
            raise UsageError("rubric file is empty", path=rubric_file)
    text = rubric or args.get("rubric")
    if not text:
        if precomputed is not None:
            text = f"precomputed verdicts: {precomputed.name}"
        elif mode == "pairwise":
            text = DEFAULT_PAIRWISE_RUBRIC
        else:
            raise UsageError("graded items need a rubric: --rubric, --rubric-file or --suite")
    model = judge or (precomputed.stem if precomputed is not None else None)
    if model is None:
        configured = args.get("model")
        if isinstance(configured, list) and len(configured) > 1:  # the gate asks it of each member
            raise UsageError(
                f"the suite's judge is a panel of {len(configured)} models: calibrate each with --judge MODEL"
            )
        model = configured if isinstance(configured, str) else (configured or [None])[0]
    return JudgeConfig(
        rubric=text,
        models=[model] if model else [],
        params={**DEFAULT_JUDGE_PARAMS, **(args.get("params") or {})},
        api_base=api_base or args.get("api_base"),
        parse_retries=args.get("parse_retries", 2),
        timeout=args.get("timeout"),  # the suite's judge is asked as it is in a run
    )


@app.command()
def reliability(
    run: RunArgument = "latest",
    field: str | None = typer.Option(
        None, "--confidence-field", help="Output field holding the model's confidence (default: the suite's)."
    ),
    bins: int = typer.Option(10, "--bins", min=1, max=100, help="Bins of the reliability table."),
    db: DbOption = None,
) -> None:
    """How far to trust RUN's verdicts: confidence calibration (ECE), judge noise, target noise."""
    from rich.table import Table

    from evalkit.cli.console import out, pct
    from evalkit.judges.reliability import run_reliability
    from evalkit.store import open_store

    report = run_reliability(open_store(db, must_exist=True), run, field=field, bins=bins)
    out.print(f"{report.run_id}")
    c = report.confidence
    if c is None:
        out.print("Confidence: the suite names no target.confidence_field (or pass --confidence-field)")
    else:
        ece = "n/a" if c.ece is None else f"{c.ece:.3f}"
        mean = "n/a" if c.mean_confidence is None else f"{c.mean_confidence:.2f}"
        out.print(
            f"Confidence ({c.field}): {c.with_confidence} of {c.cases} scored outputs report one · "
            f"mean confidence {mean} · pass rate {pct(c.accuracy)} · ECE {ece}",
        )
        if c.reliability:
            table = Table(box=None, show_edge=False, pad_edge=False)
            for col in ("confidence", "outputs", "mean confidence", "pass rate"):
                table.add_column(col, justify="right")
            for b in c.reliability:
                if b.count:
                    table.add_row(
                        f"{b.lower:.1f}-{b.upper:.1f}",
                        str(b.count),
                        f"{b.mean_confidence:.2f}",
                        pct(b.accuracy),
                    )
            out.print(table)
    if not report.judges:
        out.print("Judge noise: no judge scorer cast several votes per output (set repeats or a panel)")
    for j in report.judges:
        stdev = "n/a" if j.mean_score_stdev is None else f"{j.mean_score_stdev:.2f}"
        out.print(
            f"Judge noise ({j.scorer}): {j.outputs} outputs x {j.mean_votes:.1f} votes · votes split on "
            f"{pct(j.split_rate)} of outputs · mean agreement with the verdict {pct(j.mean_vote_agreement)} · "
            f"score stdev {stdev}/10",
        )
    t = report.target
    if t.cases:
        out.print(
            f"Target noise: verdict changed between epochs on {pct(t.flip_rate)} of {t.cases} cases",
        )
    else:
        out.print("Target noise: one epoch per case (run with --repeat N to measure it)")

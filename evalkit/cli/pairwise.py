"""Pairwise judging on the command line: `evalkit calibrate` in both orders, `evalkit compare --judge`.

No command of its own: :mod:`evalkit.cli.judge` (calibrate) and :mod:`evalkit.cli.compare` (compare)
call these helpers, so each command keeps one home.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def wants_both_orders(orders: str, precomputed: Path | None, fields: str | None) -> bool:
    """Whether a pairwise calibration judges (or reads) both orders."""
    from evalkit.errors import UsageError
    from evalkit.judges.pairwise_calibration import is_order_file, parse_field_mapping

    if orders not in ("auto", "both", "one"):
        raise UsageError(f"--orders must be auto, both or one, not {orders!r}")
    if orders == "one":
        return False
    if precomputed is None:
        return True
    two = is_order_file(precomputed, parse_field_mapping(fields))
    if orders == "both" and not two:
        raise UsageError(
            f"{precomputed}: --orders both needs two verdicts per item (order_12, order_21; or --fields)"
        )
    return two


def calibrate_orders(
    labelled: Any,
    config: Any,
    suite: Path | None,
    precomputed: dict[str, Any] | None,
    declared: bool,
    verdict: str,
    concurrency: int,
    progress: bool,
) -> Any:
    """`evalkit calibrate` for a pairwise set in both orders: judge them (or take ``precomputed``
    verdicts, by item id) and score them; returns the report.

    Precomputed verdicts whose judge and rubric are ``declared`` are keyed as that judge would be
    live (its prompt hash, with ``--verdict``), so the pairwise gate finds them.
    """
    import asyncio
    import time

    from evalkit.cli.calibration_trust import stop_if_unreached
    from evalkit.errors import UsageError
    from evalkit.judges.pairwise import PairwiseJudge
    from evalkit.judges.pairwise_calibration import build_order_report

    if verdict not in ("auto", "logprobs", "text"):
        raise UsageError(f"--verdict must be auto, logprobs or text, not {verdict!r}")
    if precomputed is not None:
        standing_for = PairwiseJudge(model=config.models[0], rubric=config.rubric, verdict=verdict)
        report = build_order_report(
            labelled,
            precomputed,
            judge_model=config.models[0],
            prompt_hash=standing_for.prompt_hash if declared else config.rubric_hash,
            verdict_method="precomputed",
        )
    else:
        if not config.models:
            raise UsageError("name the judge: --judge MODEL, or --suite with a judge scorer")
        judge = PairwiseJudge(
            model=config.models[0],
            rubric=config.rubric,
            verdict=verdict,
            reasoning=False,  # calibration needs the verdicts, not their explanations
            params={k: v for k, v in config.params.items() if k != "max_tokens"},
            api_base=config.api_base,
            parse_retries=config.parse_retries,
            timeout=config.timeout,
        )
        base_dir = suite.parent if suite is not None and suite.is_file() else suite
        start = time.perf_counter()
        verdicts = asyncio.run(_judge(labelled, judge, base_dir, concurrency, progress))
        stop_if_unreached([[v.ab.error, v.ba.error] for v in verdicts.values()])
        report = build_order_report(
            labelled,
            verdicts,
            judge_model=judge.model,
            prompt_hash=judge.prompt_hash,
            verdict_method=verdict,
            seconds=time.perf_counter() - start,
        )
    return report


async def _judge(labelled: Any, judge: Any, base_dir: Path | None, concurrency: int, progress: bool) -> Any:
    from evalkit.cli.console import progress_bar
    from evalkit.judges.pairwise_calibration import judge_both_orders
    from evalkit.providers.calls import ModelCaller

    bar = progress_bar(progress)
    task = bar.add_task(f"judging both orders with {judge.model}", total=len(labelled.items))
    caller = ModelCaller(base_dir)
    try:
        with bar:
            return await judge_both_orders(
                labelled, judge, caller.complete, concurrency=concurrency, on_item=lambda: bar.advance(task)
            )
    finally:
        await caller.aclose()


def print_order_calibration(report: Any) -> None:
    """The both-orders calibration report."""
    from rich.text import Text

    from evalkit.cli.console import out, pct
    from evalkit.gate.judge_trust import kappa_basis

    s = report.stats
    kappa = "n/a" if s.kappa is None else f"{s.kappa:.3f}"
    took = f" · {report.seconds:.0f} s" if report.seconds is not None else ""
    out.print(
        Text(
            f"{report.judge_model} · prompt {report.rubric_hash} · {report.dataset} "
            f"(pairwise, both orders, verdict {report.verdict_method}){took}",
            style="bold",
        )
    )
    decided = ", ".join(f"{k} {v}" for k, v in sorted(report.decided_by.items()))
    out.print(f"Items {s.n_items}: no verdict in some order {s.n_errors} · decided by: {decided}")
    out.print(
        f"Accuracy: output 1 shown first {pct(s.accuracy_first_order)} · output 2 shown first "
        f"{pct(s.accuracy_second_order)} · mean accuracy over orders {pct(s.mean_accuracy)} · "
        f"combined decision {pct(s.combined_accuracy)}",
    )
    out.print(
        f"Positional agreement {pct(s.position_agreement)} · both orders right {pct(s.both_correct)} · "
        f"first-slot answers {pct(s.first_slot_share)} · Cohen's kappa (combined) {kappa} "
        f"{kappa_basis(report.n_judged, report.n_items)}",
    )


def judge_runs(
    store: Any,
    run_a: Any,
    run_b: Any,
    model: str,
    rubric_file: Path | None,
    verdict: str | None,
    api_base: str | None,
    limit: int | None,
) -> Any:
    """`evalkit compare A B --judge MODEL`: judge, apply B's gate.pairwise, store, print."""
    from evalkit.analysis.pairwise_runs import compare_with_judge
    from evalkit.cli.console import progress_bar
    from evalkit.errors import UsageError
    from evalkit.gate.pairwise import gate_comparison
    from evalkit.judges.pairwise import DEFAULT_PAIRWISE_RUBRIC, PairwiseJudge
    from evalkit.store.pairwise import PairwiseStore
    from evalkit.suite.spec import PairwiseGateSpec

    spec_data = (run_b.config.get("gate") or {}).get("pairwise")
    spec = PairwiseGateSpec.model_validate(spec_data) if spec_data else None
    rubric = spec.rubric if spec is not None and spec.rubric else DEFAULT_PAIRWISE_RUBRIC
    if rubric_file is not None:
        from evalkit.suite.textfile import read_utf8

        rubric = read_utf8(rubric_file, what="rubric file")
    method = verdict or (spec.verdict if spec is not None else "auto")
    if method not in ("auto", "logprobs", "text"):
        raise UsageError(f"--judge-verdict must be auto, logprobs or text, not {method!r}")
    judge = PairwiseJudge(
        model=model,
        rubric=rubric,
        verdict=method,
        api_base=api_base or (spec.api_base if spec is not None else None),
    )
    from evalkit.store.opening import database_file
    from evalkit.suite.recorded import judge_dir

    base_dir = judge_dir(run_b, database_file(store), model)
    bar = progress_bar()
    task = bar.add_task(f"pairwise judge {model}, both orders", total=None)
    with bar:
        comparison = compare_with_judge(
            store,
            run_a,
            run_b,
            judge,
            limit=limit,
            base_dir=base_dir,
            on_start=lambda n: bar.update(task, total=n),
            on_case=lambda: bar.advance(task),
        )
    if not comparison.cases:
        raise UsageError(f"runs {run_a.run_id} and {run_b.run_id} have no case with an output in both")
    if spec is not None:
        gate_comparison(store, comparison, spec)
    PairwiseStore(store).add(comparison)
    print_pairwise(comparison)
    return comparison


def print_pairwise(comparison: Any, shown: int = 10) -> None:
    """The pairwise judge's verdict on B against A: win rate, sign test, position bias, disagreements."""
    from rich.text import Text

    from evalkit.cli.console import clip, out, pct
    from evalkit.report.formatting import judge_spend_text

    s, judge = comparison.stats, comparison.judge
    out.print(
        Text(
            f"Pairwise judge {judge.model} (prompt {judge.prompt_hash}, verdict {judge.verdict}), both orders, "
            f"{s.n} cases",
            style="bold",
        )
    )
    notes = []
    if s.errors:
        notes.append(f"{s.errors} without a verdict (judge errors)")
    if comparison.left_out:
        notes.append(f"{comparison.left_out} not judged (no output in both runs, or beyond --judge-limit)")
    if notes:
        out.print("; ".join(notes))
    out.print(
        f"Judge spend: {judge_spend_text(comparison.calls, comparison.cost_usd, comparison.unpriced_models)}"
    )
    if s.win_rate is None:
        rate = "win rate n/a (no decisive case)"
    else:
        rate = (
            f"B's win rate over A {pct(s.win_rate)} (95% CI {pct(s.ci_low)} to {pct(s.ci_high)}; "
            f"ties counting half {pct(s.win_rate_ties_half)})"
        )
    out.print(
        f"B wins {s.wins}, A wins {s.losses}, ties {s.ties} · {rate} · sign test p = {s.sign_test_p:.3g}",
    )
    out.print(
        f"Position agreement {pct(s.position_agreement)} (same winner in both orders) · first-slot answers "
        f"{pct(s.first_slot_share)} · decided by log-probabilities {comparison.logprob_decided} of {s.n + s.errors}",
    )
    disagreements = comparison.disagreements
    if disagreements:
        out.print(f"Orders disagree on {len(disagreements)} case(s):")
        for case in disagreements[:shown]:
            out.print(f"  {case.case_id}: {case.verdict.reason}")
            for order in case.verdict.orders:
                if order.reasoning:
                    out.print(f"    {order.order}: {clip(order.reasoning, 200)}")
        if len(disagreements) > shown:
            out.print(f"  ... {len(disagreements) - shown} more in `evalkit report A --compare B`")
    gate = comparison.gate
    if gate is not None:
        style = "bold green" if gate.passed else "bold red"
        word = "passed" if gate.passed else "FAILED"
        out.print(Text(f"Pairwise gate {word}: " + "; ".join(gate.reasons), style=style))
        for warning in gate.warnings:
            out.print(Text(f"WARNING: {warning}", style="bold yellow"))
    out.print(
        f"Stored as pairwise comparison {comparison.comparison_id}; "
        f"`evalkit report {comparison.run_a} --compare {comparison.run_b}` shows every verdict with its reasons",
    )

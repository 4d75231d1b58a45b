"""What each table of the results store holds, in words: one row of it, notes, and each column.

docs/store.md's table reference is generated from the migrations plus these descriptions
(:mod:`evalkit.store.schema_doc`); a migration that adds a table or column is described here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableDoc:
    """What one row of a table is, notes on the table, and what its columns hold."""

    row: str
    columns: dict[str, str] = field(default_factory=dict)
    notes: str = ""


# In the order the doc lists them: a run and its rows first, then growth, judges, baselines, pairwise.
# Row descriptions use the multiplication sign ("case by epoch" in the doc), hence the RUF001 exemptions.
TABLES: dict[str, TableDoc] = {
    "runs": TableDoc(
        row="run of a suite (one prompt version × one model)",  # noqa: RUF001
        columns={
            "run_id": "suite name, UTC start time and a random suffix, e.g. `listings-20261127-101500-3fa2`",
            "suite_name": "the suite's `name`",
            "suite_path": "the suite file the run was made from, as typed (relative to the directory the run "
            "was made in; a Ray run's absolute); read again only while its hash is `suite_hash` (docs/runs.md)",
            "suite_hash": "first 12 hex of the SHA-256 of the suite file, its prompts and output schema",
            "prompt_version": "the prompt version run; NULL when the target has no prompt",
            "prompt_hash": "first 12 hex of the SHA-256 of that version's template text",
            "model": "the target model (a litellm model string)",
            "params_json": "the target's model parameters",
            "git_commit": "HEAD of the git checkout holding the suite, if any",
            "evalkit_version": "the evalkit that ran it",
            "finished_at": "NULL while the run is running (or when its process was killed)",
            "status": "`running` / `complete` / `incomplete` (interrupted or stopped by `--budget`; `--resume` finishes it)",
            "n_cases": "cases in the run (each may have several epochs)",
            "config_json": "the suite's target, scorers and gate as run; under `run`, the options of "
            "`evalkit run` that shape it (`repeat`, `concurrency`, `budget_usd`; `timeout`, `no_cache`, "
            "`baseline_run`, `allow_scoring_change`, `allow_removed_critical` when given), which the "
            "commands that resume or run it again repeat",
            "summary_json": "aggregates and the gate decision, NULL until the run ends (with `baseline` when "
            "gated on one); read by `evalkit.results.RunSummary`, whose `schema_version` is 1, the default "
            "for rows that predate it",
            "group_id": "the prompts × models matrix the run is a cell of (`evalkit run` with several "  # noqa: RUF001
            "`--prompt`/`--model`); NULL for a single run",
            "parent_run_id": "the run this one derives from: the run whose outputs `evalkit rescore` re-scored",
            "kind": "what the run's numbers stand for: `full` (every case) / `subset` (a case filter, e.g. "
            "pytest `-k`) / `shard` (`--shard I/N`) / `repeat` (`--repeat N`) / `rescore` / `merged` (every "
            "shard of a run, one epoch; shards run with `--repeat N` merge into a `repeat` run) / `partial` (`evalkit merge --allow-partial` with shards missing); "
            "`evalkit trend` pools only `full` and `merged` runs by default",
            "shard": "`I/N` of a `--shard` run; NULL otherwise",
            "case_set_hash": "hash of the case files the run started on (each file's digest is in "
            "`config_json` under `case_files`); `--resume` refuses files that changed",
            "heartbeat_at": "refreshed every 10 s by the process running the run; `--resume` refuses a "
            "`running` run whose heartbeat is under 60 s old (unless its process is gone)",
            "heartbeat_by": "the process running the run, `host:pid`",
            "calls_json": "the run's call counters so far (requests, retries, cache hits, ... of every part, "
            "and what the calls spent: `spent_usd`, `judge_spent_usd` and the target's `prompt_tokens` and "
            "`completion_tokens`, results stored or not), written with each commit of results and when the "
            "run stops: a resumed run adds its own to them, so its Calls line and cost count a part that was "
            "killed (up to that part's last commit); `unreported_shards`: Ray shard tasks that ended before "
            "reporting their last calls (a worker died, or the run stopped them), whose calls since their last "
            "batch are in no figure: non-zero, the counters, tokens and spend are lower bounds; "
            "`in_flight_at_stop`: requests a stopped part of the run had written to a provider and got no "
            "answer to (counted in `requests`; a provider may bill them; not a call still connecting, queued "
            "or in a retry's backoff, nor one computed in-process): non-zero, the tokens and spend are lower "
            "bounds; "
            "`killed_parts`: parts of the run that ended without a clean stop (found `running` when resumed: "
            "`kill -9`, OOM, a second signal), whose calls since their last commit are in no figure: non-zero, "
            "the counters, tokens and spend are lower bounds; all three summed over a run's parts and merged "
            "shards, and in `summary_json` under `calls`; NULL in rows stored before migration 015",
        },
    ),
    "group_cells": TableDoc(
        row="cell (prompt version × model) a matrix set out to run, recorded before its first cell starts",  # noqa: RUF001
        columns={
            "group_id": "the matrix, as its runs' `group_id`",
            "cell": "0-based, in the order the cells run (models outer, prompts inner)",
            "prompt_version": "as the cell's run records it; NULL when the target has no prompt",
            "model": "as the cell's run records it",
        },
        notes="A cell with no run of its group never started (the matrix was stopped first): "
        "`evalkit compare GROUP` then says the group is incomplete and names those cells. "
        "Groups made before migration 018 have no rows here.",
    ),
    "cases": TableDoc(
        row="case in a run (a snapshot, so old runs stay explainable after the suite changes)",
        columns={
            "input_json": "the case's input variables",
            "expected_json": "the expected output; NULL when the case has none",
            "tags_json": "list of tags",
            "source": "`golden` / `generated` / `mined`",
            "verified": "false when the expected output was written by a model and not yet checked by a person",
            "provenance_json": "where the case came from: file, generator, log id, ...",
        },
    ),
    "outputs": TableDoc(
        row="case × epoch: what the target returned",  # noqa: RUF001
        columns={
            "epoch": "0 to N-1 with `evalkit run --repeat N`",
            "status": "`ok` / `error` (provider or infrastructure error, not a quality fail)",
            "raw_text": "the response text",
            "parsed_json": "the JSON extracted from it, by the parser of the evalkit that stored the row "
            "(`evalkit rescore` parses `raw_text` again and stores its own)",
            "extraction": "how the JSON was found: `strict` / `fenced` / `embedded` / `none`",
            "error": "the error, when `status` is `error`",
            "latency_ms": "0 for a cached response",
            "attempts": "requests sent, retries included",
            "cost_usd": "0 for a cached response (its cost stays in `response_cache`)",
            "cached": "the response came from `response_cache`",
            "verdict": "`pass` / `fail` / `error`",
            "score": "the case's weighted score; NULL when nothing was scored",
            "judge_cost_usd": "what the scorers' model calls (the judge: graded, panel, repeats, pairwise) "
            "cost for this result; 0 for answers from `response_cache`; NULL in rows stored before migration 011",
            "saved_cost_usd": "what the answers served from `response_cache` for this result (the target's "
            "and the judge's) cost when first made; NULL in rows stored before migration 011",
            "cached_prompt_tokens": "prompt tokens the provider reported as read from its own prompt cache "
            "(counted in `prompt_tokens`, charged at the cache-read price); 0 when it reported none or the "
            "answer came from `response_cache`; NULL in rows stored before migration 013",
            "cache_write_tokens": "prompt tokens the provider reported as written to its prompt cache "
            "(Anthropic; counted in `prompt_tokens`, charged at the cache-write price); NULL before migration 013",
            "prompt_cache_saved_usd": "what `cached_prompt_tokens` would have cost at the full input price minus "
            "what they cost; NULL in rows stored before migration 013",
            "judge_cached_prompt_tokens": "prompt tokens the provider reported as read from its prompt cache on "
            "this result's scorer calls (the judge; charged at the cache-read price in `judge_cost_usd`); "
            "NULL in rows stored before migration 016",
            "judge_cache_write_tokens": "prompt tokens the scorer calls wrote to the provider's prompt cache "
            "(Anthropic); NULL before migration 016",
            "judge_prompt_cache_saved_usd": "what `judge_cached_prompt_tokens` would have cost at the full input "
            "price minus what they cost; NULL in rows stored before migration 016",
        },
    ),
    "scores": TableDoc(
        row="case × epoch × scorer",  # noqa: RUF001
        columns={
            "scorer": "the scorer's id in the suite",
            "score": "in [0, 1]",
            "weight": "the scorer's weight in the case's weighted score",
            "reason": "why it passed or failed",
            "error": "the scorer could not score (not a fail)",
            "details_json": "what the scorer found; for `llm_judge`, see below",
        },
    ),
    "field_scores": TableDoc(
        row="case × epoch × scorer × field (from `json_fields`)",  # noqa: RUF001
        columns={
            "field": "dotted path",
            "status": "`match` / `partial` / `mismatch` / `missing` / `extra`",
            "expected_json": "the expected value",
            "actual_json": "the output's value",
            "slot": "the WDC-PAVE slot class `NN`/`NV`/`VN`/`VC`/`VW` (see the README's extraction metrics); "
            "NULL on older rows, where `status` implies it: match/partial VC, mismatch VW, missing VN, extra NV",
        },
    ),
    "response_cache": TableDoc(
        row="model response reused by later runs (and by the cells of a matrix) instead of calling again",
        columns={
            "cache_key": "SHA-256 of the call: model, sampling parameters, rendered messages, output schema, epoch",
            "raw_text": "the response text",
            "prompt_tokens": "of the original call",
            "completion_tokens": "of the original call",
            "cost_usd": "of the original call",
            "latency_ms": "of the original call",
            "created_at": "when the original call was made",
            "run_id": "the run that made the call: when that run, resumed, reads it, the answer is the run's "
            "own cost, not a saving; NULL in rows stored before migration 014",
        },
        notes="`evalkit run --no-cache` does not read it (new responses are still written).",
    ),
    "candidates": TableDoc(
        row="case proposed for a suite: LLM-generated (awaiting `evalkit review`) or mined (added directly)",
        columns={
            "candidate_id": "its case id in the suite's case file",
            "source": "`generated` / `mined`",
            "family": "edge-case family, or the mined failure reason",
            "provenance_json": "generator model, prompt hashes, parent case; or log id, time, cluster",
            "status": "`pending` / `accepted` / `rejected`",
            "decided_at": "NULL while pending",
        },
    ),
    "mined_records": TableDoc(
        row="failing production-log record `evalkit mine` made a case of or found covered by one "
        "(so a window is mined once; failures left over the --n limit are not recorded)",
        columns={
            "log_id": "the record's id in the log (hashed when the id itself was personal data)",
            "log_source": "file or table it was read from",
            "logged_at": "the record's time, when the log has one",
            "failure": "first failure reason; NULL when the record was not a failure",
            "cluster_id": "the cluster of similar failures it fell in",
            "cluster_label": "scrubbed, shortened text of the cluster's representative",
            "case_id": "the case made from it, if picked",
            "mined_at": "when it was mined (the trend counts a failure without `logged_at` in this week)",
        },
        notes="No raw log text is stored: inputs are PII-scrubbed first.",
    ),
    "generations": TableDoc(
        row="`evalkit generate` run: what it asked the generator for, what came of it and what the calls cost",
        columns={
            "generation_id": "`gen-` and 12 random hex; candidates name it in their provenance (`generation_id`)",
            "model": "the generator (a litellm model string)",
            "wanted": "candidates asked for (`--n`)",
            "calls": "generator calls made, answered or failed (each up to 3 requests, retries included)",
            "candidates": "answers stored as pending candidates",
            "invalid": "answers that failed the checks (variables, prompt render, output schema)",
            "duplicates": "answers dropped as near-duplicates",
            "prompt_tokens": "of the calls that answered, whether or not a candidate came of them",
            "completion_tokens": "of the calls that answered",
            "cost_usd": "every call's, by litellm's price map; 0 for a generator without a price (see `unpriced`)",
            "unpriced": "true when the generator may be billed but litellm has no price for it: `cost_usd` is not its cost",
            "calls_json": "requests, retries, failed calls, 429s and timed-out attempts (a provider may bill "
            "those: not in `cost_usd`)",
        },
        notes="Written when a generation ends, also when every call failed or it was interrupted.",
    ),
    "judge_calibrations": TableDoc(
        row="`evalkit calibrate` of one judge configuration against a human-labelled set "
        "(read by the gate for `min_kappa`)",
        columns={
            "judge_model": "a litellm model string",
            "rubric_hash": "first 12 hex of the rubric's SHA-256 (a pairwise judge shown both orders: of its "
            "prompt and verdict method, as `evalkit compare --judge` keys it); a `--precomputed` file is keyed "
            "by the judge and rubric it declares",
            "mode": "`graded` / `pairwise` / `pairwise_orders` (both orders, per-order figures in "
            "`report_json.stats`)",
            "dataset": "the labelled set: its folder and file (`llmbar/MT-Bench`), or `--dataset`; the gate "
            "reads the newest calibration of each dataset",
            "n_items": "labelled items considered",
            "n_judged": "usable verdicts (the items `agreement` and `kappa` rest on; the rest went unanswered)",
            "agreement": "share of judged items where the judge's decision = human label (both orders: the "
            "combined decision, right only when both orders agree or the margins decide)",
            "kappa": "Cohen's, on the `n_judged` items the judge answered; NULL when undefined. With more than "
            "5% of `n_items` unanswered it meets no kappa minimum (trust bars, `min_kappa`)",
            "tpr": "recall on pass (graded) or on A (pairwise)",
            "tnr": "recall on fail (graded) or on B (pairwise)",
            "ece": "of the judge's confidence; NULL without one",
            "report_json": "confusion matrix with an `error` column, per-label counts, reliability table; "
            "`trust_detail`: the figures and thresholds of the trust verdict",
            "accuracy": "what the trust verdict rests on: both orders, the mean of the two orders' "
            "accuracies (the papers' figure); otherwise judge = human over all items, errors counted wrong",
            "both_orders_right": "share of items both orders got right; NULL unless both orders were judged",
            "position_agreement": "share of items whose two orders named the same winner; NULL unless both "
            "orders were judged",
            "trust": "`evalkit calibrate`'s verdict: `trusted` / `usable` / `refused`",
        },
    ),
    "baselines": TableDoc(
        row="named reference run of a suite (`evalkit baseline set NAME RUN`; read by `evalkit run --baseline NAME`)",
        columns={"name": "e.g. `main`"},
        notes="Setting a name again replaces its row. A run gated on a baseline records the decision in "
        "`runs.summary_json` under `baseline`.",
    ),
    "pairwise_comparisons": TableDoc(
        row="`evalkit compare A B --judge MODEL` (or `evalkit run --baseline` with `gate.pairwise`): B against "
        "A by a pairwise judge, each case in both orders (read by `evalkit report A --compare B`)",
        columns={
            "run_a": "the reference run",
            "run_b": "the candidate run",
            "prompt_hash": "the judge prompt and verdict method",
            "verdict_method": "`auto` / `logprobs` / `text` (what was asked for)",
            "n_items": "cases judged (both outputs present)",
            "judge_model": "a litellm model string",
            "wins": "B preferred",
            "losses": "A preferred",
            "ties": "neither preferred",
            "errors": "no usable verdict in some order",
            "win_rate": "wins / (wins + losses); NULL without a decisive case",
            "ci_low": "95% Wilson interval of `win_rate`",
            "ci_high": "95% Wilson interval of `win_rate`",
            "sign_test_p": "two-sided exact binomial test of wins against losses",
            "position_agreement": "share of cases with the same winner in both orders",
            "first_slot_share": "share of per-order answers naming the first slot",
            "summary_json": "statistics, judge configuration, gate decision, the judge's spend (`calls`, "
            "`cost_usd`; `unpriced_models` names a judge litellm has no price for: its calls count as $0, so "
            "`cost_usd` is not its cost)",
        },
    ),
    "pairwise_verdicts": TableDoc(
        row="judged case of a pairwise comparison",
        columns={
            "winner": "`a` / `b` / `tie`; NULL: judge error",
            "decided_by": "`agreement` / `disagreement` (a tie) / `logprobs` / `error`",
            "margin": "swap-averaged log P(A's output) - log P(B's output)",
            "consistent": "same winner in both orders",
            "winner_ab": "verdict with A's output first",
            "winner_ba": "verdict with B's output first",
            "margin_ab": "log-probability margin with A's output first",
            "margin_ba": "log-probability margin with B's output first",
            "reasoning_ab": "the judge's reasoning with A's output first",
            "reasoning_ba": "the judge's reasoning with B's output first",
            "error": "why the judge gave no usable verdict",
            "details_json": "both orders in full (method, slot answers, text verdicts)",
        },
    ),
    "human_labels": TableDoc(
        row="grade a person gave in `evalkit view` (read by `evalkit calibrate store` and `evalkit labels export`)",
        columns={
            "label_id": "random, 16 hex digits",
            "kind": "`graded` (pass/fail of one output) / `pairwise` (A/B/tie of two runs' outputs) / "
            "`expected` (the case's expected output is wrong, or was fixed)",
            "run_id": "the run graded (pairwise: run A)",
            "run_b": "pairwise: run B",
            "output_hash": "first 16 hex of the SHA-256 of the output text (pairwise: of both): the grade "
            "re-attaches to the identical output in later runs",
            "scorer": "the scorer whose verdict was graded; NULL: the output as a whole",
            "grade": "graded: `pass` / `fail`; pairwise: `A` / `B` / `tie`; expected: `wrong` / `fixed`",
            "note": "the grader's note (may be empty)",
            "grader": "`--grader`, `$EVALKIT_GRADER` or the login name",
        },
        notes="Rows are only appended. The current grade of an output is the newest row with the same kind, "
        "suite, case, output hash and scorer.",
    ),
    "input_files": TableDoc(
        row='file given to cases as an input (`{"$file": ...}`), stored once; `evalkit report` shows them',
        columns={"sha256": "SHA-256 of the bytes (in the calls' cache keys too)", "data_base64": "base64"},
    ),
    "run_input_files": TableDoc(
        row="file a case of a run was given, under one input variable",
        columns={"variable": "the case input naming the file", "name": "its path, relative to the suite"},
    ),
    "schema_migrations": TableDoc(
        row="applied migration",
        columns={
            "version": "the `NNN` of `migrations/NNN_name.sql`",
            "name": "the `name` of `migrations/NNN_name.sql`",
        },
    ),
}

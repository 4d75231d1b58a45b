-- Version 6: pairwise judging (`evalkit compare RUN_A RUN_B --judge MODEL`). One row per comparison in
-- pairwise_comparisons with its statistics; one row per judged case in pairwise_verdicts, with the
-- verdict of each order (A's output shown first: `ab`; B's output shown first: `ba`) and the reasoning.
-- Winners are named by run: a | b | tie. The HTML report reads the latest comparison of a pair of runs.

CREATE TABLE pairwise_comparisons (
    comparison_id      TEXT PRIMARY KEY,
    run_a              TEXT NOT NULL,             -- the reference run
    run_b              TEXT NOT NULL,             -- the candidate run
    judge_model        TEXT NOT NULL,
    prompt_hash        TEXT NOT NULL,             -- identity of the judge prompt (rubric, verdict method)
    verdict_method     TEXT NOT NULL,             -- logprobs | text | auto (what was asked for)
    n_items            INTEGER NOT NULL,          -- cases judged (both outputs present)
    wins               INTEGER NOT NULL,          -- B preferred
    losses             INTEGER NOT NULL,          -- A preferred
    ties               INTEGER NOT NULL,
    errors             INTEGER NOT NULL,          -- no usable verdict in some order
    win_rate           DOUBLE PRECISION,          -- wins / (wins + losses); NULL without a decisive case
    ci_low             DOUBLE PRECISION,          -- 95% Wilson interval of win_rate
    ci_high            DOUBLE PRECISION,
    sign_test_p        DOUBLE PRECISION,          -- two-sided exact binomial test of wins vs losses
    position_agreement DOUBLE PRECISION,          -- share of cases with the same winner in both orders
    first_slot_share   DOUBLE PRECISION,          -- share of per-order answers naming the first slot
    summary_json       TEXT NOT NULL,             -- everything above and the gate checks, as JSON
    created_at         TIMESTAMP NOT NULL
);

CREATE INDEX pairwise_comparisons_runs ON pairwise_comparisons (run_a, run_b);

CREATE TABLE pairwise_verdicts (
    comparison_id TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    winner        TEXT,                           -- a | b | tie; NULL: judge error
    decided_by    TEXT NOT NULL,                  -- agreement | disagreement (a tie) | logprobs | error
    margin        DOUBLE PRECISION,               -- swap-averaged log P(A's output) - log P(B's output)
    consistent    BOOLEAN,                        -- both orders named the same winner
    winner_ab     TEXT,                           -- verdict with A's output in the first slot
    winner_ba     TEXT,                           -- verdict with B's output in the first slot
    margin_ab     DOUBLE PRECISION,
    margin_ba     DOUBLE PRECISION,
    reasoning_ab  TEXT,
    reasoning_ba  TEXT,
    error         TEXT,
    details_json  TEXT NOT NULL,                  -- both orders in full (method, slot answers, text verdicts)
    PRIMARY KEY (comparison_id, case_id)
);

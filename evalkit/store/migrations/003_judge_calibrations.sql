-- Version 3: how well each judge configuration (judge model + rubric hash) agrees with human labels,
-- one row per `evalkit calibrate`. The gate reads the latest row of each judge a suite relies on.

CREATE TABLE judge_calibrations (
    calibration_id TEXT PRIMARY KEY,
    judge_model    TEXT NOT NULL,
    rubric_hash    TEXT NOT NULL,             -- sha256 of the rubric text, first 12 hex digits
    mode           TEXT NOT NULL,             -- graded (pass/fail) | pairwise (A/B/tie)
    dataset        TEXT NOT NULL,             -- the labelled set, as named on the command line
    n_items        INTEGER NOT NULL,          -- labelled items considered
    n_judged       INTEGER NOT NULL,          -- items the judge gave a usable verdict on
    agreement      DOUBLE PRECISION,          -- share of judged items where judge = human label
    kappa          DOUBLE PRECISION,          -- Cohen's kappa on judged items; NULL when undefined
    tpr            DOUBLE PRECISION,          -- graded: recall on pass; pairwise: recall on A
    tnr            DOUBLE PRECISION,          -- graded: recall on fail; pairwise: recall on B
    ece            DOUBLE PRECISION,          -- calibration error of the judge's confidence; NULL without one
    report_json    TEXT NOT NULL,             -- confusion matrix, per-label counts, reliability table
    created_at     TIMESTAMP NOT NULL
);

CREATE INDEX judge_calibrations_key ON judge_calibrations (judge_model, rubric_hash);

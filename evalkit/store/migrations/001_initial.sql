-- evalkit results store, version 1. Documented in docs/store.md; a public interface.
-- Portable SQL: runs unchanged on DuckDB and PostgreSQL. JSON is stored as TEXT.

CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    suite_name      TEXT NOT NULL,
    suite_path      TEXT NOT NULL,
    suite_hash      TEXT NOT NULL,
    prompt_version  TEXT,
    prompt_hash     TEXT,
    model           TEXT NOT NULL,
    params_json     TEXT NOT NULL,
    git_commit      TEXT,
    evalkit_version TEXT NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    status          TEXT NOT NULL,            -- running | complete | incomplete
    n_cases         INTEGER NOT NULL,
    config_json     TEXT NOT NULL,            -- the suite's target, scorers and gate as run
    summary_json    TEXT                      -- aggregates and the gate decision, set when the run ends
);

CREATE TABLE cases (
    run_id          TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    input_json      TEXT NOT NULL,
    expected_json   TEXT,
    tags_json       TEXT NOT NULL,
    source          TEXT NOT NULL,            -- golden | generated | mined
    verified        BOOLEAN NOT NULL,
    provenance_json TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id)
);

CREATE TABLE outputs (
    run_id            TEXT NOT NULL,
    case_id           TEXT NOT NULL,
    epoch             INTEGER NOT NULL,
    status            TEXT NOT NULL,          -- ok | error (provider/infrastructure error, not a quality fail)
    raw_text          TEXT,
    parsed_json       TEXT,
    extraction        TEXT NOT NULL,          -- strict | fenced | embedded | none
    error             TEXT,
    latency_ms        DOUBLE PRECISION NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd          DOUBLE PRECISION NOT NULL,
    attempts          INTEGER NOT NULL,
    cached            BOOLEAN NOT NULL,
    verdict           TEXT NOT NULL,          -- pass | fail | error
    score             DOUBLE PRECISION,       -- the case's weighted score; NULL when nothing was scored
    created_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, case_id, epoch)
);

CREATE TABLE scores (
    run_id       TEXT NOT NULL,
    case_id      TEXT NOT NULL,
    epoch        INTEGER NOT NULL,
    scorer       TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    passed       BOOLEAN NOT NULL,
    weight       DOUBLE PRECISION NOT NULL,
    reason       TEXT NOT NULL,
    error        TEXT,                        -- the scorer could not score (not a fail)
    details_json TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, epoch, scorer)
);

CREATE TABLE field_scores (
    run_id        TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    epoch         INTEGER NOT NULL,
    scorer        TEXT NOT NULL,
    field         TEXT NOT NULL,
    score         DOUBLE PRECISION NOT NULL,
    passed        BOOLEAN NOT NULL,
    status        TEXT NOT NULL,              -- match | partial | mismatch | missing | extra
    expected_json TEXT,
    actual_json   TEXT,
    PRIMARY KEY (run_id, case_id, epoch, scorer, field)
);

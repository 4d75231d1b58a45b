-- Version 2: runs can be grouped (a prompts x models matrix) and derived from another run
-- (rescoring, merging shards); model responses are cached by content.

ALTER TABLE runs ADD COLUMN group_id TEXT;
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;

CREATE TABLE response_cache (
    cache_key         TEXT PRIMARY KEY,       -- sha256 of (model, params, messages, schema, epoch)
    model             TEXT NOT NULL,
    raw_text          TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd          DOUBLE PRECISION NOT NULL,
    latency_ms        DOUBLE PRECISION NOT NULL,
    created_at        TIMESTAMP NOT NULL
);

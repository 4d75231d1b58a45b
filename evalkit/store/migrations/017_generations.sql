-- Version 17: each `evalkit generate`, with what its calls to the generator did and cost. Its calls
-- are paid whether or not a candidate comes of them (a batch of invalid answers costs as much as
-- a good one), so the cost is kept per generation, not per candidate. A candidate names the
-- generation that wrote it in its provenance (`generation_id`).

CREATE TABLE generations (
    generation_id     TEXT PRIMARY KEY,
    suite_name        TEXT NOT NULL,
    model             TEXT NOT NULL,            -- the generator (a litellm model string)
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP NOT NULL,
    wanted            INTEGER NOT NULL,         -- --n
    calls             INTEGER NOT NULL,         -- generator calls made, answered or failed
    candidates        INTEGER NOT NULL,         -- stored for review
    invalid           INTEGER NOT NULL,
    duplicates        INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd          DOUBLE PRECISION NOT NULL,
    unpriced          BOOLEAN NOT NULL,         -- no price for the generator: cost_usd counts its calls as 0
    calls_json        TEXT NOT NULL             -- requests, retries, failed calls, 429s, timeouts
);

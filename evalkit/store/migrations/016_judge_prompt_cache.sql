-- Version 16: the provider's own prompt cache on each result's scorer calls (the judge), as version 13
-- records it on the target's call: prompt tokens read from the cache, tokens written to it, and what
-- the cached ones saved against the full input price (the judge's cost already charges them at the
-- cache-read price). NULL in rows stored before this version: not recorded.

ALTER TABLE outputs ADD COLUMN judge_cached_prompt_tokens INTEGER;
ALTER TABLE outputs ADD COLUMN judge_cache_write_tokens INTEGER;
ALTER TABLE outputs ADD COLUMN judge_prompt_cache_saved_usd DOUBLE PRECISION;

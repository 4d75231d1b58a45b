-- Version 13: the provider's own prompt cache, per result: prompt tokens the provider reported as read
-- from its cache (OpenAI's prompt_tokens_details.cached_tokens, Anthropic's cache_read_input_tokens,
-- Gemini's cachedContentTokenCount) and written to it (Anthropic's cache_creation_input_tokens), both
-- counted in prompt_tokens, and what the cached ones saved against the full input price.
-- NULL in rows stored before this version: not recorded.

ALTER TABLE outputs ADD COLUMN cached_prompt_tokens INTEGER;
ALTER TABLE outputs ADD COLUMN cache_write_tokens INTEGER;
ALTER TABLE outputs ADD COLUMN prompt_cache_saved_usd DOUBLE PRECISION;

-- Version 9: what each result's scorers (the judge) spent on model calls, and what the answers served
-- from the response cache (the target's and the judge's) had cost when they were first made.
-- Both are NULL in rows stored before this version: not recorded.

ALTER TABLE outputs ADD COLUMN judge_cost_usd DOUBLE PRECISION;
ALTER TABLE outputs ADD COLUMN saved_cost_usd DOUBLE PRECISION;

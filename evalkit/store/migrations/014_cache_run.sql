-- Version 14: the run whose call made each cached response. A run resumed after a stop finds the
-- answers its earlier part paid for (a case whose judge was still out when it stopped) in the
-- cache: they are that run's own cost, not a saving. NULL in rows stored before this version.

ALTER TABLE response_cache ADD COLUMN run_id TEXT;

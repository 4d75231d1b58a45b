-- Version 15: the run's call counters so far (requests, retries, cache hits, ... of every part of the
-- run), written with each heartbeat and when the run stops. A process killed mid-run (kill -9, a
-- lost CI runner) stores no summary: its resumption adds its counters from here, so the Calls line
-- counts the killed part up to its last heartbeat. NULL in rows stored before this version.

ALTER TABLE runs ADD COLUMN calls_json TEXT;

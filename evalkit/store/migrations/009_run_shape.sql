-- Version 7: runs know their shape. `kind` says what a run's numbers stand for, so trends pool only
-- like with like: full (every case of the suite, one epoch) | subset (a case filter, e.g. pytest -k)
-- | shard (`--shard I/N`) | repeat (`--repeat N`, N > 1) | rescore | merged (all shards of a run)
-- | partial (a merge of some shards, `--allow-partial`). `shard` holds the `I/N` spec of a shard run;
-- `case_set_hash` the hash of the case files a run was started on (`--resume` refuses other ones);
-- `heartbeat_at` is refreshed by the process running the run, `heartbeat_by` names it (`host:pid`):
-- `--resume` refuses a run whose process is still alive.

ALTER TABLE runs ADD COLUMN kind TEXT DEFAULT 'full';
ALTER TABLE runs ADD COLUMN shard TEXT;
ALTER TABLE runs ADD COLUMN case_set_hash TEXT;
ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE runs ADD COLUMN heartbeat_by TEXT;
UPDATE runs SET kind = 'rescore' WHERE parent_run_id IS NOT NULL;
UPDATE runs SET kind = 'merged' WHERE config_json LIKE '%"merge": {%'

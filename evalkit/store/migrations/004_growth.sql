-- Version 4: suites that grow themselves. Candidate cases (LLM-generated, awaiting review; mined
-- cases are recorded here as accepted) and the production log records already mined, so mining the
-- same window twice adds nothing. Nothing here holds raw log text: inputs are PII-scrubbed first.

CREATE TABLE candidates (
    suite_name      TEXT NOT NULL,
    candidate_id    TEXT NOT NULL,            -- the case id it gets in the suite's case file
    source          TEXT NOT NULL,            -- generated | mined
    family          TEXT NOT NULL,            -- generated: edge-case family; mined: failure reason
    input_json      TEXT NOT NULL,
    expected_json   TEXT,
    tags_json       TEXT NOT NULL,
    provenance_json TEXT NOT NULL,            -- generator model, prompt hashes, parent case / log id, cluster
    status          TEXT NOT NULL,            -- pending | accepted | rejected
    created_at      TIMESTAMP NOT NULL,
    decided_at      TIMESTAMP,
    PRIMARY KEY (suite_name, candidate_id)
);

CREATE TABLE mined_records (
    suite_name    TEXT NOT NULL,
    log_id        TEXT NOT NULL,              -- the record's id in the log (a hash when the id itself held PII)
    log_source    TEXT NOT NULL,              -- file or table it was read from
    logged_at     TIMESTAMP,
    failure       TEXT,                       -- first failure reason; NULL when the record was not a failure
    cluster_id    TEXT,
    cluster_label TEXT,                       -- scrubbed, shortened text of the cluster's representative
    case_id       TEXT,                       -- the case made from this record, when it was picked
    mined_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (suite_name, log_id)
);

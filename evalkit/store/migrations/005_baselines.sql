-- Version 5: named baselines. `evalkit baseline set NAME RUN` points a name (e.g. `main`) at a run of a
-- suite; `evalkit run --baseline NAME` compares the new run with it. Names are per suite; setting a
-- name again moves it (the old row is replaced).

CREATE TABLE baselines (
    suite_name TEXT NOT NULL,
    name       TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    set_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (suite_name, name)
);

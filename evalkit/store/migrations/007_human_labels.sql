-- Version 7: human grades given in `evalkit view`. Grades are appended, never updated: the current
-- grade of an output is its newest row. They are keyed by suite, case and a hash of the graded output
-- text, so a grade re-attaches to the identical output in any later run.

CREATE TABLE human_labels (
    label_id    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,                -- graded | pairwise | expected
    suite_name  TEXT NOT NULL,
    run_id      TEXT NOT NULL,                -- the run graded (pairwise: run A)
    run_b       TEXT,                         -- pairwise: run B
    case_id     TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    output_hash TEXT NOT NULL,                -- sha256 of the output text (pairwise: of both), first 16 hex digits
    scorer      TEXT,                         -- the scorer whose verdict was graded; NULL: the output as a whole
    grade       TEXT NOT NULL,                -- graded: pass | fail; pairwise: A | B | tie; expected: wrong | fixed
    note        TEXT NOT NULL,
    grader      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

CREATE INDEX human_labels_output ON human_labels (suite_name, case_id, output_hash);
CREATE INDEX human_labels_run ON human_labels (run_id, case_id);

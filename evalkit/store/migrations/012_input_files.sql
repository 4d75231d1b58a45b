-- Version 12: files given to cases as inputs (PDFs, images, text: `{"$file": ...}` in a case), stored
-- once by content hash so a report can show what the model saw; run_input_files says which case of
-- which run used which file under which input variable. The content is base64 text (portable SQL).

CREATE TABLE input_files (
    sha256      TEXT PRIMARY KEY,
    media_type  TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    data_base64 TEXT NOT NULL
);

CREATE TABLE run_input_files (
    run_id   TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    variable TEXT NOT NULL,          -- the case input variable naming the file
    name     TEXT NOT NULL,          -- the path as the case gives it (relative to the suite)
    sha256   TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, variable)
);

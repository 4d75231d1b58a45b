-- Version 18: the cells a prompts x models matrix set out to run, recorded before its first cell
-- starts. A matrix stopped part-way (Ctrl-C, SIGTERM, an error) leaves no run for the cells it
-- never started: without this list its group looked whole, and `evalkit compare GROUP` compared
-- (and picked a best cell among) only the cells that ran.

CREATE TABLE group_cells (
    group_id       TEXT NOT NULL,
    cell           INTEGER NOT NULL,          -- 0-based, in the order the cells run
    prompt_version TEXT,                      -- as the cell's run records it; NULL: no prompt
    model          TEXT NOT NULL,
    PRIMARY KEY (group_id, cell)
);

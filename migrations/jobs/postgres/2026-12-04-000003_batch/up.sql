-- Per-file state of library batch jobs and their rename journals (PostgreSQL). Every row
-- belongs to a job and goes with it (ON DELETE CASCADE from `JobQueue::purge_finished`).

-- One row per file of a batch job, in discovery order (seq 0, 1, 2, …). A file is `pending`
-- until its result is recorded; then it is `done` with a status and its JSON entry.
CREATE TABLE batch_files (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        BIGINT  NOT NULL CHECK (seq >= 0),
    path       TEXT    NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done')),
    status     TEXT    CHECK (status IN ('ok', 'unmatched', 'error')),
    entry      TEXT,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, seq),
    CHECK ((state = 'pending') = (status IS NULL)),
    CHECK ((state = 'pending') = (entry IS NULL))
);
-- "The next pending files after seq N" and "the done entries after seq N" (keyset pages).
CREATE INDEX batch_files_state_idx ON batch_files (job_id, state, seq);

-- A write-ahead journal of one rename run: the set and its planned moves are written before
-- any file moves, and each move is marked as it happens, so an interrupted run can be undone.
CREATE TABLE rename_sets (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'applying'
        CHECK (state IN ('applying', 'applied', 'undone'))
);
CREATE INDEX rename_sets_job_idx ON rename_sets (job_id, id);

CREATE TABLE rename_moves (
    set_id            BIGINT  NOT NULL REFERENCES rename_sets (id) ON DELETE CASCADE,
    idx               BIGINT  NOT NULL CHECK (idx >= 0),
    source            TEXT    NOT NULL,
    target            TEXT    NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'planned'
        CHECK (state IN ('planned', 'moved', 'undone')),
    size              BIGINT,
    mtime_ns          BIGINT,
    backup            TEXT,
    replaced_existing BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (set_id, idx)
);

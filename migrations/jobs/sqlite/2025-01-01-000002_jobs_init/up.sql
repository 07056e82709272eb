-- Jobs database (SQLite). Timestamps are UTC text. owner_id is the immutable user id of the
-- auth database (a separate database, hence no foreign key).
CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY NOT NULL,
    owner_id         INTEGER,
    status           TEXT    NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    payload          TEXT    NOT NULL DEFAULT '{}',
    upload_path      TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    worker_id        TEXT,
    lease_expires_at TIMESTAMP,
    messages         TEXT    NOT NULL DEFAULT '[]',
    result           TEXT,
    error            TEXT,
    event_seq        INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    finished_at      TIMESTAMP
);
CREATE INDEX jobs_queue_idx ON jobs (status, created_at, id);
CREATE INDEX jobs_owner_idx ON jobs (owner_id, created_at);
CREATE INDEX jobs_created_at_idx ON jobs (created_at);
CREATE INDEX jobs_lease_idx ON jobs (status, lease_expires_at);
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at);

CREATE TABLE job_events (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       TEXT    NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE lookup_cache (
    fingerprint_digest TEXT    NOT NULL,
    duration_secs      INTEGER NOT NULL,
    value              TEXT    NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    expires_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (fingerprint_digest, duration_secs)
);
CREATE INDEX lookup_cache_expires_at_idx ON lookup_cache (expires_at);

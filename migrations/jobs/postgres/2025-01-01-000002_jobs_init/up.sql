-- Jobs database (PostgreSQL). owner_id is the immutable user id of the auth database.
CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY,
    owner_id         BIGINT,
    status           TEXT    NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    payload          TEXT    NOT NULL DEFAULT '{}',
    upload_path      TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 3,
    worker_id        TEXT,
    lease_expires_at TIMESTAMPTZ,
    messages         TEXT    NOT NULL DEFAULT '[]',
    result           TEXT,
    error            TEXT,
    event_seq        BIGINT  NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ
);
CREATE INDEX jobs_queue_idx ON jobs (status, created_at, id);
CREATE INDEX jobs_owner_idx ON jobs (owner_id, created_at);
CREATE INDEX jobs_created_at_idx ON jobs (created_at);
CREATE INDEX jobs_lease_idx ON jobs (status, lease_expires_at);
CREATE INDEX jobs_finished_at_idx ON jobs (finished_at);

CREATE TABLE job_events (
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq        BIGINT  NOT NULL,
    data       TEXT    NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE lookup_cache (
    fingerprint_digest TEXT    NOT NULL,
    duration_secs      BIGINT  NOT NULL,
    value              TEXT    NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    expires_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (fingerprint_digest, duration_secs)
);
CREATE INDEX lookup_cache_expires_at_idx ON lookup_cache (expires_at);

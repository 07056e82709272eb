-- Auth database (SQLite). Timestamps are UTC, stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text.
-- AUTOINCREMENT: a deleted user's id is never handed out again (upstream reused it).
CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    display_name     TEXT,
    password_hash    TEXT    NOT NULL,
    is_active        BOOLEAN NOT NULL DEFAULT 1,
    roles            TEXT    NOT NULL DEFAULT '[]',
    allowed_features TEXT    NOT NULL DEFAULT '[]',
    quota_limits     TEXT    NOT NULL DEFAULT '{}',
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id          TEXT    NOT NULL,
    access_digest      TEXT    NOT NULL,
    refresh_digest     TEXT    NOT NULL,
    remember           BOOLEAN NOT NULL DEFAULT 0,
    created_at         TIMESTAMP NOT NULL,
    access_expires_at  TIMESTAMP NOT NULL,
    refresh_expires_at TIMESTAMP NOT NULL,
    family_started_at  TIMESTAMP NOT NULL,
    rotated_at         TIMESTAMP
);
CREATE UNIQUE INDEX sessions_access_digest_key ON sessions (access_digest);
CREATE UNIQUE INDEX sessions_refresh_digest_key ON sessions (refresh_digest);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_family_id_idx ON sessions (family_id);
CREATE INDEX sessions_refresh_expires_at_idx ON sessions (refresh_expires_at);

CREATE TABLE api_tokens (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id        TEXT    NOT NULL,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest           TEXT    NOT NULL,
    hint             TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    roles            TEXT    NOT NULL DEFAULT '[]',
    allowed_features TEXT    NOT NULL DEFAULT '[]',
    quota_limits     TEXT    NOT NULL DEFAULT '{}',
    seed             TEXT,
    created_at       TIMESTAMP NOT NULL,
    last_used_at     TIMESTAMP,
    expires_at       TIMESTAMP
);
CREATE UNIQUE INDEX api_tokens_digest_key ON api_tokens (digest);
CREATE UNIQUE INDEX api_tokens_public_id_key ON api_tokens (public_id);
CREATE UNIQUE INDEX api_tokens_seed_key ON api_tokens (seed) WHERE seed IS NOT NULL;
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

-- One row per (user, scope, minute bucket); a rolling 24 h window sums the buckets.
CREATE TABLE quota_usage (
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope        TEXT    NOT NULL,
    bucket_start TIMESTAMP NOT NULL,
    used         INTEGER NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, scope, bucket_start)
);
CREATE INDEX quota_usage_bucket_start_idx ON quota_usage (bucket_start);

-- Auth database (PostgreSQL). Timestamps are TIMESTAMPTZ; the application writes UTC instants.
CREATE TABLE users (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username         TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    display_name     TEXT,
    password_hash    TEXT    NOT NULL,
    is_active        BOOLEAN NOT NULL DEFAULT TRUE,
    roles            TEXT    NOT NULL DEFAULT '[]',
    allowed_features TEXT    NOT NULL DEFAULT '[]',
    quota_limits     TEXT    NOT NULL DEFAULT '{}',
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_username_key ON users (username);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id          TEXT    NOT NULL,
    access_digest      TEXT    NOT NULL,
    refresh_digest     TEXT    NOT NULL,
    remember           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         TIMESTAMPTZ NOT NULL,
    access_expires_at  TIMESTAMPTZ NOT NULL,
    refresh_expires_at TIMESTAMPTZ NOT NULL,
    family_started_at  TIMESTAMPTZ NOT NULL,
    rotated_at         TIMESTAMPTZ
);
CREATE UNIQUE INDEX sessions_access_digest_key ON sessions (access_digest);
CREATE UNIQUE INDEX sessions_refresh_digest_key ON sessions (refresh_digest);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_family_id_idx ON sessions (family_id);
CREATE INDEX sessions_refresh_expires_at_idx ON sessions (refresh_expires_at);

CREATE TABLE api_tokens (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id        TEXT    NOT NULL,
    user_id          BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest           TEXT    NOT NULL,
    hint             TEXT    NOT NULL,
    display_name     TEXT    NOT NULL,
    roles            TEXT    NOT NULL DEFAULT '[]',
    allowed_features TEXT    NOT NULL DEFAULT '[]',
    quota_limits     TEXT    NOT NULL DEFAULT '{}',
    seed             TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    last_used_at     TIMESTAMPTZ,
    expires_at       TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_tokens_digest_key ON api_tokens (digest);
CREATE UNIQUE INDEX api_tokens_public_id_key ON api_tokens (public_id);
CREATE UNIQUE INDEX api_tokens_seed_key ON api_tokens (seed) WHERE seed IS NOT NULL;
CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

CREATE TABLE quota_usage (
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope        TEXT    NOT NULL,
    bucket_start TIMESTAMPTZ NOT NULL,
    used         BIGINT  NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, scope, bucket_start)
);
CREATE INDEX quota_usage_bucket_start_idx ON quota_usage (bucket_start);

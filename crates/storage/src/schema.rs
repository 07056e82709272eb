//! Diesel table definitions shared by both backends (the migrations under `migrations/` create
//! them). Timestamps are declared as `Timestamp` and always hold UTC: SQLite stores them as text,
//! PostgreSQL as `timestamptz` (diesel pins the session time zone to UTC).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        email -> Text,
        display_name -> Nullable<Text>,
        password_hash -> Text,
        is_active -> Bool,
        roles -> Text,
        allowed_features -> Text,
        quota_limits -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        user_id -> BigInt,
        family_id -> Text,
        access_digest -> Text,
        refresh_digest -> Text,
        remember -> Bool,
        created_at -> Timestamp,
        access_expires_at -> Timestamp,
        refresh_expires_at -> Timestamp,
        family_started_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        public_id -> Text,
        user_id -> BigInt,
        digest -> Text,
        hint -> Text,
        display_name -> Text,
        roles -> Text,
        allowed_features -> Text,
        quota_limits -> Text,
        seed -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    quota_usage (user_id, scope, bucket_start) {
        user_id -> BigInt,
        scope -> Text,
        bucket_start -> Timestamp,
        used -> BigInt,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(quota_usage -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, sessions, api_tokens, quota_usage);

diesel::table! {
    jobs (id) {
        id -> Text,
        owner_id -> Nullable<BigInt>,
        status -> Text,
        payload -> Text,
        upload_path -> Nullable<Text>,
        attempts -> Integer,
        max_attempts -> Integer,
        worker_id -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        messages -> Text,
        result -> Nullable<Text>,
        error -> Nullable<Text>,
        event_seq -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_events (job_id, seq) {
        job_id -> Text,
        seq -> BigInt,
        data -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    lookup_cache (fingerprint_digest, duration_secs) {
        fingerprint_digest -> Text,
        duration_secs -> BigInt,
        value -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(job_events -> jobs (job_id));
diesel::allow_tables_to_appear_in_same_query!(jobs, job_events);

diesel::table! {
    batch_files (job_id, seq) {
        job_id -> Text,
        seq -> BigInt,
        path -> Text,
        state -> Text,
        status -> Nullable<Text>,
        entry -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    rename_sets (id) {
        id -> BigInt,
        job_id -> Text,
        created_at -> Timestamp,
        state -> Text,
    }
}

diesel::table! {
    rename_moves (set_id, idx) {
        set_id -> BigInt,
        idx -> BigInt,
        source -> Text,
        target -> Text,
        state -> Text,
        size -> Nullable<BigInt>,
        mtime_ns -> Nullable<BigInt>,
        backup -> Nullable<Text>,
        replaced_existing -> Bool,
    }
}

diesel::joinable!(batch_files -> jobs (job_id));
diesel::joinable!(rename_sets -> jobs (job_id));
diesel::joinable!(rename_moves -> rename_sets (set_id));
diesel::allow_tables_to_appear_in_same_query!(jobs, batch_files, rename_sets, rename_moves);

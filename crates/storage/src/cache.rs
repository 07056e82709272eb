//! The lookup cache: opaque JSON text keyed by (fingerprint, duration) with a TTL.
//!
//! The fingerprint is keyed by its SHA-256 digest: raw Chromaprint strings can exceed the size
//! PostgreSQL accepts in a B-tree index entry.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use sha2::{Digest, Sha256};

use crate::db::{Conn, on_conn};
use crate::error::Result;
use crate::schema::lookup_cache;
use crate::time::{after, to_db};

fn key(fingerprint: &str) -> String {
    let digest = Sha256::digest(fingerprint.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        use std::fmt::Write;
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The cached value for (`fingerprint`, `duration_secs`) if present and not expired at `now`.
pub fn get(
    conn: &mut Conn,
    fingerprint: &str,
    duration_secs: i64,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let k = key(fingerprint);
    Ok(on_conn!(conn, |c| lookup_cache::table
        .filter(lookup_cache::fingerprint_digest.eq(&k))
        .filter(lookup_cache::duration_secs.eq(duration_secs))
        .filter(lookup_cache::expires_at.gt(to_db(now)))
        .select(lookup_cache::value)
        .first(c)
        .optional())?)
}

/// Stores (or replaces) a value that expires `ttl` after `now`.
pub fn put(
    conn: &mut Conn,
    fingerprint: &str,
    duration_secs: i64,
    value: &str,
    ttl: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<()> {
    let k = key(fingerprint);
    let expires = to_db(after(now, ttl));
    on_conn!(conn, |c| diesel::insert_into(lookup_cache::table)
        .values((
            lookup_cache::fingerprint_digest.eq(&k),
            lookup_cache::duration_secs.eq(duration_secs),
            lookup_cache::value.eq(value),
            lookup_cache::created_at.eq(to_db(now)),
            lookup_cache::expires_at.eq(expires),
        ))
        .on_conflict((
            lookup_cache::fingerprint_digest,
            lookup_cache::duration_secs
        ))
        .do_update()
        .set((
            lookup_cache::value.eq(excluded(lookup_cache::value)),
            lookup_cache::created_at.eq(excluded(lookup_cache::created_at)),
            lookup_cache::expires_at.eq(excluded(lookup_cache::expires_at)),
        ))
        .execute(c))?;
    Ok(())
}

/// Removes one entry. Returns whether it existed.
pub fn remove(conn: &mut Conn, fingerprint: &str, duration_secs: i64) -> Result<bool> {
    let k = key(fingerprint);
    let n = on_conn!(conn, |c| diesel::delete(
        lookup_cache::table
            .filter(lookup_cache::fingerprint_digest.eq(&k))
            .filter(lookup_cache::duration_secs.eq(duration_secs))
    )
    .execute(c))?;
    Ok(n > 0)
}

/// Housekeeping: deletes entries expired at `now`.
pub fn purge_expired(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize> {
    Ok(on_conn!(conn, |c| diesel::delete(
        lookup_cache::table.filter(lookup_cache::expires_at.le(to_db(now)))
    )
    .execute(c))?)
}

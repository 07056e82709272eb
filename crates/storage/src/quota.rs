//! Quota usage: an atomic check-and-consume per (user, scope) over a rolling 24-hour window.
//!
//! Usage is recorded in one-minute buckets. A bucket counts while any part of it lies inside the
//! window, so a unit consumed at `t` stops counting at most one minute after `t + 24 h` — the
//! window may release a little late but never early, hence never overshoots.
//!
//! Concurrency: the check and the write happen in one transaction that is serialised per
//! (user, scope) — by `BEGIN IMMEDIATE` on SQLite, by a transaction-scoped advisory lock on
//! PostgreSQL — so concurrent consumers can never together exceed the limit.

use chrono::{DateTime, DurationRound, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;

use crate::db::{Conn, on_conn};
use crate::error::{Result, StorageError};
use crate::schema::quota_usage;
use crate::time::{from_db, to_db};

/// Length of the rolling window.
pub const WINDOW: TimeDelta = TimeDelta::hours(24);
/// Width of one usage bucket.
pub const BUCKET: TimeDelta = TimeDelta::minutes(1);

/// The result of [`consume`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaDecision {
    /// The units were recorded.
    Granted {
        /// Usage in the window, this consumption included.
        used: i64,
        /// The limit applied.
        limit: i64,
        /// When the oldest usage in the window stops counting (the window starts to free up).
        frees_at: Option<DateTime<Utc>>,
    },
    /// Nothing was recorded: `used + cost` would exceed `limit`.
    Denied {
        /// Usage in the window.
        used: i64,
        /// The requested cost.
        cost: i64,
        /// The limit applied.
        limit: i64,
        /// The earliest time at which `cost` units fit again; `None` when they never can
        /// (`cost > limit`, e.g. a limit of 0).
        retry_at: Option<DateTime<Utc>>,
    },
}

impl QuotaDecision {
    /// Whether the units were granted.
    pub fn is_granted(&self) -> bool {
        matches!(self, Self::Granted { .. })
    }
}

/// Current usage of a (user, scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Units counted in the window at `now`.
    pub used: i64,
    /// When the oldest counted usage stops counting.
    pub frees_at: Option<DateTime<Utc>>,
}

fn bucket_of(now: DateTime<Utc>) -> DateTime<Utc> {
    now.duration_trunc(BUCKET).unwrap_or(now)
}

/// Buckets starting after this instant are inside the window at `now`.
fn window_floor(now: DateTime<Utc>) -> NaiveDateTime {
    to_db(now - WINDOW - BUCKET)
}

fn expiry_of(bucket_start: NaiveDateTime) -> DateTime<Utc> {
    from_db(bucket_start) + BUCKET + WINDOW
}

/// Gives back up to `cost` units used in the current window, newest first (the use they paid
/// for did not happen, e.g. the remote service failed). Returns the units given back.
pub fn refund(
    conn: &mut Conn,
    user_id: i64,
    scope: &str,
    cost: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    if cost <= 0 {
        return Ok(0);
    }
    conn.transaction(|tx| {
        if let Conn::Postgres(c) = tx {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(lock_key(user_id, scope))
                .execute(&mut **c)?;
        }
        let mut remaining = cost;
        for (start, used) in window_buckets(tx, user_id, scope, now)?.into_iter().rev() {
            if remaining == 0 {
                break;
            }
            let taken = used.min(remaining);
            remaining -= taken;
            let row = quota_usage::table
                .filter(quota_usage::user_id.eq(user_id))
                .filter(quota_usage::scope.eq(scope))
                .filter(quota_usage::bucket_start.eq(start));
            if taken == used {
                on_conn!(tx, |c| diesel::delete(row).execute(c))?;
            } else {
                on_conn!(tx, |c| diesel::update(row)
                    .set(quota_usage::used.eq(used - taken))
                    .execute(c))?;
            }
        }
        Ok(cost - remaining)
    })
}

/// (bucket_start, used) in the window, oldest first.
fn window_buckets(
    conn: &mut Conn,
    user_id: i64,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(NaiveDateTime, i64)>> {
    let floor = window_floor(now);
    Ok(on_conn!(conn, |c| quota_usage::table
        .filter(quota_usage::user_id.eq(user_id))
        .filter(quota_usage::scope.eq(scope))
        .filter(quota_usage::bucket_start.gt(floor))
        .order(quota_usage::bucket_start.asc())
        .select((quota_usage::bucket_start, quota_usage::used))
        .load(c))?)
}

/// A stable 64-bit key for the PostgreSQL advisory lock of (user, scope) (FNV-1a). Collisions
/// only serialise unrelated pairs, which is harmless.
fn lock_key(user_id: i64, scope: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user_id.to_le_bytes().iter().chain(scope.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// Atomically checks that `cost` more units fit under `limit` in the rolling window of
/// (`user_id`, `scope`) at `now`, and records them if so. Never refunds.
///
/// A `limit` ≤ 0 denies everything. `cost` must be positive.
pub fn consume(
    conn: &mut Conn,
    user_id: i64,
    scope: &str,
    cost: i64,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<QuotaDecision> {
    if cost <= 0 {
        return Err(StorageError::Invalid(format!(
            "quota cost must be positive, got {cost}"
        )));
    }
    conn.transaction(|tx| {
        if let Conn::Postgres(c) = tx {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(lock_key(user_id, scope))
                .execute(&mut **c)?;
        }
        // Drop what left the window (keeps the table bounded without a timer).
        let floor = window_floor(now);
        on_conn!(tx, |c| diesel::delete(
            quota_usage::table
                .filter(quota_usage::user_id.eq(user_id))
                .filter(quota_usage::scope.eq(scope))
                .filter(quota_usage::bucket_start.le(floor))
        )
        .execute(c))?;

        let buckets = window_buckets(tx, user_id, scope, now)?;
        let used: i64 = buckets.iter().map(|(_, n)| n).sum();
        if used.saturating_add(cost) > limit {
            return Ok(QuotaDecision::Denied {
                used,
                cost,
                limit,
                retry_at: retry_at(&buckets, used, cost, limit),
            });
        }
        let bucket = to_db(bucket_of(now));
        on_conn!(tx, |c| diesel::insert_into(quota_usage::table)
            .values((
                quota_usage::user_id.eq(user_id),
                quota_usage::scope.eq(scope),
                quota_usage::bucket_start.eq(bucket),
                quota_usage::used.eq(cost),
                quota_usage::updated_at.eq(to_db(now)),
            ))
            .on_conflict((
                quota_usage::user_id,
                quota_usage::scope,
                quota_usage::bucket_start,
            ))
            .do_update()
            .set((
                quota_usage::used.eq(quota_usage::used + excluded(quota_usage::used)),
                quota_usage::updated_at.eq(excluded(quota_usage::updated_at)),
            ))
            .execute(c))?;
        let oldest = buckets.first().map_or(bucket, |(start, _)| *start);
        Ok(QuotaDecision::Granted {
            used: used + cost,
            limit,
            frees_at: Some(expiry_of(oldest)),
        })
    })
}

/// The earliest time enough old buckets have left the window for `cost` to fit.
fn retry_at(
    buckets: &[(NaiveDateTime, i64)],
    used: i64,
    cost: i64,
    limit: i64,
) -> Option<DateTime<Utc>> {
    if cost > limit {
        return None;
    }
    let mut remaining = used;
    for (start, n) in buckets {
        remaining -= n;
        if remaining + cost <= limit {
            return Some(expiry_of(*start));
        }
    }
    None
}

/// Usage of (`user_id`, `scope`) in the window at `now`, without consuming.
pub fn usage(conn: &mut Conn, user_id: i64, scope: &str, now: DateTime<Utc>) -> Result<QuotaUsage> {
    let buckets = window_buckets(conn, user_id, scope, now)?;
    Ok(QuotaUsage {
        used: buckets.iter().map(|(_, n)| n).sum(),
        frees_at: buckets.first().map(|(start, _)| expiry_of(*start)),
    })
}

/// Forgets a user's usage (all scopes, or one). Returns the number of buckets deleted.
pub fn reset(conn: &mut Conn, user_id: i64, scope: Option<&str>) -> Result<usize> {
    Ok(match scope {
        Some(scope) => on_conn!(conn, |c| diesel::delete(
            quota_usage::table
                .filter(quota_usage::user_id.eq(user_id))
                .filter(quota_usage::scope.eq(scope))
        )
        .execute(c))?,
        None => on_conn!(conn, |c| diesel::delete(
            quota_usage::table.filter(quota_usage::user_id.eq(user_id))
        )
        .execute(c))?,
    })
}

/// Housekeeping: deletes every bucket that no longer counts at `now`.
pub fn purge_expired(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize> {
    let floor = window_floor(now);
    Ok(on_conn!(conn, |c| diesel::delete(
        quota_usage::table.filter(quota_usage::bucket_start.le(floor))
    )
    .execute(c))?)
}

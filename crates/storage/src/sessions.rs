//! Browser sessions: access and refresh secrets stored as digests, grouped in families.
//!
//! Refreshing rotates a session: the old row is marked `rotated_at` (kept until its refresh
//! expiry so a replayed old refresh secret can be recognised) and a new row joins the same
//! family. The caller (auth crate) decides what a replay does: it revokes the family with
//! [`delete_family`].

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{Conn, on_conn};
use crate::error::Result;
use crate::schema::{sessions, users};
use crate::time::{from_db, opt_from_db, to_db};
use crate::users::{User, UserRow};

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub user_id: i64,
    /// Family id shared by every rotation of one login.
    pub family_id: String,
    /// Digest of the access secret (the session cookie).
    pub access_digest: String,
    /// Digest of the refresh secret.
    pub refresh_digest: String,
    /// Whether the long refresh lifetime was requested.
    pub remember: bool,
    /// When this row was issued.
    pub created_at: DateTime<Utc>,
    /// Access expiry.
    pub access_expires_at: DateTime<Utc>,
    /// Refresh expiry.
    pub refresh_expires_at: DateTime<Utc>,
    /// When the family's first login happened (for an absolute maximum session age).
    pub family_started_at: DateTime<Utc>,
    /// Set once this row has been replaced by a rotation; such a row no longer authenticates.
    pub rotated_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Whether the access secret is usable at `now` (not rotated, not expired).
    pub fn access_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.rotated_at.is_none() && self.access_expires_at > now
    }
}

/// A new session (a fresh login when `family` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// Owner.
    pub user_id: i64,
    /// Digest of the access secret.
    pub access_digest: String,
    /// Digest of the refresh secret.
    pub refresh_digest: String,
    /// Remember flag.
    pub remember: bool,
    /// Access expiry.
    pub access_expires_at: DateTime<Utc>,
    /// Refresh expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

/// The new secrets of a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Digest of the new access secret.
    pub access_digest: String,
    /// Digest of the new refresh secret.
    pub refresh_digest: String,
    /// New access expiry.
    pub access_expires_at: DateTime<Utc>,
    /// New refresh expiry.
    pub refresh_expires_at: DateTime<Utc>,
}

/// What [`rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The old row was retired and `new` issued in the same family.
    Rotated {
        /// The retired row.
        old: Session,
        /// The new row.
        new: Session,
    },
    /// The refresh secret belongs to a row that was already rotated: a replay (or a lost
    /// race with a concurrent refresh of the same secret). Nothing was changed.
    Replayed(Session),
    /// The refresh secret is known but its refresh lifetime has ended. Nothing was changed.
    Expired(Session),
    /// No session has this refresh digest.
    NotFound,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: i64,
    user_id: i64,
    family_id: String,
    access_digest: String,
    refresh_digest: String,
    remember: bool,
    created_at: NaiveDateTime,
    access_expires_at: NaiveDateTime,
    refresh_expires_at: NaiveDateTime,
    family_started_at: NaiveDateTime,
    rotated_at: Option<NaiveDateTime>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            family_id: r.family_id,
            access_digest: r.access_digest,
            refresh_digest: r.refresh_digest,
            remember: r.remember,
            created_at: from_db(r.created_at),
            access_expires_at: from_db(r.access_expires_at),
            refresh_expires_at: from_db(r.refresh_expires_at),
            family_started_at: from_db(r.family_started_at),
            rotated_at: opt_from_db(r.rotated_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = sessions)]
struct SessionInsert<'a> {
    user_id: i64,
    family_id: &'a str,
    access_digest: &'a str,
    refresh_digest: &'a str,
    remember: bool,
    created_at: NaiveDateTime,
    access_expires_at: NaiveDateTime,
    refresh_expires_at: NaiveDateTime,
    family_started_at: NaiveDateTime,
}

fn insert(conn: &mut Conn, row: &SessionInsert<'_>) -> Result<Session> {
    let created: SessionRow = on_conn!(conn, |c| diesel::insert_into(sessions::table)
        .values(row)
        .returning(SessionRow::as_returning())
        .get_result(c))?;
    Ok(created.into())
}

/// Stores a fresh login: a new family whose start is now.
pub fn create(conn: &mut Conn, new: &NewSession) -> Result<Session> {
    let now = crate::time::now();
    let family = uuid::Uuid::new_v4().simple().to_string();
    insert(
        conn,
        &SessionInsert {
            user_id: new.user_id,
            family_id: &family,
            access_digest: &new.access_digest,
            refresh_digest: &new.refresh_digest,
            remember: new.remember,
            created_at: to_db(now),
            access_expires_at: to_db(new.access_expires_at),
            refresh_expires_at: to_db(new.refresh_expires_at),
            family_started_at: to_db(now),
        },
    )
}

/// The live (not rotated) session whose access digest matches. One indexed lookup; expiry is
/// for the caller to check ([`Session::access_valid_at`]).
pub fn find_by_access_digest(conn: &mut Conn, digest: &str) -> Result<Option<Session>> {
    let row: Option<SessionRow> = on_conn!(conn, |c| sessions::table
        .filter(sessions::access_digest.eq(digest))
        .filter(sessions::rotated_at.is_null())
        .select(SessionRow::as_select())
        .first(c)
        .optional())?;
    Ok(row.map(Into::into))
}

/// Like [`find_by_access_digest`], together with the owning user, in one query.
pub fn find_by_access_digest_with_user(
    conn: &mut Conn,
    digest: &str,
) -> Result<Option<(Session, User)>> {
    let row: Option<(SessionRow, UserRow)> = on_conn!(conn, |c| sessions::table
        .inner_join(users::table)
        .filter(sessions::access_digest.eq(digest))
        .filter(sessions::rotated_at.is_null())
        .select((SessionRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional())?;
    row.map(|(s, u)| Ok((s.into(), u.try_into()?))).transpose()
}

/// The session (rotated or not) whose refresh digest matches.
pub fn find_by_refresh_digest(conn: &mut Conn, digest: &str) -> Result<Option<Session>> {
    let row: Option<SessionRow> = on_conn!(conn, |c| sessions::table
        .filter(sessions::refresh_digest.eq(digest))
        .select(SessionRow::as_select())
        .first(c)
        .optional())?;
    Ok(row.map(Into::into))
}

/// Atomically rotates the session holding `old_refresh_digest`: of several concurrent calls
/// with the same secret exactly one gets [`RotateOutcome::Rotated`]; the others get
/// [`RotateOutcome::Replayed`].
pub fn rotate(
    conn: &mut Conn,
    old_refresh_digest: &str,
    rotation: &Rotation,
    now: DateTime<Utc>,
) -> Result<RotateOutcome> {
    conn.transaction(|tx| {
        let Some(old) = find_by_refresh_digest(tx, old_refresh_digest)? else {
            return Ok(RotateOutcome::NotFound);
        };
        if old.rotated_at.is_some() {
            return Ok(RotateOutcome::Replayed(old));
        }
        if old.refresh_expires_at <= now {
            return Ok(RotateOutcome::Expired(old));
        }
        // The conditional update is the arbiter under concurrency (it row-locks on PostgreSQL;
        // SQLite transactions here are already serialised by BEGIN IMMEDIATE).
        let retired: Option<SessionRow> = on_conn!(tx, |c| diesel::update(
            sessions::table
                .find(old.id)
                .filter(sessions::rotated_at.is_null())
        )
        .set(sessions::rotated_at.eq(to_db(now)))
        .returning(SessionRow::as_returning())
        .get_result(c)
        .optional())?;
        let Some(retired) = retired else {
            return Ok(RotateOutcome::Replayed(old));
        };
        let new = insert(
            tx,
            &SessionInsert {
                user_id: old.user_id,
                family_id: &old.family_id,
                access_digest: &rotation.access_digest,
                refresh_digest: &rotation.refresh_digest,
                remember: old.remember,
                created_at: to_db(now),
                access_expires_at: to_db(rotation.access_expires_at),
                refresh_expires_at: to_db(rotation.refresh_expires_at),
                family_started_at: to_db(old.family_started_at),
            },
        )?;
        Ok(RotateOutcome::Rotated {
            old: retired.into(),
            new,
        })
    })
}

/// Deletes the session row with this access digest (logout). Returns whether one existed.
pub fn delete_by_access_digest(conn: &mut Conn, digest: &str) -> Result<bool> {
    let n = on_conn!(conn, |c| diesel::delete(
        sessions::table.filter(sessions::access_digest.eq(digest))
    )
    .execute(c))?;
    Ok(n > 0)
}

/// Deletes every row of a session family (logout of that login, or refresh-replay response).
pub fn delete_family(conn: &mut Conn, family_id: &str) -> Result<usize> {
    Ok(on_conn!(conn, |c| diesel::delete(
        sessions::table.filter(sessions::family_id.eq(family_id))
    )
    .execute(c))?)
}

/// Deletes every session of a user (password change, deactivation, admin action).
pub fn delete_for_user(conn: &mut Conn, user_id: i64) -> Result<usize> {
    Ok(on_conn!(conn, |c| diesel::delete(
        sessions::table.filter(sessions::user_id.eq(user_id))
    )
    .execute(c))?)
}

/// A user's sessions that can still be used or refreshed at `now` (not rotated, refresh not
/// expired), newest first.
pub fn list_active_for_user(
    conn: &mut Conn,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Session>> {
    let rows: Vec<SessionRow> = on_conn!(conn, |c| sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::rotated_at.is_null())
        .filter(sessions::refresh_expires_at.gt(to_db(now)))
        .order((sessions::created_at.desc(), sessions::id.desc()))
        .select(SessionRow::as_select())
        .load(c))?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Housekeeping: deletes rows whose refresh lifetime ended at or before `now`.
pub fn purge_expired(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize> {
    Ok(on_conn!(conn, |c| diesel::delete(
        sessions::table.filter(sessions::refresh_expires_at.le(to_db(now)))
    )
    .execute(c))?)
}

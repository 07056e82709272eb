//! Users of the auth database.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{Conn, ConnRef, on_conn};
use crate::error::{Result, StorageError};
use crate::schema::users;
use crate::time::{from_db, to_db};

/// Per-scope quota limits: scope name → limit (`None`: unlimited). Scope names are validated by
/// the auth crate, not here.
pub type QuotaLimits = BTreeMap<String, Option<i64>>;

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Immutable id, never reused.
    pub id: i64,
    /// Login name (unique, case-sensitive as stored).
    pub username: String,
    /// E-mail (unique; the auth crate lower-cases it).
    pub email: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Deactivated users must be refused everywhere (enforced by the auth crate).
    pub is_active: bool,
    /// Role names.
    pub roles: Vec<String>,
    /// Feature names (empty list: see the auth crate's policy).
    pub allowed_features: Vec<String>,
    /// Per-scope quota limits.
    pub quota_limits: QuotaLimits,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last modification time.
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether the user has `role` (case-sensitive).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The fields of a new user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Optional display name.
    pub display_name: Option<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Active flag.
    pub is_active: bool,
    /// Role names.
    pub roles: Vec<String>,
    /// Feature names.
    pub allowed_features: Vec<String>,
    /// Quota limits.
    pub quota_limits: QuotaLimits,
}

/// A partial update; `None` fields are left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserUpdate {
    /// New e-mail.
    pub email: Option<String>,
    /// New display name (`Some(None)` clears it).
    #[allow(clippy::option_option)] // None: unchanged; Some(None): cleared
    pub display_name: Option<Option<String>>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New active flag.
    pub is_active: Option<bool>,
    /// New roles.
    pub roles: Option<Vec<String>>,
    /// New features.
    pub allowed_features: Option<Vec<String>>,
    /// New quota limits.
    pub quota_limits: Option<QuotaLimits>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: i64,
    username: String,
    email: String,
    display_name: Option<String>,
    password_hash: String,
    is_active: bool,
    roles: String,
    allowed_features: String,
    quota_limits: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = StorageError;

    fn try_from(row: UserRow) -> Result<Self> {
        Ok(Self {
            id: row.id,
            username: row.username,
            email: row.email,
            display_name: row.display_name,
            password_hash: row.password_hash,
            is_active: row.is_active,
            roles: serde_json::from_str(&row.roles)?,
            allowed_features: serde_json::from_str(&row.allowed_features)?,
            quota_limits: serde_json::from_str(&row.quota_limits)?,
            created_at: from_db(row.created_at),
            updated_at: from_db(row.updated_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct UserInsert<'a> {
    username: &'a str,
    email: &'a str,
    display_name: Option<&'a str>,
    password_hash: &'a str,
    is_active: bool,
    roles: String,
    allowed_features: String,
    quota_limits: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
#[allow(clippy::option_option)] // diesel's way to set a column to NULL
struct UserChanges<'a> {
    email: Option<&'a str>,
    display_name: Option<Option<String>>,
    password_hash: Option<&'a str>,
    is_active: Option<bool>,
    roles: Option<String>,
    allowed_features: Option<String>,
    quota_limits: Option<String>,
    updated_at: Option<NaiveDateTime>,
}

fn insert_row(new: &NewUser, now: DateTime<Utc>) -> Result<UserInsert<'_>> {
    Ok(UserInsert {
        username: &new.username,
        email: &new.email,
        display_name: new.display_name.as_deref(),
        password_hash: &new.password_hash,
        is_active: new.is_active,
        roles: serde_json::to_string(&new.roles)?,
        allowed_features: serde_json::to_string(&new.allowed_features)?,
        quota_limits: serde_json::to_string(&new.quota_limits)?,
        created_at: to_db(now),
        updated_at: to_db(now),
    })
}

pub(crate) fn rows_to_users(rows: Vec<UserRow>) -> Result<Vec<User>> {
    rows.into_iter().map(User::try_from).collect()
}

/// Creates a user. A duplicate username or e-mail gives [`StorageError::Conflict`].
pub fn create(conn: &mut Conn, new: &NewUser) -> Result<User> {
    let row = insert_row(new, crate::time::now())?;
    let created: UserRow = on_conn!(conn, |c| diesel::insert_into(users::table)
        .values(&row)
        .returning(UserRow::as_returning())
        .get_result(c))?;
    created.try_into()
}

/// Creates the user unless one with the same username exists; returns the stored user and
/// whether it was created. Safe when several processes seed at once (insert … on conflict do
/// nothing, then read). An e-mail clash with a *different* username is a
/// [`StorageError::Conflict`].
pub fn create_if_missing(conn: &mut Conn, new: &NewUser) -> Result<(User, bool)> {
    let row = insert_row(new, crate::time::now())?;
    let inserted = on_conn!(conn, |c| diesel::insert_into(users::table)
        .values(&row)
        .on_conflict(users::username)
        .do_nothing()
        .execute(c))?;
    let user = find_by_username(conn, &new.username)?.ok_or_else(|| {
        StorageError::Corrupt(format!("user {} vanished after upsert", new.username))
    })?;
    Ok((user, inserted == 1))
}

/// The user with this id.
pub fn get(conn: &mut Conn, id: i64) -> Result<Option<User>> {
    let row: Option<UserRow> = on_conn!(conn, |c| users::table
        .find(id)
        .select(UserRow::as_select())
        .first(c)
        .optional())?;
    row.map(User::try_from).transpose()
}

/// The user with this exact username.
pub fn find_by_username(conn: &mut Conn, username: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = on_conn!(conn, |c| users::table
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(c)
        .optional())?;
    row.map(User::try_from).transpose()
}

/// The user with this exact e-mail.
pub fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<User>> {
    let row: Option<UserRow> = on_conn!(conn, |c| users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(c)
        .optional())?;
    row.map(User::try_from).transpose()
}

/// Users ordered by id, paginated.
pub fn list(conn: &mut Conn, limit: i64, offset: i64) -> Result<Vec<User>> {
    let rows: Vec<UserRow> = on_conn!(conn, |c| users::table
        .order(users::id.asc())
        .limit(limit.max(0))
        .offset(offset.max(0))
        .select(UserRow::as_select())
        .load(c))?;
    rows_to_users(rows)
}

/// Number of users.
pub fn count(conn: &mut Conn) -> Result<i64> {
    Ok(on_conn!(conn, |c| users::table.count().get_result(c))?)
}

/// Number of active users holding `role` (used to protect the last admin).
pub fn count_active_with_role(conn: &mut Conn, role: &str) -> Result<i64> {
    let roles: Vec<String> = on_conn!(conn, |c| users::table
        .filter(users::is_active.eq(true))
        .select(users::roles)
        .load(c))?;
    let mut n = 0;
    for json in roles {
        let list: Vec<String> = serde_json::from_str(&json)?;
        if list.iter().any(|r| r == role) {
            n += 1;
        }
    }
    Ok(n)
}

/// Applies `update` and returns the new user, or `None` if there is no such user. A change of
/// roles or of the active flag that could remove an admin goes through
/// [`update_keeping_role`] instead.
pub fn update(conn: &mut Conn, id: i64, update: &UserUpdate) -> Result<Option<User>> {
    let changes = UserChanges {
        email: update.email.as_deref(),
        display_name: update.display_name.clone(),
        password_hash: update.password_hash.as_deref(),
        is_active: update.is_active,
        roles: update
            .roles
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        allowed_features: update
            .allowed_features
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        quota_limits: update
            .quota_limits
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        updated_at: Some(to_db(crate::time::now())),
    };
    let row: Option<UserRow> = on_conn!(conn, |c| diesel::update(users::table.find(id))
        .set(&changes)
        .returning(UserRow::as_returning())
        .get_result(c)
        .optional())?;
    row.map(User::try_from).transpose()
}

/// What a change guarded by [`update_keeping_role`] or [`delete_keeping_role`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardedChange<T> {
    /// The change was made.
    Done(T),
    /// There is no such user.
    NotFound,
    /// The user is the last active holder of the guarded role and the change would remove it;
    /// nothing was changed.
    LastHolder,
}

/// Makes every other guarded change wait until this transaction ends. SQLite needs nothing:
/// its transactions start with `BEGIN IMMEDIATE`, which already takes the database's write
/// lock. On PostgreSQL a counted check followed by an update is not enough under READ
/// COMMITTED (two transactions demoting two different admins would each still count the
/// other), so the table is locked in a mode that conflicts with itself and with row writes,
/// while plain reads go on. `LOCK TABLE` takes no snapshot, so the count that follows sees
/// every change committed before the lock was granted, whatever the isolation level.
fn lock_users_for_role_check(conn: &mut Conn) -> Result<()> {
    if let ConnRef::Postgres(c) = conn.inner() {
        diesel::sql_query("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").execute(c)?;
    }
    Ok(())
}

/// Whether `user` is an active holder of `role` and would stop being one after `update`.
fn update_removes_role(user: &User, update: &UserUpdate, role: &str) -> bool {
    let active_after = update.is_active.unwrap_or(user.is_active);
    let holds_after = update.roles.as_ref().map_or_else(
        || user.has_role(role),
        |roles| roles.iter().any(|r| r == role),
    );
    user.is_active && user.has_role(role) && !(active_after && holds_after)
}

/// [`update`], unless it would leave no active user holding `role` (used for `admin`): the
/// check and the write are one transaction that excludes every other guarded change, so two
/// requests removing two different holders at once cannot both succeed.
pub fn update_keeping_role(
    conn: &mut Conn,
    id: i64,
    changes: &UserUpdate,
    role: &str,
) -> Result<GuardedChange<User>> {
    conn.transaction(|tx| {
        lock_users_for_role_check(tx)?;
        let Some(current) = get(tx, id)? else {
            return Ok(GuardedChange::NotFound);
        };
        if update_removes_role(&current, changes, role) && count_active_with_role(tx, role)? <= 1 {
            return Ok(GuardedChange::LastHolder);
        }
        Ok(match update(tx, id, changes)? {
            Some(user) => GuardedChange::Done(user),
            None => GuardedChange::NotFound,
        })
    })
}

/// [`delete`], unless the user is the last active holder of `role`; atomic like
/// [`update_keeping_role`].
pub fn delete_keeping_role(conn: &mut Conn, id: i64, role: &str) -> Result<GuardedChange<()>> {
    conn.transaction(|tx| {
        lock_users_for_role_check(tx)?;
        let Some(current) = get(tx, id)? else {
            return Ok(GuardedChange::NotFound);
        };
        if current.is_active && current.has_role(role) && count_active_with_role(tx, role)? <= 1 {
            return Ok(GuardedChange::LastHolder);
        }
        Ok(if delete(tx, id)? {
            GuardedChange::Done(())
        } else {
            GuardedChange::NotFound
        })
    })
}

/// Deletes a user; their sessions, API tokens and quota usage go with them (foreign keys with
/// `ON DELETE CASCADE`). Returns whether a user was deleted.
pub fn delete(conn: &mut Conn, id: i64) -> Result<bool> {
    let n = on_conn!(conn, |c| diesel::delete(users::table.find(id)).execute(c))?;
    Ok(n > 0)
}

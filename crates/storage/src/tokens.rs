//! API tokens: looked up by the SHA-256 digest of the secret through a unique index.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::{Conn, on_conn};
use crate::error::{Result, StorageError};
use crate::schema::{api_tokens, users};
use crate::time::{from_db, opt_from_db, to_db};
use crate::users::{QuotaLimits, User, UserRow};

/// A stored API token (the secret itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Internal row id.
    pub id: i64,
    /// Stable public id (for listing and revocation).
    pub public_id: String,
    /// Owner.
    pub user_id: i64,
    /// Digest of the secret (hex SHA-256, computed by the auth crate).
    pub digest: String,
    /// Last characters of the secret, for display.
    pub hint: String,
    /// Label.
    pub display_name: String,
    /// Roles carried by the token.
    pub roles: Vec<String>,
    /// Features carried by the token.
    pub allowed_features: Vec<String>,
    /// Quota limits carried by the token.
    pub quota_limits: QuotaLimits,
    /// Seed marker (`admin`, `readonly`, …) for tokens created from settings.
    pub seed: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful use (updated at most once per interval, see [`touch_last_used`]).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Optional expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Whether the token has expired at `now`.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// A new token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewApiToken {
    /// Owner.
    pub user_id: i64,
    /// Digest of the secret.
    pub digest: String,
    /// Display hint.
    pub hint: String,
    /// Label.
    pub display_name: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Features.
    pub allowed_features: Vec<String>,
    /// Quota limits.
    pub quota_limits: QuotaLimits,
    /// Seed marker.
    pub seed: Option<String>,
    /// Optional expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
struct TokenRow {
    id: i64,
    public_id: String,
    user_id: i64,
    digest: String,
    hint: String,
    display_name: String,
    roles: String,
    allowed_features: String,
    quota_limits: String,
    seed: Option<String>,
    created_at: NaiveDateTime,
    last_used_at: Option<NaiveDateTime>,
    expires_at: Option<NaiveDateTime>,
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StorageError;

    fn try_from(r: TokenRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            public_id: r.public_id,
            user_id: r.user_id,
            digest: r.digest,
            hint: r.hint,
            display_name: r.display_name,
            roles: serde_json::from_str(&r.roles)?,
            allowed_features: serde_json::from_str(&r.allowed_features)?,
            quota_limits: serde_json::from_str(&r.quota_limits)?,
            seed: r.seed,
            created_at: from_db(r.created_at),
            last_used_at: opt_from_db(r.last_used_at),
            expires_at: opt_from_db(r.expires_at),
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = api_tokens)]
struct TokenInsert<'a> {
    public_id: String,
    user_id: i64,
    digest: &'a str,
    hint: &'a str,
    display_name: &'a str,
    roles: String,
    allowed_features: String,
    quota_limits: String,
    seed: Option<&'a str>,
    created_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
}

fn insert_row(new: &NewApiToken) -> Result<TokenInsert<'_>> {
    if new.digest.is_empty() {
        return Err(StorageError::Invalid("token digest is empty".into()));
    }
    Ok(TokenInsert {
        public_id: uuid::Uuid::new_v4().simple().to_string(),
        user_id: new.user_id,
        digest: &new.digest,
        hint: &new.hint,
        display_name: &new.display_name,
        roles: serde_json::to_string(&new.roles)?,
        allowed_features: serde_json::to_string(&new.allowed_features)?,
        quota_limits: serde_json::to_string(&new.quota_limits)?,
        seed: new.seed.as_deref(),
        created_at: to_db(crate::time::now()),
        expires_at: new.expires_at.map(to_db),
    })
}

fn convert(rows: Vec<TokenRow>) -> Result<Vec<ApiToken>> {
    rows.into_iter().map(ApiToken::try_from).collect()
}

/// Creates a token with a fresh public id. A digest already stored gives
/// [`StorageError::Conflict`]; an unknown user gives [`StorageError::MissingReference`].
pub fn create(conn: &mut Conn, new: &NewApiToken) -> Result<ApiToken> {
    let row = insert_row(new)?;
    let created: TokenRow = on_conn!(conn, |c| diesel::insert_into(api_tokens::table)
        .values(&row)
        .returning(TokenRow::as_returning())
        .get_result(c))?;
    created.try_into()
}

/// The token with this digest: one query on the unique index.
pub fn find_by_digest(conn: &mut Conn, digest: &str) -> Result<Option<ApiToken>> {
    let row: Option<TokenRow> = on_conn!(conn, |c| api_tokens::table
        .filter(api_tokens::digest.eq(digest))
        .select(TokenRow::as_select())
        .first(c)
        .optional())?;
    row.map(ApiToken::try_from).transpose()
}

/// The token with this digest and its owner, in one indexed query.
pub fn find_by_digest_with_user(conn: &mut Conn, digest: &str) -> Result<Option<(ApiToken, User)>> {
    let row: Option<(TokenRow, UserRow)> = on_conn!(conn, |c| api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::digest.eq(digest))
        .select((TokenRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional())?;
    row.map(|(t, u)| Ok((t.try_into()?, u.try_into()?)))
        .transpose()
}

/// The token with this public id.
pub fn find_by_public_id(conn: &mut Conn, public_id: &str) -> Result<Option<ApiToken>> {
    let row: Option<TokenRow> = on_conn!(conn, |c| api_tokens::table
        .filter(api_tokens::public_id.eq(public_id))
        .select(TokenRow::as_select())
        .first(c)
        .optional())?;
    row.map(ApiToken::try_from).transpose()
}

/// Every token, in creation order.
pub fn list(conn: &mut Conn) -> Result<Vec<ApiToken>> {
    let rows: Vec<TokenRow> = on_conn!(conn, |c| api_tokens::table
        .order(api_tokens::id.asc())
        .select(TokenRow::as_select())
        .load(c))?;
    convert(rows)
}

/// A user's tokens, in creation order.
pub fn list_for_user(conn: &mut Conn, user_id: i64) -> Result<Vec<ApiToken>> {
    let rows: Vec<TokenRow> = on_conn!(conn, |c| api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::id.asc())
        .select(TokenRow::as_select())
        .load(c))?;
    convert(rows)
}

/// Revokes (deletes) a token by public id. Returns whether one existed.
pub fn delete_by_public_id(conn: &mut Conn, public_id: &str) -> Result<bool> {
    let n = on_conn!(conn, |c| diesel::delete(
        api_tokens::table.filter(api_tokens::public_id.eq(public_id))
    )
    .execute(c))?;
    Ok(n > 0)
}

/// Records a use at `now`, but only when the stored time is older than `min_interval`, so a
/// busy token does not cost a write per request. Returns whether the row was written.
pub fn touch_last_used(
    conn: &mut Conn,
    id: i64,
    now: DateTime<Utc>,
    min_interval: std::time::Duration,
) -> Result<bool> {
    let stale_before = to_db(crate::time::before(now, min_interval));
    let n = on_conn!(conn, |c| diesel::update(
        api_tokens::table.find(id).filter(
            api_tokens::last_used_at
                .is_null()
                .or(api_tokens::last_used_at.lt(stale_before))
        )
    )
    .set(api_tokens::last_used_at.eq(to_db(now)))
    .execute(c))?;
    Ok(n > 0)
}

/// Installs the token of a seed marker (`new.seed` must be set): any other token carrying the
/// same marker is deleted (so a changed configured value stops working), and the token with this
/// digest is inserted or has its metadata refreshed. Safe when several processes seed at once.
pub fn upsert_seed(conn: &mut Conn, new: &NewApiToken) -> Result<ApiToken> {
    let Some(seed) = new.seed.as_deref() else {
        return Err(StorageError::Invalid(
            "upsert_seed needs a seed marker".into(),
        ));
    };
    let row = insert_row(new)?;
    conn.transaction(|tx| {
        on_conn!(tx, |c| diesel::delete(
            api_tokens::table
                .filter(api_tokens::seed.eq(seed))
                .filter(api_tokens::digest.ne(&new.digest))
        )
        .execute(c))?;
        let stored: TokenRow = on_conn!(tx, |c| diesel::insert_into(api_tokens::table)
            .values(&row)
            .on_conflict(api_tokens::digest)
            .do_update()
            .set((
                api_tokens::user_id.eq(row.user_id),
                api_tokens::hint.eq(row.hint),
                api_tokens::display_name.eq(row.display_name),
                api_tokens::roles.eq(&row.roles),
                api_tokens::allowed_features.eq(&row.allowed_features),
                api_tokens::quota_limits.eq(&row.quota_limits),
                api_tokens::seed.eq(row.seed),
                api_tokens::expires_at.eq(row.expires_at),
            ))
            .returning(TokenRow::as_returning())
            .get_result(c))?;
        stored.try_into()
    })
}

/// Deletes the token(s) carrying a seed marker (the configured value was unset).
pub fn delete_seed(conn: &mut Conn, seed: &str) -> Result<usize> {
    Ok(on_conn!(conn, |c| diesel::delete(
        api_tokens::table.filter(api_tokens::seed.eq(seed))
    )
    .execute(c))?)
}

//! The quota policy over storage: limits come from the principal (the token's, else the
//! user's — the smaller when both are set), usage is counted per user id over a rolling 24 h
//! window, and check-and-consume is one atomic storage operation, so concurrent consumers can
//! never together exceed a limit.

use chrono::{DateTime, Utc};
use recozik_storage::quota::{self, QuotaDecision};

use crate::Auth;
use crate::error::{AuthError, Result};
use crate::model::QuotaScope;
use crate::principal::Principal;

/// A granted consumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaOutcome {
    /// No limit applies to this scope; nothing was recorded.
    Unlimited,
    /// The units were recorded.
    Granted {
        /// Usage in the window, this consumption included.
        used: i64,
        /// The applied limit.
        limit: i64,
    },
}

impl Auth {
    /// Consumes `cost` units of `scope` for `principal`, or refuses with
    /// [`AuthError::QuotaExceeded`] ("Quota exceeded for `<scope>`: `<used+cost>` > `<limit>`
    /// (rolling 24h window)") carrying the scope and when the cost fits again. A limit of 0
    /// blocks the scope. Call it before the external call it pays for.
    pub fn consume_quota(
        &self,
        principal: &Principal,
        scope: QuotaScope,
        cost: u32,
    ) -> Result<QuotaOutcome> {
        let Some(limit) = principal.quota_limit(scope) else {
            return Ok(QuotaOutcome::Unlimited);
        };
        let cost = i64::from(cost.max(1));
        let mut conn = self.db.conn()?;
        match quota::consume(
            &mut conn,
            principal.user_id,
            scope.as_str(),
            cost,
            limit,
            self.now(),
        )? {
            QuotaDecision::Granted { used, limit, .. } => Ok(QuotaOutcome::Granted { used, limit }),
            QuotaDecision::Denied {
                used,
                cost,
                limit,
                retry_at,
            } => Err(AuthError::QuotaExceeded {
                scope,
                requested_total: used.saturating_add(cost),
                limit,
                resets_at: retry_at,
            }),
        }
    }

    /// Gives back `cost` units of `scope` consumed by this principal (the external call they
    /// paid for failed). Nothing happens for scopes without a limit, which record nothing.
    pub fn refund_quota(&self, principal: &Principal, scope: QuotaScope, cost: u32) -> Result<i64> {
        if principal.quota_limit(scope).is_none() {
            return Ok(0);
        }
        let mut conn = self.db.conn()?;
        Ok(quota::refund(
            &mut conn,
            principal.user_id,
            scope.as_str(),
            i64::from(cost.max(1)),
            self.now(),
        )?)
    }

    /// Current usage of a user in a scope: (units in the window, when the oldest stops
    /// counting).
    pub fn quota_usage(
        &self,
        user_id: i64,
        scope: QuotaScope,
    ) -> Result<(i64, Option<DateTime<Utc>>)> {
        let mut conn = self.db.conn()?;
        let usage = quota::usage(&mut conn, user_id, scope.as_str(), self.now())?;
        Ok((usage.used, usage.frees_at))
    }

    /// Forgets a user's usage (one scope, or all). Returns the number of buckets deleted.
    pub fn reset_quota(&self, user_id: i64, scope: Option<QuotaScope>) -> Result<usize> {
        let mut conn = self.db.conn()?;
        Ok(quota::reset(
            &mut conn,
            user_id,
            scope.map(QuotaScope::as_str),
        )?)
    }

    /// Housekeeping: deletes usage buckets that no longer count.
    pub fn purge_expired_quota(&self) -> Result<usize> {
        let mut conn = self.db.conn()?;
        Ok(quota::purge_expired(&mut conn, self.now())?)
    }
}

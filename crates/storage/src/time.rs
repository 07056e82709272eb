//! UTC time helpers. The database stores naive UTC values; the public API only shows
//! `DateTime<Utc>`.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// The current time, truncated to microseconds (what both backends store), so a value written
/// and read back compares equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(crate) fn to_db(t: DateTime<Utc>) -> NaiveDateTime {
    t.trunc_subsecs(6).naive_utc()
}

pub(crate) fn from_db(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub(crate) fn opt_from_db(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.and_utc())
}

pub(crate) fn chrono_duration(d: std::time::Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

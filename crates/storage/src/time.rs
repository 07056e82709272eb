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

/// The latest instant stored: the end of year 9999, inside both backends' timestamp ranges.
fn latest() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t + d`, saturating at the end of year 9999: durations can come from settings and clients,
/// and chrono's `+` panics past its own range.
pub(crate) fn after(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t.checked_add_signed(chrono_duration(d))
        .map_or_else(latest, |later| later.min(latest()))
}

/// `t - d`, saturating at the Unix epoch (nothing stored is older).
pub(crate) fn before(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t.checked_sub_signed(chrono_duration(d))
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |earlier| {
            earlier.max(DateTime::<Utc>::UNIX_EPOCH)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = now();
        let huge = std::time::Duration::from_secs(u64::MAX);
        assert_eq!(after(now, huge), latest());
        assert_eq!(before(now, huge), DateTime::<Utc>::UNIX_EPOCH);
        let hour = std::time::Duration::from_hours(1);
        assert_eq!(after(now, hour) - now, chrono::TimeDelta::hours(1));
        assert_eq!(now - before(now, hour), chrono::TimeDelta::hours(1));
    }
}

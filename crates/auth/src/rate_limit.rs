//! Per-IP rate limiting with `governor`: one keyed limiter per class, so login attempts and API
//! calls never share a bucket.
//!
//! Each limiter is a GCRA with a burst of `N` and a replenishment of `N` per minute. Limits are
//! per process (each instance counts its own requests; see `docs/configuration.md`). Idle keys are
//! dropped every [`HOUSEKEEPING_EVERY`] checks (and by [`RateLimiters::housekeep`], which the
//! server may also call on a timer), so memory stays bounded by the number of clients seen in the
//! last minute.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock, FakeRelativeClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::error::AuthError;
use crate::settings::AuthSettings;

/// After this many checks on one limiter, idle keys are dropped.
pub const HOUSEKEEPING_EVERY: u64 = 1024;

/// The key used when neither a forwarded address nor a peer address is known (all such clients
/// share one bucket).
pub const UNKNOWN_CLIENT: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// What kind of request is being limited; each class has its own buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitClass {
    /// Authenticated API calls (`RATE_LIMIT_PER_MINUTE`, default 60).
    Api,
    /// `POST /auth/login` (default 5).
    Login,
    /// `POST /auth/register` (default 5).
    Register,
    /// `POST /auth/change-password` (default 5).
    ChangePassword,
    /// `POST /auth/refresh` (default 10).
    Refresh,
}

impl LimitClass {
    /// Every class.
    pub const ALL: [LimitClass; 5] = [
        LimitClass::Api,
        LimitClass::Login,
        LimitClass::Register,
        LimitClass::ChangePassword,
        LimitClass::Refresh,
    ];

    fn index(self) -> usize {
        match self {
            Self::Api => 0,
            Self::Login => 1,
            Self::Register => 2,
            Self::ChangePassword => 3,
            Self::Refresh => 4,
        }
    }

    fn per_minute(self, settings: &AuthSettings) -> u32 {
        match self {
            Self::Api => settings.rate_limit_per_minute,
            Self::Login | Self::Register | Self::ChangePassword => {
                settings.rate_limit_auth_per_minute
            }
            Self::Refresh => settings.rate_limit_refresh_per_minute,
        }
    }
}

impl fmt::Display for LimitClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Api => "api",
            Self::Login => "login",
            Self::Register => "register",
            Self::ChangePassword => "change_password",
            Self::Refresh => "refresh",
        })
    }
}

/// The client address of a request, for rate limiting.
///
/// `forwarded_for` holds every `X-Forwarded-For` field line in the order received, and
/// `real_ip` every `X-Real-IP` line. The lines of a list field are one comma-separated list
/// (RFC 9110 §5.3): a proxy may append its entry as a line of its own, so reading only the first
/// line would let the client choose the key.
///
/// * `trusted_proxies == 0`: forwarding headers are ignored; the peer address is used.
/// * `trusted_proxies == N > 0` and `X-Forwarded-For` present: each of our N proxies appended
///   the address it received the request from, so the client is the N-th entry from the right
///   of all the lines joined. If the chain has fewer than N entries, or that entry is not an IP
///   address, the peer address is used (never a client-controlled leftmost entry).
/// * `N > 0`, no `X-Forwarded-For`, exactly one `X-Real-IP` line holding a valid address: that
///   address (several lines are ambiguous: the peer address is used).
/// * no peer address: [`UNKNOWN_CLIENT`].
///
/// The limiters key IPv6 addresses by their /64 ([`RateLimiters::check`]).
pub fn client_ip(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    real_ip: &[&str],
    trusted_proxies: usize,
) -> IpAddr {
    let fallback = peer.unwrap_or(UNKNOWN_CLIENT);
    if trusted_proxies == 0 {
        return fallback;
    }
    if !forwarded_for.is_empty() {
        let entries: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .collect();
        if entries.len() < trusted_proxies {
            return fallback;
        }
        return parse_ip(entries[entries.len() - trusted_proxies]).unwrap_or(fallback);
    }
    match real_ip {
        [only] => parse_ip(only).unwrap_or(fallback),
        _ => fallback,
    }
}

/// The bucket a client address counts against: an IPv4 address (also written as an
/// IPv4-mapped IPv6 address) is one client; an IPv6 address is keyed by its /64, the smallest
/// block a site is normally given, since a host may pick any address inside it at will.
pub fn rate_limit_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(
            || IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
            IpAddr::V4,
        ),
    }
}

/// Parses `1.2.3.4`, `::1`, `[::1]`, `1.2.3.4:567` or `[::1]:567`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sock) = s.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|r| r.parse().ok())
}

type KeyedLimiter<C> =
    RateLimiter<IpAddr, HashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

struct ClassLimiter<C: Clock> {
    per_minute: u32,
    limiter: Option<KeyedLimiter<C>>,
    checks: AtomicU64,
}

/// The per-class, per-IP limiters of one process. Share it (`Arc`) across workers.
pub struct RateLimiters<C: Clock = DefaultClock> {
    enabled: bool,
    clock: C,
    classes: Vec<ClassLimiter<C>>,
}

impl<C: Clock> fmt::Debug for RateLimiters<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RateLimiters");
        d.field("enabled", &self.enabled);
        for class in LimitClass::ALL {
            let c = &self.classes[class.index()];
            d.field(&class.to_string(), &c.per_minute);
        }
        d.finish_non_exhaustive()
    }
}

impl RateLimiters<DefaultClock> {
    /// Limiters with the limits and master switch of `settings`, on the real clock.
    pub fn new(settings: &AuthSettings) -> Self {
        Self::with_clock(settings, DefaultClock::default())
    }
}

impl RateLimiters<FakeRelativeClock> {
    /// Limiters on a manual clock (tests).
    pub fn with_fake_clock(settings: &AuthSettings, clock: FakeRelativeClock) -> Self {
        Self::with_clock(settings, clock)
    }
}

impl<C: Clock + Clone> RateLimiters<C> {
    /// Limiters on any governor clock. A class configured with 0 requests per minute is not
    /// limited.
    pub fn with_clock(settings: &AuthSettings, clock: C) -> Self {
        let classes = LimitClass::ALL
            .iter()
            .map(|class| {
                let per_minute = class.per_minute(settings);
                let limiter = NonZeroU32::new(per_minute).map(|n| {
                    RateLimiter::new(
                        Quota::per_minute(n),
                        HashMapStateStore::default(),
                        clock.clone(),
                    )
                });
                ClassLimiter {
                    per_minute,
                    limiter,
                    checks: AtomicU64::new(0),
                }
            })
            .collect();
        Self {
            enabled: settings.rate_limit_enabled,
            clock,
            classes,
        }
    }

    /// Counts one request of `class` from `client` (keyed by [`rate_limit_key`]). A refusal is
    /// [`AuthError::RateLimited`] with the seconds until the next request of that class is
    /// accepted (for `Retry-After`); refused requests are not counted.
    pub fn check(&self, class: LimitClass, client: IpAddr) -> Result<(), AuthError> {
        if !self.enabled {
            return Ok(());
        }
        let entry = &self.classes[class.index()];
        let Some(limiter) = &entry.limiter else {
            return Ok(());
        };
        let n = entry.checks.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(HOUSEKEEPING_EVERY) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        match limiter.check_key(&rate_limit_key(client)) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                let mut secs = wait.as_secs();
                if wait.subsec_nanos() > 0 || secs == 0 {
                    secs += 1;
                }
                Err(AuthError::RateLimited {
                    class,
                    limit: entry.per_minute,
                    retry_after_secs: secs,
                })
            }
        }
    }

    /// Drops the state of every key that is back to a fresh bucket, and releases memory.
    pub fn housekeep(&self) {
        for entry in &self.classes {
            if let Some(limiter) = &entry.limiter {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }

    /// Number of client keys currently held by the limiter of `class`.
    pub fn tracked_keys(&self, class: LimitClass) -> usize {
        self.classes[class.index()]
            .limiter
            .as_ref()
            .map_or(0, RateLimiter::len)
    }

    /// The per-minute limit of `class`.
    pub fn limit(&self, class: LimitClass) -> u32 {
        self.classes[class.index()].per_minute
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiters() -> (RateLimiters<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            RateLimiters::with_fake_clock(&AuthSettings::default(), clock.clone()),
            clock,
        )
    }

    #[test]
    fn sixth_login_in_a_minute_is_refused_with_retry_after() {
        let (rl, clock) = limiters();
        let client = ip("203.0.113.1");
        for _ in 0..5 {
            rl.check(LimitClass::Login, client).unwrap();
        }
        let err = rl.check(LimitClass::Login, client).unwrap_err();
        assert_eq!(err.to_string(), "Rate limit exceeded: 5 requests per 60s");
        assert_eq!(err.kind(), crate::ErrorKind::Limited);
        assert_eq!(err.retry_after_secs(), Some(12));
        clock.advance(Duration::from_secs(12));
        rl.check(LimitClass::Login, client).unwrap();
    }

    #[test]
    fn classes_have_separate_buckets_and_limits() {
        let (rl, _clock) = limiters();
        let client = ip("198.51.100.7");
        for _ in 0..5 {
            rl.check(LimitClass::Login, client).unwrap();
        }
        assert!(rl.check(LimitClass::Login, client).is_err());
        // Login exhaustion does not touch the other classes.
        for _ in 0..60 {
            rl.check(LimitClass::Api, client).unwrap();
        }
        assert!(rl.check(LimitClass::Api, client).is_err());
        for _ in 0..5 {
            rl.check(LimitClass::Register, client).unwrap();
            rl.check(LimitClass::ChangePassword, client).unwrap();
        }
        for _ in 0..10 {
            rl.check(LimitClass::Refresh, client).unwrap();
        }
        let err = rl.check(LimitClass::Refresh, client).unwrap_err();
        assert_eq!(err.to_string(), "Rate limit exceeded: 10 requests per 60s");
        // Another client is unaffected.
        rl.check(LimitClass::Login, ip("198.51.100.8")).unwrap();
    }

    #[test]
    fn disabled_limiting_never_refuses() {
        let settings = AuthSettings {
            rate_limit_enabled: false,
            ..AuthSettings::default()
        };
        let rl = RateLimiters::with_fake_clock(&settings, FakeRelativeClock::default());
        for _ in 0..100 {
            rl.check(LimitClass::Login, ip("10.0.0.1")).unwrap();
        }
    }

    #[test]
    fn idle_keys_are_dropped() {
        let (rl, clock) = limiters();
        for i in 0..200_u32 {
            rl.check(LimitClass::Api, IpAddr::V4(Ipv4Addr::from(i)))
                .unwrap();
        }
        assert_eq!(rl.tracked_keys(LimitClass::Api), 200);
        clock.advance(Duration::from_secs(61));
        rl.housekeep();
        assert_eq!(rl.tracked_keys(LimitClass::Api), 0);
    }

    #[test]
    fn idle_keys_are_dropped_automatically_while_checking() {
        let (rl, clock) = limiters();
        // Many distinct clients, each seen once, spread over time: memory stays bounded.
        for i in 0..(HOUSEKEEPING_EVERY as u32 * 4) {
            rl.check(LimitClass::Api, IpAddr::V4(Ipv4Addr::from(i)))
                .unwrap();
            clock.advance(Duration::from_millis(500));
        }
        // Only clients seen in the last minute (plus at most one housekeeping period) remain.
        assert!(
            rl.tracked_keys(LimitClass::Api) <= HOUSEKEEPING_EVERY as usize + 121,
            "{}",
            rl.tracked_keys(LimitClass::Api)
        );
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_prefix() {
        let (rl, _clock) = limiters();
        for i in 1..=5 {
            rl.check(LimitClass::Login, ip(&format!("2001:db8:1:2::{i}")))
                .unwrap();
        }
        // Any other address of the same /64 (a host picks its own) is the same client.
        assert!(
            rl.check(LimitClass::Login, ip("2001:db8:1:2:ffff:1:2:3"))
                .is_err()
        );
        // The next /64 is another client.
        rl.check(LimitClass::Login, ip("2001:db8:1:3::1")).unwrap();
        // IPv4 addresses, also when mapped into IPv6, stay one client per address.
        for _ in 0..5 {
            rl.check(LimitClass::Login, ip("::ffff:192.0.2.1")).unwrap();
        }
        assert!(rl.check(LimitClass::Login, ip("192.0.2.1")).is_err());
        rl.check(LimitClass::Login, ip("::ffff:192.0.2.2")).unwrap();
    }

    #[test]
    fn client_ip_ignores_forwarding_without_trusted_proxies() {
        let peer = Some(ip("10.1.1.1"));
        assert_eq!(
            client_ip(peer, &["203.0.113.1"], &["203.0.113.2"], 0),
            ip("10.1.1.1")
        );
        assert_eq!(client_ip(None, &[], &[], 0), UNKNOWN_CLIENT);
    }

    #[test]
    fn client_ip_takes_the_entry_added_by_the_outermost_trusted_proxy() {
        let peer = Some(ip("10.0.0.2"));
        // One proxy (nginx) appended the real client.
        assert_eq!(client_ip(peer, &["203.0.113.9"], &[], 1), ip("203.0.113.9"));
        // The client tried to spoof a leftmost entry: ignored.
        assert_eq!(
            client_ip(peer, &["1.2.3.4, 203.0.113.9"], &[], 1),
            ip("203.0.113.9")
        );
        // Two proxies: the second from the right.
        assert_eq!(
            client_ip(peer, &["1.2.3.4, 203.0.113.9, 10.0.0.1"], &[], 2),
            ip("203.0.113.9")
        );
        // Chain shorter than the number of proxies: the peer, not the leftmost entry.
        assert_eq!(client_ip(peer, &["203.0.113.9"], &[], 2), ip("10.0.0.2"));
        // Garbage entry: the peer.
        assert_eq!(client_ip(peer, &["nonsense"], &[], 1), ip("10.0.0.2"));
        // Ports and brackets are tolerated.
        assert_eq!(
            client_ip(peer, &["[2001:db8::1]:443"], &[], 1),
            ip("2001:db8::1")
        );
        // X-Real-IP when there is no X-Forwarded-For.
        assert_eq!(
            client_ip(peer, &[], &[" 203.0.113.5 "], 1),
            ip("203.0.113.5")
        );
        assert_eq!(client_ip(peer, &[], &["bad"], 1), ip("10.0.0.2"));
    }

    #[test]
    fn client_ip_reads_every_forwarded_for_line_in_order() {
        let peer = Some(ip("10.0.0.2"));
        // The client's own line first, then the line our proxy appended.
        assert_eq!(
            client_ip(peer, &["1.2.3.4", "203.0.113.9"], &[], 1),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(peer, &["1.2.3.4, 5.6.7.8", "203.0.113.9, 10.0.0.1"], &[], 2),
            ip("203.0.113.9")
        );
        // Entries are counted across lines: two lines of one entry each satisfy two proxies.
        assert_eq!(
            client_ip(peer, &["203.0.113.9", "10.0.0.1"], &[], 2),
            ip("203.0.113.9")
        );
        // Several X-Real-IP lines are ambiguous: the peer.
        assert_eq!(
            client_ip(peer, &[], &["1.2.3.4", "203.0.113.5"], 1),
            ip("10.0.0.2")
        );
    }
}

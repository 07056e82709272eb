//! Token resolution cost with 1 and with 10,000 tokens stored (SQLite, a temporary file).
//!
//! `cargo run --release -p recozik_auth --example token_bench [-- ITERATIONS]`
//!
//! Each resolution (`Auth::resolve_token`: pool checkout, SHA-256, one indexed query joining the
//! owner, constant-time compare, principal construction) is timed individually; the median,
//! 90th percentile and mean are printed. The two medians should differ by less than 20%.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use recozik_auth::secret::{digest, generate_api_token, hint_of};
use recozik_auth::{Auth, AuthSettings, NewTokenRequest, PasswordParams};
use recozik_storage::tokens::{self, NewApiToken};
use recozik_storage::users::{self, NewUser};
use recozik_storage::{Database, PoolOptions, Schema, migrate};

struct Stats {
    median: Duration,
    p90: Duration,
    mean: Duration,
}

fn measure(iterations: usize, mut f: impl FnMut(usize)) -> Stats {
    // Warm-up.
    for i in 0..iterations / 10 {
        f(i);
    }
    let mut samples = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let start = Instant::now();
        f(i);
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let total: Duration = samples.iter().sum();
    Stats {
        median: samples[samples.len() / 2],
        p90: samples[samples.len() * 9 / 10],
        mean: total / u32::try_from(samples.len()).unwrap(),
    }
}

fn print(label: &str, s: &Stats) {
    println!(
        "{label:<44} median {:>7.2} µs   p90 {:>7.2} µs   mean {:>7.2} µs",
        s.median.as_secs_f64() * 1e6,
        s.p90.as_secs_f64() * 1e6,
        s.mean.as_secs_f64() * 1e6
    );
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("auth.db").display());
    let db = Database::connect(&url, &PoolOptions::default()).unwrap();
    migrate(&db, Schema::Auth).unwrap();
    let settings = AuthSettings {
        password: PasswordParams::insecure_for_tests(),
        ..AuthSettings::default()
    };
    let auth = Auth::new(db.clone(), settings).unwrap();

    let mut conn = db.conn().unwrap();
    let owner = users::create(
        &mut conn,
        &NewUser {
            username: "bench".into(),
            email: "bench@example.com".into(),
            password_hash: auth.hasher().hash("x").unwrap(),
            is_active: true,
            roles: vec!["user".into()],
            allowed_features: vec!["identify".into()],
            ..NewUser::default()
        },
    )
    .unwrap();
    let request = |name: &str| NewTokenRequest {
        user_id: owner.id,
        display_name: name.into(),
        roles: vec!["user".into()],
        allowed_features: vec!["identify".into(), "musicbrainz_enrich".into()],
        ..NewTokenRequest::default()
    };
    let first = auth.create_token(&request("first")).unwrap().token;

    println!("token resolution on SQLite, {iterations} timed resolutions per case");
    let one = measure(iterations, |_| {
        auth.resolve_token(&first).unwrap();
    });
    print("1 token stored, valid token", &one);
    let invalid_one = measure(iterations, |_| {
        assert!(auth.resolve_token("rzk_not-a-token").is_err());
    });
    print("1 token stored, unknown token", &invalid_one);

    // 9,999 more tokens, inserted in one transaction.
    let mut others = Vec::with_capacity(9_999);
    conn.transaction::<_, recozik_storage::StorageError, _>(|c| {
        for i in 0..9_999 {
            let raw = generate_api_token();
            tokens::create(
                c,
                &NewApiToken {
                    user_id: owner.id,
                    digest: digest(&raw),
                    hint: hint_of(&raw),
                    display_name: format!("bulk {i}"),
                    roles: vec!["user".into()],
                    allowed_features: vec!["identify".into()],
                    ..NewApiToken::default()
                },
            )?;
            others.push(raw);
        }
        Ok(())
    })
    .unwrap();
    drop(conn);
    assert_eq!(auth.list_tokens().unwrap().len(), 10_000);

    let many = measure(iterations, |_| {
        auth.resolve_token(&first).unwrap();
    });
    print("10,000 tokens stored, same valid token", &many);
    // Spread over 1,000 different tokens (their last-used time is written once in warm-up).
    let sample: Vec<&String> = others.iter().step_by(10).collect();
    for t in &sample {
        auth.resolve_token(t).unwrap();
    }
    let spread = measure(iterations, |i| {
        auth.resolve_token(sample[i % sample.len()]).unwrap();
    });
    print("10,000 tokens stored, 1,000 different tokens", &spread);
    let invalid_many = measure(iterations, |_| {
        assert!(auth.resolve_token("rzk_not-a-token").is_err());
    });
    print("10,000 tokens stored, unknown token", &invalid_many);

    let diff = (many.median.as_secs_f64() - one.median.as_secs_f64()) / one.median.as_secs_f64();
    println!(
        "median difference 10,000 vs 1 token (same token): {:+.1}%",
        diff * 100.0
    );
    let diff = (spread.median.as_secs_f64() - one.median.as_secs_f64()) / one.median.as_secs_f64();
    println!(
        "median difference 10,000 (1,000 different tokens) vs 1 token: {:+.1}%",
        diff * 100.0
    );
}

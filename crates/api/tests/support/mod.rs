//! The one harness of the API integration tests.
//!
//! - `app`: a [`TestApp`] (the application state on a temporary media root, built with
//!   [`TestApp::builder`]) and its in-process `actix_web::test` service, with the request helpers
//!   of that service (tokens, sessions);
//! - `users`: users and tokens created directly through the auth service;
//! - `server`: the same application behind a real socket, in process with the job workers
//!   ([`TestServer`]) or as the `recozik-web` binary ([`BinaryServer`]);
//! - `client`: reqwest and WebSocket helpers for those servers;
//! - `fakes`: fake AcoustID and MusicBrainz services (wiremock on 127.0.0.1).
//!
//! Both the in-process service and [`TestServer`] serve [`recozik_api::app`], the function
//! `recozik-web` itself serves, so the tests see the real middleware stack.
//!
//! Every test binary compiles the whole module and uses a part of it, hence `dead_code` (and
//! `unused_imports` on the re-exports).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
pub mod batch;
mod client;
mod fakes;
mod server;
mod users;

use std::path::{Path, PathBuf};

#[allow(unused_imports)]
pub use {app::*, client::*, fakes::*, server::*, users::*};

/// The seeded admin token of every test app and server (long enough for production mode).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef0123";
/// The seeded admin password of every test app and server.
pub const ADMIN_PASSWORD: &str = "DevPassword1!-long-enough";
/// The password of the users the helpers create.
pub const USER_PASSWORD: &str = "TestPassword1!";

/// A file of the core test fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures")
        .join(name)
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

/// Waits until `dir` holds nothing (a job deletes its upload just after recording its
/// outcome), failing the test after `timeout`.
pub async fn wait_until_empty(dir: &Path, timeout: std::time::Duration) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = files_in(dir);
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind in {}: {left:?}",
            dir.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Files left in a folder.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

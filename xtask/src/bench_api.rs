//! `cargo xtask bench api`: measures a release `recozik-web` on this machine with `wrk` and
//! `curl`, against a tiny fake AcoustID served from this process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::util;

const TOKEN: &str = "bench-admin-token-0123456789abcdef";

/// Answers every request with one AcoustID match (enough for the pipeline to complete).
fn start_fake_acoustid() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let answer = r#"{"status":"ok","results":[{"id":"t","score":0.9,"recordings":[{"id":"r","title":"Bench","artists":[{"name":"Bench"}]}]}]}"#;
                let _ = (&stream).write_all(
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len()).as_bytes(),
                );
            });
        }
    });
    Ok(port)
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_server(binary: &Path, media: &Path, acoustid_port: u16) -> anyhow::Result<Server> {
    let port = free_port()?;
    let child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RECOZIK_WEB_PORT", port.to_string())
        .env("RECOZIK_WEB_BASE_MEDIA_ROOT", media)
        .env("RECOZIK_WEB_ADMIN_TOKEN", TOKEN)
        .env("RECOZIK_WEB_RATE_LIMIT_ENABLED", "false")
        .env("RECOZIK_WEB_MUSICBRAINZ_ENABLED", "false")
        .env("RECOZIK_WEB_CACHE_ENABLED", "false")
        .env("RECOZIK_WEB_MAX_UPLOAD_MB", "16")
        .env("RECOZIK_WEB_LOG_LEVEL", "warn")
        .env(
            "RECOZIK_WEB_ACOUSTID_ENDPOINT",
            format!("http://127.0.0.1:{acoustid_port}/v2/lookup"),
        )
        .stdout(Stdio::null())
        .spawn()
        .context("cannot start recozik-web")?;
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("recozik-web did not start listening")
}

/// `wrk` figures: (requests per second, p99 latency text).
fn wrk(url: &str, header: Option<&str>) -> anyhow::Result<(String, String)> {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c64", "-d10s", "--latency"]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let out = util::output(command.arg(url))?;
    let rps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let p99 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    Ok((rps, p99))
}

fn upload(port: u16, file: &Path) -> Command {
    let mut command = Command::new("curl");
    command
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("X-API-Token: {TOKEN}"),
            "-F",
        ])
        .arg(format!("file=@{};type=audio/mpeg", file.display()))
        .arg(format!("http://127.0.0.1:{port}/identify/upload"));
    command
}

fn job_statuses(port: u16) -> anyhow::Result<Vec<String>> {
    let out = util::output(Command::new("curl").args([
        "-s",
        "-H",
        &format!("X-API-Token: {TOKEN}"),
        &format!("http://127.0.0.1:{port}/jobs?limit=100"),
    ]))?;
    let jobs: serde_json::Value =
        serde_json::from_str(&out).context("GET /jobs did not answer JSON")?;
    Ok(jobs
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|j| j["status"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn run() -> anyhow::Result<()> {
    for tool in ["wrk", "curl"] {
        if !util::on_path(tool) {
            if !util::is_root() {
                bail!("{tool} is needed: sudo apt-get install -y {tool}");
            }
            util::run_status(Command::new("apt-get").args(["install", "-y", "-qq", tool]))?;
        }
    }
    let root = util::workspace_root();
    util::run_status(util::cargo().current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "recozik_api",
        "--bin",
        "recozik-web",
    ]))?;
    let binary = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("release/recozik-web");
    let media = std::env::temp_dir().join(format!("recozik-bench-api-{}", std::process::id()));
    std::fs::create_dir_all(&media)?;
    let acoustid = start_fake_acoustid()?;
    let server = start_server(&binary, &media, acoustid)?;
    let base = format!("http://127.0.0.1:{}", server.port);

    let (health_rps, health_p99) = wrk(&format!("{base}/health"), None)?;
    let (whoami_rps, whoami_p99) = wrk(
        &format!("{base}/whoami"),
        Some(&format!("X-API-Token: {TOKEN}")),
    )?;
    println!("| endpoint (64 connections, 10 s) | requests/s | p99 latency |");
    println!("|---|---|---|");
    println!("| GET /health | {health_rps} | {health_p99} |");
    println!("| GET /whoami (token) | {whoami_rps} | {whoami_p99} |");

    // Upload → completed throughput.
    let clip = root.join("crates/core/tests/fixtures/mp3_cbr_44k_stereo_tagged.mp3");
    let jobs = 40;
    let start = Instant::now();
    let children: Vec<Child> = (0..jobs)
        .map(|_| upload(server.port, &clip).stdout(Stdio::null()).spawn())
        .collect::<Result<_, _>>()?;
    for mut child in children {
        child.wait()?;
    }
    let deadline = Instant::now() + Duration::from_mins(5);
    loop {
        let statuses = job_statuses(server.port)?;
        let done = statuses
            .iter()
            .filter(|s| *s == "completed" || *s == "failed")
            .count();
        if done >= jobs || Instant::now() > deadline {
            let completed = statuses.iter().filter(|s| *s == "completed").count();
            let seconds = start.elapsed().as_secs_f64();
            println!();
            println!(
                "upload → completed: {completed}/{jobs} jobs in {seconds:.2} s = {:.1} jobs/s (10 s MP3, fake AcoustID)",
                completed as f64 / seconds
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    // Peak memory while 50 clients upload 10 MiB each at once.
    let big = media.join("ten-mib.mp3");
    std::fs::write(&big, vec![0x55u8; 10 * 1024 * 1024])?;
    let before = peak_rss_kib(server.child.id());
    let children: Vec<Child> = (0..50)
        .map(|_| upload(server.port, &big).stdout(Stdio::null()).spawn())
        .collect::<Result<_, _>>()?;
    for mut child in children {
        child.wait()?;
    }
    let peak = peak_rss_kib(server.child.id());
    println!(
        "peak RSS: {:.1} MiB before the 50 × 10 MiB uploads, {:.1} MiB after (VmHWM)",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    drop(server);
    std::fs::remove_dir_all(&media).ok();
    Ok(())
}

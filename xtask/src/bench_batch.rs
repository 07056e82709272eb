//! `cargo xtask bench batch`: a library batch (`POST /identify/batch`) of generated files on a
//! release `recozik-web`, against a fake AcoustID served from this process that enforces the
//! real service's limits (3 requests a second, 20 fingerprints a request).

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::util;

const TOKEN: &str = "bench-batch-admin-token-0123456789abcdef";
/// AcoustID's limits, as the fake enforces them.
const RATE_WINDOW: Duration = Duration::from_secs(1);
const REQUESTS_PER_WINDOW: usize = 3;
const MAX_FINGERPRINTS: usize = 20;
/// The targets (printed as met or missed; a benchmark never fails on them).
const FLOOR_FACTOR: f64 = 1.25;
const SPEED_UP: f64 = 5.0;
const RSS_MIB: f64 = 200.0;

/// What the fake AcoustID saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every request, whatever its answer.
    requests: usize,
    /// Answered 200 with results.
    answered: usize,
    /// Single lookups (no `batch=1`) among the answered ones.
    single: usize,
    /// Answered 503, error 14 (more than 3 requests in one second).
    rate_limited: usize,
    /// Answered 413 (more than 20 fingerprints).
    too_large: usize,
    /// Answered 400 (missing or inconsistent parameters, a body that is not gzip or a form).
    malformed: usize,
    /// Fingerprints in answered requests, and how many distinct ones.
    fingerprints: usize,
    distinct: HashSet<u64>,
    /// Fingerprints per answered request.
    sizes: Vec<usize>,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Arrival of the requests admitted in the last second (rejected ones do not count, as in
    /// a token bucket).
    admitted: VecDeque<Instant>,
    /// Recordings handed out (their ids stay unique over the run).
    recordings: usize,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Listens on a free port; one thread per connection, keep-alive honoured.
fn start_fake_acoustid() -> anyhow::Result<(u16, Shared)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let seen = Shared::default();
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let seen = Arc::clone(&shared);
            std::thread::spawn(move || serve_connection(&stream, &seen));
        }
    });
    Ok((port, seen))
}

/// The head of one request: what the fake needs from it.
#[derive(Debug, Default)]
struct Head {
    length: usize,
    encoding: Encoding,
    chunked: bool,
    close: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum Encoding {
    #[default]
    Identity,
    Gzip,
    Other,
}

/// Reads the request line and headers; `None` at the end of the connection.
fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut head = Head::default();
    let mut line = String::new();
    // The request line (skipping stray blank lines between requests).
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line.trim().is_empty() {
            return Some(head);
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => head.length = value.parse().unwrap_or(0),
            "content-encoding" => {
                head.encoding = if value.eq_ignore_ascii_case("gzip") {
                    Encoding::Gzip
                } else if value.eq_ignore_ascii_case("identity") {
                    Encoding::Identity
                } else {
                    Encoding::Other
                };
            }
            "transfer-encoding" => head.chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
}

fn serve_connection(stream: &TcpStream, seen: &Shared) {
    let mut reader = BufReader::new(stream);
    while let Some(head) = read_head(&mut reader) {
        // The rate limit is decided on arrival, in arrival order.
        let admitted = {
            let mut seen = lock(seen);
            let now = Instant::now();
            seen.requests += 1;
            seen.first.get_or_insert(now);
            seen.last = Some(now);
            while seen
                .admitted
                .front()
                .is_some_and(|t| now.duration_since(*t) >= RATE_WINDOW)
            {
                seen.admitted.pop_front();
            }
            let admitted = seen.admitted.len() < REQUESTS_PER_WINDOW;
            if admitted {
                seen.admitted.push_back(now);
            }
            admitted
        };
        if head.chunked {
            // Bodies come with a length from reqwest; anything else cannot be framed.
            lock(seen).malformed += 1;
            let _ = respond(
                stream,
                400,
                &error_body(2, "chunked bodies are not supported"),
            );
            return;
        }
        let mut body = vec![0; head.length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer) = if admitted {
            answer(&head, &body, seen)
        } else {
            lock(seen).rate_limited += 1;
            (503, error_body(14, "rate limit exceeded"))
        };
        if respond(stream, status, &answer).is_err() || head.close {
            return;
        }
    }
}

fn respond(mut stream: &TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        413 => "Payload Too Large",
        _ => "Service Unavailable",
    };
    stream.write_all(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )?;
    stream.flush()
}

fn error_body(code: u32, message: &str) -> String {
    serde_json::json!({"status": "error", "error": {"code": code, "message": message}}).to_string()
}

/// The answer to an admitted request: 200 with one recording per fingerprint, 413 over 20
/// fingerprints, 400 when the form does not hold together.
fn answer(head: &Head, body: &[u8], seen: &Shared) -> (u16, String) {
    let malformed = |message: &str| {
        lock(seen).malformed += 1;
        (400, error_body(2, message))
    };
    let plain = match head.encoding {
        Encoding::Identity => body.to_vec(),
        Encoding::Gzip => match gunzip(body) {
            Ok(plain) => plain,
            Err(_) => return malformed("body is not gzip"),
        },
        Encoding::Other => return malformed("unsupported content encoding"),
    };
    let Ok(text) = String::from_utf8(plain) else {
        return malformed("body is not text");
    };
    let form = parse_form(&text);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if field("client").is_none_or(str::is_empty) {
        return malformed("missing required parameter \"client\"");
    }
    let mut fingerprints = Vec::new();
    let batch = field("batch") == Some("1");
    if batch {
        let count = form
            .iter()
            .filter(|(k, _)| k.starts_with("fingerprint."))
            .count();
        if count > MAX_FINGERPRINTS {
            lock(seen).too_large += 1;
            return (413, error_body(3, "too many fingerprints"));
        }
        for index in 0..count {
            let (Some(fingerprint), Some(duration)) = (
                field(&format!("fingerprint.{index}")),
                field(&format!("duration.{index}")),
            ) else {
                return malformed("fingerprint.N and duration.N must go from 0 in pairs");
            };
            if fingerprint.is_empty() || duration.parse::<u64>().is_err() {
                return malformed("invalid fingerprint or duration");
            }
            fingerprints.push(fingerprint);
        }
    } else if let (Some(fingerprint), Some(duration)) = (field("fingerprint"), field("duration"))
        && !fingerprint.is_empty()
        && duration.parse::<u64>().is_ok()
    {
        fingerprints.push(fingerprint);
    }
    if fingerprints.is_empty() {
        return malformed("missing required parameter \"fingerprint\"");
    }
    let first_recording = {
        let mut seen = lock(seen);
        seen.answered += 1;
        seen.single += usize::from(!batch);
        seen.fingerprints += fingerprints.len();
        seen.sizes.push(fingerprints.len());
        for fingerprint in &fingerprints {
            let mut hasher = DefaultHasher::new();
            fingerprint.hash(&mut hasher);
            seen.distinct.insert(hasher.finish());
        }
        seen.recordings += fingerprints.len();
        seen.recordings - fingerprints.len()
    };
    let results = |index: usize| {
        serde_json::json!([{
            "id": format!("track-{index}"),
            "score": 0.9,
            "recordings": [{
                "id": format!("00000000-0000-4000-8000-{:012x}", first_recording + index),
                "title": "T",
                "artists": [{"name": "A"}],
            }],
        }])
    };
    let answer = if batch {
        let entries: Vec<serde_json::Value> = (0..fingerprints.len())
            .map(|index| serde_json::json!({"index": index, "results": results(index)}))
            .collect();
        serde_json::json!({"status": "ok", "fingerprints": entries})
    } else {
        serde_json::json!({"status": "ok", "results": results(0)})
    };
    (200, answer.to_string())
}

/// Gunzips with the `gzip` CLI (xtask links no compression library).
fn gunzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start gzip")?;
    let mut stdin = child.stdin.take().context("no stdin for gzip")?;
    let out = std::thread::scope(|scope| {
        // Written from another thread so that a full stdout pipe cannot block the input.
        let writer = scope.spawn(move || stdin.write_all(data));
        let out = child.wait_with_output();
        let written = writer.join();
        (out, written)
    });
    let (out, written) = out;
    let out = out?;
    if !out.status.success() || !matches!(written, Ok(Ok(()))) {
        bail!("gzip -dc failed ({})", out.status);
    }
    Ok(out.stdout)
}

/// `application/x-www-form-urlencoded` pairs (`+` is a space, `%XX` a byte).
fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(name), url_decode(value))
        })
        .collect()
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The generated library: `files` distinct `seconds`-second MP3s (44.1 kHz stereo, 128 kbit/s)
/// under `<cache>/<files>x<seconds>s/`, generated once with parallel `ffmpeg` processes.
fn library(cache: &Path, files: usize, seconds: u32) -> anyhow::Result<String> {
    let name = format!("{files}x{seconds}s");
    let dir = cache.join(&name);
    let marker = dir.join(".complete");
    if marker.is_file() {
        eprintln!("xtask: using the cached library {}", dir.display());
        return Ok(name);
    }
    std::fs::create_dir_all(&dir)?;
    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let parallel = std::thread::available_parallelism().map_or(2, usize::from);
    eprintln!(
        "xtask: generating {files} files of {seconds} s under {} ({parallel} ffmpeg at a time)",
        dir.display()
    );
    let failures: Vec<anyhow::Error> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..parallel)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= files {
                            return Ok(());
                        }
                        generate(&dir, index, seconds)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|worker| match worker.join() {
                Ok(Ok(())) => None,
                Ok(Err(error)) => Some(error),
                Err(_) => Some(anyhow::anyhow!("a generating thread panicked")),
            })
            .collect()
    });
    if let Some(error) = failures.into_iter().next() {
        return Err(error);
    }
    std::fs::write(&marker, b"")?;
    eprintln!(
        "xtask: generated {files} files in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(name)
}

/// One file: two voices whose notes (a semitone out of 24, a new one every 1/2 s and 1/3 s)
/// come from a hash of the index and the time, so that every file has its own fingerprint
/// (Chromaprint hears pitch classes: plain tones at distinct frequencies fingerprint alike),
/// plus a little noise seeded by the index. The voices are computed at 11,025 Hz (the rate
/// Chromaprint analyses) and resampled, which halves the cost of generating. Written under a
/// temporary name, then renamed, so an interrupted run leaves no truncated file behind.
fn generate(dir: &Path, index: usize, seconds: u32) -> anyhow::Result<()> {
    let path = dir.join(format!("track-{index:06}.mp3"));
    if path.is_file() {
        return Ok(());
    }
    let partial = dir.join(format!(".track-{index:06}.part"));
    let voices = format!(
        r"aevalsrc=exprs='0.25*sin(2*PI*220*pow(2\,mod(abs(floor(sin(floor(t*2)*12.9898+{index}*78.233)*43758.5453))\,24)/12)*t)+0.15*sin(2*PI*330*pow(2\,mod(abs(floor(sin(floor(t*3)*4.1414+{index}*19.19)*24634.6345))\,24)/12)*t)':s=11025:d={seconds}"
    );
    util::output(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
            .args(["-f", "lavfi", "-i"])
            .arg(voices)
            .args(["-f", "lavfi", "-i"])
            .arg(format!("anoisesrc=seed={index}:a=0.02:r=44100:d={seconds}"))
            .args([
                "-filter_complex",
                "[0]aresample=44100[voices];[voices][1]amix=inputs=2:normalize=0",
                "-ac",
                "2",
                "-c:a",
                "libmp3lame",
                "-b:a",
                "128k",
                "-compression_level",
                "9",
                "-f",
                "mp3",
            ])
            .arg(&partial),
    )?;
    std::fs::rename(&partial, &path)?;
    Ok(())
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

fn start_server(
    binary: &Path,
    media: &Path,
    state: &Path,
    acoustid_port: u16,
) -> anyhow::Result<Server> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let log = std::fs::File::create(state.join("server.log"))?;
    let child = Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RECOZIK_WEB_HOST", "127.0.0.1")
        .env("RECOZIK_WEB_PORT", port.to_string())
        .env("RECOZIK_WEB_BASE_MEDIA_ROOT", media)
        .env("RECOZIK_WEB_JOBS_DATABASE_URL", state.join("jobs.db"))
        .env("RECOZIK_WEB_AUTH_DATABASE_URL", state.join("auth.db"))
        .env("RECOZIK_WEB_ADMIN_TOKEN", TOKEN)
        .env("RECOZIK_WEB_ACOUSTID_API_KEY", "bench-batch-key")
        .env(
            "RECOZIK_WEB_ACOUSTID_ENDPOINT",
            format!("http://127.0.0.1:{acoustid_port}/v2/lookup"),
        )
        .env("RECOZIK_WEB_MUSICBRAINZ_ENABLED", "false")
        .env("RECOZIK_WEB_CACHE_ENABLED", "false")
        .env("RECOZIK_WEB_RATE_LIMIT_ENABLED", "false")
        .env("RECOZIK_WEB_JOB_TIMEOUT_SECONDS", "0")
        .env("RECOZIK_WEB_LOG_LEVEL", "warn")
        .stdout(log)
        .spawn()
        .context("cannot start recozik-web")?;
    let server = Server { child, port };
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "recozik-web did not start listening (log: {})",
        state.join("server.log").display()
    )
}

/// `curl` of the API with the admin token: (HTTP status, body as JSON).
fn api(port: u16, path: &str, json: Option<&str>) -> anyhow::Result<(u16, serde_json::Value)> {
    let mut command = Command::new("curl");
    command.args([
        "-s",
        "-w",
        "\n%{http_code}",
        "-H",
        &format!("X-API-Token: {TOKEN}"),
    ]);
    if let Some(json) = json {
        command.args([
            "-H",
            "content-type: application/json",
            "--data-binary",
            json,
        ]);
    }
    let out = util::output(command.arg(format!("http://127.0.0.1:{port}{path}")))?;
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
    let status = status
        .trim()
        .parse()
        .with_context(|| format!("curl printed no HTTP status for {path}"))?;
    let body = serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_owned()));
    Ok((status, body))
}

fn proc_status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// User + system CPU time of a live process.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) in parentheses: the state is
    // field 3, utime field 14, stime field 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("unreadable /proc/{pid}/stat"))
    };
    let total = ticks(11)? + ticks(12)?;
    let per_second: u64 = util::output(Command::new("getconf").arg("CLK_TCK"))?
        .trim()
        .parse()
        .context("getconf CLK_TCK printed no number")?;
    Ok(total as f64 / per_second.max(1) as f64)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Submits the batch and polls it: the finished job and the time from submit to completed.
fn submit_and_wait(
    port: u16,
    directory: &str,
    files: usize,
) -> anyhow::Result<(serde_json::Value, Instant, Duration)> {
    let body = serde_json::json!({"directory": directory, "recursive": true}).to_string();
    let start = Instant::now();
    let (status, queued) = api(port, "/identify/batch", Some(&body))?;
    if status != 200 {
        bail!("POST /identify/batch answered {status}: {queued}");
    }
    let job_id = queued["job_id"]
        .as_str()
        .with_context(|| format!("POST /identify/batch answered no job_id: {queued}"))?
        .to_owned();
    if queued["files"].as_u64() != Some(files as u64) || queued["kind"] != "batch" {
        bail!("POST /identify/batch answered {queued}, expected a batch of {files} files");
    }
    let mut reported = Instant::now();
    loop {
        let (status, job) = api(port, &format!("/jobs/{job_id}"), None)?;
        let elapsed = start.elapsed();
        if status != 200 {
            bail!("GET /jobs/{job_id} answered {status}: {job}");
        }
        match job["status"].as_str() {
            Some("completed") => return Ok((job, start, elapsed)),
            Some("failed" | "cancelled") => bail!("the batch did not complete: {job}"),
            _ => {}
        }
        if reported.elapsed() >= Duration::from_secs(5) {
            reported = Instant::now();
            eprintln!(
                "xtask: {:.0} s: {}/{} files done",
                elapsed.as_secs_f64(),
                job["progress"]["done"],
                job["progress"]["total"]
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the run measured on the server's side.
#[derive(Debug)]
struct Measured {
    files: usize,
    seconds: u32,
    cores: usize,
    start: Instant,
    wall: Duration,
    cpu_seconds: f64,
    peak_kib: u64,
}

fn report(measured: &Measured, seen: &Seen, progress: &serde_json::Value) {
    let Measured {
        files,
        seconds,
        cores,
        start,
        ..
    } = *measured;
    let wall = measured.wall.as_secs_f64();
    let cpu = measured.cpu_seconds;
    let peak_mib = measured.peak_kib as f64 / 1024.0;
    let requests = seen.requests;
    let cpu_floor = cpu / cores as f64;
    let rate_floor = requests as f64 / REQUESTS_PER_WINDOW as f64;
    let floor = cpu_floor.max(rate_floor);
    let naive = files as f64 / REQUESTS_PER_WINDOW as f64;
    let speed_up = naive / wall;
    let since =
        |t: Option<Instant>| t.map_or(0.0, |t| t.saturating_duration_since(start).as_secs_f64());
    let full = seen
        .sizes
        .iter()
        .filter(|&&n| n == MAX_FINGERPRINTS)
        .count();
    let largest = seen.sizes.iter().copied().max().unwrap_or(0);

    println!(
        "library batch: {files} MP3 files of {seconds} s (44.1 kHz stereo, 128 kbit/s), {cores} cores"
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| wall time (submit → completed) | {wall:.2} s |");
    println!("| throughput | {:.1} files/s |", files as f64 / wall);
    println!(
        "| progress at the end | total {}, done {}, identified {}, unmatched {}, failed {} |",
        progress["total"],
        progress["done"],
        progress["identified"],
        progress["unmatched"],
        progress["failed"]
    );
    println!(
        "| AcoustID requests | {requests} ({} answered, {} single lookups; first at {:.2} s, last at {:.2} s) |",
        seen.answered,
        seen.single,
        since(seen.first),
        since(seen.last)
    );
    println!(
        "| fingerprints looked up | {} ({} distinct; {full} requests of {MAX_FINGERPRINTS}, largest {largest}) |",
        seen.fingerprints,
        seen.distinct.len()
    );
    println!("| error-14 answers (rate limit) | {} |", seen.rate_limited);
    println!(
        "| 413 answers (over {MAX_FINGERPRINTS} fingerprints) | {} |",
        seen.too_large
    );
    println!("| 400 answers (malformed requests) | {} |", seen.malformed);
    println!("| peak RSS of the server (VmHWM) | {peak_mib:.1} MiB |");
    println!("| server CPU time (user + system) | {cpu:.2} s |");
    println!(
        "| floor = max(CPU time / {cores} cores, {requests} requests / 3 s) | {floor:.2} s (CPU {cpu_floor:.2} s, rate {rate_floor:.2} s) |"
    );
    println!("| wall / floor | {:.2} |", wall / floor);
    println!("| one request per file ({files} / 3 s) | {naive:.1} s, speed-up {speed_up:.1}× |");
    println!();
    println!(
        "target wall ≤ {FLOOR_FACTOR} × floor: {} ({wall:.2} s vs {:.2} s)",
        verdict(wall <= FLOOR_FACTOR * floor),
        FLOOR_FACTOR * floor
    );
    println!(
        "target zero error-14 answers: {} ({})",
        verdict(seen.rate_limited == 0),
        seen.rate_limited
    );
    println!(
        "target ≥ {SPEED_UP}× faster than one request per file: {} ({speed_up:.1}×)",
        verdict(speed_up >= SPEED_UP)
    );
    println!(
        "target peak RSS < {RSS_MIB} MiB: {} ({peak_mib:.1} MiB)",
        verdict(peak_mib < RSS_MIB)
    );
}

/// Why a run's counts do not add up (then it measured something else).
fn inconsistencies(files: usize, seen: &Seen, progress: &serde_json::Value) -> Vec<String> {
    let mut broken = Vec::new();
    let all = Some(files as u64);
    if progress["total"].as_u64() != all || progress["done"].as_u64() != all {
        broken.push(format!("progress {progress} does not cover {files} files"));
    }
    if progress["identified"].as_u64() != all {
        broken.push(format!(
            "{} of {files} files identified (the fake AcoustID matches every fingerprint)",
            progress["identified"]
        ));
    }
    if seen.malformed > 0 {
        broken.push(format!("{} malformed AcoustID requests", seen.malformed));
    }
    if seen.fingerprints < files {
        broken.push(format!(
            "{} fingerprints looked up for {files} files",
            seen.fingerprints
        ));
    }
    broken
}

pub fn run(files: usize, seconds: u32) -> anyhow::Result<()> {
    if files == 0 || seconds == 0 {
        bail!("--files and --seconds must be at least 1");
    }
    for (tool, package) in [("curl", "curl"), ("gzip", "gzip"), ("ffmpeg", "ffmpeg")] {
        if !util::on_path(tool) {
            if !util::is_root() {
                bail!("{tool} is needed: sudo apt-get install -y {package}");
            }
            util::run_status(Command::new("apt-get").args(["install", "-y", "-qq", package]))?;
        }
    }
    let root = util::workspace_root();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let cache = target.join("bench-batch");
    let directory = library(&cache, files, seconds)?;
    util::run_status(util::cargo().current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "recozik_api",
        "--bin",
        "recozik-web",
    ]))?;
    let binary = target.join("release/recozik-web");
    // Databases and the log of this run, apart from the cached library.
    let state = cache.join(format!("run-{}", std::process::id()));
    std::fs::create_dir_all(&state)?;
    let (acoustid, seen) = start_fake_acoustid()?;
    let server = start_server(&binary, &cache, &state, acoustid)?;
    let pid = server.child.id();
    let (job, start, wall) = submit_and_wait(server.port, &directory, files)?;
    // Read while the process is alive, right after the batch completed.
    let measured = Measured {
        files,
        seconds,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        start,
        wall,
        peak_kib: proc_status_kib(pid, "VmHWM:")?,
        cpu_seconds: cpu_seconds(pid)?,
    };
    drop(server);
    let seen = lock(&seen);
    report(&measured, &seen, &job["progress"]);
    let broken = inconsistencies(files, &seen, &job["progress"]);
    drop(seen);
    let log = state.join("server.log");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    println!(
        "server log: {} lines at warn or above",
        logged.lines().count()
    );
    if broken.is_empty() {
        std::fs::remove_dir_all(&state).ok();
        Ok(())
    } else {
        eprintln!("xtask: server log ({}):\n{logged}", log.display());
        bail!("the run does not add up: {}", broken.join("; "))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// One POST over a fresh connection: (status, body).
    fn post(port: u16, body: &[u8], gzipped: bool) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let encoding = if gzipped {
            "content-encoding: gzip\r\n"
        } else {
            ""
        };
        let head = format!(
            "POST /v2/lookup HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\n{encoding}content-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
        let body = answer.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut child = Command::new("gzip")
            .arg("-c")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(data).unwrap();
        child.wait_with_output().unwrap().stdout
    }

    fn batch_form(count: usize) -> String {
        use std::fmt::Write as _;
        let mut form = String::from("format=json&client=k&meta=recordings+releases&batch=1");
        for index in 0..count {
            write!(
                form,
                "&duration.{index}=30&fingerprint.{index}=AQAD%2B{index}"
            )
            .unwrap();
        }
        form
    }

    #[test]
    fn forms_are_url_decoded() {
        let form = parse_form("a=b+c&fingerprint.0=AQ%2Bx%2f&empty=&flag");
        assert_eq!(
            form,
            [
                ("a".into(), "b c".into()),
                ("fingerprint.0".into(), "AQ+x/".into()),
                ("empty".into(), String::new()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz"), "%zz");
    }

    #[test]
    fn the_fake_enforces_acoustids_limits() {
        let (port, seen) = start_fake_acoustid().unwrap();
        // Five requests at once: three are answered, two are rate limited.
        let statuses: Vec<u16> = (0..5)
            .map(|_| post(port, b"client=k&duration=30&fingerprint=AQAD", false).0)
            .collect();
        assert_eq!(statuses, [200, 200, 200, 503, 503]);
        std::thread::sleep(RATE_WINDOW);
        // A gzipped batch of 20 is answered fingerprint by fingerprint; 21 are refused.
        let (status, body) = post(port, &gzip(batch_form(20).as_bytes()), true);
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["fingerprints"].as_array().unwrap().len(), 20);
        assert_eq!(answer["fingerprints"][19]["index"], 19);
        assert_eq!(post(port, batch_form(21).as_bytes(), false).0, 413);
        assert_eq!(
            post(port, b"client=k&batch=1&fingerprint.1=x", false).0,
            400
        );
        let seen = lock(&seen);
        assert_eq!(seen.requests, 8);
        assert_eq!(seen.rate_limited, 2);
        assert_eq!(seen.too_large, 1);
        assert_eq!(seen.malformed, 1);
        assert_eq!((seen.fingerprints, seen.distinct.len()), (23, 21));
    }
}

//! Identifies one file against AcoustID (then MusicBrainz) and prints the `IdentifyResult` JSON,
//! or the typed error on stderr.
//!
//! ```text
//! cargo run -p recozik_core --example identify -- --acoustid-key KEY FILE
//!     [--acoustid-url URL]      AcoustID lookup endpoint (default: the public HTTPS one)
//!     [--musicbrainz-url URL]   MusicBrainz server root (default: https://musicbrainz.org)
//!     [--no-musicbrainz]        skip MusicBrainz enrichment
//! ```
//! The key may also come from the `ACOUSTID_API_KEY` environment variable.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use recozik_core::{
    IdentifyHooks, IdentifyRequest, ProgressLevel, Services, ServicesConfig, identify,
};

const USAGE: &str = "usage: identify --acoustid-key KEY [--acoustid-url URL] \
                     [--musicbrainz-url URL] [--no-musicbrainz] FILE";

struct Args {
    file: PathBuf,
    key: String,
    acoustid_url: Option<String>,
    musicbrainz_url: Option<String>,
    musicbrainz: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut file = None;
    let mut key = std::env::var("ACOUSTID_API_KEY").ok();
    let mut acoustid_url = None;
    let mut musicbrainz_url = None;
    let mut musicbrainz = true;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .and_then(|v| v.into_string().ok())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.to_str() {
            Some("--acoustid-key") => key = Some(value("--acoustid-key")?),
            Some("--acoustid-url") => acoustid_url = Some(value("--acoustid-url")?),
            Some("--musicbrainz-url") => musicbrainz_url = Some(value("--musicbrainz-url")?),
            Some("--no-musicbrainz") => musicbrainz = false,
            Some("-h" | "--help") => return Err(USAGE.to_owned()),
            Some(flag) if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ if file.is_none() => file = Some(PathBuf::from(arg)),
            _ => return Err("only one file can be identified at a time".to_owned()),
        }
    }
    Ok(Args {
        file: file.ok_or("missing FILE")?,
        key: key.ok_or("missing --acoustid-key")?,
        acoustid_url,
        musicbrainz_url,
        musicbrainz,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = ServicesConfig::default();
    if let Some(url) = args.acoustid_url {
        config.acoustid.endpoint = url;
    }
    if let Some(url) = args.musicbrainz_url {
        config.musicbrainz.base_url = url;
    }
    let services = match Services::new(&config) {
        Ok(services) => services,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let mut request = IdentifyRequest::new(args.file, args.key);
    request.musicbrainz.enabled = args.musicbrainz;
    let progress = |level: ProgressLevel, message: &str| eprintln!("[{level:?}] {message}");
    let hooks = IdentifyHooks::default().with_progress(&progress);

    match identify(&services, &request, &hooks).await {
        Ok(result) => match serde_json::to_string_pretty(&result) {
            Ok(json) => {
                let mut stdout = std::io::stdout().lock();
                if writeln!(stdout, "{json}").is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("cannot serialise the result: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("error ({}): {error}", error.code());
            ExitCode::FAILURE
        }
    }
}

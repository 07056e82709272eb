//! Prints the fingerprint of each file given on the command line as one JSON object per line,
//! or the typed error.
//!
//! `cargo run -p recozik_core --example fingerprint -- [--length SECONDS] [--decode-only] FILE...`
//!
//! `--decode-only` runs the same decoding and conversion without Chromaprint (the benchmark uses
//! it as the floor: the cost of getting the samples at all).

use std::path::PathBuf;

use recozik_core::{FingerprintOptions, fingerprint_file};

fn main() -> std::process::ExitCode {
    let mut options = FingerprintOptions::default();
    let mut files = Vec::new();
    let mut decode_only = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--decode-only" {
            decode_only = true;
        } else if arg == "--length" {
            let Some(seconds) = args.next().and_then(|v| v.to_str()?.parse().ok()) else {
                eprintln!("--length needs a number of seconds");
                return std::process::ExitCode::from(2);
            };
            options.max_length_seconds = seconds;
        } else {
            files.push(PathBuf::from(arg));
        }
    }
    let mut status = std::process::ExitCode::SUCCESS;
    for file in files {
        if decode_only {
            if let Err(error) = decode(&file, options.max_length_seconds) {
                eprintln!("{}: {error}", file.display());
                status = std::process::ExitCode::FAILURE;
            }
            continue;
        }
        match fingerprint_file(&file, &options) {
            Ok(result) => {
                let line = serde_json::json!({
                    "file": file,
                    "duration": result.duration_seconds,
                    "fingerprint": result.fingerprint,
                });
                println!("{line}");
            }
            Err(error) => {
                println!(
                    "{}",
                    serde_json::json!({"file": file, "error": error.code(), "message": error.to_string()})
                );
                status = std::process::ExitCode::FAILURE;
            }
        }
    }
    status
}

/// Decodes and converts the first `seconds` of `file` exactly as fingerprinting does, and drops
/// the samples.
fn decode(file: &std::path::Path, seconds: u32) -> Result<(), recozik_core::AudioError> {
    use recozik_core::audio::{DecodeLimits, PcmFormat, decode_pcm};
    use recozik_core::fingerprint::CHROMAPRINT_SAMPLE_RATE;
    let limit = u64::from(seconds) * u64::from(CHROMAPRINT_SAMPLE_RATE);
    let mut seen = 0u64;
    let format = PcmFormat {
        sample_rate: CHROMAPRINT_SAMPLE_RATE,
        channels: 1,
    };
    decode_pcm(file, format, DecodeLimits::default(), |samples| {
        seen += samples.len() as u64;
        if limit > 0 && seen >= limit {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })?;
    Ok(())
}

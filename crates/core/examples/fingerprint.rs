//! Prints the fingerprint of each file given on the command line as one JSON object per line,
//! or the typed error.
//!
//! `cargo run -p recozik_core --example fingerprint -- [--length SECONDS] FILE...`

use std::path::PathBuf;

use recozik_core::{FingerprintOptions, fingerprint_file};

fn main() -> std::process::ExitCode {
    let mut options = FingerprintOptions::default();
    let mut files = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--length" {
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

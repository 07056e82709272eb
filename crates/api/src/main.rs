//! `recozik-web`: the Recozik HTTP server.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use recozik_api::settings::{LogFormat, Settings, Sources};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "recozik-web",
    version,
    about = "Recozik audio identification server"
)]
struct Cli {
    /// Address to listen on (overrides RECOZIK_WEB_HOST).
    #[arg(long, global = true)]
    host: Option<String>,
    /// Port to listen on (overrides RECOZIK_WEB_PORT).
    #[arg(long, global = true)]
    port: Option<u16>,
    /// Log filter: a level (error, warn, info, debug, trace) or a tracing filter directive
    /// (overrides RECOZIK_WEB_LOG_LEVEL).
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the server (the default).
    Serve,
    /// Exit 0 when the server at --host/--port answers `GET /health`, 1 otherwise (for container
    /// health checks, which then need no curl or wget).
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut settings = match Settings::load(&Sources::process()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("recozik-web: {error}");
            return ExitCode::from(2);
        }
    };
    if let Some(host) = cli.host {
        settings.host = host;
    }
    if let Some(port) = cli.port {
        settings.port = port;
    }
    if let Some(level) = cli.log_level {
        settings.log_level = level;
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck => healthcheck(&settings),
        Command::Serve => match serve(settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("recozik-web: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn init_logging(settings: &Settings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&settings.log_level).map_err(|error| {
        anyhow::anyhow!(
            "invalid setting RECOZIK_WEB_LOG_LEVEL `{}`: {error}",
            settings.log_level
        )
    })?;
    // One line per request when its span closes (method, path, status, request id, latency).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE);
    match settings.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

#[actix_web::main]
async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logging(&settings)?;
    recozik_api::run(settings).await
}

fn healthcheck(settings: &Settings) -> ExitCode {
    // A server bound to every interface is reached through loopback.
    let host = match settings.host.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "::" | "[::]" => "::1",
        other => other,
    };
    let healthy = (host, settings.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .and_then(|address| TcpStream::connect_timeout(&address, Duration::from_secs(3)).ok())
        .and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            stream
                .write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
                .ok()?;
            let mut response = String::new();
            stream.read_to_string(&mut response).ok()?;
            Some(response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"))
        })
        .unwrap_or(false);
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

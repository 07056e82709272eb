//! `recozik-web`: the Recozik HTTP server.

use std::net::IpAddr;

use actix_web::{App, HttpServer};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "recozik-web",
    version,
    about = "Recozik audio identification server"
)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "RECOZIK_WEB_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "RECOZIK_WEB_PORT", default_value_t = 8000)]
    port: u16,
    /// Log filter: a level (error, warn, info, debug, trace) or a tracing filter directive.
    #[arg(long, env = "RECOZIK_WEB_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log_level)
        .map_err(|error| anyhow::anyhow!("invalid --log-level `{}`: {error}", cli.log_level))?;
    tracing_subscriber::fmt().with_env_filter(filter).init();

    tracing::info!(host = %cli.host, port = cli.port, "recozik-web listening");
    HttpServer::new(|| App::new().configure(recozik_api::configure))
        .bind((cli.host, cli.port))
        .map_err(|error| anyhow::anyhow!("cannot listen on {}:{}: {error}", cli.host, cli.port))?
        .run()
        .await?;
    Ok(())
}

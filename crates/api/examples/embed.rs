//! Embedding Recozik in another actix-web service: the whole API under `/recozik`, next to the
//! host application's own routes, with the job workers running in the same process.
//!
//! `cargo run -p recozik_api --example embed` then `curl localhost:8080/recozik/health`.
//! Settings come from the usual sources (`RECOZIK_WEB_*` variables, `.env`, the TOML file).

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use recozik_api::jobs::WorkerPool;
use recozik_api::{AppState, Settings, Sources, mount};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load(&Sources::process())?;
    let state = web::block(move || AppState::build(settings)).await??;
    let workers = WorkerPool::start(state.clone());

    let app_state = state.clone();
    HttpServer::new(move || {
        let state = app_state.clone();
        App::new()
            .route(
                "/",
                web::get().to(|| async { HttpResponse::Ok().body("the host application") }),
            )
            .service(web::scope("/recozik").configure(move |config| mount(config, state.clone())))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await?;

    workers.shutdown(Duration::from_secs(30)).await;
    Ok(())
}

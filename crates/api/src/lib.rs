//! # recozik_api
//!
//! The HTTP shell of Recozik on actix-web: it extracts requests, calls `recozik_core`,
//! `recozik_storage` and `recozik_auth`, and maps their results and errors to the HTTP contract.
//! It owns no business rule of its own; anything worth testing without HTTP belongs in a library
//! crate.

pub mod routes;
pub mod settings;

use actix_web::web;

/// Mounts every Recozik route on `config`. Use it inside `App::configure` or inside a
/// `web::scope("/prefix")` to embed the API in another actix-web application.
pub fn configure(config: &mut web::ServiceConfig) {
    routes::configure(config);
}

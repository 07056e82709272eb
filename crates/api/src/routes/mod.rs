//! The route table. Handlers extract, call a library function and map the result.

mod admin_tokens;
pub(crate) mod admin_users;
mod auth;
mod docs;
mod health;
mod identify;
pub mod jobs;
mod whoami;

use actix_web::{Route, web};

use crate::error;

/// A resource whose other methods answer 405 in the API's error format.
fn resource(path: &str, routes: Vec<Route>) -> actix_web::Resource {
    let mut resource = web::resource(path);
    for route in routes {
        resource = resource.route(route);
    }
    resource.default_service(web::to(error::method_not_allowed))
}

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(resource("/health", vec![web::get().to(health::health)]))
        .service(resource(
            "/openapi.json",
            vec![web::get().to(docs::openapi)],
        ))
        .service(resource("/docs", vec![web::get().to(docs::page)]))
        .service(resource("/whoami", vec![web::get().to(whoami::whoami)]))
        .service(resource(
            "/identify/from-path",
            vec![web::post().to(identify::from_path)],
        ))
        .service(resource(
            "/admin/tokens",
            vec![
                web::get().to(admin_tokens::list),
                web::post().to(admin_tokens::create),
            ],
        ))
        .service(resource(
            "/admin/tokens/{token_id}",
            vec![web::delete().to(admin_tokens::revoke)],
        ))
        .service(resource("/auth/login", vec![web::post().to(auth::login)]))
        .service(resource(
            "/auth/refresh",
            vec![web::post().to(auth::refresh)],
        ))
        .service(resource("/auth/logout", vec![web::post().to(auth::logout)]))
        .service(resource(
            "/auth/register",
            vec![web::post().to(auth::register)],
        ))
        .service(resource(
            "/auth/change-password",
            vec![web::post().to(auth::change_password)],
        ))
        .service(resource(
            "/admin/users",
            vec![web::get().to(admin_users::list)],
        ))
        .service(resource(
            "/admin/users/{user_id}",
            vec![
                web::get().to(admin_users::get),
                web::put().to(admin_users::update),
                web::delete().to(admin_users::delete),
            ],
        ))
        .service(resource(
            "/admin/users/{user_id}/reset-password",
            vec![web::post().to(admin_users::reset_password)],
        ))
        .service(resource(
            "/admin/users/{user_id}/sessions",
            vec![
                web::get().to(admin_users::sessions),
                web::delete().to(admin_users::revoke_sessions),
            ],
        ));
    // Uploads, jobs and the WebSocket.
    jobs::configure(config);
}

//! The route table: every route of the API is listed in [`configure`]. Handlers extract, call
//! a library function and map the result.

mod admin_tokens;
pub(crate) mod admin_users;
mod auth;
mod docs;
mod health;
mod identify;
pub mod jobs;
mod upload;
mod whoami;
mod ws;

use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::error;

/// A resource built method by method, so that its 405 answer can name exactly the methods it
/// serves in `Allow` (the route table is the only list of them).
pub(crate) struct Endpoint {
    resource: actix_web::Resource,
    methods: Vec<Method>,
}

pub(crate) fn endpoint(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        methods: Vec::new(),
    }
}

impl Endpoint {
    /// Serves `method` with `handler`.
    pub(crate) fn on<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::method(method.clone()).to(handler));
        self.methods.push(method);
        self
    }

    /// The resource; any other method answers 405 with `Allow`.
    pub(crate) fn build(self) -> actix_web::Resource {
        let list = self
            .methods
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        // Method names are tokens, always a valid header value.
        let allow = HeaderValue::from_str(&list).unwrap_or(HeaderValue::from_static(""));
        self.resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move { error::method_not_allowed(&allow) }
        }))
    }
}

/// A resource whose only method is `method`.
fn single<F, Args>(path: &str, method: Method, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    endpoint(path).on(method, handler).build()
}

pub fn configure(config: &mut web::ServiceConfig) {
    use Method as M;
    config
        .service(single("/health", M::GET, health::health))
        .service(single("/openapi.json", M::GET, docs::openapi))
        .service(single("/docs", M::GET, docs::page))
        .service(single("/whoami", M::GET, whoami::whoami))
        .service(single("/identify/from-path", M::POST, identify::from_path))
        .service(
            endpoint("/admin/tokens")
                .on(M::GET, admin_tokens::list)
                .on(M::POST, admin_tokens::create)
                .build(),
        )
        .service(single(
            "/admin/tokens/{token_id}",
            M::DELETE,
            admin_tokens::revoke,
        ))
        .service(single("/auth/login", M::POST, auth::login))
        .service(single("/auth/refresh", M::POST, auth::refresh))
        .service(single("/auth/logout", M::POST, auth::logout))
        .service(single("/auth/register", M::POST, auth::register))
        .service(single(
            "/auth/change-password",
            M::POST,
            auth::change_password,
        ))
        .service(single("/admin/users", M::GET, admin_users::list))
        .service(
            endpoint("/admin/users/{user_id}")
                .on(M::GET, admin_users::get)
                .on(M::PUT, admin_users::update)
                .on(M::DELETE, admin_users::delete)
                .build(),
        )
        .service(single(
            "/admin/users/{user_id}/reset-password",
            M::POST,
            admin_users::reset_password,
        ))
        .service(
            endpoint("/admin/users/{user_id}/sessions")
                .on(M::GET, admin_users::sessions)
                .on(M::DELETE, admin_users::revoke_sessions)
                .build(),
        )
        .service(single("/identify/upload", M::POST, upload::upload))
        .service(single("/jobs", M::GET, jobs::list))
        .service(
            endpoint("/jobs/{job_id}")
                .on(M::GET, jobs::detail)
                .on(M::DELETE, jobs::cancel)
                .build(),
        )
        .service(single("/ws/jobs/{job_id}", M::GET, ws::websocket));
}

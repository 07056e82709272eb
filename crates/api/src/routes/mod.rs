//! The route table: every route of the API is listed in [`configure`]. Handlers extract, call
//! a library function and map the result.

mod admin_tokens;
pub(crate) mod admin_users;
mod auth;
mod batch;
mod batch_upload;
mod docs;
mod health;
mod identify;
pub mod jobs;
pub mod openapi;
mod renames;
mod results;
mod upload;
mod upload_form;
mod whoami;
mod ws;

use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use actix_web::{FromRequest, Handler, Responder, web};

use crate::error;

/// A resource built method by method, so that its 405 answer can name exactly the methods it
/// serves in `Allow` (the route table is the only list of them).
pub(crate) struct Endpoint {
    path: &'static str,
    resource: actix_web::Resource,
    methods: Vec<Method>,
}

pub(crate) fn endpoint(path: &'static str) -> Endpoint {
    Endpoint {
        path,
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
fn single<F, Args>(path: &'static str, method: Method, handler: F) -> Endpoint
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    endpoint(path).on(method, handler)
}

/// Mounts every route of [`table`].
pub fn configure(config: &mut web::ServiceConfig) {
    for endpoint in table() {
        config.service(endpoint.build());
    }
}

/// Every registered route: its path and the methods it serves (what the OpenAPI test compares
/// with the document).
pub fn registered() -> Vec<(&'static str, Vec<Method>)> {
    table()
        .into_iter()
        .map(|endpoint| (endpoint.path, endpoint.methods))
        .collect()
}

/// The route table: the one list of the API's routes.
fn table() -> Vec<Endpoint> {
    use Method as M;
    vec![
        single("/health", M::GET, health::health),
        single("/openapi.json", M::GET, docs::openapi),
        single("/docs", M::GET, docs::page),
        single("/whoami", M::GET, whoami::whoami),
        single("/identify/from-path", M::POST, identify::from_path),
        single("/identify/batch", M::POST, batch::identify_batch),
        single(
            "/identify/batch/upload",
            M::POST,
            batch_upload::identify_batch_upload,
        ),
        endpoint("/admin/tokens")
            .on(M::GET, admin_tokens::list)
            .on(M::POST, admin_tokens::create),
        single("/admin/tokens/{token_id}", M::DELETE, admin_tokens::revoke),
        single("/auth/login", M::POST, auth::login),
        single("/auth/refresh", M::POST, auth::refresh),
        single("/auth/logout", M::POST, auth::logout),
        single("/auth/register", M::POST, auth::register),
        single("/auth/change-password", M::POST, auth::change_password),
        single("/admin/users", M::GET, admin_users::list),
        endpoint("/admin/users/{user_id}")
            .on(M::GET, admin_users::get)
            .on(M::PUT, admin_users::update)
            .on(M::DELETE, admin_users::delete),
        single(
            "/admin/users/{user_id}/reset-password",
            M::POST,
            admin_users::reset_password,
        ),
        endpoint("/admin/users/{user_id}/sessions")
            .on(M::GET, admin_users::sessions)
            .on(M::DELETE, admin_users::revoke_sessions),
        single("/identify/upload", M::POST, upload::upload),
        single("/jobs", M::GET, jobs::list),
        endpoint("/jobs/{job_id}")
            .on(M::GET, jobs::detail)
            .on(M::DELETE, jobs::cancel),
        single("/jobs/{job_id}/results", M::GET, results::results),
        single("/jobs/{job_id}/renames", M::POST, renames::renames),
        single("/jobs/{job_id}/renames/undo", M::POST, renames::undo),
        single("/ws/jobs/{job_id}", M::GET, ws::websocket),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Served but deliberately not operations of the API: the document itself and its page.
    const UNDOCUMENTED: &[&str] = &["/openapi.json", "/docs"];

    const OPERATIONS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

    #[test]
    fn every_registered_route_is_documented_and_every_documented_route_exists() {
        let registered: BTreeSet<(String, String)> = registered()
            .into_iter()
            .filter(|(path, _)| !UNDOCUMENTED.contains(path))
            .flat_map(|(path, methods)| {
                methods
                    .into_iter()
                    .map(move |method| (path.to_owned(), method.as_str().to_ascii_lowercase()))
            })
            .collect();
        let mut documented = BTreeSet::new();
        let paths = openapi::document()["paths"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            for operation in item.keys().filter(|key| OPERATIONS.contains(&key.as_str())) {
                documented.insert((path.clone(), operation.clone()));
            }
        }
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty(),
            "routes missing from the document: {undocumented:?}"
        );
        assert!(
            unserved.is_empty(),
            "documented routes that are not served: {unserved:?}"
        );
        assert!(registered.len() >= 20, "{registered:?}");
    }

    #[test]
    fn no_route_is_registered_twice() {
        let mut seen = BTreeSet::new();
        for (path, _) in registered() {
            assert!(seen.insert(path), "{path} is registered twice");
        }
    }
}

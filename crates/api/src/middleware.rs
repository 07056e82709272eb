//! Response headers and CORS, configured from settings.

use actix_cors::Cors;
use actix_web::http::{Method, header};
use actix_web::middleware::DefaultHeaders;

use crate::settings::Settings;

/// The security-header layer: each header is added unless the handler set it already.
/// HSTS is sent in production mode only (browsers ignore it over plain HTTP anyway, and sending
/// it from a development server on `localhost` pins that host to HTTPS).
pub fn security_headers(settings: &Settings) -> DefaultHeaders {
    let mut headers = DefaultHeaders::new();
    if !settings.security_headers_enabled {
        return headers;
    }
    headers = headers
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_XSS_PROTECTION, "1; mode=block"))
        .add((
            header::REFERRER_POLICY,
            settings.security_referrer_policy.clone(),
        ));
    if let Some(csp) = &settings.security_csp {
        headers = headers.add((header::CONTENT_SECURITY_POLICY, csp.clone()));
    }
    if let Some(policy) = &settings.security_permissions_policy {
        headers = headers.add((
            header::HeaderName::from_static("permissions-policy"),
            policy.clone(),
        ));
    }
    if settings.production_mode {
        headers = headers.add((header::STRICT_TRANSPORT_SECURITY, hsts_value(settings)));
    }
    headers
}

pub fn hsts_value(settings: &Settings) -> String {
    let mut value = format!("max-age={}", settings.security_hsts_max_age.max(0));
    if settings.security_hsts_include_subdomains {
        value.push_str("; includeSubDomains");
    }
    if settings.security_hsts_preload {
        value.push_str("; preload");
    }
    value
}

/// CORS for the configured exact origins, with credentials; a no-op when disabled.
pub fn cors(settings: &Settings) -> Cors {
    if !settings.cors_enabled || settings.cors_origins.is_empty() {
        // Same-origin only: no CORS headers are ever added.
        return Cors::default();
    }
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_any_header()
        .expose_headers([header::HeaderName::from_static("x-api-token")])
        .supports_credentials()
        .max_age(600);
    for origin in &settings.cors_origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

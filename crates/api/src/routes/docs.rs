//! `GET /openapi.json` (OpenAPI 3.1) and `GET /docs` (a self-contained page that renders it, with
//! no external scripts, so it works without internet access and under the strict CSP).

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use serde_json::{Value, json};

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

#[allow(clippy::needless_pass_by_value)] // keeps the document builder readable
fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// One operation: `responses` maps a status to (description, optional schema).
fn operation(
    summary: &str,
    tag: &str,
    auth: &str,
    body: Option<Value>,
    responses: &[(&str, &str, Option<Value>)],
) -> Value {
    let mut responses_json = serde_json::Map::new();
    for (status, description, schema) in responses {
        let mut response = json!({"description": description});
        if let Some(schema) = schema {
            response["content"] = json_content(schema.clone());
        } else if !status.starts_with('2') {
            response["content"] = json_content(schema_ref("Error"));
        }
        responses_json.insert((*status).to_owned(), response);
    }
    let mut op = json!({
        "summary": summary,
        "tags": [tag],
        "description": format!("Authentication: {auth}."),
        "responses": responses_json,
    });
    if let Some(body) = body {
        op["requestBody"] = json!({"required": true, "content": body});
    }
    op
}

fn path_param(name: &str, kind: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": kind}})
}

fn query_param(name: &str, kind: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": kind}, "description": description})
}

const PRINCIPAL: &str =
    "session cookie (with X-CSRF-Token on unsafe methods) or X-API-Token header";
const ADMIN: &str = "admin session cookie (X-CSRF-Token on unsafe methods) or admin X-API-Token";

fn build() -> Value {
    let ok = Some(schema_ref("Status"));
    let e401 = ("401", "Missing or invalid credentials", None);
    let e403 = (
        "403",
        "Forbidden (role, feature, CSRF or disabled user)",
        None,
    );
    let e404 = ("404", "Not found", None);
    let e422 = (
        "422",
        "Validation error",
        Some(schema_ref("ValidationError")),
    );
    let e429 = (
        "429",
        "Rate limit or quota exceeded (see Retry-After)",
        None,
    );
    let jobs_list = Some(json!({"type": "array", "items": schema_ref("JobDetail")}));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Recozik Web API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Audio identification: fingerprints (Chromaprint), AcoustID, AudD, MusicBrainz. Errors are `{\"detail\": …, \"code\": …}`. An empty `allowed_features` list means every feature."
        },
        "components": {
            "securitySchemes": {
                "apiToken": {"type": "apiKey", "in": "header", "name": "X-API-Token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "recozik_session"}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["detail", "code"], "properties": {"detail": {"type": "string"}, "code": {"type": "string"}}},
                "ValidationError": {"type": "object", "properties": {"code": {"type": "string"}, "detail": {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "loc": {"type": "array"}, "msg": {"type": "string"}}}}}},
                "Status": {"type": "object", "properties": {"status": {"type": "string", "const": "ok"}}},
                "WhoAmI": {"type": "object", "properties": {"user_id": {"type": "string", "description": "username"}, "display_name": {"type": ["string", "null"]}, "email": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}, "allowed_features": {"type": "array", "items": {"type": "string"}}}},
                "IdentifyOptions": {"type": "object", "properties": {"refresh_cache": {"type": "boolean", "default": false}, "cache_enabled": {"type": ["boolean", "null"]}, "cache_ttl_hours": {"type": ["integer", "null"]}, "metadata_fallback": {"type": "boolean", "default": true}, "prefer_audd": {"type": "boolean", "default": false}, "force_audd_enterprise": {"type": "boolean", "default": false}, "enable_audd": {"type": ["boolean", "null"]}}},
                "FromPath": {"allOf": [{"type": "object", "required": ["audio_path"], "properties": {"audio_path": {"type": "string", "description": "relative to the media root"}}}, schema_ref("IdentifyOptions")]},
                "Release": {"type": "object", "properties": {"title": {"type": ["string", "null"]}, "release_id": {"type": ["string", "null"]}, "date": {"type": ["string", "null"]}, "country": {"type": ["string", "null"]}}},
                "Match": {"type": "object", "required": ["score", "recording_id", "releases"], "properties": {"score": {"type": "number"}, "recording_id": {"type": "string"}, "title": {"type": ["string", "null"]}, "artist": {"type": ["string", "null"]}, "release_group_id": {"type": ["string", "null"]}, "release_group_title": {"type": ["string", "null"]}, "releases": {"type": "array", "items": schema_ref("Release")}, "acoustid_id": {"type": "string"}, "offset": {"type": "string"}}},
                "IdentifyResult": {"type": "object", "properties": {"matches": {"type": "array", "items": schema_ref("Match")}, "match_source": {"enum": ["acoustid", "audd", null]}, "metadata": {"type": ["object", "null"]}, "audd_note": {"type": ["string", "null"]}, "audd_error": {"type": ["string", "null"]}, "fingerprint": {"type": "string"}, "duration_seconds": {"type": "number"}}},
                "JobSummary": {"type": "object", "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}}},
                "JobDetail": {"type": "object", "properties": {"job_id": {"type": "string"}, "status": {"enum": ["queued", "running", "completed", "failed", "cancelled"]}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}, "finished_at": {"type": ["string", "null"], "format": "date-time"}, "messages": {"type": "array", "items": {"type": "string"}}, "result": {"oneOf": [schema_ref("IdentifyResult"), {"type": "null"}]}, "error": {"type": ["string", "null"]}}},
                "Token": {"type": "object", "properties": {"token": {"type": ["string", "null"], "description": "raw value, only when created"}, "id": {"type": "string"}, "token_hint": {"type": "string"}, "user_id": {"type": "integer"}, "display_name": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}, "allowed_features": {"type": "array", "items": {"type": "string"}}, "quota_limits": {"type": "object", "additionalProperties": {"type": ["integer", "null"]}}, "created_at": {"type": "string"}, "last_used_at": {"type": ["string", "null"]}, "expires_at": {"type": ["string", "null"]}}},
                "NewToken": {"type": "object", "required": ["user_id", "display_name"], "properties": {"token": {"type": ["string", "null"]}, "user_id": {"type": "integer"}, "display_name": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}, "allowed_features": {"type": "array", "items": {"enum": ["identify", "identify_batch", "rename", "audd", "musicbrainz_enrich"]}}, "quota_limits": {"type": "object", "additionalProperties": {"type": ["integer", "null"]}}, "expires_at": {"type": ["string", "null"], "format": "date-time"}}},
                "Login": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}, "remember": {"type": "boolean", "default": false}}},
                "LoginResponse": {"type": "object", "properties": {"username": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}, "allowed_features": {"type": "array", "items": {"type": "string"}}, "access_expires_at": {"type": "string"}, "refresh_expires_at": {"type": "string"}}},
                "Register": {"type": "object", "required": ["username", "email", "password"], "properties": {"username": {"type": "string"}, "email": {"type": "string"}, "display_name": {"type": ["string", "null"]}, "password": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}, "allowed_features": {"type": "array", "items": {"type": "string"}}, "quota_limits": {"type": "object"}}},
                "ChangePassword": {"type": "object", "required": ["old_password", "new_password"], "properties": {"old_password": {"type": "string"}, "new_password": {"type": "string"}}},
                "ResetPassword": {"type": "object", "required": ["new_password"], "properties": {"new_password": {"type": "string"}}},
                "User": {"type": "object", "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"}, "display_name": {"type": ["string", "null"]}, "is_active": {"type": "boolean"}, "roles": {"type": "array", "items": {"type": "string"}}, "allowed_features": {"type": "array", "items": {"type": "string"}}, "quota_limits": {"type": "object"}, "created_at": {"type": "string"}}},
                "UserUpdate": {"type": "object", "properties": {"email": {"type": ["string", "null"]}, "display_name": {"type": ["string", "null"]}, "is_active": {"type": ["boolean", "null"]}, "roles": {"type": ["array", "null"]}, "allowed_features": {"type": ["array", "null"]}, "quota_limits": {"type": ["object", "null"]}}},
                "Session": {"type": "object", "properties": {"id": {"type": "integer"}, "user_id": {"type": "integer"}, "created_at": {"type": "string"}, "expires_at": {"type": "string"}, "refresh_expires_at": {"type": "string"}, "remember": {"type": "boolean"}}}
            }
        },
        "paths": {
            "/health": {"get": operation("Liveness", "service", "none", None, &[("200", "Alive", ok.clone())])},
            "/whoami": {"get": operation("The caller's identity", "auth", PRINCIPAL, None, &[("200", "Identity", Some(schema_ref("WhoAmI"))), e401.clone(), e429.clone()])},
            "/identify/from-path": {"post": operation("Identify a file under the media root (synchronous)", "identify", PRINCIPAL, Some(json_content(schema_ref("FromPath"))), &[("200", "Result", Some(schema_ref("IdentifyResult"))), ("400", "Bad path, extension or audio; upstream failure", None), e401.clone(), e403.clone(), ("404", "Audio file not found", None), e422.clone(), e429.clone()])},
            "/identify/upload": {"post": operation("Upload a file and queue its identification", "identify", PRINCIPAL, Some(json!({"multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}, "refresh_cache": {"type": "boolean"}, "metadata_fallback": {"type": "boolean"}, "prefer_audd": {"type": "boolean"}, "force_audd_enterprise": {"type": "boolean"}, "enable_audd": {"type": "boolean"}}}}})), &[("200", "Queued", Some(schema_ref("JobSummary"))), ("400", "Extension not allowed or empty upload", None), e401.clone(), e403.clone(), ("413", "Too large, or uploads disabled", None), ("415", "Not audio/*", None), e422.clone(), e429.clone()])},
            "/jobs": {"get": {
                "parameters": [query_param("limit", "integer", "1..100, default 20"), query_param("offset", "integer", "≥ 0"), query_param("user_id", "string", "username filter (admins only)")],
                "summary": "List jobs, newest first", "tags": ["jobs"], "description": format!("Authentication: {PRINCIPAL}."),
                "responses": {"200": {"description": "Jobs", "content": json_content(jobs_list.clone().unwrap_or_default())}, "401": {"description": "Unauthenticated"}, "422": {"description": "Bad paging"}}
            }},
            "/jobs/{job_id}": {
                "parameters": [path_param("job_id", "string")],
                "get": operation("A job", "jobs", PRINCIPAL, None, &[("200", "Job", Some(schema_ref("JobDetail"))), e401.clone(), ("403", "Access denied", None), ("404", "Job not found", None)]),
                "delete": operation("Cancel a job (owner or admin)", "jobs", PRINCIPAL, None, &[("200", "Cancelled", Some(schema_ref("JobDetail"))), e401.clone(), ("403", "Access denied", None), ("404", "Job not found", None), ("409", "Already finished", None)])
            },
            "/ws/jobs/{job_id}": {"get": {
                "parameters": [path_param("job_id", "string")],
                "summary": "WebSocket: a snapshot then status, message and result events", "tags": ["jobs"],
                "description": "Authentication: X-API-Token header, else the session cookie (the Origin must be allowed). Denials close with 1008; the socket closes with 1000 after the terminal events.",
                "responses": {"101": {"description": "Switching protocols"}}
            }},
            "/admin/tokens": {
                "get": operation("List API tokens", "admin", ADMIN, None, &[("200", "Tokens", Some(json!({"type": "array", "items": schema_ref("Token")}))), e401.clone(), e403.clone()]),
                "post": operation("Create an API token (its value is shown once)", "admin", ADMIN, Some(json_content(schema_ref("NewToken"))), &[("200", "Created", Some(schema_ref("Token"))), ("400", "Invalid roles, features, quotas or value", None), e401.clone(), e403.clone(), e404.clone(), e422.clone()])
            },
            "/admin/tokens/{token_id}": {"parameters": [path_param("token_id", "string")], "delete": operation("Revoke an API token", "admin", ADMIN, None, &[("200", "Revoked", ok.clone()), e401.clone(), e403.clone(), e404.clone()])},
            "/auth/login": {"post": operation("Log in; sets the session, refresh and CSRF cookies", "auth", "none", Some(json_content(schema_ref("Login"))), &[("200", "Logged in", Some(schema_ref("LoginResponse"))), ("401", "Invalid credentials", None), ("403", "user_disabled", None), e422.clone(), e429.clone()])},
            "/auth/refresh": {"post": operation("Rotate the session (refresh cookie + CSRF)", "auth", "refresh cookie", None, &[("200", "Refreshed", Some(schema_ref("LoginResponse"))), e401.clone(), e403.clone(), e429.clone()])},
            "/auth/logout": {"post": operation("Log out (CSRF required)", "auth", "cookies", None, &[("200", "Logged out", ok.clone()), e403.clone()])},
            "/auth/register": {"post": operation("Create a user", "admin", ADMIN, Some(json_content(schema_ref("Register"))), &[("200", "Created", ok.clone()), ("400", "Invalid or duplicate", None), e403.clone(), e422.clone(), e429.clone()])},
            "/auth/change-password": {"post": operation("Change one's password (ends every session)", "auth", "session cookie only", Some(json_content(schema_ref("ChangePassword"))), &[("200", "Changed", ok.clone()), ("400", "Weak password", None), e401.clone(), e403.clone(), e429.clone()])},
            "/admin/users": {"get": {
                "parameters": [query_param("limit", "integer", "1..500, default 100"), query_param("offset", "integer", "≥ 0")],
                "summary": "List users", "tags": ["admin"], "description": format!("Authentication: {ADMIN}."),
                "responses": {"200": {"description": "Users", "content": json_content(json!({"type": "array", "items": schema_ref("User")}))}, "403": {"description": "Admin required"}}
            }},
            "/admin/users/{user_id}": {
                "parameters": [path_param("user_id", "integer")],
                "get": operation("A user", "admin", ADMIN, None, &[("200", "User", Some(schema_ref("User"))), e403.clone(), e404.clone()]),
                "put": operation("Update a user (absent or null fields unchanged)", "admin", ADMIN, Some(json_content(schema_ref("UserUpdate"))), &[("200", "Updated", Some(schema_ref("User"))), ("400", "Invalid value", None), e403.clone(), e404.clone()]),
                "delete": operation("Delete a user with their sessions and tokens", "admin", ADMIN, None, &[("200", "Deleted", ok.clone()), e403.clone(), e404.clone()])
            },
            "/admin/users/{user_id}/reset-password": {"parameters": [path_param("user_id", "integer")], "post": operation("Set a user's password (ends their sessions)", "admin", ADMIN, Some(json_content(schema_ref("ResetPassword"))), &[("200", "Done", ok.clone()), ("400", "Weak password", None), e403.clone(), e404.clone()])},
            "/admin/users/{user_id}/sessions": {
                "parameters": [path_param("user_id", "integer")],
                "get": operation("A user's live sessions", "admin", ADMIN, None, &[("200", "Sessions", Some(json!({"type": "array", "items": schema_ref("Session")}))), e403.clone(), e404.clone()]),
                "delete": operation("End every session of a user", "admin", ADMIN, None, &[("200", "Done", ok), e403, e404])
            }
        }
    })
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

pub async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

/// The page embeds the document, so it needs neither a second request nor any script from
/// elsewhere; its own CSP allows only its inline style and script.
pub async fn page() -> HttpResponse {
    let document = serde_json::to_string(document())
        .unwrap_or_default()
        .replace("</", "<\\/");
    let body = DOCS_PAGE.replace("__OPENAPI__", &document);
    HttpResponse::Ok()
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Recozik Web API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 2rem;color:#222}
h1{margin-bottom:0}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.5rem;font-weight:700;text-transform:uppercase}
.get{color:#0a7}.post{color:#06c}.put{color:#b70}.delete{color:#c22}
code,pre{background:#f5f5f5;border-radius:4px;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto}
details summary{cursor:pointer}.muted{color:#666}
</style></head><body>
<h1>Recozik Web API</h1><p class="muted" id="intro"></p><div id="ops"></div>
<h2>Schemas</h2><div id="schemas"></div>
<script id="openapi" type="application/json">__OPENAPI__</script>
<script>
const doc = JSON.parse(document.getElementById('openapi').textContent);
const el = (tag, attrs, ...children) => { const e = document.createElement(tag); Object.assign(e, attrs || {}); for (const c of children) e.append(c); return e; };
document.getElementById('intro').textContent = doc.info.description + ' — version ' + doc.info.version + ', raw document at ./openapi.json';
const ops = document.getElementById('ops');
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (method === 'parameters') continue;
    const box = el('details', {className: 'op'});
    box.append(el('summary', {}, el('span', {className: 'm ' + method, textContent: method}), el('code', {textContent: path}), ' — ' + (op.summary || '')));
    box.append(el('p', {textContent: op.description || ''}));
    const params = (item.parameters || []).concat(op.parameters || []);
    if (params.length) box.append(el('p', {textContent: 'Parameters: ' + params.map(p => p.name + ' (' + p.in + ')').join(', ')}));
    if (op.requestBody) box.append(el('p', {textContent: 'Body:'}), el('pre', {textContent: JSON.stringify(op.requestBody.content, null, 2)}));
    const codes = Object.entries(op.responses || {}).map(([code, r]) => code + ' ' + r.description);
    box.append(el('p', {textContent: 'Responses: ' + codes.join('; ')}));
    ops.append(box);
  }
}
const schemas = document.getElementById('schemas');
for (const [name, schema] of Object.entries(doc.components.schemas)) {
  schemas.append(el('details', {className: 'op'}, el('summary', {}, el('code', {textContent: name})), el('pre', {textContent: JSON.stringify(schema, null, 2)})));
}
</script></body></html>
"#;

//! `GET /openapi.json` (the OpenAPI 3.1 document of [`super::openapi`]) and `GET /docs` (a
//! self-contained page that renders it, with no external scripts, so it works without internet
//! access and under the strict CSP).

use actix_web::HttpResponse;
use actix_web::http::header;

use super::openapi::document;

/// `GET /openapi.json`
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

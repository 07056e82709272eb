//! `GET /jobs/{job_id}/results`: a batch's per-file entries as they are so far, streamed a page
//! at a time (never built whole in memory) as JSONL (the upstream batch log, which its
//! `rename-from-log` reads), CSV or the text log.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use futures_util::stream;
use recozik_core::batch::entry::BatchEntry;
use recozik_core::batch::log::{CSV_HEADER, csv_rows, text_entry};
use recozik_storage::{BatchStore, StoredEntry};
use serde::Deserialize;

use super::jobs::accessible_job;
use crate::codes;
use crate::error::{ApiError, ErrorBody};
use crate::extractors::Authenticated;
use crate::routes::openapi::GuardErrors;
use crate::state::AppState;

/// Entries read from the database per chunk of the response.
const PAGE: i64 = 500;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Jsonl,
    Csv,
    Text,
}

impl Format {
    fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text.unwrap_or("jsonl") {
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            "text" => Ok(Self::Text),
            _ => Err(ApiError::bad_request(
                codes::INVALID_EXPORT_FORMAT,
                "format must be jsonl, csv or text",
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Jsonl => "application/x-ndjson; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Text => "text/plain; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
            Self::Text => "txt",
        }
    }

    /// One stored entry in this format. An entry that no longer parses (never written by
    /// this server) is skipped in CSV and text, and kept verbatim in JSONL.
    fn render(self, stored: &StoredEntry, out: &mut String) {
        if self == Self::Jsonl {
            out.push_str(&stored.entry);
            out.push('\n');
            return;
        }
        let Ok(entry) = serde_json::from_str::<BatchEntry>(&stored.entry) else {
            tracing::warn!(
                seq = stored.seq,
                "unreadable batch entry skipped in an export"
            );
            return;
        };
        match self {
            Self::Csv => out.push_str(&csv_rows(&entry)),
            Self::Text | Self::Jsonl => out.push_str(&text_entry(&entry)),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// `jsonl` (default), `csv` or `text`.
    format: Option<String>,
    /// Only entries with this status: `ok`, `unmatched` or `error`.
    status: Option<String>,
}

/// Where the stream stands.
struct Cursor {
    store: BatchStore,
    job_id: String,
    status: Option<&'static str>,
    format: Format,
    after: Option<i64>,
    started: bool,
    finished: bool,
}

/// The next chunk of the response, `None` at the end. A database failure midway ends the
/// stream with an error (the client sees a truncated body, never a partial entry).
async fn next_chunk(mut cursor: Cursor) -> Option<(Result<Bytes, actix_web::Error>, Cursor)> {
    if cursor.finished {
        return None;
    }
    let mut out = String::new();
    if !cursor.started && cursor.format == Format::Csv {
        out.push_str(CSV_HEADER);
    }
    cursor.started = true;
    let (store, job_id, after, status) = (
        cursor.store.clone(),
        cursor.job_id.clone(),
        cursor.after,
        cursor.status,
    );
    let page = web::block(move || store.entries(&job_id, after, PAGE, status)).await;
    let page = match page {
        Ok(Ok(page)) => page,
        Ok(Err(error)) => {
            cursor.finished = true;
            return Some((Err(ApiError::from(error).into()), cursor));
        }
        Err(error) => {
            cursor.finished = true;
            return Some((Err(ApiError::internal(&error).into()), cursor));
        }
    };
    if i64::try_from(page.len()).unwrap_or(i64::MAX) < PAGE {
        cursor.finished = true;
    }
    cursor.after = page.last().map(|entry| entry.seq).or(cursor.after);
    for stored in &page {
        cursor.format.render(stored, &mut out);
    }
    Some((Ok(Bytes::from(out)), cursor))
}

/// A batch's entries so far
///
/// Paths are relative to the media root. JSONL is one entry per line, exactly the batch log
/// of the upstream CLI; CSV has a header row and one row per match (a file without a match has
/// one row); text is the CLI's text log.
#[utoipa::path(get, path = "/jobs/{job_id}/results", operation_id = "job_results", tag = "jobs",
    security(("apiToken" = []), ("session" = [])),
    params(("job_id" = String, Path, description = "The job's id"), ResultsQuery),
    responses(
        (status = 200, description = "The entries, streamed", content(
            (String = "application/x-ndjson"), (String = "text/csv"), (String = "text/plain"))),
        (status = 400, description = "Unknown format or status", body = ErrorBody),
        (status = 404, description = "No such job, or the job is not a batch", body = ErrorBody),
        GuardErrors))]
pub async fn results(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ResultsQuery>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let format = Format::parse(query.format.as_deref())?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some("ok") => Some("ok"),
        Some("unmatched") => Some("unmatched"),
        Some("error") => Some("error"),
        Some(_) => {
            return Err(ApiError::bad_request(
                codes::INVALID_STATUS_FILTER,
                "status must be ok, unmatched or error",
            ));
        }
    };
    let job = accessible_job(&state, &principal, path.into_inner()).await?;
    if recozik_jobs::kind::kind_of(&job.payload).as_deref() != Some("batch") {
        return Err(ApiError::not_found(
            codes::NOT_A_BATCH,
            "This job is not a batch: it has no per-file results",
        ));
    }
    let cursor = Cursor {
        store: BatchStore::new(state.storage.jobs.clone()),
        job_id: job.id.clone(),
        status,
        format,
        after: None,
        started: false,
        finished: false,
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"recozik-batch-{}.{}\"",
                job.id,
                format.extension()
            ),
        ))
        .streaming(stream::unfold(cursor, next_chunk)))
}

//! `POST /identify/batch/upload`: several `file` parts in one multipart body become one batch
//! job over the job's own upload folder. Each file is streamed to disk under the single-upload
//! limits, the request as a whole under `max_batch_upload_files` and `max_batch_upload_mb`;
//! any refusal deletes every file received so far.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use recozik_auth::{Feature, check_feature};
use recozik_jobs::batch::BatchOptions;
use recozik_jobs::files::{PendingUpload, PendingUploadDir};

use super::batch::BatchQueued;
use super::upload::{
    check_part_type, missing_file, multipart_error, part_filename, read_small_field, save_file,
};
use super::upload_form::parse_bool;
use crate::codes;
use crate::error::{ApiError, ErrorBody, ValidationIssue};
use crate::extract::blocking;
use crate::extractors::Authenticated;
use crate::jobs::limits::{DiskFloor, UploadBudget, UploadLimitError};
use crate::jobs::upload_limits::UploadLimits;
use crate::routes::openapi::{GuardErrors, Invalid};
use crate::state::AppState;

/// The multipart form: one or more `file` parts (`audio/*`), and the batch options as fields
/// (`limit`, `best_only`, `metadata_fallback`, `musicbrainz`, `audd`, `refresh`, `template`).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // never built: the form is read from the stream part by part
#[allow(clippy::struct_excessive_bools)] // the client's switches, as the API names them
pub(crate) struct BatchUploadForm {
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    limit: Option<u8>,
    best_only: Option<bool>,
    metadata_fallback: Option<bool>,
    musicbrainz: Option<bool>,
    audd: Option<bool>,
    refresh: Option<bool>,
    template: Option<String>,
}

/// Applies the form field `name` to `options`; other fields are ignored.
fn apply_batch_option(options: &mut BatchOptions, name: &str, value: &str) -> Result<(), ApiError> {
    let target = match name {
        "limit" => {
            options.limit = value.trim().parse().map_err(|_| {
                ApiError::validation(vec![ValidationIssue::new(
                    "int_parsing",
                    &["body", "limit"],
                    "Input should be a valid integer",
                )])
            })?;
            return Ok(());
        }
        "template" => {
            options.template = Some(value.to_owned());
            return Ok(());
        }
        "best_only" => &mut options.best_only,
        "metadata_fallback" => &mut options.metadata_fallback,
        "musicbrainz" => &mut options.musicbrainz,
        "audd" => &mut options.audd,
        "refresh" => &mut options.refresh,
        _ => return Ok(()),
    };
    if let Some(flag) = parse_bool(name, value)? {
        *target = flag;
    }
    Ok(())
}

/// A file name safe to create in the batch's folder: the last component of what the client
/// sent, without control or reserved characters or leading dots, at most 150 bytes, never
/// empty.
fn safe_stem(filename: &str, suffix: &str) -> String {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base
        .strip_suffix(suffix)
        .or_else(|| {
            base.len()
                .checked_sub(suffix.len())
                .and_then(|at| base.get(..at))
                .filter(|_| base.to_ascii_lowercase().ends_with(suffix))
        })
        .unwrap_or(base);
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_control() || "<>:\"/\\|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    while cleaned.len() > 150 {
        cleaned.pop();
    }
    if cleaned.is_empty() {
        "file".to_owned()
    } else {
        cleaned
    }
}

/// Creates `<folder>/<stem><suffix>`, or `<stem>-2<suffix>`, … when the name is taken.
fn create_unique(
    folder: &std::path::Path,
    stem: &str,
    suffix: &str,
) -> Result<(String, PendingUpload), ApiError> {
    for n in 1..=1000 {
        let candidate = if n == 1 {
            stem.to_owned()
        } else {
            format!("{stem}-{n}")
        };
        match PendingUpload::create(folder, &candidate, suffix) {
            Ok(upload) => return Ok((format!("{candidate}{suffix}"), upload)),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(ApiError::internal(&error)),
        }
    }
    Err(ApiError::bad_request(
        codes::TOO_MANY_FILES,
        "Too many files with the same name",
    ))
}

/// Upload several files and identify them as one batch
///
/// Needs the `identify` and `identify_batch` features. Entries name each file by the name it
/// was uploaded with (a repeated name gets `-2`, `-3`, …). Renames do not apply to uploaded
/// batches.
#[utoipa::path(post, path = "/identify/batch/upload", operation_id = "identify_batch_upload", tag = "identify",
    security(("apiToken" = []), ("session" = [])),
    request_body(content = BatchUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "Queued", body = BatchQueued),
        (status = 400, description = "Too many files, an extension not allowed, an empty file, a malformed form or bad options", body = ErrorBody),
        (status = 413, description = "A file or the whole request is too large, or uploads are disabled", body = ErrorBody),
        (status = 415, description = "A file part is not `audio/*`", body = ErrorBody),
        (status = 507, description = "Not enough free disk space under the media root", body = ErrorBody),
        GuardErrors, Invalid))]
pub async fn identify_batch_upload(
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Payload,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    check_feature(&principal, Feature::Identify)?;
    check_feature(&principal, Feature::IdentifyBatch)?;
    let settings = &state.settings;
    let limits = UploadLimits::new(settings);
    let file_cap = limits.file_cap()?;
    let total_cap = settings.max_batch_upload_mb.saturating_mul(1024 * 1024);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > total_cap.saturating_add(UploadLimits::FORM_OVERHEAD))
    {
        return Err(UploadLimitError::TooLarge.into());
    }
    let mut budget = {
        let (state, user_id) = (state.clone().into_inner(), principal.user_id);
        blocking(move || UploadBudget::admit(&state, &limits, user_id, declared)).await?
    };
    let job_id = uuid::Uuid::new_v4().simple().to_string();
    let folder = {
        let (dir, id) = (settings.upload_dir(), job_id.clone());
        blocking(move || PendingUploadDir::create(&dir, &id).map_err(|e| ApiError::internal(&e)))
            .await?
    };
    let floor = DiskFloor::new(&state);
    let mut files: Vec<(String, PendingUpload)> = Vec::new();
    let mut options = BatchOptions::default();
    let (mut fields, mut received) = (0_usize, 0_u64);
    let mut multipart = Multipart::new(request.headers(), body);
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        if field.name() != Some("file") {
            fields += 1;
            UploadLimits::check_field_count(fields)?;
            let name = field.name().unwrap_or_default().to_owned();
            let value = read_small_field(&mut field).await?;
            apply_batch_option(&mut options, &name, &value)?;
            continue;
        }
        if files.len() >= settings.max_batch_upload_files {
            return Err(ApiError::bad_request(
                codes::TOO_MANY_FILES,
                format!(
                    "Too many files: at most {} per request",
                    settings.max_batch_upload_files
                ),
            ));
        }
        check_part_type(&field)?;
        let filename = part_filename(&field);
        let suffix =
            recozik_core::media::check_extension(&filename, &settings.allowed_upload_extensions)?;
        let stem = safe_stem(&filename, &suffix);
        let (name, upload) = {
            let dir = folder.path().to_owned();
            blocking(move || create_unique(&dir, &stem, &suffix)).await?
        };
        let cap = file_cap.min(total_cap.saturating_sub(received));
        let upload = save_file(&mut field, upload, cap, &mut budget, &floor).await?;
        if upload.written() == 0 {
            return Err(ApiError::bad_request(
                codes::EMPTY_UPLOAD,
                format!("Empty upload: {name}"),
            ));
        }
        received = received.saturating_add(upload.written());
        files.push((name, upload));
    }
    if files.is_empty() {
        return Err(missing_file());
    }
    options.validate()?;
    let count = files.len();
    let state = state.into_inner();
    let job = blocking(move || {
        let names: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
        let base = folder.path().to_owned();
        let job = recozik_jobs::batch::submit(
            &state.jobs,
            &principal,
            base.clone(),
            names,
            options,
            Some((job_id, base)),
        )?;
        // The job owns the folder and its files now.
        for (_, upload) in files {
            upload.commit();
        }
        folder.commit();
        Ok::<_, recozik_jobs::SubmitError>(job)
    })
    .await?;
    Ok(HttpResponse::Ok().json(BatchQueued::new(job.id, count)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_names_stay_inside_the_folder_and_readable() {
        assert_eq!(safe_stem("song.mp3", ".mp3"), "song");
        assert_eq!(safe_stem("Song.MP3", ".mp3"), "Song");
        assert_eq!(safe_stem("../../etc/passwd.mp3", ".mp3"), "passwd");
        assert_eq!(safe_stem("C:\\music\\a.mp3", ".mp3"), "a");
        assert_eq!(safe_stem("...mp3", ".mp3"), "file");
        assert_eq!(safe_stem(".hidden.flac", ".flac"), "hidden");
        assert_eq!(safe_stem("a\nb\u{1b}c?.ogg", ".ogg"), "a_b_c_");
        assert_eq!(safe_stem("", ".mp3"), "file");
        let long = "é".repeat(200);
        let stem = safe_stem(&format!("{long}.mp3"), ".mp3");
        assert!(stem.len() <= 150 && stem.chars().all(|c| c == 'é'));
    }

    #[test]
    fn options_come_from_form_fields() {
        let mut options = BatchOptions::default();
        for (name, value) in [
            ("limit", "5"),
            ("best_only", "yes"),
            ("audd", "1"),
            ("template", "{title}"),
            ("locale", "fr"),
        ] {
            assert!(
                apply_batch_option(&mut options, name, value).is_ok(),
                "{name}"
            );
        }
        assert_eq!(options.limit, 5);
        assert!(options.best_only && options.audd);
        assert_eq!(options.template.as_deref(), Some("{title}"));
        assert!(apply_batch_option(&mut options, "limit", "many").is_err());
        assert!(apply_batch_option(&mut options, "refresh", "perhaps").is_err());
        assert!(apply_batch_option(&mut options, "limit", "300").is_err());
    }
}

//! The wire JSON of jobs: `JobDetail` (the body of `GET /jobs/{id}`) and the WebSocket frames.
//!
//! Timestamps are RFC 3339 UTC with a `Z` and microseconds (`2026-11-25T16:23:41.152556Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use recozik_core::identify::IdentifyResult;
use recozik_jobs::batch::BatchSummary;
use recozik_storage::{Job, JobEvent, JobEventData, JobStatus};
use serde::Serialize;
use serde_json::{Value, json};

/// RFC 3339 UTC with `Z`.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The stored result text as JSON (`null` when absent; a stored text that is not JSON, which
/// the queue never writes, is also shown as `null`).
fn result_value(result: Option<&str>) -> Value {
    result
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(Value::Null)
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobDetail {
    pub job_id: String,
    #[schema(value_type = String, example = "queued")]
    pub status: &'static str,
    /// RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Set once the job is completed, failed or cancelled.
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Progress messages, oldest first.
    pub messages: Vec<String>,
    /// Once completed: the identification of an upload, or the summary of a batch (the shape
    /// of its `progress`).
    #[schema(value_type = Option<IdentifyResult>)]
    pub result: Value,
    /// Why the job failed or was cancelled.
    pub error: Option<String>,
    /// `identify_upload` or `batch`.
    pub kind: String,
    /// A batch's files so far (only in `GET /jobs/{job_id}` of a batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<BatchSummary>,
}

/// `JobDetail`: `{job_id, status, created_at, updated_at, finished_at, messages, result, error}`.
pub fn job_detail(job: &Job) -> JobDetail {
    JobDetail {
        job_id: job.id.clone(),
        status: job.status.as_str(),
        created_at: timestamp(job.created_at),
        updated_at: timestamp(job.updated_at),
        finished_at: job.finished_at.map(timestamp),
        messages: job.messages.clone(),
        result: result_value(job.result.as_deref()),
        error: job.error.clone(),
        kind: recozik_jobs::kind::kind_of(&job.payload)
            .unwrap_or_else(|| recozik_jobs::kind::LEGACY_KIND.to_owned()),
        progress: None,
    }
}

/// The first WebSocket frame: `{"type":"snapshot","job":JobDetail}`.
pub fn snapshot_frame(job: &Job) -> Value {
    json!({"type": "snapshot", "job": job_detail(job)})
}

/// One event as its WebSocket frame:
/// * `{"type":"status","status":"queued","timestamp":…}` (no `error` key, as upstream's
///   creation event);
/// * `{"type":"status","status":<other>,"timestamp":…,"error":<text or null>}`;
/// * `{"type":"message","message":…,"timestamp":…}`;
/// * `{"type":"result","result":IdentifyResult}`;
/// * for batches, `{"type":"progress","progress":{total, done, identified, unmatched, failed},"timestamp":…}`
///   (at most four a second) and `{"type":"file","entry":<the JSONL entry>,"timestamp":…}`.
pub fn event_frame(event: &JobEvent) -> Value {
    let at = timestamp(event.created_at);
    match &event.data {
        JobEventData::Status {
            status: JobStatus::Queued,
            ..
        } => json!({"type": "status", "status": "queued", "timestamp": at}),
        JobEventData::Status { status, error } => {
            json!({"type": "status", "status": status.as_str(), "timestamp": at, "error": error})
        }
        JobEventData::Message { message } => {
            json!({"type": "message", "message": message, "timestamp": at})
        }
        JobEventData::Result { result } => json!({"type": "result", "result": result}),
        JobEventData::Progress { progress } => {
            json!({"type": "progress", "progress": progress, "timestamp": at})
        }
        JobEventData::File { entry } => json!({"type": "file", "entry": entry, "timestamp": at}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 16, 23, 41)
            .single()
            .unwrap_or_default()
    }

    fn event(data: JobEventData) -> JobEvent {
        JobEvent {
            job_id: "j".to_owned(),
            seq: 2,
            created_at: at(),
            data,
        }
    }

    #[test]
    fn timestamps_end_in_z() {
        assert_eq!(timestamp(at()), "2026-11-25T16:23:41.000000Z");
    }

    #[test]
    fn event_frames_match_the_contract() {
        let queued = event_frame(&event(JobEventData::Status {
            status: JobStatus::Queued,
            error: None,
        }));
        assert_eq!(
            queued,
            json!({"type":"status","status":"queued","timestamp":"2026-11-25T16:23:41.000000Z"})
        );
        let running = event_frame(&event(JobEventData::Status {
            status: JobStatus::Running,
            error: None,
        }));
        assert_eq!(running["error"], Value::Null);
        assert!(running.as_object().is_some_and(|o| o.contains_key("error")));
        let failed = event_frame(&event(JobEventData::Status {
            status: JobStatus::Failed,
            error: Some("boom".to_owned()),
        }));
        assert_eq!(failed["error"], "boom");
        let message = event_frame(&event(JobEventData::Message {
            message: "hi".to_owned(),
        }));
        assert_eq!(
            message,
            json!({"type":"message","message":"hi","timestamp":"2026-11-25T16:23:41.000000Z"})
        );
        let result = event_frame(&event(JobEventData::Result {
            result: json!({"matches": []}),
        }));
        assert_eq!(result, json!({"type":"result","result":{"matches":[]}}));
    }
}

//! Batch lookups: up to [`MAX_BATCH`] fingerprints in one request (`batch=1`,
//! `fingerprint.N`, `duration.N`), answered as `{"status": "ok", "fingerprints": [{"index": N,
//! "results": […]}]}`.
//!
//! A request goes through the client's throttle like a single lookup, so batches and single
//! identifications share the process-wide limit. A request AcoustID refuses as too large
//! (HTTP 413) is split in two; so is a batch refused for an invalid fingerprint, until the
//! culprit is alone and gets its own error while the others are looked up.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::{AcoustIdClient, AcoustIdError, EncodedForm, META, duration_param, parse_lookup};
use crate::http::Secret;
use crate::matches::Match;

/// A boxed future: splitting recurses, and a recursive `async fn` needs one.
type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The most fingerprints AcoustID accepts in one request.
pub const MAX_BATCH: usize = 20;

/// One fingerprint of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchQuery {
    pub fingerprint: String,
    pub duration_seconds: f64,
}

/// The answer for one fingerprint: its matches (merged and sorted like a single lookup), or
/// why this fingerprint alone could not be looked up.
pub type BatchAnswer = Result<Vec<Match>, AcoustIdError>;

impl AcoustIdClient {
    /// Looks `queries` up in requests of at most `batch_size` (1 to [`MAX_BATCH`]) fingerprints.
    /// Returns one answer per query, in order. `Err` when the whole lookup failed (no or
    /// invalid key, AcoustID unreachable or still rate limiting after the retries): nothing is
    /// known about any query then.
    pub async fn lookup_batch(
        &self,
        api_key: &Secret,
        queries: &[BatchQuery],
        batch_size: usize,
    ) -> Result<Vec<BatchAnswer>, AcoustIdError> {
        if api_key.is_empty() {
            return Err(AcoustIdError::MissingApiKey);
        }
        let size = batch_size.clamp(1, MAX_BATCH);
        let mut answers = Vec::with_capacity(queries.len());
        for chunk in queries.chunks(size) {
            answers.extend(self.lookup_chunk(api_key, chunk).await?);
        }
        Ok(answers)
    }

    fn lookup_chunk<'a>(
        &'a self,
        api_key: &'a Secret,
        queries: &'a [BatchQuery],
    ) -> Boxed<'a, Result<Vec<BatchAnswer>, AcoustIdError>> {
        Box::pin(async move {
            if let [query] = queries {
                return match self
                    .lookup(api_key, &query.fingerprint, query.duration_seconds)
                    .await
                {
                    Ok(found) => Ok(vec![Ok(found)]),
                    Err(error @ AcoustIdError::InvalidFingerprint { .. }) => Ok(vec![Err(error)]),
                    Err(error) => Err(error),
                };
            }
            if queries.is_empty() {
                return Ok(Vec::new());
            }
            match self.send_body(&batch_body(api_key, queries)).await {
                Ok(payload) => parse_batch(&payload, queries.len()),
                Err(error) if worth_splitting(&error) => {
                    let (first, second) = queries.split_at(queries.len() / 2);
                    let mut answers = self.lookup_chunk(api_key, first).await?;
                    answers.extend(self.lookup_chunk(api_key, second).await?);
                    Ok(answers)
                }
                Err(error) => Err(error),
            }
        })
    }
}

/// Refusals that a smaller request may not meet.
fn worth_splitting(error: &AcoustIdError) -> bool {
    matches!(
        error,
        AcoustIdError::InvalidFingerprint { .. } | AcoustIdError::Http { status: 413 | 414 }
    )
}

fn batch_body(api_key: &Secret, queries: &[BatchQuery]) -> EncodedForm {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    serializer
        .append_pair("format", "json")
        .append_pair("client", api_key.expose())
        .append_pair("meta", META)
        .append_pair("batch", "1");
    for (index, query) in queries.iter().enumerate() {
        serializer
            .append_pair(
                &format!("duration.{index}"),
                &duration_param(query.duration_seconds).to_string(),
            )
            .append_pair(&format!("fingerprint.{index}"), &query.fingerprint);
    }
    EncodedForm::from_text(serializer.finish())
}

/// Splits an `ok` batch payload into one answer per query. A query the payload says nothing
/// about gets an `InvalidResponse` error of its own (it is not "unmatched": nobody looked).
pub fn parse_batch(payload: &Value, count: usize) -> Result<Vec<BatchAnswer>, AcoustIdError> {
    let Some(entries) = payload.get("fingerprints").and_then(Value::as_array) else {
        return Err(AcoustIdError::InvalidResponse {
            detail: "a batch answer without a `fingerprints` list".to_owned(),
        });
    };
    let mut answers: Vec<Option<BatchAnswer>> = (0..count).map(|_| None).collect();
    for entry in entries {
        let Some(index) = entry
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|index| usize::try_from(index).ok())
            .filter(|index| *index < count)
        else {
            continue;
        };
        // The first answer for an index wins; a repeated index is ignored.
        if answers[index].is_none() {
            answers[index] = Some(parse_lookup(entry));
        }
    }
    Ok(answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(AcoustIdError::InvalidResponse {
                    detail: "the batch answer has no entry for this fingerprint".to_owned(),
                })
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn answers_follow_the_indexes_not_the_order() {
        let payload = json!({"status": "ok", "fingerprints": [
            {"index": 1, "results": [{"id": "t2", "score": 0.5, "recordings": [{"id": "r2"}]}]},
            {"index": 0, "results": []},
        ]});
        let answers = parse_batch(&payload, 2).unwrap_or_default();
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0].as_ref().map(Vec::len), Ok(0));
        let second = answers[1].as_ref().cloned().unwrap_or_default();
        assert_eq!(second[0].recording_id, "r2");
    }

    #[test]
    fn hostile_indexes_are_ignored_and_missing_ones_are_errors() {
        let payload = json!({"status": "ok", "fingerprints": [
            {"index": 7, "results": []},
            {"index": -1, "results": []},
            {"index": "0", "results": []},
            {"results": []},
            {"index": 1, "results": "nope"},
            {"index": 1, "results": []},
        ]});
        let answers = parse_batch(&payload, 2).unwrap_or_default();
        assert_eq!(answers.len(), 2);
        assert!(matches!(
            answers[0],
            Err(AcoustIdError::InvalidResponse { .. })
        ));
        assert!(
            matches!(answers[1], Err(AcoustIdError::InvalidResponse { .. })),
            "the first entry for an index wins, even when it is malformed"
        );
        assert!(parse_batch(&json!({"status": "ok"}), 1).is_err());
    }

    #[test]
    fn large_bodies_are_gzipped_and_small_ones_are_not() {
        let key = Secret::new("key");
        let small = batch_body(
            &key,
            &[BatchQuery {
                fingerprint: "AQAA".to_owned(),
                duration_seconds: 10.0,
            }],
        );
        assert!(!small.gzipped);
        let big: Vec<_> = (0..20)
            .map(|i| BatchQuery {
                fingerprint: format!("AQAD{}", "x".repeat(2500 + i)),
                duration_seconds: 200.4,
            })
            .collect();
        let body = batch_body(&key, &big);
        assert!(body.gzipped);
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&body.bytes[..]),
            &mut text,
        )
        .unwrap_or_default();
        assert!(text.contains("batch=1"));
        assert!(text.contains("fingerprint.19=AQAD"));
        assert!(text.contains("duration.19=200"));
    }
}

//! The library batch (`POST /identify/batch`): many files identified in one job with batched
//! AcoustID lookups ([`crate::batch`]), each file's entry stored as soon as it is known, so a
//! job taken over after a crash goes on with the files that have none.

use async_trait::async_trait;
use recozik_storage::Job;

use crate::batch::{BatchPayload, BatchSummary, run};
use crate::context::JobContext;
use crate::kind::{JobFailure, JobKind, Progress, recheck_submitter};

/// The batch kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentifyBatch;

#[async_trait]
impl JobKind for IdentifyBatch {
    const NAME: &'static str = "batch";
    type Payload = BatchPayload;
    type Output = BatchSummary;

    async fn run(
        &self,
        context: &JobContext,
        job: &Job,
        payload: BatchPayload,
        progress: &Progress,
    ) -> Result<BatchSummary, JobFailure> {
        let principal = recheck_submitter(context, payload.submitter.clone()).await?;
        run(context, &job.id, &payload, principal, progress).await
    }
}

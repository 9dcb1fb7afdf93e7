//! One scheduled sweep: the jobs no message can reach any more.

use imgpipe_domain::events::Announce;
use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::{PipelineError, Status};
use serde::Serialize;
use tracing::info;

use crate::{end, Ended, Reason, Sweeper};

/// Most jobs of one status one sweep looks at; the next sweep takes the rest.
pub const PER_STATUS: usize = 200;

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub upload_missing: usize,
    pub stale: usize,
    /// Looked at but left: moved on, or an upload that arrived and is still within its time.
    pub left: usize,
    pub unannounced: usize,
}

pub async fn sweep<J: Jobs, O: Objects, A: Announce>(
    sweeper: &Sweeper<J, O, A>,
    now_ms: i64,
) -> Result<Report, PipelineError> {
    let pending_cutoff = now_ms - sweeper.config.pending_upload_timeout_secs as i64 * 1000;
    let working_cutoff = now_ms - sweeper.config.working_timeout_secs as i64 * 1000;
    let mut report = Report::default();
    // An upload that was never made: its URL has expired. One that was made but never picked up (its
    // event waits in a long backlog, or was lost) is left until no message for it can exist any more.
    for record in sweeper
        .jobs
        .stale(Status::PendingUpload, pending_cutoff, PER_STATUS)
        .await?
    {
        let reason = if !sweeper.objects.exists(&record.s3_key).await? {
            Reason::UploadMissing
        } else if record.updated_at < working_cutoff {
            Reason::Stale
        } else {
            report.left += 1;
            continue;
        };
        count(&mut report, reason, end(sweeper, &record, reason).await?);
    }
    for status in [Status::Queued, Status::Preprocessing, Status::Preprocessed] {
        for record in sweeper.jobs.stale(status, working_cutoff, PER_STATUS).await? {
            // Created long ago, but written recently: a delivery is working on it.
            if record.updated_at >= working_cutoff {
                report.left += 1;
                continue;
            }
            count(&mut report, Reason::Stale, end(sweeper, &record, Reason::Stale).await?);
        }
    }
    info!(?report, "sweep done");
    Ok(report)
}

fn count(report: &mut Report, reason: Reason, ended: Ended) {
    match (ended, reason) {
        (Ended::Moved, _) => report.left += 1,
        (Ended::Unannounced, _) => report.unannounced += 1,
        (Ended::Swept, Reason::UploadMissing) => report.upload_missing += 1,
        (Ended::Swept, _) => report.stale += 1,
    }
}

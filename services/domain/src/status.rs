use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where an image is in the pipeline. Stored as the snake_case string in DynamoDB and the API.
///
/// ```text
/// pending_upload ──(inline: the API stored the bytes)──> queued ──> preprocessing ──> preprocessed ──> completed
///        └──────────(presigned upload picked up by preprocess)──────────┘
/// ingest/ object ──(created by preprocess)──> preprocessing          any live state ──> failed
/// ```
///
/// Each status is one conditional write, and each write is what a client can act on: `pending_upload`
/// (the upload is still owed), `queued` (the API holds the bytes), `preprocessing` (a worker has it),
/// `preprocessed` (the pixels wait for the model), `completed`/`failed`. There is deliberately no status
/// for "the model is running": it lasts a fraction of a second after `preprocessed`, and a write for it
/// would cost one more DynamoDB write per image (bench/cost.py) that tells a client nothing. A presigned
/// upload has no `queued` either: nothing sees the upload land before preprocess picks its event up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The record exists; no upload has been picked up yet.
    PendingUpload,
    /// The API stored the image itself (an inline upload); its S3 event waits in the preprocess queue.
    Queued,
    /// A preprocess worker holds the job (a claim by its SQS message).
    Preprocessing,
    /// Model-ready pixels wait in the model's inference queue.
    Preprocessed,
    Completed,
    Failed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::PendingUpload,
        Status::Queued,
        Status::Preprocessing,
        Status::Preprocessed,
        Status::Completed,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::PendingUpload => "pending_upload",
            Status::Queued => "queued",
            Status::Preprocessing => "preprocessing",
            Status::Preprocessed => "preprocessed",
            Status::Completed => "completed",
            Status::Failed => "failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }

    /// Position along the happy path; transitions only move forward.
    fn rank(self) -> u8 {
        match self {
            Status::PendingUpload => 0,
            Status::Queued => 1,
            Status::Preprocessing => 2,
            Status::Preprocessed => 3,
            Status::Completed | Status::Failed => 4,
        }
    }

    /// Whether a job in `self` may move to `to`.
    ///
    /// Forward only, skipping optional intermediate states is allowed (a stage may not record every step),
    /// a terminal state never changes, and any live state may fail. A stage that is retried after a crash
    /// re-enters its own working state (`preprocessing -> preprocessing`), which is what makes SQS
    /// redelivery safe; waiting states (`pending_upload`, `queued`, `preprocessed`) are not re-entered.
    pub fn can_transition_to(self, to: Status) -> bool {
        if self.is_terminal() {
            return false;
        }
        if to == Status::Failed {
            return true;
        }
        match to.rank().cmp(&self.rank()) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => to == Status::Preprocessing,
            std::cmp::Ordering::Less => false,
        }
    }

    /// Every state from which `to` may be entered: the condition of the DynamoDB write that enters it.
    pub fn allowed_predecessors(to: Status) -> Vec<Status> {
        Status::ALL
            .into_iter()
            .filter(|from| from.can_transition_to(to))
            .collect()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for Status {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn string_forms_round_trip_and_match_serde() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>().unwrap(), status);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{}\"", status.as_str())
            );
        }
        assert!("done".parse::<Status>().is_err());
    }

    #[test]
    fn terminal_states_never_change() {
        for to in Status::ALL {
            assert!(!Completed.can_transition_to(to), "completed -> {to}");
            assert!(!Failed.can_transition_to(to), "failed -> {to}");
        }
    }

    #[test]
    fn happy_path_is_allowed_and_never_backwards() {
        let path = [PendingUpload, Queued, Preprocessing, Preprocessed, Completed];
        for pair in path.windows(2) {
            assert!(pair[0].can_transition_to(pair[1]), "{} -> {}", pair[0], pair[1]);
            assert!(!pair[1].can_transition_to(pair[0]), "{} -> {}", pair[1], pair[0]);
        }
        assert!(PendingUpload.can_transition_to(Preprocessing));
        assert!(Preprocessed.can_transition_to(Completed));
        assert!(!Preprocessed.can_transition_to(Preprocessing));
        assert!(!Completed.can_transition_to(Failed));
    }

    #[test]
    fn retries_re_enter_working_states_only() {
        assert!(Preprocessing.can_transition_to(Preprocessing));
        assert!(!Preprocessed.can_transition_to(Preprocessed));
        assert!(!PendingUpload.can_transition_to(PendingUpload));
    }

    #[test]
    fn every_live_state_can_fail() {
        for status in Status::ALL.into_iter().filter(|s| !s.is_terminal()) {
            assert!(status.can_transition_to(Failed));
        }
        assert_eq!(
            Status::allowed_predecessors(Failed),
            vec![PendingUpload, Queued, Preprocessing, Preprocessed]
        );
        assert_eq!(
            Status::allowed_predecessors(Preprocessing),
            vec![PendingUpload, Queued, Preprocessing]
        );
    }
}

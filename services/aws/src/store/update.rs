//! One status transition as a DynamoDB UpdateItem.
//!
//! The condition expression states `record::JobState::allows` (allowed predecessor states; claimed
//! re-entry only for the claimant or after the claim expired; S3 sequencers only forward) and the update
//! expression states `ImageRecord::apply`/`JobState::after`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use imgpipe_domain::record::{status_shard_key, Changes, Claim};
use imgpipe_domain::{ImageId, Status};

use super::item::{attribute, n, s};

/// Builds the UpdateItem expression of one transition.
pub(crate) struct UpdateBuilder {
    sets: Vec<String>,
    removes: Vec<&'static str>,
    pub(crate) names: HashMap<String, String>,
    pub(crate) values: HashMap<String, AttributeValue>,
    pub(crate) condition: String,
}

impl UpdateBuilder {
    pub(crate) fn for_transition(id: &ImageId, to: Status, changes: Changes, now_ms: i64) -> Self {
        let mut builder = Self {
            sets: Vec::new(),
            removes: Vec::new(),
            names: HashMap::new(),
            values: HashMap::new(),
            condition: String::new(),
        };
        builder.names.insert("#status".into(), "status".into());
        builder.names.insert("#to".into(), to.as_str().into());
        builder.set("#status", ":to", s(to.as_str()));
        builder.set("status_shard", ":shard", s(status_shard_key(to, id)));
        builder.set("updated_at", ":now", n(now_ms));
        builder.sets.push("timeline.#to = :now".into());

        let optional = [
            ("s3_version", changes.s3_version.map(s)),
            ("size_bytes", changes.size_bytes.map(|v| n(v as i64))),
            ("width", changes.width.map(|v| n(i64::from(v)))),
            ("height", changes.height.map(|v| n(i64::from(v)))),
            ("format", changes.format.map(s)),
            ("predictions", changes.predictions.as_ref().map(attribute)),
            ("model", changes.model.as_ref().map(attribute)),
            ("error", changes.error.as_ref().map(attribute)),
        ];
        for (attribute, value) in optional {
            if let Some(value) = value {
                builder.names.insert(format!("#{attribute}"), attribute.to_owned());
                builder.set(&format!("#{attribute}"), &format!(":{attribute}"), value);
            }
        }
        for (index, (stage, millis)) in changes.timings_ms.into_iter().enumerate() {
            builder.names.insert(format!("#t{index}"), stage.to_owned());
            builder.set(&format!("timings_ms.#t{index}"), &format!(":t{index}"), n(millis));
        }

        let mut condition = builder.status_condition(to, changes.claim.as_ref(), now_ms);
        if let Some(claim) = changes.claim {
            builder.set("claimant", ":claimant", s(claim.claimant));
            builder.set("claim_expires_at", ":claim_expires_at", n(claim.expires_at_ms));
        }
        if let Some(sequencer) = changes.s3_sequencer {
            condition = format!("{condition} AND (attribute_not_exists(s3_sequencer) OR s3_sequencer <= :sequencer)");
            builder.set("s3_sequencer", ":sequencer", s(sequencer));
        }
        if let Some(seen) = changes.expected_updated_at {
            condition = format!("{condition} AND updated_at = :seen_updated_at");
            builder.values.insert(":seen_updated_at".into(), n(seen));
        }
        builder.condition = format!("attribute_exists(image_id) AND {condition}");
        // A terminal job is never claimed or re-sequenced again: dropping those fields keeps the completed
        // item under 1 KB, one write unit instead of two in the table and in each index it is projected to.
        if to.is_terminal() {
            for field in ["claimant", "claim_expires_at", "s3_sequencer"] {
                if !builder.sets.iter().any(|set| set.starts_with(&format!("{field} ="))) {
                    builder.removes.push(field);
                }
            }
        }
        builder
    }

    /// `#status IN (allowed predecessors)`; for a claimed working state, re-entering it is limited to the
    /// same claimant or an expired claim.
    fn status_condition(&mut self, to: Status, claim: Option<&Claim>, now_ms: i64) -> String {
        let predecessors = Status::allowed_predecessors(to);
        let reentry = claim.is_some() && predecessors.contains(&to);
        let mut placeholders = Vec::new();
        for (index, status) in predecessors
            .iter()
            .filter(|&&status| !(reentry && status == to))
            .enumerate()
        {
            let placeholder = format!(":from{index}");
            self.values.insert(placeholder.clone(), s(status.as_str()));
            placeholders.push(placeholder);
        }
        let fresh = format!("#status IN ({})", placeholders.join(", "));
        if !reentry {
            return fresh;
        }
        if !self.values.contains_key(":now") {
            self.values.insert(":now".into(), n(now_ms));
        }
        format!("({fresh} OR (#status = :to AND (claimant = :claimant OR claim_expires_at < :now)))")
    }

    fn set(&mut self, path: &str, placeholder: &str, value: AttributeValue) {
        self.sets.push(format!("{path} = {placeholder}"));
        self.values.insert(placeholder.to_owned(), value);
    }

    pub(crate) fn expression(&self) -> String {
        let set = format!("SET {}", self.sets.join(", "));
        if self.removes.is_empty() {
            set
        } else {
            format!("{set} REMOVE {}", self.removes.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_update_is_conditional_on_allowed_predecessors() {
        let id = ImageId::new_random();
        let changes = Changes {
            width: Some(10),
            timings_ms: vec![("preprocess", 12)],
            ..Changes::default()
        };
        let update = UpdateBuilder::for_transition(&id, Status::Preprocessed, changes, 5);
        assert_eq!(
            update.condition,
            "attribute_exists(image_id) AND #status IN (:from0, :from1, :from2)"
        );
        let froms: Vec<_> = (0..3).map(|i| update.values[&format!(":from{i}")].clone()).collect();
        assert_eq!(froms, vec![s("pending_upload"), s("queued"), s("preprocessing")]);
        let expression = update.expression();
        assert!(expression.contains("#status = :to"), "{expression}");
        assert!(expression.contains("timeline.#to = :now"), "{expression}");
        assert!(expression.contains("#width = :width"), "{expression}");
        assert!(expression.contains("timings_ms.#t0 = :t0"), "{expression}");
        assert_eq!(update.names["#to"], "preprocessed");
        assert_eq!(update.values[":shard"], s(status_shard_key(Status::Preprocessed, &id)));
        assert!(
            !expression.contains("REMOVE"),
            "a working job keeps its claim: {expression}"
        );
    }

    #[test]
    fn terminal_writes_drop_the_claim_fields_they_do_not_set() {
        let id = ImageId::new_random();
        let done = UpdateBuilder::for_transition(&id, Status::Completed, Changes::default(), 5).expression();
        assert!(
            done.ends_with(" REMOVE claimant, claim_expires_at, s3_sequencer"),
            "{done}"
        );
        // A failure written with the event's sequencer sets it and so must not also remove it.
        let changes = Changes {
            s3_sequencer: Some("00AB".into()),
            ..Changes::default()
        };
        let failed = UpdateBuilder::for_transition(&id, Status::Failed, changes, 5).expression();
        assert!(failed.ends_with(" REMOVE claimant, claim_expires_at"), "{failed}");
    }

    #[test]
    fn claimed_reentry_is_limited_to_the_claimant_and_sequencers_only_move_forward() {
        let id = ImageId::new_random();
        let changes = Changes {
            claim: Some(Claim {
                claimant: "msg-1".into(),
                expires_at_ms: 900,
            }),
            s3_sequencer: Some("0055AED6DCD90281E5".into()),
            ..Changes::default()
        };
        let update = UpdateBuilder::for_transition(&id, Status::Preprocessing, changes, 5);
        assert_eq!(
            update.condition,
            "attribute_exists(image_id) AND (#status IN (:from0, :from1) OR (#status = :to AND \
             (claimant = :claimant OR claim_expires_at < :now))) AND (attribute_not_exists(s3_sequencer) \
             OR s3_sequencer <= :sequencer)"
        );
        assert_eq!(update.values[":from0"], s("pending_upload"));
        assert_eq!(update.values[":from1"], s("queued"));
        assert_eq!(update.values[":claimant"], s("msg-1"));
        assert!(update.expression().contains("claim_expires_at = :claim_expires_at"));
    }
}

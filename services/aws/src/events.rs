//! The event bus over EventBridge: `PutEvents` on the deployment's bus, ten entries per call.

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use imgpipe_domain::events::{Events, ImageEvent, EVENT_SOURCE};
use imgpipe_domain::PipelineError;

use crate::error::classify;

#[derive(Clone, Debug)]
pub struct EventBridgeEvents {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeEvents {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

/// Most entries one PutEvents call takes.
const ENTRIES_PER_CALL: usize = 10;

impl Events for EventBridgeEvents {
    async fn publish(&self, events: &[ImageEvent]) -> Result<(), PipelineError> {
        for chunk in events.chunks(ENTRIES_PER_CALL) {
            let entries = chunk
                .iter()
                .map(|event| {
                    let detail = serde_json::to_string(&event.detail)
                        .map_err(|e| PipelineError::transient_because("serialising an event", e))?;
                    Ok(PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(EVENT_SOURCE)
                        .detail_type(event.detail_type)
                        .detail(detail)
                        .time(DateTime::from_millis(event.detail.ended_at))
                        .build())
                })
                .collect::<Result<Vec<_>, PipelineError>>()?;
            let response = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("EventBridge PutEvents", e))?;
            // A partly failed call (throttled entries) is retried whole by the message's redelivery;
            // consumers see those events twice at worst.
            if response.failed_entry_count() > 0 {
                let codes: Vec<&str> = response.entries().iter().filter_map(|e| e.error_code()).collect();
                return Err(PipelineError::transient(format!(
                    "EventBridge PutEvents: {} of {} entries failed ({})",
                    response.failed_entry_count(),
                    chunk.len(),
                    codes.join(", ")
                )));
            }
        }
        Ok(())
    }
}

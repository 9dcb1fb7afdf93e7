//! Listings: one owner's images (the owner index) or images by status (the status index's shards),
//! newest first; a bulk batch by key prefix (the source index), in key order. The status and owner
//! indexes hold keys only; the items are read back from the table (BatchGetItem, strongly consistent),
//! which also means a listing sees each item's current status. The source index also holds `status`,
//! which is what a batch's counts read.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use imgpipe_domain::batch::{key_order, KeyCursor, PrefixCounts, PrefixPage, PrefixQuery, MAX_COUNTED};
use imgpipe_domain::record::{newest_first, table, Cursor, ImageRecord, ListQuery, MAX_LIST_LIMIT, STATUS_SHARDS};
use imgpipe_domain::{ErrorCode, PipelineError, Status};

use super::item::{live_record, n, s, OWNER_INDEX, SOURCE_INDEX, STATUS_INDEX};
use super::DynamoJobs;
use crate::error::classify;

/// Most keys one BatchGetItem call may ask for.
const BATCH_GET_LIMIT: usize = 100;
/// BatchGetItem calls made for one set of keys before unprocessed keys (throttling) become an error.
const BATCH_GET_ATTEMPTS: u32 = 5;

pub(super) async fn list(
    jobs: &DynamoJobs,
    query: &ListQuery,
) -> Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError> {
    jobs.list_page(query).await
}

/// One page of a batch: each of the caller's source-index partitions read from the cursor (or the
/// prefix) on, merged in key order; the counts, when asked, from the index alone.
pub(super) async fn list_prefix(jobs: &DynamoJobs, query: &PrefixQuery) -> Result<PrefixPage, PipelineError> {
    let limit = query.limit.clamp(1, MAX_LIST_LIMIT);
    let partitions = query.partitions();
    let pages = futures::future::join_all(
        partitions
            .iter()
            .map(|partition| jobs.source_range(partition, query, limit)),
    )
    .await;
    let mut records = Vec::new();
    for page in pages {
        records.extend(page?);
    }
    key_order(&mut records);
    let more = records.len() > limit;
    records.truncate(limit);
    let next = if more {
        KeyCursor::after(&records, query.cursor.as_ref())
    } else {
        None
    };
    let counts = match query.count {
        true => Some(jobs.count_prefix(&partitions, &query.prefix).await?),
        false => None,
    };
    Ok(PrefixPage { records, next, counts })
}

/// The sweeper's candidates: the oldest jobs of one status created before a time, from every shard of
/// the status index, read back from the table (they may have moved on since the index saw them).
pub(super) async fn stale(
    jobs: &DynamoJobs,
    status: Status,
    created_before_ms: i64,
    limit: usize,
) -> Result<Vec<ImageRecord>, PipelineError> {
    let shards = (0..STATUS_SHARDS).map(|shard| async move {
        let response = jobs
            .client
            .query()
            .table_name(&jobs.table)
            .index_name(STATUS_INDEX)
            .key_condition_expression("status_shard = :pk AND created_at < :before")
            .expression_attribute_values(":pk", s(format!("{}#{shard}", status.as_str())))
            .expression_attribute_values(":before", n(created_before_ms))
            .scan_index_forward(true)
            .limit(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| classify("DynamoDB Query (stale)", e))?;
        Ok::<Vec<String>, PipelineError>(
            response
                .items()
                .iter()
                .filter_map(|entry| entry.get("image_id").and_then(|v| v.as_s().ok()).cloned())
                .collect(),
        )
    });
    let mut ids = Vec::new();
    for shard in futures::future::join_all(shards).await {
        ids.extend(shard?);
    }
    let mut records: Vec<ImageRecord> = jobs
        .get_many(&ids)
        .await?
        .into_iter()
        .filter(|record| record.status == status)
        .collect();
    records.sort_by_key(|record| (record.created_at, record.image_id.to_string()));
    records.truncate(limit);
    Ok(records)
}

impl DynamoJobs {
    /// One page of images, newest first, and the cursor of the next page if there may be one.
    pub(super) async fn list_page(
        &self,
        query: &ListQuery,
    ) -> Result<(Vec<ImageRecord>, Option<Cursor>), PipelineError> {
        let limit = query.limit.clamp(1, MAX_LIST_LIMIT);
        let partitions: Vec<(&str, &str, String)> = match (query.owners.as_slice(), query.status) {
            ([_, ..], _) => query
                .owners
                .iter()
                .map(|owner| (OWNER_INDEX, "owner", owner.clone()))
                .collect(),
            ([], Some(status)) => (0..STATUS_SHARDS)
                .map(|shard| (STATUS_INDEX, "status_shard", format!("{}#{shard}", status.as_str())))
                .collect(),
            ([], None) => Status::ALL
                .into_iter()
                .flat_map(|status| (0..STATUS_SHARDS).map(move |shard| format!("{}#{shard}", status.as_str())))
                .map(|key| (STATUS_INDEX, "status_shard", key))
                .collect(),
        };
        // The items are read from the table after the index, so they may have moved on: a status
        // listing keeps only those still in the status asked for.
        let pages = futures::future::join_all(partitions.iter().map(|(index, attribute, key)| {
            self.query_partition(index, attribute, key, query.status, query.cursor.as_ref(), limit)
        }))
        .await;
        let mut items = Vec::new();
        for page in pages {
            items.extend(page?);
        }
        newest_first(&mut items);
        // A job that changed status during the listing can be read through its old and its new
        // status partition (the index lags the table).
        items.dedup_by_key(|record| record.image_id);
        let more = items.len() > limit;
        items.truncate(limit);
        let cursor = if more {
            Cursor::after(&items, query.cursor.as_ref())
        } else {
            None
        };
        Ok((items, cursor))
    }

    /// Up to `limit + 1` items of one index partition after the cursor (the extra one tells whether more
    /// exist), following DynamoDB pages while the status filter leaves them short. The index holds keys
    /// only; the items come from the table.
    async fn query_partition(
        &self,
        index: &str,
        attribute: &str,
        key: &str,
        status: Option<Status>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<ImageRecord>, PipelineError> {
        let seen = cursor.map(|c| c.seen.len()).unwrap_or(0);
        let want = limit + 1;
        let mut condition = "#pk = :pk".to_owned();
        let names = HashMap::from([("#pk".to_owned(), attribute.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), s(key))]);
        if let Some(cursor) = cursor {
            condition.push_str(" AND created_at <= :before");
            values.insert(":before".into(), n(cursor.before));
        }
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression(&condition)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit((want + seen) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("DynamoDB Query", e))?;
            let mut ids = Vec::new();
            for entry in response.items() {
                let id = entry.get("image_id").and_then(|v| v.as_s().ok());
                let created_at = entry.get("created_at").and_then(|v| v.as_n().ok());
                let (Some(id), Some(created_at)) = (id, created_at.and_then(|n| n.parse::<i64>().ok())) else {
                    return Err(PipelineError::permanent_because(
                        ErrorCode::Internal,
                        "the image index is unreadable",
                        format!("index {index} returned an entry without image_id or created_at"),
                    ));
                };
                if cursor.is_none_or(|c| c.admits(created_at, id)) {
                    ids.push(id.to_owned());
                }
            }
            let mut page = self.get_many(&ids).await?;
            // Newest first within the page, as the index returned them.
            newest_first(&mut page);
            records.extend(
                page.into_iter()
                    .filter(|record| status.is_none_or(|s| record.status == s)),
            );
            start = response.last_evaluated_key;
            if start.is_none() || records.len() >= want {
                break;
            }
        }
        records.truncate(want);
        Ok(records)
    }

    /// Up to `limit + 1` images of one source-index partition under the prefix, after the cursor, in key
    /// order. The range starts at the cursor's key (or the prefix) and ends at the first key outside the
    /// prefix: keys with a prefix sort together, right after the prefix itself.
    async fn source_range(
        &self,
        partition: &str,
        query: &PrefixQuery,
        limit: usize,
    ) -> Result<Vec<ImageRecord>, PipelineError> {
        let cursor = query.cursor.as_ref();
        let seen = cursor.map(|c| c.seen.len()).unwrap_or(0);
        let want = limit + 1;
        let from = cursor.map(|c| c.after.as_str()).unwrap_or(&query.prefix);
        let mut names = HashMap::from([("#pk".to_owned(), table::SOURCE_OWNER.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), s(partition))]);
        // DynamoDB refuses an empty string in a key condition: the whole batch `ingest/` reads the partition.
        let key_condition = if from.is_empty() {
            "#pk = :pk"
        } else {
            values.insert(":from".to_owned(), s(from));
            "#pk = :pk AND source_key >= :from"
        };
        let mut filter = None;
        if let Some(status) = query.status {
            names.insert("#st".into(), "status".into());
            values.insert(":st".into(), s(status.as_str()));
            filter = Some("#st = :st".to_owned());
        }
        let mut records = Vec::new();
        let mut start = None;
        loop {
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(SOURCE_INDEX)
                .key_condition_expression(key_condition)
                .set_filter_expression(filter.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .limit((want + seen) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("DynamoDB Query (prefix)", e))?;
            let mut ids = Vec::new();
            let mut past_prefix = false;
            for entry in response.items() {
                let id = entry.get("image_id").and_then(|v| v.as_s().ok());
                let key = entry.get("source_key").and_then(|v| v.as_s().ok());
                let (Some(id), Some(key)) = (id, key) else {
                    return Err(PipelineError::permanent_because(
                        ErrorCode::Internal,
                        "the image index is unreadable",
                        format!("index {SOURCE_INDEX} returned an entry without image_id or source_key"),
                    ));
                };
                if !key.starts_with(&query.prefix) {
                    past_prefix = true;
                    break;
                }
                if cursor.is_none_or(|c| c.admits(key, id)) {
                    ids.push(id.to_owned());
                }
            }
            records.extend(
                self.get_many(&ids)
                    .await?
                    .into_iter()
                    .filter(|record| query.status.is_none_or(|s| record.status == s)),
            );
            start = response.last_evaluated_key;
            if past_prefix || start.is_none() || records.len() >= want {
                break;
            }
        }
        key_order(&mut records);
        records.truncate(want);
        Ok(records)
    }

    /// A batch's images per status, read from the source index (which projects `status`), up to
    /// `MAX_COUNTED`.
    async fn count_prefix(&self, partitions: &[String], prefix: &str) -> Result<PrefixCounts, PipelineError> {
        let mut counts = PrefixCounts {
            complete: true,
            ..PrefixCounts::default()
        };
        for partition in partitions {
            let mut start = None;
            let (key_condition, prefix_value) = match prefix {
                "" => ("#pk = :pk", None),
                prefix => ("#pk = :pk AND begins_with(source_key, :prefix)", Some(s(prefix))),
            };
            loop {
                let mut request = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(SOURCE_INDEX)
                    .key_condition_expression(key_condition)
                    .projection_expression("#st")
                    .expression_attribute_names("#pk", table::SOURCE_OWNER)
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":pk", s(partition));
                if let Some(prefix) = &prefix_value {
                    request = request.expression_attribute_values(":prefix", prefix.clone());
                }
                let response = request
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| classify("DynamoDB Query (prefix counts)", e))?;
                for entry in response.items() {
                    if counts.total == MAX_COUNTED {
                        counts.complete = false;
                        return Ok(counts);
                    }
                    counts.add(entry.get("status").and_then(|v| v.as_s().ok()).map_or("unknown", |s| s));
                }
                start = response.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(counts)
    }

    /// The records of these image ids (strongly consistent, in no particular order); ids without an item
    /// (deleted or expired since they were listed) are left out.
    pub(super) async fn get_many(&self, ids: &[String]) -> Result<Vec<ImageRecord>, PipelineError> {
        let mut records = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_GET_LIMIT) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|id| HashMap::from([("image_id".to_owned(), s(id.as_str()))]))
                .collect();
            let mut attempt = 0;
            while !keys.is_empty() {
                if attempt == BATCH_GET_ATTEMPTS {
                    return Err(PipelineError::transient(format!(
                        "DynamoDB BatchGetItem left {} keys unprocessed after {BATCH_GET_ATTEMPTS} attempts",
                        keys.len()
                    )));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut keys)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| PipelineError::configuration("building a BatchGetItem request", e))?;
                let response = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| classify("DynamoDB BatchGetItem", e))?;
                if let Some(items) = response.responses.as_ref().and_then(|r| r.get(&self.table)) {
                    // The index lags the table: an image deleted since it was listed is a tombstone now.
                    for item in items {
                        records.extend(live_record(item)?);
                    }
                }
                if let Some(left) = response.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    keys = left.keys;
                }
            }
        }
        Ok(records)
    }
}

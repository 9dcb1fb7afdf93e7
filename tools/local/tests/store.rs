//! The DynamoDB status store against a real moto server over HTTP.

use imgpipe_aws::store::DynamoJobs;
use imgpipe_domain::keys;
use imgpipe_domain::messages::ModelRef;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::Prediction;
use imgpipe_domain::record::{Changes, Created, NewImage, Transition};
use imgpipe_domain::{ErrorCode, ImageId, Status};
use imgpipe_local::testing::Emulator;

async fn store_with_image() -> (Emulator, DynamoJobs, ImageId) {
    let emulator = Emulator::start().await;
    let resources = emulator.resources(5).await;
    let store = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table);
    let image_id = ImageId::new_random();
    let image = NewImage {
        image_id,
        owner: Some("user-1".into()),
        content_type: "image/jpeg".into(),
        filename: Some("cat.jpg".into()),
        s3_key: keys::upload_key(&image_id),
        created_at_ms: 1_000,
        expires_at_secs: 99,
        request_fingerprint: None,
        ..NewImage::pending_upload(ImageId::new_random(), None, "", String::new(), 0, 0)
    };
    assert_eq!(store.create(&image).await.expect("create"), Created::New);
    (emulator, store, image_id)
}

#[tokio::test]
async fn create_then_read_back() {
    let (_emulator, store, id) = store_with_image().await;
    let record = store.get(&id).await.unwrap().expect("record exists");
    assert_eq!(record.status, Status::PendingUpload);
    assert_eq!(record.owner.as_deref(), Some("user-1"));
    assert_eq!(record.filename.as_deref(), Some("cat.jpg"));
    assert_eq!(record.timeline.get("pending_upload"), Some(&1_000));
    assert_eq!(record.expires_at, 99);
    assert!(store.get(&ImageId::new_random()).await.unwrap().is_none());
}

#[tokio::test]
async fn creating_the_same_id_twice_writes_nothing() {
    let (_emulator, store, id) = store_with_image().await;
    let again = NewImage {
        image_id: id,
        owner: None,
        content_type: "image/png".into(),
        filename: None,
        s3_key: keys::upload_key(&id),
        created_at_ms: 2_000,
        expires_at_secs: 99,
        request_fingerprint: None,
        ..NewImage::pending_upload(ImageId::new_random(), None, "", String::new(), 0, 0)
    };
    assert_eq!(store.create(&again).await.unwrap(), Created::Exists);
    assert_eq!(
        store.get(&id).await.unwrap().unwrap().content_type.as_deref(),
        Some("image/jpeg")
    );
}

#[tokio::test]
async fn only_the_owner_deletes_a_record() {
    let (_emulator, store, id) = store_with_image().await;
    assert!(!store.delete(&id, Some("user-2")).await.unwrap(), "another owner");
    assert!(
        !store.delete(&id, None).await.unwrap(),
        "no owner may not delete an owned record"
    );
    assert!(store.get(&id).await.unwrap().is_some());
    assert!(store.delete(&id, Some("user-1")).await.unwrap());
    assert!(store.get(&id).await.unwrap().is_none());
    assert!(!store.delete(&id, Some("user-1")).await.unwrap(), "already gone");
    // A stage finishing after the deletion does not bring the record back.
    let late = store
        .transition(&id, Status::Completed, Changes::default(), 5_000)
        .await
        .unwrap();
    assert_eq!(late, Transition::Rejected { current: None });
    assert!(store.get(&id).await.unwrap().is_none());
}

#[tokio::test]
async fn transitions_move_forward_and_record_fields() {
    let (_emulator, store, id) = store_with_image().await;
    let applied = store
        .transition(&id, Status::Preprocessing, Changes::default(), 2_000)
        .await
        .unwrap();
    assert!(applied.is_applied());
    let changes = Changes {
        width: Some(640),
        height: Some(480),
        size_bytes: Some(12_345),
        timings_ms: vec![("preprocess", 42)],
        ..Changes::default()
    };
    assert!(store
        .transition(&id, Status::Preprocessed, changes, 3_000)
        .await
        .unwrap()
        .is_applied());
    let predictions = vec![Prediction {
        label: "tabby".into(),
        class_index: 281,
        score: 0.75,
    }];
    let done = Changes {
        predictions: Some(predictions.clone()),
        model: Some(ModelRef {
            name: "m".into(),
            version: "1".into(),
        }),
        timings_ms: vec![("inference", 7)],
        ..Changes::default()
    };
    assert!(store
        .transition(&id, Status::Completed, done, 4_000)
        .await
        .unwrap()
        .is_applied());

    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Completed);
    assert_eq!(
        (record.width, record.height, record.size_bytes),
        (Some(640), Some(480), Some(12_345))
    );
    assert_eq!(record.predictions, Some(predictions));
    assert_eq!(record.timings_ms.get("preprocess"), Some(&42));
    assert_eq!(record.timings_ms.get("inference"), Some(&7));
    assert_eq!(record.timeline.get("preprocessing"), Some(&2_000));
    assert_eq!(record.timeline.get("completed"), Some(&4_000));
    assert_eq!(record.updated_at, 4_000);
}

#[tokio::test]
async fn backwards_and_terminal_transitions_are_rejected_and_change_nothing() {
    let (_emulator, store, id) = store_with_image().await;
    store
        .transition(&id, Status::Preprocessed, Changes::default(), 2_000)
        .await
        .unwrap();
    let back = store
        .transition(&id, Status::Preprocessing, Changes::default(), 3_000)
        .await
        .unwrap();
    assert_eq!(
        back,
        Transition::Rejected {
            current: Some(Status::Preprocessed)
        }
    );

    store
        .fail(&id, ErrorCode::CorruptImage, "bad bytes", 4_000)
        .await
        .unwrap();
    let late_success = store
        .transition(&id, Status::Completed, Changes::default(), 5_000)
        .await
        .unwrap();
    assert_eq!(
        late_success,
        Transition::Rejected {
            current: Some(Status::Failed)
        }
    );
    let second_failure = store.fail(&id, ErrorCode::Internal, "other", 6_000).await.unwrap();
    assert_eq!(
        second_failure,
        Transition::Rejected {
            current: Some(Status::Failed)
        }
    );

    let record = store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.error.as_ref().map(|e| e.code), Some(ErrorCode::CorruptImage));
    assert_eq!(record.updated_at, 4_000, "rejected writes must not touch the item");
}

#[tokio::test]
async fn transition_of_a_missing_image_is_rejected() {
    let (_emulator, store, _) = store_with_image().await;
    let outcome = store
        .transition(&ImageId::new_random(), Status::Preprocessing, Changes::default(), 1)
        .await
        .unwrap();
    assert_eq!(outcome, Transition::Rejected { current: None });
}

/// Many deliveries claiming one job at the same moment: exactly one wins (the condition expression
/// admits no second claimant while the first claim is live).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_of_one_job_have_one_winner() {
    // DynamoDB applies a conditional write atomically; moto does not by itself (its threads can both pass a
    // condition), which tools/local/src/moto_launcher.py corrects. Against plain moto about one round
    // in sixty of 16 simultaneous claims had two winners, so enough rounds are run to notice.
    let (_emulator, store, _) = store_with_image().await;
    for round in 0..30 {
        let id = ImageId::new_random();
        let image = NewImage {
            image_id: id,
            owner: None,
            content_type: "image/png".into(),
            filename: None,
            s3_key: keys::upload_key(&id),
            created_at_ms: 1_000,
            expires_at_secs: 99,
            request_fingerprint: None,
            ..NewImage::pending_upload(ImageId::new_random(), None, "", String::new(), 0, 0)
        };
        assert_eq!(store.create(&image).await.unwrap(), Created::New);
        let attempts = (0..16).map(|claimant| {
            let store = store.clone();
            async move {
                let changes = Changes {
                    claim: Some(imgpipe_domain::record::Claim {
                        claimant: format!("message-{claimant}"),
                        expires_at_ms: i64::MAX,
                    }),
                    ..Changes::default()
                };
                store
                    .transition(&id, Status::Preprocessing, changes, 10_000)
                    .await
                    .unwrap()
            }
        });
        let results = futures::future::join_all(attempts).await;
        let winners = results.iter().filter(|r| r.is_applied()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
    }
}

/// The indexes project keys only (terraform/modules/storage, as the local table): a listing reads the
/// items from the table, and a status filter that leaves index pages short keeps paging.
#[tokio::test]
async fn listings_read_whole_items_and_filter_across_index_pages() {
    use imgpipe_domain::record::ListQuery;
    let emulator = Emulator::start().await;
    let resources = emulator.resources(5).await;
    let store = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table);
    let mut failed = Vec::new();
    for n in 0..9 {
        let image_id = ImageId::new_random();
        let image = NewImage {
            image_id,
            owner: Some("lister".into()),
            content_type: "image/jpeg".into(),
            filename: Some(format!("{n}.jpg")),
            s3_key: keys::upload_key(&image_id),
            created_at_ms: 10_000 + n,
            expires_at_secs: 99,
            request_fingerprint: None,
            ..NewImage::pending_upload(ImageId::new_random(), None, "", String::new(), 0, 0)
        };
        store.create(&image).await.unwrap();
        // Every third image fails: the failed ones are far apart in the owner index.
        if n % 3 == 0 {
            store
                .fail(&image_id, ErrorCode::CorruptImage, "bad", 20_000)
                .await
                .unwrap();
            failed.push(image_id);
        }
    }
    failed.reverse(); // newest first

    let mut listed = Vec::new();
    let mut cursor = None;
    for _ in 0..5 {
        let query = ListQuery {
            owners: vec!["lister".into()],
            status: Some(Status::Failed),
            limit: 1,
            cursor: cursor.take(),
        };
        let (page, next) = store.list(&query).await.unwrap();
        assert!(page.len() <= 1);
        for record in &page {
            assert_eq!(record.status, Status::Failed);
            assert_eq!(record.error.as_ref().map(|e| e.code), Some(ErrorCode::CorruptImage));
            assert!(record.filename.is_some(), "the whole item, not the index's keys");
        }
        listed.extend(page.into_iter().map(|record| record.image_id));
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(listed, failed);

    let everything = ListQuery {
        owners: vec!["lister".into()],
        status: None,
        limit: 100,
        cursor: None,
    };
    let (all, next) = store.list(&everything).await.unwrap();
    assert_eq!(all.len(), 9);
    assert!(next.is_none());
    assert!(
        all.windows(2).all(|w| w[0].created_at > w[1].created_at),
        "newest first"
    );
    let by_status = ListQuery {
        owners: Vec::new(),
        status: Some(Status::PendingUpload),
        limit: 100,
        cursor: None,
    };
    assert_eq!(store.list(&by_status).await.unwrap().0.len(), 6);
}

/// The in-memory store of the handler tests and the DynamoDB store must be the same machine: the same
/// random histories of transitions (claims by two claimants, fresh and expired, S3 sequencers forward and
/// backward, terminal states, missing records) give the same outcome at every step and the same records.
#[tokio::test]
async fn the_in_memory_store_the_handler_tests_use_behaves_as_dynamodb() {
    use imgpipe_domain::record::{Claim, JobError};
    use imgpipe_domain::testing::MemoryJobs;
    use imgpipe_local::calls::SplitMix64;

    let emulator = Emulator::start().await;
    let resources = emulator.resources(5).await;
    let dynamo = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table);
    let memory = MemoryJobs::new();
    let ids: Vec<ImageId> = (0..16).map(|_| ImageId::new_random()).collect();
    for (n, id) in ids.iter().enumerate().skip(1) {
        let image = NewImage {
            image_id: *id,
            owner: Some(format!("owner-{}", n % 2)),
            content_type: "image/png".into(),
            filename: None,
            s3_key: keys::upload_key(id),
            created_at_ms: 1_000 + n as i64,
            expires_at_secs: 99,
            request_fingerprint: None,
            ..NewImage::pending_upload(ImageId::new_random(), None, "", String::new(), 0, 0)
        };
        assert_eq!(
            dynamo.create(&image).await.unwrap(),
            memory.create(&image).await.unwrap()
        );
    }
    let mut random = SplitMix64::new(20261201);
    let mut pick = |n: u64| (random.next_u64() % n) as usize;
    let mut compared = 0;
    for step in 0..600i64 {
        let id = ids[pick(ids.len() as u64)];
        // Working states more often than terminal ones, so that histories are long.
        let to = [
            Status::Queued,
            Status::Preprocessing,
            Status::Preprocessing,
            Status::Preprocessing,
            Status::Preprocessed,
            Status::Preprocessed,
            Status::Completed,
            Status::Failed,
        ][pick(8)];
        let now = 10_000 + step * 100;
        let changes = Changes {
            claim: (pick(2) == 0).then(|| Claim {
                claimant: ["msg-a", "msg-b"][pick(2)].into(),
                expires_at_ms: now + [-50, 500][pick(2)],
            }),
            s3_sequencer: (pick(2) == 0).then(|| format!("{:032}", pick(4))),
            width: (pick(2) == 0).then_some(step as u32),
            timings_ms: vec![("preprocess", step)],
            error: (to == Status::Failed).then(|| JobError {
                code: ErrorCode::CorruptImage,
                message: format!("step {step}"),
            }),
            ..Changes::default()
        };
        let from_dynamo = dynamo.transition(&id, to, changes.clone(), now).await.unwrap();
        let from_memory = memory.transition(&id, to, changes, now).await.unwrap();
        assert_eq!(from_dynamo, from_memory, "step {step}: {to} on {id}");
        assert_eq!(
            dynamo.get(&id).await.unwrap(),
            memory.get(&id).await.unwrap(),
            "step {step}"
        );
        compared += 1;
    }
    assert_eq!(compared, 600);
    let applied = memory.writes().len();
    assert!(
        applied > 30 && applied < 570,
        "the histories exercise both outcomes: {applied} applied"
    );
}

/// A bulk batch listed by key prefix from the source index (keyed by the owner, or the anonymous
/// partition, sorted by key, status projected) pages through every image once, in key order, with the
/// same pages, cursors and counts as the in-memory store of the handler tests.
#[tokio::test]
async fn prefix_listings_page_in_key_order_and_count_as_the_in_memory_store_does() {
    use imgpipe_domain::batch::PrefixQuery;
    use imgpipe_domain::testing::MemoryJobs;
    use imgpipe_local::calls::SplitMix64;

    let emulator = Emulator::start().await;
    let resources = emulator.resources(5).await;
    let dynamo = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table);
    let memory = MemoryJobs::new();
    let owners = [Some("iam:AIDAALICE"), Some("iam:AIDABOB"), None];
    let statuses = [Status::Completed, Status::Failed, Status::Preprocessing, Status::Queued];
    let mut random = SplitMix64::new(20261202);
    let mut ids = Vec::new();
    for n in 0..48u64 {
        // Keys repeat (versions of one key are separate images) and some fall just outside the prefix.
        let dir = ["ingest/b7/", "ingest/b7/sub/", "ingest/b70/", "ingest/b6/"][(random.next_u64() % 4) as usize];
        let key = format!("{dir}{:02}.jpg", random.next_u64() % 12);
        let owner = owners[(n % 3) as usize];
        let image_id = ImageId::new_random();
        let mut image = NewImage::pending_upload(image_id, owner.map(str::to_owned), "image/jpeg", key.clone(), 5, 99);
        image.source_key = Some(key);
        image.status = statuses[(random.next_u64() % 4) as usize];
        assert_eq!(
            dynamo.create(&image).await.unwrap(),
            memory.create(&image).await.unwrap()
        );
        ids.push((image_id, owner));
    }
    // A deleted image leaves the batch (its tombstone keeps no index attributes).
    for (id, owner) in ids.iter().take(6) {
        assert_eq!(
            dynamo.delete(id, *owner).await.unwrap(),
            memory.delete(id, *owner).await.unwrap()
        );
    }
    let mut listed_any = 0;
    // The whole of `ingest/` is the empty prefix below it, which DynamoDB refuses in a key condition.
    for prefix in ["ingest/b7/", ""] {
        for owners in [
            vec!["iam:AIDAALICE".to_owned()],
            vec!["iam:AIDABOB".to_owned(), "iam:AIDAALICE".to_owned()],
            vec![],
        ] {
            for status in [None, Some(Status::Completed)] {
                let mut query = PrefixQuery {
                    owners: owners.clone(),
                    prefix: prefix.into(),
                    status,
                    limit: 4,
                    cursor: None,
                    count: true,
                };
                let mut pages = 0;
                let mut seen = std::collections::HashSet::new();
                loop {
                    let from_dynamo = dynamo.list_prefix(&query).await.unwrap();
                    let from_memory = memory.list_prefix(&query).await.unwrap();
                    let page: Vec<_> = from_dynamo.records.iter().map(|r| r.image_id).collect();
                    assert_eq!(
                        page,
                        from_memory.records.iter().map(|r| r.image_id).collect::<Vec<_>>(),
                        "{owners:?} {status:?} page {pages}"
                    );
                    assert_eq!(from_dynamo.next, from_memory.next);
                    assert_eq!(from_dynamo.counts, from_memory.counts, "{owners:?}");
                    let keys: Vec<_> = from_dynamo
                        .records
                        .iter()
                        .map(|r| r.source_key.clone().unwrap())
                        .collect();
                    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "key order: {keys:?}");
                    assert!(keys.iter().all(|k| k.starts_with(prefix)), "{keys:?}");
                    assert!(from_dynamo.records.iter().all(|r| status.is_none_or(|s| r.status == s)));
                    for id in page {
                        assert!(seen.insert(id), "{id} listed twice");
                    }
                    pages += 1;
                    match from_dynamo.next {
                        Some(next) => {
                            query.cursor = Some(next);
                            query.count = false;
                        }
                        None => break,
                    }
                }
                listed_any += seen.len();
            }
        }
    }
    assert!(listed_any > 20, "the batches are not trivially empty: {listed_any}");
}

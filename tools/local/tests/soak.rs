//! A short soak: images through the local stack with injected AWS faults and worker crashes, and the
//! verdict that nothing was lost, stuck, written twice or answered differently. `make soak` is the long one.

use std::time::Duration;

use imgpipe_local::soak::{clean, default_options, run};
use imgpipe_local::testing::{repo_root, stack_options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_with_faults_and_crashes_loses_nothing() {
    let mut options = default_options(&repo_root());
    options.images = 60;
    options.concurrency = 6;
    // Far more hostile than the default, so that 60 images see faults and crashes at all; with so many
    // crashes the queues allow 10 deliveries, or a good share of the jobs would exhaust theirs and end
    // `retries_exhausted` (ended by the sweeper from their dead letter, or as too old: services/sweeper)
    // instead of completing. The verdict accounts for those; handlers.rs covers exhaustion deterministically.
    options.fault_rate = 0.10;
    options.crash_rate = 0.15;
    options.max_receive_count = Some(10);
    options.deadline = Duration::from_secs(300);
    let report = run(stack_options(), options).await.expect("the soak runs");
    println!("{report}");
    assert!(clean(&report), "{report:#}");
    assert!(
        report["faults_injected"].as_u64().unwrap() > 0,
        "faults were injected: {report}"
    );
    assert!(
        report["workers_killed"].as_u64().unwrap() > 0,
        "workers were killed: {report}"
    );
    assert!(report["completed"].as_u64().unwrap() > 30, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_ingest_soak_finds_every_object_version_as_one_job_with_its_result_file() {
    let mut options = default_options(&repo_root());
    options.images = 40;
    options.concurrency = 6;
    options.ingest = true;
    options.fault_rate = 0.10;
    options.crash_rate = 0.05;
    options.max_receive_count = Some(10);
    options.deadline = Duration::from_secs(300);
    let report = run(stack_options(), options).await.expect("the soak runs");
    println!("{report}");
    assert!(clean(&report), "{report:#}");
    assert_eq!(report["through"], "ingest");
    assert_eq!(report["missing_result_files"], 0, "{report}");
    assert!(
        report["faults_injected"].as_u64().unwrap() > 0,
        "faults were injected: {report}"
    );
}

//! Two replicas of the connector on one database (leases split the polls, apply commands go to
//! any replica) share each mailbox's 4 concurrent requests through the slot table: a burst of
//! writes and reads from both at once never has more than 4 requests in flight against the
//! mailbox, and nothing fails.

use std::sync::Arc;
use std::time::Duration;

use connector_kit::api::Gates;
use connector_kit::slots::SlotTable;
use connector_kit::{CallContext, Connector};
use serde_json::json;
use sync_model::{Item, ItemKind, UserId};
use sync_protocol::ApplyOutcome;

use crate::contacts::{contact, create};
use crate::helpers::{connector, ctx, read_round, sandbox, watch};

#[tokio::test]
async fn two_replicas_writing_and_reading_one_mailbox_keep_to_four_requests_in_flight() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"mailbox_id": mailbox.id, "contacts": 200, "shared_share": 0.0, "seed": 3}),
        )
        .await;
    // Every call takes a while, so the replicas' calls overlap.
    sandbox
        .faults(
            &mailbox,
            json!({"latency_ms": 10, "latency_jitter_ms": 20, "seed": 3}),
        )
        .await;

    let database = test_support::fresh_database().await.expect("a database");
    let user = UserId(uuid::Uuid::new_v4());
    let mut replicas = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let pool = service_kit::database::connect(&database, "connector_outlook")
            .await
            .expect("the pool");
        service_kit::database::migrate(&pool, &connector_kit::MIGRATOR)
            .await
            .expect("migrated");
        let gates = Gates::shared(4, SlotTable::new(pool, name, Duration::from_secs(60)));
        let ctx = CallContext {
            user_id: user,
            gate: gates.for_user(user),
            ..ctx(&mailbox)
        };
        replicas.push((Arc::new(connector(&sandbox, 25)), ctx));
    }

    let mut tasks = tokio::task::JoinSet::new();
    for (r, (connector, ctx)) in replicas.iter().enumerate() {
        // Three write batches at once per replica, each two $batch calls of 20.
        for w in 0..3 {
            let (connector, ctx) = (connector.clone(), ctx.clone());
            let folder = mailbox.folder_id.clone();
            tasks.spawn(async move {
                let requests: Vec<_> = (0..40)
                    .map(|n| {
                        let n = 10_000 + r * 1000 + w * 100 + n;
                        create(Item::Contact(contact(n)), &folder)
                    })
                    .collect();
                let outcomes = connector.apply(&ctx, &requests).await;
                for outcome in &outcomes {
                    assert!(
                        matches!(outcome, ApplyOutcome::Applied { .. }),
                        "{outcome:?}"
                    );
                }
                outcomes.len()
            });
        }
        // Two full reads at once per replica, 25 a page.
        for _ in 0..2 {
            let (connector, ctx) = (connector.clone(), ctx.clone());
            let watch = watch(ItemKind::Contact, Some(&mailbox.folder_id));
            tasks.spawn(async move {
                let (changes, _, failures) = read_round(&connector, &ctx, &watch, None, 0)
                    .await
                    .expect("the round completes");
                assert_eq!(failures, 0);
                assert!(changes.len() >= 200, "{} read", changes.len());
                0
            });
        }
    }
    let mut written = 0;
    while let Some(done) = tasks.join_next().await {
        written += done.expect("the task");
    }
    assert_eq!(written, 240);

    let stats = sandbox
        .control(reqwest::Method::GET, "/stats", json!(null))
        .await;
    let usage = &stats["graph"]["mailboxes"][&mailbox.id];
    let highest = usage["max_in_flight"].as_u64().unwrap_or_default();
    assert!(
        highest <= 4,
        "{highest} requests in flight at once: {usage}"
    );
    assert!(highest >= 2, "the calls never overlapped: {usage}");
    assert!(
        usage["faults"].get("concurrency").is_none(),
        "requests refused for concurrency: {usage}"
    );
    let all = sandbox
        .control(
            reqwest::Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            json!(null),
        )
        .await;
    assert_eq!(
        all["value"].as_array().unwrap().len(),
        440,
        "each write once"
    );
}

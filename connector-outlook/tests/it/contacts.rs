//! Contacts: paging over thousands with faults, an expired delta token, a 429 storm on writes.

use std::collections::BTreeSet;

use connector_kit::{ApiError, ApplyRequest, Connector};
use serde_json::json;
use sync_model::{Contact, EmailAddress, Item, ItemKind, LinkId};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, FailureCode};

use crate::helpers::{connector, ctx, external_id, read_round, sandbox, watch};

#[tokio::test]
async fn thousands_of_contacts_are_read_once_each_through_every_kind_of_fault() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"mailbox_id": mailbox.id, "contacts": 2500, "shared_share": 0.0, "seed": 7}),
        )
        .await;
    sandbox
        .faults(
            &mailbox,
            json!({
                "share_429": 0.1, "share_500": 0.05, "share_503": 0.05,
                "share_drop": 0.05, "share_malformed": 0.05,
                "retry_after_seconds": 0.01, "seed": 11,
            }),
        )
        .await;
    let connector = connector(&sandbox, 25);
    let ctx = ctx(&mailbox);
    let watch = watch(ItemKind::Contact, Some(&mailbox.folder_id));
    let (changes, cursor, _) = read_round(&connector, &ctx, &watch, None, 50)
        .await
        .expect("the round completes");
    let stats = sandbox
        .control(reqwest::Method::GET, "/stats", json!(null))
        .await;
    let faults = &stats["graph"]["mailboxes"][&mailbox.id]["faults"];
    for kind in ["429", "500", "503", "drop", "malformed"] {
        assert!(
            faults[kind].as_u64().unwrap_or_default() > 0,
            "no {kind} fault: {faults}"
        );
    }
    let ids: BTreeSet<String> = changes.iter().map(external_id).collect();
    assert_eq!(changes.len(), 2500, "each contact once");
    assert_eq!(ids.len(), 2500);
    // Non-ASCII names survive (the seed has Japanese, Chinese, Korean, Nordic ... names).
    let non_ascii = changes
        .iter()
        .filter(|c| match c {
            ChangeMessage::ItemChanged {
                item: Item::Contact(c),
                ..
            } => !c.display_name().is_ascii(),
            _ => false,
        })
        .count();
    assert!(non_ascii > 100, "only {non_ascii} non-ASCII names");
    // Each read tells when Graph last changed the item, to order it against other reads.
    let undated: Vec<&ChangeMessage> = changes
        .iter()
        .filter(|c| {
            !matches!(
                c,
                ChangeMessage::ItemChanged {
                    modified: Some(_),
                    ..
                }
            )
        })
        .collect();
    assert!(undated.is_empty(), "{undated:?}");

    // Nothing changed: the next round reads nothing.
    sandbox.clear_faults(&mailbox).await;
    let (again, _, _) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[tokio::test]
async fn an_expired_delta_token_asks_for_a_full_read_that_returns_the_same_ids() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"mailbox_id": mailbox.id, "contacts": 120, "shared_share": 0.0, "seed": 3}),
        )
        .await;
    let connector = connector(&sandbox, 50);
    let ctx = ctx(&mailbox);
    let watch = watch(ItemKind::Contact, Some(&mailbox.folder_id));
    let (first, cursor, _) = read_round(&connector, &ctx, &watch, None, 0).await.unwrap();
    sandbox
        .control(
            reqwest::Method::POST,
            &format!("/graph/mailboxes/{}/expire-delta-tokens", mailbox.id),
            json!({}),
        )
        .await;
    let err = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::ResyncRequired), "{err:?}");
    // The poll loop then reads again from scratch: the same external ids, so sync-service
    // recognises every item instead of creating duplicates.
    let (full, _, _) = read_round(&connector, &ctx, &watch, None, 0).await.unwrap();
    let a: BTreeSet<String> = first.iter().map(external_id).collect();
    let b: BTreeSet<String> = full.iter().map(external_id).collect();
    assert_eq!(a, b);
}

pub fn contact(n: usize) -> Contact {
    Contact {
        given_name: Some(format!("Åsa {n}")),
        surname: Some("Lindqvist-山本".into()),
        emails: vec![EmailAddress(format!("asa{n}@example.se"))],
        company: Some("Ölfabrik AB".into()),
        ..Contact::default()
    }
}

pub fn create(item: Item, container: &str) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: item.kind(),
        op: ApplyOp::Create {
            item,
            origin: None,
            may_exist: false,
        },
        container_id: Some(container.to_owned()),
        repeated: false,
    }
}

#[tokio::test]
async fn a_429_storm_on_batched_writes_is_ridden_out_without_duplicates() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    // Most calls throttled, batch items too (each is throttled on its own inside a $batch).
    sandbox
        .faults(
            &mailbox,
            json!({"share_429": 0.6, "retry_after_seconds": 0.01, "seed": 5}),
        )
        .await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let requests: Vec<ApplyRequest> = (0..45)
        .map(|n| create(Item::Contact(contact(n)), &mailbox.folder_id))
        .collect();
    // As the command consumer does: what is still throttled after the connector's own retries
    // is sent again later; everything else is final.
    let mut ids = BTreeSet::new();
    let mut todo = requests;
    for _ in 0..10 {
        if todo.is_empty() {
            break;
        }
        let outcomes = connector.apply(&ctx, &todo).await;
        assert_eq!(outcomes.len(), todo.len());
        let mut again = Vec::new();
        for (request, outcome) in todo.into_iter().zip(outcomes) {
            match outcome {
                ApplyOutcome::Applied { external_id, .. } => {
                    ids.insert(external_id.0.clone());
                }
                ApplyOutcome::Failed {
                    retryable: true,
                    code: FailureCode::Throttled,
                    ..
                } => again.push(request),
                other => panic!("{other:?}"),
            }
        }
        todo = again;
    }
    assert!(todo.is_empty(), "still throttled: {}", todo.len());
    assert_eq!(ids.len(), 45);
    sandbox.clear_faults(&mailbox).await;
    let all = sandbox
        .control(
            reqwest::Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            json!(null),
        )
        .await;
    assert_eq!(all["value"].as_array().unwrap().len(), 45, "no duplicates");
    // 45 writes in three $batch calls (20 + 20 + 5), plus the retries of throttled items.
    let stats = sandbox
        .control(reqwest::Method::GET, "/stats", json!(null))
        .await;
    let batches = stats["graph"]["mailboxes"][&mailbox.id]["operations"]["POST /$batch"]
        .as_u64()
        .unwrap_or_default();
    assert!(batches >= 3, "{stats}");
}

#[tokio::test]
async fn writes_read_back_as_what_was_written() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let watch = watch(ItemKind::Contact, Some(&mailbox.folder_id));
    let (_, cursor, _) = read_round(&connector, &ctx, &watch, None, 0).await.unwrap();
    let item = Item::Contact(contact(1));
    let outcomes = connector
        .apply(&ctx, &[create(item.clone(), &mailbox.folder_id)])
        .await;
    let ApplyOutcome::Applied { content_hash, .. } = &outcomes[0] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(*content_hash, item.content_hash());
    let (changes, _, _) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap();
    let [ChangeMessage::ItemChanged { item: read, .. }] = changes.as_slice() else {
        panic!("{changes:?}")
    };
    assert_eq!(
        read.content_hash(),
        item.content_hash(),
        "an echo, not a change"
    );
}

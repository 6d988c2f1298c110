//! Contacts: paging over thousands with faults, deleted records, a bulk import not read again
//! every round, a rejected record inside a batch, a conditional update that finds the record
//! changed, and an exhausted credit budget.

use std::collections::BTreeSet;

use connector_kit::{ApiError, ApplyRequest, Connector};
use serde_json::json;
use sync_model::{Contact, EmailAddress, ExternalId, Item, ItemKind, LinkId, Modified, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};

use crate::helpers::{connector, ctx, external_id, read_round, sandbox, watch};

#[tokio::test]
async fn thousands_of_records_are_read_once_each_through_every_kind_of_fault() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"org_id": org.id, "contacts": 2300, "shared_share": 0.0, "seed": 9}),
        )
        .await;
    sandbox
        .faults(
            &org,
            json!({
                "share_429": 0.1, "share_500": 0.05, "share_503": 0.05,
                "share_drop": 0.08, "share_malformed": 0.08,
                "retry_after_seconds": 0.01, "seed": 13,
            }),
        )
        .await;
    let connector = connector();
    let ctx = ctx(&org);
    let watch = watch(ItemKind::Contact);
    let (changes, cursor) = read_round(&connector, &ctx, &watch, None, 100)
        .await
        .expect("the round completes");
    let ids: BTreeSet<String> = changes.iter().map(external_id).collect();
    assert_eq!(ids.len(), 2300, "every record");
    assert_eq!(changes.len(), 2300, "each once");
    let stats = sandbox
        .control(reqwest::Method::GET, "/stats", json!(null))
        .await;
    let faults = &stats["zoho"]["orgs"][&org.id]["faults"];
    assert!(faults.as_object().is_some_and(|f| !f.is_empty()), "{stats}");

    // Deletes show up in the next round, from the deleted-records read.
    sandbox.clear_faults(&org).await;
    let gone: Vec<String> = ids.iter().take(3).cloned().collect();
    sandbox
        .zoho(
            &org,
            reqwest::Method::DELETE,
            &format!("/Contacts?ids={}", gone.join(",")),
            None,
        )
        .await;
    let (next, _) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap();
    let deleted: BTreeSet<String> = next
        .iter()
        .filter(|c| {
            matches!(
                c,
                ChangeMessage::ItemDeleted {
                    left_scope: false,
                    ..
                }
            )
        })
        .map(external_id)
        .collect();
    assert_eq!(deleted, gone.into_iter().collect());
}

#[tokio::test]
async fn a_bulk_import_saved_in_one_second_is_read_once_not_every_round() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    // 1,000 records with the same `Modified_Time`, as an import or a mass update leaves them.
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"org_id": org.id, "contacts": 1000, "shared_share": 0.0, "seed": 3}),
        )
        .await;
    // The import is older than the connection: by the end of the first round Zoho's clock is
    // past the import's second, so no later save can carry its time.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let connector = connector();
    let ctx = ctx(&org);
    let watch = watch(ItemKind::Contact);
    let (first, cursor) = read_round(&connector, &ctx, &watch, None, 0).await.unwrap();
    assert_eq!(first.len(), 1000);
    // A quiet round is one call for the records (nothing modified) and one for the deleted.
    let before = ctx.gate.calls();
    let (quiet, cursor) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap();
    assert!(quiet.is_empty(), "{quiet:?}");
    assert_eq!(
        ctx.gate.calls() - before,
        2,
        "no page of the import read again"
    );

    // Edits right after each other (often in one second) are each read, once.
    let ids: Vec<String> = first.iter().map(external_id).take(2).collect();
    let mut cursor = cursor;
    for (n, id) in ids.iter().enumerate() {
        sandbox
            .zoho(
                &org,
                reqwest::Method::PUT,
                "/Contacts",
                Some(json!({"data": [{"id": id, "Title": format!("Leiter {n}")}]})),
            )
            .await;
        let (changes, next) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
            .await
            .unwrap();
        let read: Vec<String> = changes.iter().map(external_id).collect();
        assert_eq!(read, vec![id.clone()], "edit {n}");
        cursor = next;
    }
}

/// Two saves of one record in the same second carry the same `Modified_Time`: the round after
/// the second save must still read it (found by the crash test: a person's second Zoho edit,
/// 0.7 s after the first, never reached Outlook).
#[tokio::test]
async fn a_second_save_in_the_same_second_is_read() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"org_id": org.id, "contacts": 3, "shared_share": 0.0, "seed": 4}),
        )
        .await;
    let connector = connector();
    let ctx = ctx(&org);
    let watch = watch(ItemKind::Contact);
    let (first, mut cursor) = read_round(&connector, &ctx, &watch, None, 0).await.unwrap();
    let id = external_id(&first[0]);
    let save = |title: String| {
        let (sandbox, org, id) = (&sandbox, &org, id.clone());
        async move {
            let answer = sandbox
                .zoho(
                    org,
                    reqwest::Method::PUT,
                    "/Contacts",
                    Some(json!({"data": [{"id": id, "Title": title}]})),
                )
                .await;
            answer["data"][0]["details"]["Modified_Time"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let title = |change: &ChangeMessage| match change {
        ChangeMessage::ItemChanged {
            item: Item::Contact(c),
            ..
        } => c.job_title.clone(),
        other => panic!("a change expected: {other:?}"),
    };
    // Saves take milliseconds: within a few tries two land in one second.
    let mut same_second = 0;
    for attempt in 0..5 {
        let first_save = save(format!("Leiter {attempt}a")).await;
        let (changes, next) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
            .await
            .unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        let second_save = save(format!("Leiter {attempt}b")).await;
        let (changes, next) = read_round(&connector, &ctx, &watch, Some(next), 0)
            .await
            .unwrap();
        cursor = next;
        if first_save == second_save {
            same_second += 1;
            assert_eq!(
                changes.iter().map(title).collect::<Vec<_>>(),
                vec![Some(format!("Leiter {attempt}b"))],
                "the second save of second {second_save}"
            );
        }
    }
    assert!(same_second > 0, "no two saves landed in one second");
}

pub fn contact(n: usize, surname: Option<&str>) -> Contact {
    Contact {
        given_name: Some(format!("Søren {n}")),
        surname: surname.map(str::to_owned),
        emails: vec![EmailAddress(format!("soren{n}@example.dk"))],
        job_title: Some("Direktør".into()),
        ..Contact::default()
    }
}

fn request(op: ApplyOp) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: ItemKind::Contact,
        op,
        container_id: None,
        repeated: false,
    }
}

#[tokio::test]
async fn a_rejected_record_fails_alone_and_a_stale_update_answers_the_current_record() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let mut requests: Vec<ApplyRequest> = (0..150)
        .map(|n| {
            request(ApplyOp::Create {
                item: Item::Contact(contact(n, Some("Kierkegaard"))),
                origin: None,
                may_exist: false,
            })
        })
        .collect();
    // Zoho refuses a contact without a last name (MANDATORY_NOT_FOUND).
    requests[42] = request(ApplyOp::Create {
        item: Item::Contact(contact(42, None)),
        origin: None,
        may_exist: false,
    });
    let outcomes = connector.apply(&ctx, &requests).await;
    assert_eq!(outcomes.len(), 150);
    for (n, outcome) in outcomes.iter().enumerate() {
        match (n, outcome) {
            (
                42,
                ApplyOutcome::Failed {
                    code, retryable, ..
                },
            ) => {
                assert_eq!(code.as_str(), "MANDATORY_NOT_FOUND");
                assert!(!retryable);
            }
            (42, other) => panic!("{other:?}"),
            // Applied, with when Zoho changed it (our write).
            (
                _,
                ApplyOutcome::Applied {
                    modified: Some(_), ..
                },
            ) => {}
            (_, other) => panic!("{n}: {other:?}"),
        }
    }
    assert_eq!(sandbox.records(&org, "Contacts").await.len(), 149);
    let stats = sandbox
        .control(reqwest::Method::GET, "/stats", json!(null))
        .await;
    assert_eq!(
        stats["zoho"]["orgs"][&org.id]["operations"]["POST /Contacts"], 2,
        "150 records in two calls: {stats}"
    );

    // A conditional update of a record changed since: nothing written, the current record back.
    let ApplyOutcome::Applied {
        external_id,
        version,
        ..
    } = &outcomes[0]
    else {
        unreachable!()
    };
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sandbox
        .zoho(
            &org,
            reqwest::Method::PUT,
            "/Contacts",
            Some(json!({"data": [{"id": external_id.0, "Title": "CEO"}]})),
        )
        .await;
    let base = contact(0, Some("Kierkegaard"));
    let mine = Contact {
        department: Some("Salg".into()),
        ..base.clone()
    };
    let outcomes = connector
        .apply(
            &ctx,
            &[
                request(ApplyOp::Update {
                    external_id: external_id.clone(),
                    item: Item::Contact(mine.clone()),
                    base: Some(Item::Contact(base.clone())),
                    expected_version: Some(version.clone()),
                }),
                request(ApplyOp::Delete {
                    external_id: ExternalId("4150868000009999999".into()),
                    expected_version: None,
                }),
            ],
        )
        .await;
    match &outcomes[0] {
        ApplyOutcome::Stale {
            item: Item::Contact(now),
            version: v,
            modified,
            ..
        } => {
            assert_eq!(now.job_title.as_deref(), Some("CEO"));
            assert_ne!(v, version);
            // When Zoho changed it: later than the version the update was decided against.
            let at = |v: &Version| {
                chrono::DateTime::parse_from_rfc3339(&v.0)
                    .map(|at| at.with_timezone(&chrono::Utc))
                    .ok()
            };
            assert_eq!(modified.map(|m| m.0), at(v), "{v:?}");
            assert!(Modified::before(at(version).map(Modified), *modified));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(outcomes[1], ApplyOutcome::Gone { .. }),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn an_exhausted_credit_budget_is_the_days_allowance_not_a_loss() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    sandbox
        .control(
            reqwest::Method::PUT,
            &format!("/zoho/orgs/{}/credits", org.id),
            json!({"budget": 5, "used": 5}),
        )
        .await;
    let connector = connector();
    let ctx = ctx(&org);
    let err = read_round(&connector, &ctx, &watch(ItemKind::Contact), None, 0)
        .await
        .unwrap_err();
    // Zoho's words for the 24-hour credits: the day's allowance, waiting for hours, not a burst.
    assert!(
        matches!(
            err,
            ApiError::Throttled { daily: true, retry_after: Some(wait) }
                if wait > std::time::Duration::from_secs(3600)
        ),
        "{err:?}"
    );
    let outcomes = connector
        .apply(
            &ctx,
            &[request(ApplyOp::Create {
                item: Item::Contact(contact(1, Some("Nielsen"))),
                origin: None,
                may_exist: false,
            })],
        )
        .await;
    assert!(
        matches!(
            &outcomes[0],
            ApplyOutcome::Failed {
                retryable: true,
                ..
            }
        ),
        "{outcomes:?}"
    );
    assert!(sandbox.records(&org, "Contacts").await.is_empty());
}

#[tokio::test]
async fn a_full_re_read_after_a_resync_still_reports_the_deletes_in_between() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/seed",
            json!({"org_id": org.id, "contacts": 30, "shared_share": 0.0, "seed": 4}),
        )
        .await;
    let connector = connector();
    let ctx = ctx(&org);
    let mut w = watch(ItemKind::Contact);
    let (first, cursor) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let gone = external_id(&first[0]);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    sandbox
        .zoho(
            &org,
            reqwest::Method::DELETE,
            &format!("/Contacts/{gone}"),
            None,
        )
        .await;
    // The poll loop's resync: the stored cursor is on the watch, the read starts from none.
    w.cursor = Some(cursor);
    let (full, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let changed = full
        .iter()
        .filter(|c| matches!(c, ChangeMessage::ItemChanged { .. }))
        .count();
    assert_eq!(changed, 29, "the same ids again, but the deleted one");
    assert!(
        full.iter().any(|c| matches!(c,
            ChangeMessage::ItemDeleted { external_id, .. } if external_id.0 == gone)),
        "{full:?}"
    );
}

#[tokio::test]
async fn a_first_round_begun_again_after_a_crash_still_tells_the_deletions_in_between() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let created = sandbox
        .zoho(
            &org,
            reqwest::Method::POST,
            "/Contacts",
            Some(json!({"data": [
                {"Last_Name": "Bleibt", "Email": "bleibt@example.de"},
                {"Last_Name": "Geht", "Email": "geht@example.de"}
            ]})),
        )
        .await;
    let gone = created["data"][1]["details"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The first page of the first round is read and published; the connector dies before its
    // cursor is saved.
    let w = watch(ItemKind::Contact);
    let first = connector.read_page(&ctx, &w, None).await.unwrap();
    assert!(first.changes.iter().any(|c| external_id(c) == gone));
    // Meanwhile the user deletes one of the contacts just published.
    sandbox
        .zoho(
            &org,
            reqwest::Method::DELETE,
            &format!("/Contacts?ids={gone}"),
            None,
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The restarted connector begins the first round again, from no cursor.
    let (changes, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    assert!(
        changes.iter().any(|c| matches!(
            c,
            ChangeMessage::ItemDeleted { external_id, .. } if external_id.0 == gone
        )),
        "the deletion is told: {changes:?}"
    );
}

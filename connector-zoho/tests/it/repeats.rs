//! Creates repeated after a crash or a lost answer make one record: the connector sets up an
//! "Outlook Sync Link" External ID field and creates with it; Zoho refuses a repeat
//! (`DUPLICATE_DATA`), and the first copy is answered as it is.

use connector_kit::{ApplyRequest, Connector};
use serde_json::json;
use sync_model::Item;
use sync_protocol::{ApplyOutcome, FailureCode};

use crate::activities::{create, series, task};
use crate::contacts::contact;
use crate::helpers::{connector, ctx, sandbox};

fn applied_id(outcome: &ApplyOutcome) -> String {
    match outcome {
        ApplyOutcome::Applied { external_id, .. } => external_id.0.clone(),
        other => panic!("not applied: {other:?}"),
    }
}

/// The first copy a repeated create found: its id and the item as Zoho holds it.
fn found_copy(outcome: &ApplyOutcome) -> (String, Item) {
    match outcome {
        ApplyOutcome::Stale {
            external_id, item, ..
        } => (external_id.0.clone(), item.clone()),
        other => panic!("not the first copy: {other:?}"),
    }
}

fn repeated(requests: &[ApplyRequest]) -> Vec<ApplyRequest> {
    requests
        .iter()
        .cloned()
        .map(|r| ApplyRequest {
            repeated: true,
            ..r
        })
        .collect()
}

#[tokio::test]
async fn a_create_repeated_after_a_crash_finds_its_first_copy_in_every_module() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let requests = vec![
        create(Item::Contact(contact(1, Some("Kierkegaard")))),
        create(task("Angebot nachfassen")),
        create(Item::Event(series())),
    ];
    let first = connector.apply(&ctx, &requests).await;
    // The process died before recording these outcomes: the same commands come again.
    let second = connector.apply(&ctx, &repeated(&requests)).await;
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(applied_id(a), found_copy(b).0, "the first copy is found");
    }
    for (module, request) in ["Contacts", "Tasks", "Events"].into_iter().zip(&requests) {
        let records = sandbox.records(&org, module).await;
        assert_eq!(records.len(), 1, "{module}: {records:?}");
        assert_eq!(
            records[0]["Outlook_Sync_Link"],
            json!(request.link_id.0.to_string()),
            "{module} carries its link"
        );
    }
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_retried_without_a_duplicate() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    // Zoho carries out the insert, then the connection drops before the answer.
    sandbox
        .faults(
            &org,
            json!({"share_drop": 1.0, "max_faults": 1, "operations": ["POST /Contacts"]}),
        )
        .await;
    let requests: Vec<ApplyRequest> = (0..5)
        .map(|n| create(Item::Contact(contact(10 + n, Some("Brandes")))))
        .collect();
    // The insert is sent again at once (a repeat is refused, so this is safe): the records the
    // lost answer carried come back as found copies.
    for outcome in connector.apply(&ctx, &requests).await {
        match outcome {
            ApplyOutcome::Failed {
                retryable: true, ..
            }
            | ApplyOutcome::Applied { .. }
            | ApplyOutcome::Stale { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // What the command consumer does with a retryable failure: the same commands again, marked
    // as begun before.
    for outcome in connector.apply(&ctx, &repeated(&requests)).await {
        match outcome {
            ApplyOutcome::Applied { .. } | ApplyOutcome::Stale { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        sandbox.records(&org, "Contacts").await.len(),
        5,
        "no duplicate"
    );
}

/// Crash-test seed 55: a connector killed while it wrote a batch of creates, a person editing
/// one of the new records before the batch came again. The repeat must leave the record as the
/// person left it and answer it, so that sync-service takes the edit in (with upsert, the
/// repeat wrote the create's content over the edit, and the edit was lost on both sides).
#[tokio::test]
async fn a_repeated_create_keeps_what_a_person_changed_in_its_first_copy() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let requests = vec![create(Item::Contact(contact(1, Some("Kowalska"))))];
    let id = applied_id(&connector.apply(&ctx, &requests).await[0]);
    sandbox
        .zoho(
            &org,
            reqwest::Method::PUT,
            &format!("/Contacts/{id}"),
            Some(json!({"data": [{"Title": "Prokurentka"}]})),
        )
        .await;
    let second = connector.apply(&ctx, &repeated(&requests)).await;
    let (found, item) = found_copy(&second[0]);
    assert_eq!(found, id);
    let Item::Contact(contact) = item else {
        panic!("a contact")
    };
    assert_eq!(contact.job_title.as_deref(), Some("Prokurentka"));
    let records = sandbox.records(&org, "Contacts").await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["Title"],
        json!("Prokurentka"),
        "not written over"
    );
}

#[tokio::test]
async fn where_the_org_refuses_the_field_creates_go_on_and_a_repeat_is_never_sent_blindly() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    // A user without "Customize Zoho CRM": the field cannot be added.
    sandbox
        .control(
            reqwest::Method::PUT,
            &format!("/zoho/orgs/{}/permissions", org.id),
            json!({"customize_crm": false}),
        )
        .await;
    let connector = connector();
    let ctx = ctx(&org);
    let requests = vec![create(Item::Contact(contact(1, Some("Andersen"))))];
    let first = connector.apply(&ctx, &requests).await;
    applied_id(&first[0]);
    // Without the identity a repeat cannot find its first copy: it is reported unconfirmed
    // (sync-service adopts the copy when it is read, or retries), never created again.
    let second = connector.apply(&ctx, &repeated(&requests)).await;
    assert!(
        matches!(&second[0], ApplyOutcome::Failed { code, retryable: false, .. } if *code == FailureCode::CreateUnconfirmed),
        "{second:?}"
    );
    let records = sandbox.records(&org, "Contacts").await;
    assert_eq!(records.len(), 1);
    assert!(
        records[0]
            .get("Outlook_Sync_Link")
            .is_none_or(|v| v.is_null())
    );
}

//! A links rebuild reads the link identity our copies carry: a record we create holds its link
//! and the Outlook item it copies in the "Outlook Sync Link" field, and reads return it.

use connector_kit::{ApplyRequest, Connector};
use serde_json::json;
use sync_model::{ExternalId, Item, ItemKind, LinkId};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, LinkIdentity};

use crate::contacts::contact;
use crate::helpers::{connector, ctx, read_round, sandbox, watch};

/// An Outlook id as long as Graph's (about 150 characters).
fn outlook_id(n: usize) -> String {
    format!("AAMkAGI2TG93AAA{}{n:03}=", "x".repeat(130))
}

fn copy(n: usize) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: ItemKind::Contact,
        op: ApplyOp::Create {
            item: Item::Contact(contact(n, Some("Hamsun"))),
            origin: Some(ExternalId(outlook_id(n))),
            may_exist: false,
        },
        container_id: None,
        repeated: false,
    }
}

fn identity(request: &ApplyRequest) -> LinkIdentity {
    let ApplyOp::Create { origin, .. } = &request.op else {
        panic!("a create")
    };
    LinkIdentity {
        link: request.link_id,
        origin: origin.clone(),
    }
}

fn applied_id(outcome: &ApplyOutcome) -> String {
    match outcome {
        ApplyOutcome::Applied { external_id, .. } => external_id.0.clone(),
        other => panic!("not applied: {other:?}"),
    }
}

#[tokio::test]
async fn a_copy_holds_its_link_and_origin_and_reads_carry_them() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let request = copy(1);
    let id = applied_id(&connector.apply(&ctx, std::slice::from_ref(&request)).await[0]);
    // A record of the user's own.
    sandbox
        .zoho(
            &org,
            reqwest::Method::POST,
            "/Contacts",
            Some(json!({"data": [{"Last_Name": "Eigen"}]})),
        )
        .await;
    let records = sandbox.records(&org, "Contacts").await;
    let copied = records.iter().find(|r| r["id"] == json!(id)).expect("made");
    assert_eq!(
        copied["Outlook_Sync_Link"],
        json!(identity(&request).value())
    );

    let (changes, _) = read_round(&connector, &ctx, &watch(ItemKind::Contact), None, 0)
        .await
        .expect("a read");
    let mut read: Vec<(String, Option<LinkIdentity>)> = changes
        .iter()
        .filter_map(|c| match c {
            ChangeMessage::ItemChanged {
                external_id,
                identity,
                ..
            } => Some((external_id.0.clone(), identity.clone())),
            _ => None,
        })
        .collect();
    read.sort_by_key(|r| r.1.is_none());
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(read[0], (id, Some(identity(&request))));
    assert_eq!(read[1].1, None, "the user's own record is no copy");
}

#[tokio::test]
async fn a_field_made_too_short_for_the_origin_keeps_the_link_and_repeats_still_find_it() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    // The field as the first version made it: 64 characters.
    sandbox
        .zoho(
            &org,
            reqwest::Method::POST,
            "/settings/fields?module=Contacts",
            Some(json!({"fields": [{
                "field_label": "Outlook Sync Link", "data_type": "text", "length": 64,
                "external": {"show": true, "type": "user", "allow_multiple_config": false}
            }]})),
        )
        .await;
    let connector = connector();
    let ctx = ctx(&org);
    let request = copy(2);
    let first = applied_id(&connector.apply(&ctx, std::slice::from_ref(&request)).await[0]);
    let again = ApplyRequest {
        repeated: true,
        ..request.clone()
    };
    let second = match &connector.apply(&ctx, std::slice::from_ref(&again)).await[0] {
        ApplyOutcome::Stale { external_id, .. } => external_id.0.clone(),
        other => panic!("not the first copy: {other:?}"),
    };
    assert_eq!(first, second, "the first copy is found again");
    let records = sandbox.records(&org, "Contacts").await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0]["Outlook_Sync_Link"],
        json!(request.link_id.0.to_string())
    );
}

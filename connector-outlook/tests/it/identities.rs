//! A links rebuild reads the link identity our copies carry: each copy names its link and the
//! Zoho record it copies, an identify read lists the scope with the property expanded (the
//! contact and calendar deltas cannot carry it), and a repeated create still finds its copy by
//! the whole value.

use connector_kit::{ApplyRequest, Connector};
use reqwest::Method;
use serde_json::json;
use sync_model::{ExternalId, Item, LinkId};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, LinkIdentity};

use crate::contacts::contact;
use crate::events::{series, single};
use crate::helpers::{connector, ctx, read_round, sandbox, watch};
use crate::tasks::{default_list, task};

fn copy(item: Item, container: Option<&str>, origin: &str) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: item.kind(),
        op: ApplyOp::Create {
            item,
            origin: Some(ExternalId(origin.into())),
            may_exist: false,
        },
        container_id: container.map(str::to_owned),
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

/// The identity each item of a read carries, by id.
fn identities(changes: &[ChangeMessage]) -> Vec<(String, Option<LinkIdentity>)> {
    changes
        .iter()
        .filter_map(|c| match c {
            ChangeMessage::ItemChanged {
                external_id,
                identity,
                ..
            } => Some((external_id.0.clone(), identity.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_identify_read_gives_every_copy_its_link_and_origin_and_the_users_items_none() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let list = default_list(&sandbox, &mailbox).await;
    let connector = connector(&sandbox, 2);
    let ctx = ctx(&mailbox);
    let requests = vec![
        copy(
            Item::Contact(contact(1)),
            Some(&mailbox.folder_id),
            "3652397000000624001",
        ),
        copy(
            Item::Contact(contact(2)),
            Some(&mailbox.folder_id),
            "3652397000000624002",
        ),
        copy(Item::Task(task(1)), Some(&list), "3652397000000624003"),
        copy(Item::Event(single()), None, "3652397000000624004"),
        copy(Item::Event(series()), None, "3652397000000624005"),
    ];
    let ids: Vec<String> = connector
        .apply(&ctx, &requests)
        .await
        .iter()
        .map(applied_id)
        .collect();
    // A contact of the user's own: no identity.
    let own = sandbox
        .graph(
            &mailbox,
            Method::POST,
            &format!("/me/contactFolders/{}/contacts", mailbox.folder_id),
            Some(json!({"givenName": "Eigene", "surname": "Kontakt"})),
        )
        .await;
    let own_id = own["id"].as_str().expect("an id").to_owned();

    // Contacts (two pages of 2: the listing's next link is followed).
    let mut contacts = watch(sync_model::ItemKind::Contact, Some(&mailbox.folder_id));
    contacts.identify = true;
    let (changes, cursor, _) = read_round(&connector, &ctx, &contacts, None, 0)
        .await
        .expect("an identify read");
    assert!(
        cursor.is_null(),
        "the next round starts a full delta read: {cursor}"
    );
    let mut got = identities(&changes);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![
        (ids[0].clone(), Some(identity(&requests[0]))),
        (ids[1].clone(), Some(identity(&requests[1]))),
        (own_id, None),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);

    // Tasks: the identify read, and the ordinary delta too (it can expand the property).
    let mut tasks = watch(sync_model::ItemKind::Task, Some(&list));
    let (delta, _, _) = read_round(&connector, &ctx, &tasks, None, 0)
        .await
        .expect("a delta read");
    assert_eq!(
        identities(&delta),
        vec![(ids[2].clone(), Some(identity(&requests[2])))]
    );
    tasks.identify = true;
    let (listed, cursor, _) = read_round(&connector, &ctx, &tasks, None, 0)
        .await
        .expect("an identify read");
    assert!(cursor.is_null());
    assert_eq!(identities(&listed), identities(&delta));

    // Events: the single event, and the series once, as its master.
    let mut events = watch(sync_model::ItemKind::Event, None);
    events.identify = true;
    let (changes, cursor, _) = read_round(&connector, &ctx, &events, None, 0)
        .await
        .expect("an identify read");
    assert!(cursor.is_null());
    let mut got = identities(&changes);
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![
        (ids[3].clone(), Some(identity(&requests[3]))),
        (ids[4].clone(), Some(identity(&requests[4]))),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_repeated_create_with_an_origin_finds_its_first_copy() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let request = copy(
        Item::Contact(contact(7)),
        Some(&mailbox.folder_id),
        "3652397000000624007",
    );
    let first = connector.apply(&ctx, std::slice::from_ref(&request)).await;
    let again = ApplyRequest {
        repeated: true,
        ..request
    };
    let second = connector.apply(&ctx, std::slice::from_ref(&again)).await;
    // Found, not written again: answered with what the copy holds.
    match &second[0] {
        ApplyOutcome::Stale { external_id, .. } => {
            assert_eq!(applied_id(&first[0]), external_id.0)
        }
        other => panic!("{other:?}"),
    }
    let all = sandbox
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            json!(null),
        )
        .await;
    assert_eq!(all["value"].as_array().map(Vec::len), Some(1));
}

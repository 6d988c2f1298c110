//! Creates repeated after a crash or a lost answer make one item: every create carries its
//! link in an extended property, and a repeated one (or one sync-service says may exist) looks
//! for that copy first and answers with what it holds (`Stale`), writing nothing.

use connector_kit::{ApplyRequest, Connector};
use reqwest::Method;
use serde_json::json;
use sync_model::{Item, LinkId};
use sync_protocol::{ApplyOp, ApplyOutcome};

use crate::contacts::contact;
use crate::events::{series, single};
use crate::helpers::{Mailbox, Sandbox, connector, ctx, sandbox};
use crate::tasks::{default_list, task};

fn create(item: Item, container: Option<&str>) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: item.kind(),
        op: ApplyOp::Create {
            item,
            origin: None,
            may_exist: false,
        },
        container_id: container.map(str::to_owned),
        repeated: false,
    }
}

fn applied_id(outcome: &ApplyOutcome) -> String {
    match outcome {
        ApplyOutcome::Applied { external_id, .. } => external_id.0.clone(),
        other => panic!("not applied: {other:?}"),
    }
}

/// The copy a create found instead of writing: its id and what it holds.
fn found(outcome: &ApplyOutcome) -> (String, Item) {
    match outcome {
        ApplyOutcome::Stale {
            external_id, item, ..
        } => (external_id.0.clone(), item.clone()),
        other => panic!("no copy found: {other:?}"),
    }
}

/// How many items the mailbox holds of each kind (the control API's view, not the connector's).
async fn held(sandbox: &Sandbox, mailbox: &Mailbox, what: &str) -> usize {
    let all = sandbox
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/{what}", mailbox.id),
            json!(null),
        )
        .await;
    all["value"].as_array().map(Vec::len).unwrap_or_default()
}

#[tokio::test]
async fn a_create_repeated_after_a_crash_finds_its_first_copy_for_every_kind() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let list = default_list(&sandbox, &mailbox).await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let requests = vec![
        create(Item::Contact(contact(1)), Some(&mailbox.folder_id)),
        create(Item::Task(task(1)), Some(&list)),
        create(Item::Event(single()), None),
        create(Item::Event(series()), None),
    ];
    let first = connector.apply(&ctx, &requests).await;
    // The process died before recording these outcomes: the same commands come again.
    let again: Vec<ApplyRequest> = requests
        .iter()
        .cloned()
        .map(|r| ApplyRequest {
            repeated: true,
            ..r
        })
        .collect();
    let second = connector.apply(&ctx, &again).await;
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(applied_id(a), found(b).0, "the first copy is adopted");
    }
    // The series is answered as it is, its cancelled occurrence included.
    match found(&second[3]).1 {
        Item::Event(e) => assert_eq!(
            e.recurrence.map(|r| r.exceptions),
            series().recurrence.map(|r| r.exceptions)
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(held(&sandbox, &mailbox, "contacts").await, 1);
    assert_eq!(held(&sandbox, &mailbox, "tasks").await, 1);
    assert_eq!(held(&sandbox, &mailbox, "events").await, 2);
    // Each item carries its link where a second attempt (or a rebuild) can find it.
    let path = format!(
        "/me/contacts/{}?$expand={}",
        applied_id(&first[0]),
        connector_outlook::identity::expand()
    );
    let read = sandbox.graph(&mailbox, Method::GET, &path, None).await;
    assert_eq!(
        connector_outlook::identity::link_of(&read),
        Some(requests[0].link_id)
    );
}

#[tokio::test]
async fn a_repeated_create_whose_first_attempt_never_wrote_creates_once() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let request = ApplyRequest {
        repeated: true,
        ..create(Item::Contact(contact(2)), Some(&mailbox.folder_id))
    };
    let outcome = connector.apply(&ctx, std::slice::from_ref(&request)).await;
    applied_id(&outcome[0]);
    assert_eq!(held(&sandbox, &mailbox, "contacts").await, 1);
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_is_retried_without_a_duplicate() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let list = default_list(&sandbox, &mailbox).await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    // Graph carries out the $batch, then the connection drops before the answer.
    sandbox
        .faults(
            &mailbox,
            json!({"share_drop": 1.0, "max_faults": 1, "operations": ["POST /$batch"]}),
        )
        .await;
    let requests: Vec<ApplyRequest> = (0..5)
        .map(|n| create(Item::Contact(contact(10 + n)), Some(&mailbox.folder_id)))
        .chain((0..3).map(|n| create(Item::Task(task(n)), Some(&list))))
        .collect();
    let mut contacts = requests[..5].to_vec();
    let mut tasks = requests[5..].to_vec();
    for batch in [&mut contacts, &mut tasks] {
        let outcomes = connector.apply(&ctx, batch).await;
        for outcome in &outcomes {
            match outcome {
                ApplyOutcome::Failed {
                    retryable: true, ..
                }
                | ApplyOutcome::Applied { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        // What the command consumer does with a retryable failure: the same commands again,
        // marked as begun before.
        let again: Vec<ApplyRequest> = batch
            .iter()
            .cloned()
            .map(|r| ApplyRequest {
                repeated: true,
                ..r
            })
            .collect();
        for outcome in connector.apply(&ctx, &again).await {
            // Found where the lost attempt wrote it, else written now.
            match &outcome {
                ApplyOutcome::Applied { .. } | ApplyOutcome::Stale { .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(
        held(&sandbox, &mailbox, "contacts").await,
        5,
        "no duplicate"
    );
    assert_eq!(held(&sandbox, &mailbox, "tasks").await, 3, "no duplicate");
}

/// Decision 52's gap: a create whose answer was lost, retried by sync-service at the end of a
/// round that could not show its copy (an event outside the calendar window), is a new command
/// (not a redelivery): `may_exist` makes it look first. The copy holds what the first attempt
/// sent, not what the retry carries: that is what it answers, and it writes nothing.
#[tokio::test]
async fn a_create_that_may_exist_answers_with_the_copy_it_finds_and_creates_nothing() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let first_contact = create(Item::Contact(contact(30)), Some(&mailbox.folder_id));
    let first_event = create(Item::Event(single()), None);
    let written = connector
        .apply(&ctx, &[first_contact.clone(), first_event.clone()])
        .await;
    // The retries: same links, new commands, the content moved on meanwhile.
    let mut later = single();
    later.subject = "Call with 山田さん (moved)".into();
    let retries = [
        (first_contact, Item::Contact(contact(31))),
        (first_event, Item::Event(later)),
    ]
    .map(|(first, item)| ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        op: ApplyOp::Create {
            item,
            origin: None,
            may_exist: true,
        },
        ..first
    });
    let answers = connector.apply(&ctx, &retries).await;
    let (contact_id, held_contact) = found(&answers[0]);
    assert_eq!(contact_id, applied_id(&written[0]));
    match held_contact {
        Item::Contact(c) => assert_eq!(c.given_name, contact(30).given_name),
        other => panic!("{other:?}"),
    }
    let (event_id, held_event) = found(&answers[1]);
    assert_eq!(event_id, applied_id(&written[1]));
    match held_event {
        Item::Event(e) => assert_eq!(e.subject, single().subject),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        held(&sandbox, &mailbox, "contacts").await,
        1,
        "nothing created"
    );
    assert_eq!(
        held(&sandbox, &mailbox, "events").await,
        1,
        "nothing created"
    );

    // Where no copy exists, it creates; a create not told it may exist never looks (the gap).
    let fresh = ApplyRequest {
        op: ApplyOp::Create {
            item: Item::Contact(contact(32)),
            origin: None,
            may_exist: true,
        },
        ..create(Item::Contact(contact(32)), Some(&mailbox.folder_id))
    };
    applied_id(&connector.apply(&ctx, std::slice::from_ref(&fresh)).await[0]);
    let blind = ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        op: ApplyOp::Create {
            item: Item::Contact(contact(32)),
            origin: None,
            may_exist: false,
        },
        ..fresh
    };
    applied_id(&connector.apply(&ctx, std::slice::from_ref(&blind)).await[0]);
    assert_eq!(held(&sandbox, &mailbox, "contacts").await, 3);
}

//! To Do tasks: batched writes with a rejected record, read back through the list's delta.

use chrono::NaiveDate;
use connector_kit::{ApplyRequest, Connector};
use sync_model::{ExternalId, Item, ItemKind, LinkId, Modified, Task, TaskPriority, TaskStatus};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, FailureCode};

use crate::helpers::{connector, ctx, read_round, sandbox, watch};

pub fn task(n: usize) -> Task {
    Task {
        subject: format!("見積書 #{n} — Angebot prüfen"),
        description: Some("Zeile eins\nLine two — ✓".into()),
        due_date: NaiveDate::from_ymd_opt(2026, 3, 29),
        status: if n.is_multiple_of(2) {
            TaskStatus::InProgress
        } else {
            TaskStatus::WaitingOnOthers
        },
        priority: TaskPriority::High,
        completed_at: None,
        reminder_at: "2026-03-28T07:30:00Z".parse().ok(),
    }
}

fn request(op: ApplyOp, container: &str) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: ItemKind::Task,
        op,
        container_id: Some(container.to_owned()),
        repeated: false,
    }
}

pub async fn default_list(
    sandbox: &crate::helpers::Sandbox,
    mailbox: &crate::helpers::Mailbox,
) -> String {
    let lists = sandbox
        .graph(mailbox, reqwest::Method::GET, "/me/todo/lists", None)
        .await;
    lists["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["wellknownListName"] == "defaultList")
        .and_then(|l| l["id"].as_str())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn tasks_are_written_in_batches_and_a_refused_one_fails_alone() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let list = default_list(&sandbox, &mailbox).await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let watch = watch(ItemKind::Task, Some(&list));
    let (_, cursor, _) = read_round(&connector, &ctx, &watch, None, 0).await.unwrap();

    let mut requests: Vec<ApplyRequest> = (0..25)
        .map(|n| {
            request(
                ApplyOp::Create {
                    item: Item::Task(task(n)),
                    origin: None,
                    may_exist: false,
                },
                &list,
            )
        })
        .collect();
    // One write the API refuses: a list that does not exist.
    requests.insert(
        7,
        request(
            ApplyOp::Create {
                item: Item::Task(task(99)),
                origin: None,
                may_exist: false,
            },
            "no-such-list",
        ),
    );
    let outcomes = connector.apply(&ctx, &requests).await;
    assert_eq!(outcomes.len(), 26);
    for (n, outcome) in outcomes.iter().enumerate() {
        match (n, outcome) {
            (
                7,
                ApplyOutcome::Failed {
                    code, retryable, ..
                },
            ) => {
                assert!(
                    matches!(code, FailureCode::Provider(_)) && !retryable,
                    "{code}"
                )
            }
            (7, other) => panic!("the refused write: {other:?}"),
            (_, ApplyOutcome::Applied { .. }) => {}
            (_, other) => panic!("{n}: {other:?}"),
        }
    }

    let (changes, cursor, _) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap();
    assert_eq!(changes.len(), 25);
    for change in &changes {
        let ChangeMessage::ItemChanged {
            item: Item::Task(read),
            ..
        } = change
        else {
            panic!("{change:?}")
        };
        let n: usize = read
            .subject
            .split('#')
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            Item::Task(read.clone()).content_hash(),
            Item::Task(task(n)).content_hash(),
            "{read:?}"
        );
    }

    // An update of one field only; a stale conditional update answers what Graph holds now.
    let ChangeMessage::ItemChanged {
        external_id,
        version,
        item: Item::Task(base),
        ..
    } = &changes[0]
    else {
        unreachable!()
    };
    let done = Task {
        status: TaskStatus::Completed,
        ..base.clone()
    };
    let outcomes = connector
        .apply(
            &ctx,
            &[request(
                ApplyOp::Update {
                    external_id: external_id.clone(),
                    item: Item::Task(done.clone()),
                    base: Some(Item::Task(base.clone())),
                    expected_version: Some(version.clone()),
                },
                &list,
            )],
        )
        .await;
    // Applied, with when Graph changed it (our write).
    assert!(
        matches!(
            outcomes[0],
            ApplyOutcome::Applied {
                modified: Some(_),
                ..
            }
        ),
        "{outcomes:?}"
    );
    let stale = connector
        .apply(
            &ctx,
            &[request(
                ApplyOp::Update {
                    external_id: external_id.clone(),
                    item: Item::Task(Task {
                        priority: TaskPriority::Low,
                        ..base.clone()
                    }),
                    base: Some(Item::Task(base.clone())),
                    expected_version: Some(version.clone()),
                },
                &list,
            )],
        )
        .await;
    let read_at = match &changes[0] {
        ChangeMessage::ItemChanged { modified, .. } => *modified,
        _ => None,
    };
    assert!(read_at.is_some(), "a read tells when the task was changed");
    match &stale[0] {
        ApplyOutcome::Stale {
            item: Item::Task(now),
            version: v,
            modified,
            ..
        } => {
            assert_eq!(now.status, TaskStatus::Completed);
            assert_ne!(v, version);
            // As Graph holds it now: changed since the read.
            let graph = sandbox
                .graph(
                    &mailbox,
                    reqwest::Method::GET,
                    &format!("/me/todo/lists/{list}/tasks/{}", external_id.0),
                    None,
                )
                .await;
            let at = graph["lastModifiedDateTime"].as_str().unwrap();
            assert_eq!(modified.map(|m| m.0), at.parse().ok(), "{graph}");
            assert!(!Modified::before(*modified, read_at));
        }
        other => panic!("{other:?}"),
    }
    let (changes, _, _) = read_round(&connector, &ctx, &watch, Some(cursor), 0)
        .await
        .unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");

    // Deletes: a task gone already is `Gone` too.
    let gone = ExternalId("AAMk-no-such-task".into());
    let outcomes = connector
        .apply(
            &ctx,
            &[
                request(
                    ApplyOp::Delete {
                        external_id: external_id.clone(),
                        expected_version: None,
                    },
                    &list,
                ),
                request(
                    ApplyOp::Delete {
                        external_id: gone,
                        expected_version: None,
                    },
                    &list,
                ),
            ],
        )
        .await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, ApplyOutcome::Gone { .. })),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn discovery_lists_folders_lists_and_categories() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let connector = connector(&sandbox, 100);
    let ctx = ctx(&mailbox);
    let folders = connector.discover(&ctx, "contact-folders").await.unwrap();
    assert!(
        folders["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == mailbox.folder_id.as_str())
    );
    let lists = connector.discover(&ctx, "todo-lists").await.unwrap();
    assert!(
        lists["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["wellknownListName"] == "defaultList")
    );
    assert!(connector.discover(&ctx, "nonsense").await.is_err());
}

//! The command consumer serves each mailbox on its own (issue 14 point 7), against the real
//! RabbitMQ and Postgres and the sandbox's Graph: while mailbox A is throttled (every call
//! answered 429 with `Retry-After`, which the API caller sleeps through), mailbox B's commands,
//! published after A's, are written; once A's throttling ends, A's commands are written in the
//! order they were sent; every command gets one result and every delivery is acknowledged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use connector_kit::api::Gates;
use connector_kit::commands::CommandHandler;
use connector_kit::store::Store;
use connector_kit::tokens::TokenClient;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use service_kit::broker::Broker;
use sync_model::{Contact, ExternalId, Item, ItemKind, LinkId, Side, UserId};
use sync_protocol::topology::{Partition, connector_commands_queue};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope, WatchScope};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::{Mailbox, Sandbox, connector, sandbox};

/// The auth-service double: each user's mailbox token.
async fn auth(tokens: BTreeMap<String, String>) -> String {
    let app = Router::new().route(
        "/internal/v1/provider-tokens",
        post(move |Json(body): Json<Value>| {
            let token = tokens
                .get(body["user_id"].as_str().unwrap_or_default())
                .cloned()
                .unwrap_or_default();
            async move {
                Json(json!({
                    "access_token": token,
                    "expires_at": chrono::Utc::now() + chrono::Duration::hours(1),
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Every apply result published, in arrival order (one user's results share a partition, so
/// they arrive in the order they were published).
type Results = Arc<Mutex<Vec<(Uuid, ApplyOutcome)>>>;

async fn collect_results(broker: &Broker) -> Results {
    let channel = broker.channel().await.unwrap();
    let mut consumers = Vec::new();
    for partition in Partition::all() {
        consumers.push(
            channel
                .basic_consume(
                    broker.name(&partition.queue()).into(),
                    format!("results-{partition}").into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap(),
        );
    }
    let mut deliveries = futures_util::stream::select_all(consumers);
    let results: Results = Arc::default();
    let sink = results.clone();
    tokio::spawn(async move {
        let _channel = channel;
        while let Some(Ok(d)) = deliveries.next().await {
            let e: Envelope<ChangeMessage> = serde_json::from_slice(&d.data).unwrap();
            if let ChangeMessage::ApplyResult {
                command_id,
                outcome,
                ..
            } = e.body
            {
                sink.lock().unwrap().push((command_id, outcome));
            }
            let _ = d.acker.ack(BasicAckOptions::default()).await;
        }
    });
    results
}

fn command(user: UserId, link: LinkId, op: ApplyOp) -> (Uuid, Envelope<CommandMessage>) {
    let command_id = Uuid::new_v4();
    let body = CommandMessage::Apply {
        command_id,
        link_id: link,
        side: Side::Outlook,
        kind: ItemKind::Contact,
        op,
    };
    (command_id, Envelope::new(user, body))
}

fn named(given: &str, surname: &str) -> Item {
    Item::Contact(Contact {
        given_name: Some(given.into()),
        surname: Some(surname.into()),
        ..Contact::default()
    })
}

/// The mailbox's contacts' surnames by given name.
async fn surnames(sandbox: &Sandbox, mailbox: &Mailbox) -> BTreeMap<String, Vec<String>> {
    let all = sandbox
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            json!(null),
        )
        .await;
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in all["value"].as_array().cloned().unwrap_or_default() {
        names
            .entry(c["givenName"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(c["surname"].as_str().unwrap_or_default().to_owned());
    }
    names
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..600 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_throttled_mailbox_waits_alone_and_its_commands_follow_in_order() {
    let sandbox = sandbox().await;
    let (a, b) = (sandbox.mailbox().await, sandbox.mailbox().await);
    let (user_a, user_b) = (UserId(Uuid::new_v4()), UserId(Uuid::new_v4()));
    // A contact of A's that A's commands edit three times in a row.
    let edited = sandbox
        .graph(
            &a,
            Method::POST,
            &format!("/me/contactFolders/{}/contacts", a.folder_id),
            Some(json!({"givenName": "Edited", "surname": "v0"})),
        )
        .await;
    let edited_id = ExternalId(edited["id"].as_str().unwrap().to_owned());

    let database = test_support::fresh_database().await.unwrap();
    let pool = service_kit::database::connect(&database, "connector_outlook")
        .await
        .unwrap();
    service_kit::database::migrate(&pool, &connector_kit::MIGRATOR)
        .await
        .unwrap();
    let store = Store::new(pool);
    for (user, mailbox) in [(user_a, &a), (user_b, &b)] {
        let scope = WatchScope {
            container_id: Some(mailbox.folder_id.clone()),
            poll_interval_secs: 3600,
            categories: Vec::new(),
        };
        store
            .set_watch(user, ItemKind::Contact, Some(&scope))
            .await
            .unwrap();
    }
    let auth = auth(BTreeMap::from([
        (user_a.to_string(), a.token.clone()),
        (user_b.to_string(), b.token.clone()),
    ]))
    .await;
    let broker = Broker::connect(&test_support::test_broker(), "connector-outlook")
        .await
        .unwrap();
    let results = collect_results(&broker).await;

    // A is throttled until this test lifts it: every call 429 with `Retry-After: 1`, which the
    // API caller sleeps through (up to its attempts), then the command consumer tries again.
    sandbox
        .faults(&a, json!({"share_429": 1.0, "retry_after_seconds": 1}))
        .await;

    // A's commands first: a create and three edits of one contact (the last must win); then B's.
    let publisher = broker.publisher().await.unwrap();
    let edited_link = LinkId(Uuid::new_v4());
    let mut a_commands = vec![command(
        user_a,
        LinkId(Uuid::new_v4()),
        ApplyOp::Create {
            item: named("Created", "by A"),
            origin: None,
            may_exist: false,
        },
    )];
    for version in ["v1", "v2", "v3"] {
        a_commands.push(command(
            user_a,
            edited_link,
            ApplyOp::Update {
                external_id: edited_id.clone(),
                item: named("Edited", version),
                base: None,
                expected_version: None,
            },
        ));
    }
    let b_commands = vec![command(
        user_b,
        LinkId(Uuid::new_v4()),
        ApplyOp::Create {
            item: named("Created", "by B"),
            origin: None,
            may_exist: false,
        },
    )];
    for (_, envelope) in a_commands.iter().chain(&b_commands) {
        publisher.publish_command(envelope).await.unwrap();
    }

    let handler = CommandHandler {
        connector: Arc::new(connector(&sandbox, 100)),
        store: store.clone(),
        tokens: TokenClient::new(
            reqwest::Client::new(),
            auth,
            SecretString::from("service"),
            Side::Outlook,
        ),
        publisher: broker.publisher().await.unwrap(),
        gates: Gates::new(4),
        batch_window: Duration::from_millis(200),
        batch_max: 20,
        concurrency: 8,
        mailbox_concurrency: 4,
        prefetch: 100,
    };
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(handler.run(broker.clone(), stop.clone()));

    // B's contact is written, and its result published, while A is throttled (A's faults are
    // still on, so none of A's writes can have passed, and A has been answered 429).
    let b_id = b_commands[0].0;
    wait_until("B's contact and result, and A throttled", || async {
        let b_written =
            surnames(&sandbox, &b).await.get("Created") == Some(&vec!["by B".to_owned()]);
        let stats = sandbox.control(Method::GET, "/stats", json!(null)).await;
        let a_throttled = stats["graph"]["mailboxes"][&a.id]["faults"]["429"]
            .as_u64()
            .unwrap_or_default()
            > 0;
        let b_answered = results
            .lock()
            .unwrap()
            .iter()
            .any(|(id, o)| *id == b_id && matches!(o, ApplyOutcome::Applied { .. }));
        b_written && a_throttled && b_answered
    })
    .await;
    let a_now = surnames(&sandbox, &a).await;
    assert_eq!(
        a_now.get("Edited"),
        Some(&vec!["v0".to_owned()]),
        "{a_now:?}"
    );
    assert!(!a_now.contains_key("Created"), "{a_now:?}");

    // A's throttling ends: its commands are written, the edits in their order.
    sandbox.clear_faults(&a).await;
    let a_ids: Vec<Uuid> = a_commands.iter().map(|(id, _)| *id).collect();
    let all = results.clone();
    wait_until("A's results", || {
        let all = all.clone();
        let a_ids = a_ids.clone();
        async move {
            let r = all.lock().unwrap();
            a_ids.iter().all(|id| r.iter().any(|(done, _)| done == id))
        }
    })
    .await;
    let a_now = surnames(&sandbox, &a).await;
    assert_eq!(
        a_now.get("Edited"),
        Some(&vec!["v3".to_owned()]),
        "{a_now:?}"
    );
    assert_eq!(
        a_now.get("Created"),
        Some(&vec!["by A".to_owned()]),
        "{a_now:?}"
    );
    {
        let r = results.lock().unwrap();
        let edits: Vec<Uuid> = r
            .iter()
            .filter(|(id, _)| a_ids[1..].contains(id))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(edits, a_ids[1..].to_vec(), "A's edits answered in order");
        for (id, outcome) in r.iter() {
            assert!(
                matches!(outcome, ApplyOutcome::Applied { .. }),
                "{id}: {outcome:?}"
            );
        }
        assert_eq!(r.len(), a_ids.len() + b_commands.len(), "one result each");
    }

    // Every delivery was acknowledged: none goes back to the queue when the consumer stops.
    stop.cancel();
    consumer.await.unwrap().unwrap();
    let channel = broker.channel().await.unwrap();
    let queue = channel
        .queue_declare(
            broker.name(&connector_commands_queue(Side::Outlook)).into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(queue.message_count(), 0, "a command left unacknowledged");
}

/// Several batches of one mailbox are written at once (issue 14: a first sync writes thousands
/// of one user's items), and a link's commands still land in their order: twelve new contacts
/// and eight edits of each of three contacts, one command a batch, with every Graph call taking
/// a while. The sandbox sees more than one of the mailbox's requests in flight at once (with
/// one batch at a time it sees one), never more than Graph's four, and every contact ends with
/// its last edit, the results of each link answered in order.
#[tokio::test]
async fn one_mailboxs_independent_writes_overlap_and_each_links_commands_stay_in_order() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let user = UserId(Uuid::new_v4());
    let mut edited = Vec::new();
    for n in 0..3 {
        let contact = sandbox
            .graph(
                &mailbox,
                Method::POST,
                &format!("/me/contactFolders/{}/contacts", mailbox.folder_id),
                Some(json!({"givenName": format!("Edited {n}"), "surname": "v0"})),
            )
            .await;
        let id = ExternalId(contact["id"].as_str().unwrap().to_owned());
        edited.push((LinkId(Uuid::new_v4()), id));
    }

    let database = test_support::fresh_database().await.unwrap();
    let pool = service_kit::database::connect(&database, "connector_outlook")
        .await
        .unwrap();
    service_kit::database::migrate(&pool, &connector_kit::MIGRATOR)
        .await
        .unwrap();
    let store = Store::new(pool);
    let scope = WatchScope {
        container_id: Some(mailbox.folder_id.clone()),
        poll_interval_secs: 3600,
        categories: Vec::new(),
    };
    store
        .set_watch(user, ItemKind::Contact, Some(&scope))
        .await
        .unwrap();
    let auth = auth(BTreeMap::from([(user.to_string(), mailbox.token.clone())])).await;
    let broker = Broker::connect(&test_support::test_broker(), "connector-outlook")
        .await
        .unwrap();
    let results = collect_results(&broker).await;

    // Every call takes 10 to 160 ms (unseeded), so batches written at once overlap in the
    // sandbox and may finish in any order.
    sandbox
        .faults(
            &mailbox,
            json!({"latency_ms": 10, "latency_jitter_ms": 150}),
        )
        .await;

    // Twelve new contacts, then the edits round by round (each contact's next edit three
    // commands after its last: closer than the four batches in flight, so edits of one
    // contact written at once would land in any order).
    let publisher = broker.publisher().await.unwrap();
    let mut commands = Vec::new();
    let mut per_link: BTreeMap<Uuid, Vec<Uuid>> = BTreeMap::new();
    for n in 0..12 {
        commands.push(command(
            user,
            LinkId(Uuid::new_v4()),
            ApplyOp::Create {
                item: named("Created", &n.to_string()),
                origin: None,
                may_exist: false,
            },
        ));
    }
    for version in 1..=8 {
        for (n, (link, id)) in edited.iter().enumerate() {
            let (command_id, envelope) = command(
                user,
                *link,
                ApplyOp::Update {
                    external_id: id.clone(),
                    item: named(&format!("Edited {n}"), &format!("v{version}")),
                    base: None,
                    expected_version: None,
                },
            );
            per_link.entry(link.0).or_default().push(command_id);
            commands.push((command_id, envelope));
        }
    }
    for (_, envelope) in &commands {
        publisher.publish_command(envelope).await.unwrap();
    }

    let handler = CommandHandler {
        connector: Arc::new(connector(&sandbox, 100)),
        store,
        tokens: TokenClient::new(
            reqwest::Client::new(),
            auth,
            SecretString::from("service"),
            Side::Outlook,
        ),
        publisher: broker.publisher().await.unwrap(),
        gates: Gates::new(4),
        batch_window: Duration::from_millis(50),
        batch_max: 1,
        concurrency: 8,
        mailbox_concurrency: 4,
        prefetch: 100,
    };
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(handler.run(broker.clone(), stop.clone()));

    let ids: Vec<Uuid> = commands.iter().map(|(id, _)| *id).collect();
    let all = results.clone();
    wait_until("every result", || {
        let all = all.clone();
        let ids = ids.clone();
        async move {
            let r = all.lock().unwrap();
            ids.iter().all(|id| r.iter().any(|(done, _)| done == id))
        }
    })
    .await;
    stop.cancel();
    consumer.await.unwrap().unwrap();

    let stats = sandbox.control(Method::GET, "/stats", json!(null)).await;
    let usage = &stats["graph"]["mailboxes"][&mailbox.id];
    let highest = usage["max_in_flight"].as_u64().unwrap_or_default();
    assert!(
        highest >= 2,
        "one request in flight at a time: the mailbox's writes were serial: {usage}"
    );
    assert!(highest <= 4, "more than Graph's four in flight: {usage}");
    assert!(
        usage["faults"].get("concurrency").is_none(),
        "requests refused for concurrency: {usage}"
    );

    let now = surnames(&sandbox, &mailbox).await;
    for n in 0..3 {
        assert_eq!(
            now.get(&format!("Edited {n}")),
            Some(&vec!["v8".to_owned()]),
            "{now:?}"
        );
    }
    assert_eq!(now.get("Created").map(Vec::len), Some(12), "{now:?}");
    let r = results.lock().unwrap();
    assert_eq!(r.len(), commands.len(), "one result each");
    for (id, outcome) in r.iter() {
        assert!(
            matches!(outcome, ApplyOutcome::Applied { .. }),
            "{id}: {outcome:?}"
        );
    }
    for (link, sent) in &per_link {
        let answered: Vec<Uuid> = r
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| sent.contains(id))
            .collect();
        assert_eq!(&answered, sent, "link {link}: answered out of order");
    }
}

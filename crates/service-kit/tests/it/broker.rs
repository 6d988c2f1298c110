//! Topology, confirmed publishing and the consumer loop on the real RabbitMQ.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use service_kit::CancellationToken;
use service_kit::broker::{Broker, HandlerError, consume, consume_batches};
use sync_model::{ExternalId, ItemKind, Side, UserId};
use sync_protocol::topology::{DEAD_LETTER_QUEUE, Partition, connector_commands_queue};
use sync_protocol::{ChangeMessage, CommandMessage, Envelope, WatchScope};
use tokio::sync::mpsc;

/// One user: their messages share a partition queue, in order.
const USER: UserId = UserId(uuid::Uuid::from_u128(
    0x6f1c_2a3e_0000_4000_8000_0000_0000_0001,
));

fn deleted(id: &str) -> Envelope<ChangeMessage> {
    Envelope::new(
        USER,
        ChangeMessage::ItemDeleted {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            external_id: ExternalId(id.into()),
            left_scope: false,
        },
    )
}

#[tokio::test]
async fn topology_is_idempotent_and_messages_reach_their_queues() -> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let first = Broker::connect(&settings, "test-a").await?;
    // A second service declaring the same topology must not fail.
    let second = Broker::connect(&settings, "test-b").await?;
    let publisher = first.publisher().await?;

    publisher.publish_change(&deleted("z1")).await?;
    let watch = Envelope::new(
        UserId(uuid::Uuid::new_v4()),
        CommandMessage::Watch {
            side: Side::Outlook,
            kind: ItemKind::Contact,
            scope: Some(WatchScope {
                container_id: Some("f".into()),
                poll_interval_secs: 60,
                categories: Vec::new(),
            }),
            rescope: None,
        },
    );
    publisher.publish_command(&watch).await?;

    let channel = second.channel().await?;
    let get = |queue: String| {
        let channel = channel.clone();
        async move {
            channel
                .basic_get(queue.into(), BasicGetOptions { no_ack: true })
                .await
        }
    };
    let change = get(second.name(&Partition::of(USER).queue()))
        .await?
        .expect("the change is in the queue of its user's partition");
    let back: Envelope<ChangeMessage> = serde_json::from_slice(&change.delivery.data)?;
    assert_eq!(back, deleted_with_id(&back, "z1"));
    let command = get(second.name(&connector_commands_queue(Side::Outlook))).await?;
    assert!(
        command.is_some(),
        "the watch command is in the Outlook connector's queue"
    );
    let zoho = get(second.name(&connector_commands_queue(Side::Zoho))).await?;
    assert!(zoho.is_none(), "an Outlook command is not routed to Zoho");
    Ok(())
}

/// The envelope as published, to compare the round trip field by field.
fn deleted_with_id(received: &Envelope<ChangeMessage>, id: &str) -> Envelope<ChangeMessage> {
    let mut expected = deleted(id);
    expected.message_id = received.message_id;
    expected.user_id = received.user_id;
    expected.occurred_at = received.occurred_at;
    expected
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_transient_failures_retried_in_order()
-> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "test").await?;
    let publisher = broker.publisher().await?;
    publisher.publish_change(&deleted("poison")).await?;
    publisher.publish_change(&deleted("flaky")).await?;
    publisher.publish_change(&deleted("fine")).await?;

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let consumer = {
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        let mut flaky_failed = false;
        tokio::spawn(async move {
            consume(
                &broker,
                &Partition::of(USER).queue(),
                shutdown,
                move |data| {
                    let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&data).unwrap();
                    let ChangeMessage::ItemDeleted { external_id, .. } = envelope.body else {
                        unreachable!()
                    };
                    let outcome = match external_id.0.as_str() {
                        "poison" => Err(HandlerError::Reject(anyhow::anyhow!("cannot be handled"))),
                        "flaky" if !flaky_failed => {
                            flaky_failed = true;
                            Err(HandlerError::Retry(anyhow::anyhow!("database hiccup")))
                        }
                        _ => Ok(()),
                    };
                    let _ = seen_tx.send((external_id.0, outcome.is_ok()));
                    std::future::ready(outcome)
                },
            )
            .await
        })
    };

    let mut handled = Vec::new();
    while handled.len() < 2 {
        let (id, ok) = tokio::time::timeout(Duration::from_secs(10), seen.recv())
            .await?
            .expect("consumer alive");
        if ok {
            handled.push(id);
        }
    }
    assert_eq!(
        handled,
        vec!["flaky", "fine"],
        "the flaky message was retried in place and handled before the next one"
    );
    shutdown.cancel();
    consumer.await??;

    let channel = broker.channel().await?;
    let dead = channel
        .basic_get(
            broker.name(DEAD_LETTER_QUEUE).into(),
            BasicGetOptions { no_ack: true },
        )
        .await?
        .expect("the poison message is in the dead-letter queue");
    let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&dead.delivery.data)?;
    assert!(
        matches!(envelope.body, ChangeMessage::ItemDeleted { external_id, .. } if external_id.0 == "poison")
    );
    Ok(())
}

#[tokio::test]
async fn a_page_published_with_its_confirms_awaited_together_arrives_whole_and_in_order()
-> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "test-page").await?;
    let publisher = broker.publisher().await?;
    let page: Vec<Envelope<ChangeMessage>> = (0..50).map(|i| deleted(&format!("z{i}"))).collect();
    publisher.publish_changes(&page).await?;

    let channel = broker.channel().await?;
    let queue = broker.name(&Partition::of(USER).queue());
    let mut received = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.clone().into(), BasicGetOptions { no_ack: true })
        .await?
    {
        let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&message.delivery.data)?;
        received.push(envelope.message_id);
    }
    let sent: Vec<uuid::Uuid> = page.iter().map(|e| e.message_id).collect();
    assert_eq!(received, sent, "every message once, in the page's order");

    // A page that cannot be routed fails as a whole: the caller publishes it again.
    let commands = vec![Envelope::new(
        USER,
        CommandMessage::Watch {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            scope: None,
            rescope: None,
        },
    )];
    channel
        .queue_delete(
            broker.name(&connector_commands_queue(Side::Zoho)).into(),
            Default::default(),
        )
        .await?;
    assert!(publisher.publish_commands(&commands).await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_batch_takes_what_has_arrived_and_each_delivery_is_settled_by_its_own_outcome()
-> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "test-batches").await?;
    let publisher = broker.publisher().await?;
    let names: Vec<String> = (0..10)
        .map(|i| match i {
            3 => "poison".to_owned(),
            6 => "flaky".to_owned(),
            i => format!("z{i}"),
        })
        .collect();
    let page: Vec<Envelope<ChangeMessage>> = names.iter().map(|n| deleted(n)).collect();
    publisher.publish_changes(&page).await?;

    // Each call reports the batch it was given.
    let (batches_tx, mut batches) = mpsc::unbounded_channel::<Vec<String>>();
    let shutdown = CancellationToken::new();
    let consumer = {
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        let mut calls = 0;
        let mut flaky_failed = false;
        tokio::spawn(async move {
            consume_batches(
                &broker,
                &Partition::of(USER).queue(),
                shutdown,
                4,
                move |batch| {
                    calls += 1;
                    let ids = ids_of(&batch);
                    let outcomes: Vec<Result<(), HandlerError>> = ids
                        .iter()
                        .map(|id| match id.as_str() {
                            "poison" => {
                                Err(HandlerError::Reject(anyhow::anyhow!("cannot be handled")))
                            }
                            "flaky" if !flaky_failed => {
                                flaky_failed = true;
                                Err(HandlerError::Outage(anyhow::anyhow!("database down")))
                            }
                            _ => Ok(()),
                        })
                        .collect();
                    let _ = batches_tx.send(ids);
                    // The first call is slow, so the rest of the page arrives meanwhile.
                    let slow = calls == 1;
                    async move {
                        if slow {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                        outcomes
                    }
                },
            )
            .await
        })
    };

    let mut seen: Vec<Vec<String>> = Vec::new();
    while seen.iter().map(Vec::len).sum::<usize>() < names.len() + 1 {
        let batch = tokio::time::timeout(Duration::from_secs(10), batches.recv())
            .await?
            .expect("consumer alive");
        seen.push(batch);
    }
    shutdown.cancel();
    consumer.await??;

    assert!(
        seen.iter().all(|b| !b.is_empty() && b.len() <= 4),
        "batches hold 1 to 4 deliveries: {seen:?}"
    );
    assert!(
        seen.iter().any(|b| b.len() == 4),
        "deliveries already received join one batch: {seen:?}"
    );
    // The flaky one is handled again, alone; every other delivery exactly once, in order.
    let flaky_again: Vec<&Vec<String>> = seen
        .iter()
        .filter(|b| b == &&vec!["flaky".to_owned()])
        .collect();
    assert_eq!(
        flaky_again.len(),
        1,
        "only the failed delivery is retried: {seen:?}"
    );
    let mut once: Vec<String> = seen.concat();
    let retried = once.iter().rposition(|id| id == "flaky").expect("retried");
    once.remove(retried);
    assert_eq!(once, names, "every delivery handed over once, in order");

    // Everything was settled: acknowledged, or the poison dead-lettered.
    let channel = broker.channel().await?;
    let left = channel
        .basic_get(
            broker.name(&Partition::of(USER).queue()).into(),
            BasicGetOptions { no_ack: true },
        )
        .await?;
    assert!(left.is_none(), "no delivery went back to the queue");
    let dead = channel
        .basic_get(
            broker.name(DEAD_LETTER_QUEUE).into(),
            BasicGetOptions { no_ack: true },
        )
        .await?
        .expect("the poison message is in the dead-letter queue");
    let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&dead.delivery.data)?;
    assert!(
        matches!(envelope.body, ChangeMessage::ItemDeleted { external_id, .. } if external_id.0 == "poison")
    );
    Ok(())
}

#[tokio::test]
async fn a_successful_batch_is_acknowledged_up_to_its_last_delivery_only() -> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "test-batch-acks").await?;
    let publisher = broker.publisher().await?;
    let names = ["a", "b", "c", "d", "e", "f"];
    let page: Vec<Envelope<ChangeMessage>> = names.iter().map(|n| deleted(n)).collect();
    publisher.publish_changes(&page).await?;

    // Batches succeed until two deliveries were handled; the next batch never ends, so its
    // deliveries and the rest stay unacknowledged (all prefetched: the prefetch is 16).
    let (batches_tx, mut batches) = mpsc::unbounded_channel::<(Vec<String>, bool)>();
    let consumer = {
        let broker = broker.clone();
        let mut handled = 0;
        tokio::spawn(async move {
            consume_batches(
                &broker,
                &Partition::of(USER).queue(),
                CancellationToken::new(),
                2,
                move |batch| {
                    let ids = ids_of(&batch);
                    let hang = handled >= 2;
                    handled += ids.len();
                    let outcomes = ids.iter().map(|_| Ok(())).collect::<Vec<_>>();
                    let _ = batches_tx.send((ids, hang));
                    async move {
                        if hang {
                            std::future::pending::<()>().await;
                        }
                        outcomes
                    }
                },
            )
            .await
        })
    };
    let mut succeeded: Vec<Vec<String>> = Vec::new();
    loop {
        let (batch, hung) = tokio::time::timeout(Duration::from_secs(10), batches.recv())
            .await?
            .expect("consumer alive");
        if hung {
            break;
        }
        succeeded.push(batch);
    }
    // The connection closed, the unacknowledged deliveries go back to the queue.
    consumer.abort();
    broker.close().await;

    let broker = Broker::connect(&settings, "test-batch-acks-after").await?;
    let channel = broker.channel().await?;
    let mut left = Vec::new();
    while let Some(message) = tokio::time::timeout(
        Duration::from_secs(5),
        channel.basic_get(
            broker.name(&Partition::of(USER).queue()).into(),
            BasicGetOptions { no_ack: true },
        ),
    )
    .await??
    {
        let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&message.delivery.data)?;
        let ChangeMessage::ItemDeleted { external_id, .. } = envelope.body else {
            unreachable!()
        };
        left.push(external_id.0);
    }
    let acknowledged = succeeded.concat();
    assert_eq!(
        left,
        names[acknowledged.len()..],
        "the successful batches {succeeded:?} acknowledged, nothing after them"
    );
    Ok(())
}

/// A user whose messages go to another partition queue than [`USER`]'s.
fn other_user() -> UserId {
    (2..)
        .map(|n| {
            UserId(uuid::Uuid::from_u128(
                0x6f1c_2a3e_0000_4000_8000_0000_0000_0000 + n,
            ))
        })
        .find(|u| Partition::of(*u) != Partition::of(USER))
        .expect("some user lands in another partition")
}

fn deleted_for(user: UserId, id: &str) -> Envelope<ChangeMessage> {
    Envelope {
        user_id: user,
        ..deleted(id)
    }
}

fn ids_of(batch: &[service_kit::broker::Delivered]) -> Vec<String> {
    batch
        .iter()
        .map(|d| {
            let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&d.data).unwrap();
            let ChangeMessage::ItemDeleted { external_id, .. } = envelope.body else {
                unreachable!()
            };
            external_id.0
        })
        .collect()
}

/// What gated consumers share: the gate, their shutdown, and how many work at once (now and
/// at most).
#[derive(Clone)]
struct Gated {
    gate: std::sync::Arc<tokio::sync::Semaphore>,
    shutdown: CancellationToken,
    working: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Gated {
    fn new(permits: usize) -> Self {
        Gated {
            gate: std::sync::Arc::new(tokio::sync::Semaphore::new(permits)),
            shutdown: CancellationToken::new(),
            working: Default::default(),
            most: Default::default(),
        }
    }
}

/// Consumes `user`'s partition through the shared gate; each call reports its batch to `calls`
/// and counts itself as working while it works. `work` decides each call's outcome and how
/// long it takes.
fn gated_consumer(
    broker: &Broker,
    user: UserId,
    shared: &Gated,
    calls: mpsc::UnboundedSender<Vec<String>>,
    mut work: impl FnMut(usize) -> (Duration, Option<HandlerError>) + Send + 'static,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    use std::sync::atomic::Ordering;
    let broker = broker.clone();
    let Gated {
        gate,
        shutdown,
        working,
        most,
    } = shared.clone();
    tokio::spawn(async move {
        let mut call = 0;
        service_kit::broker::consume_batches_gated(
            &broker,
            &Partition::of(user).queue(),
            shutdown,
            10,
            Some(gate),
            move |batch| {
                call += 1;
                let ids = ids_of(&batch);
                let _ = calls.send(ids.clone());
                let (takes, failure) = work(call);
                let (working, most) = (working.clone(), most.clone());
                async move {
                    let now = working.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(takes).await;
                    working.fetch_sub(1, Ordering::SeqCst);
                    let mut failure = failure;
                    ids.iter()
                        .map(|_| match failure.take() {
                            Some(HandlerError::Outage(e)) => Err(HandlerError::Outage(e)),
                            _ => Ok(()),
                        })
                        .collect()
                }
            },
        )
        .await
    })
}

#[tokio::test]
async fn gated_consumers_work_one_batch_at_a_time_and_a_waiting_one_takes_what_gathered()
-> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "test-gate").await?;
    let publisher = broker.publisher().await?;
    let (first, second) = (USER, other_user());
    let shared = Gated::new(1);
    let (a_tx, mut a_calls) = mpsc::unbounded_channel();
    let (b_tx, mut b_calls) = mpsc::unbounded_channel();
    // The first user's first batch works for 1.5 s; everything else at once.
    let a = gated_consumer(&broker, first, &shared, a_tx, |call| {
        let takes = if call == 1 { 1500 } else { 0 };
        (Duration::from_millis(takes), None)
    });
    let b = gated_consumer(&broker, second, &shared, b_tx, |_| (Duration::ZERO, None));

    publisher.publish_change(&deleted_for(first, "a1")).await?;
    let a_first = tokio::time::timeout(Duration::from_secs(10), a_calls.recv()).await?;
    assert_eq!(a_first, Some(vec!["a1".to_owned()]));
    // The second user's messages arrive one by one while the first holds the gate: ungated,
    // each would be a batch of its own.
    let names: Vec<String> = (1..=5).map(|i| format!("b{i}")).collect();
    for name in &names {
        publisher.publish_change(&deleted_for(second, name)).await?;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let b_first = tokio::time::timeout(Duration::from_secs(10), b_calls.recv())
        .await?
        .expect("consumer alive");
    shared.shutdown.cancel();
    a.await??;
    b.await??;
    assert_eq!(
        b_first, names,
        "what gathered while the gate was taken is one batch"
    );
    assert_eq!(
        shared.most.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one batch at a time"
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_waiting_to_be_retried_gives_the_gate_back() -> anyhow::Result<()> {
    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "test-gate-retry").await?;
    let publisher = broker.publisher().await?;
    let (first, second) = (USER, other_user());
    let shared = Gated::new(1);
    let (tx, mut calls) = mpsc::unbounded_channel();
    // The first user's first attempt meets an outage: retried after a pause of a second.
    let a = gated_consumer(&broker, first, &shared, tx.clone(), |call| {
        let failure = (call == 1).then(|| HandlerError::Outage(anyhow::anyhow!("database down")));
        (Duration::ZERO, failure)
    });
    // The other partition's batch works for 1.5 s: the retry, due after 1 s, waits for it.
    let b = gated_consumer(&broker, second, &shared, tx, |_| {
        (Duration::from_millis(1500), None)
    });

    publisher.publish_change(&deleted_for(first, "a1")).await?;
    let mut order = vec![
        tokio::time::timeout(Duration::from_secs(10), calls.recv())
            .await?
            .expect("consumer alive"),
    ];
    publisher.publish_change(&deleted_for(second, "b1")).await?;
    for _ in 0..2 {
        order.push(
            tokio::time::timeout(Duration::from_secs(10), calls.recv())
                .await?
                .expect("consumer alive"),
        );
    }
    shared.shutdown.cancel();
    a.await??;
    b.await??;
    assert_eq!(
        order.concat(),
        ["a1", "b1", "a1"],
        "the other partition's batch is handled during the pause"
    );
    assert_eq!(
        shared.most.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the retry takes the gate again: one batch at a time"
    );
    Ok(())
}

//! Topology, confirmed publishing and the consumer loop on the real RabbitMQ.

use std::time::Duration;

use lapin::options::BasicGetOptions;
use service_kit::CancellationToken;
use service_kit::broker::{Broker, HandlerError, consume};
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

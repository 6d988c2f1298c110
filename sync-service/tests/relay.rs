//! The outbox relay against the real Postgres and RabbitMQ (decision 99): what it publishes
//! leaves the outbox in the same transaction, in the order decided; a publish the broker does
//! not confirm leaves every row of the page to publish again.

mod common;

use common::{commands, contact_user, handle, handler, new_outlook_contact, pool};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueBindOptions};
use lapin::types::FieldTable;
use service_kit::broker::Broker;
use sync_model::Side;
use sync_protocol::topology::{
    COMMANDS_EXCHANGE, connector_commands_binding, connector_commands_queue,
};
use sync_protocol::{ApplyOp, CommandMessage, Envelope};
use sync_service::relay::relay_batch;

async fn outbox_rows(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

#[tokio::test]
async fn published_commands_leave_the_outbox_and_an_unconfirmed_page_stays() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    for n in 0..3 {
        handle(&handler, user, new_outlook_contact(&format!("p{n}"))).await?;
    }
    let decided: Vec<_> = commands(&pool).await?.into_iter().map(|c| c.0).collect();
    assert_eq!(decided.len(), 3);

    let settings = test_support::test_broker();
    let broker = Broker::connect(&settings, "relay-test").await?;
    let publisher = broker.publisher().await?;
    let channel = broker.channel().await?;
    let queue = broker.name(&connector_commands_queue(Side::Zoho));
    let exchange = broker.name(COMMANDS_EXCHANGE);
    let binding = connector_commands_binding(Side::Zoho);

    // No queue takes Zoho's commands: the broker returns them, nothing is confirmed.
    channel
        .queue_unbind(
            queue.as_str().into(),
            exchange.as_str().into(),
            binding.as_str().into(),
            FieldTable::default(),
        )
        .await?;
    let failed = relay_batch(&pool, &publisher).await;
    assert!(failed.is_err(), "an unrouted command is not published");
    assert_eq!(
        outbox_rows(&pool).await?,
        3,
        "the page stays to publish again"
    );

    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            binding.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    assert_eq!(relay_batch(&pool, &publisher).await?, 3);
    assert_eq!(outbox_rows(&pool).await?, 0, "published rows are gone");
    assert_eq!(relay_batch(&pool, &publisher).await?, 0, "nothing twice");

    // What reached the queue (this test's own): the three commands, in the order decided.
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "relay-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut published = Vec::new();
    while published.len() < decided.len() {
        let delivery = tokio::time::timeout(std::time::Duration::from_secs(10), consumer.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the consumer ended"))??;
        delivery.ack(BasicAckOptions::default()).await?;
        let envelope: Envelope<CommandMessage> = serde_json::from_slice(&delivery.data)?;
        assert_eq!(envelope.user_id, user);
        match envelope.body {
            CommandMessage::Apply {
                command_id,
                op: ApplyOp::Create { .. },
                ..
            } => published.push(command_id),
            other => anyhow::bail!("not a create: {other:?}"),
        }
    }
    assert_eq!(published, decided);
    broker.close().await;
    pool.close().await;
    Ok(())
}

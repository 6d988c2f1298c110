//! The consumer loop shared by every service: one delivery at a time (so one queue's messages are
//! handled in order), acknowledged only after the handler returned (i.e. after its database
//! transaction committed), poison messages dead-lettered, transient failures retried.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio_util::sync::CancellationToken;

use super::Broker;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Might work later (database or broker hiccup): the message is requeued after a pause.
    #[error("transient failure: {0:#}")]
    Retry(anyhow::Error),
    /// A dependency is down (the database): nothing is wrong with the message, so it is retried
    /// in place, pauses doubling up to [`OUTAGE_MAX_PAUSE`], until it works or the consumer
    /// stops (then it goes back to the queue): the queue's order holds and nothing spins.
    #[error("outage: {0:#}")]
    Outage(anyhow::Error),
    /// Can never work (unparseable, unknown schema version): the message is dead-lettered.
    #[error("rejected: {0:#}")]
    Reject(anyhow::Error),
}

/// Pause before a transient failure's message is requeued, so a database outage does not become
/// a hot redelivery loop.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// A transient failure is first retried in place this many times (pauses of 1, 2, 4 s): a
/// requeued message comes back after the deliveries already prefetched, out of order, and the
/// sync relies on a round's messages arriving in order (decisions #41). Only a longer outage
/// falls back to requeueing.
const IN_PLACE_RETRIES: u32 = 3;
/// The longest pause between two attempts of a message during an outage.
pub const OUTAGE_MAX_PAUSE: Duration = Duration::from_secs(30);

/// Consumes `queue` (an unprefixed name) until `shutdown` fires or the channel dies.
pub async fn consume<F, Fut>(
    broker: &Broker,
    queue: &str,
    shutdown: CancellationToken,
    mut handler: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    consume_with_key(broker, queue, shutdown, move |_, data| handler(data)).await
}

/// Like [`consume`], also handing the handler each message's routing key.
pub async fn consume_with_key<F, Fut>(
    broker: &Broker,
    queue: &str,
    shutdown: CancellationToken,
    mut handler: F,
) -> anyhow::Result<()>
where
    F: FnMut(String, Vec<u8>) -> Fut,
    Fut: Future<Output = Result<(), HandlerError>>,
{
    let queue = broker.name(queue);
    let channel = broker.channel().await?;
    channel
        .basic_qos(broker.settings().prefetch, BasicQosOptions::default())
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.clone().into(),
            format!("{queue}.{}", uuid::Uuid::new_v4()).into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("cannot consume {queue}"))?;

    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = consumer.next() => match next {
                Some(delivery) => delivery.with_context(|| format!("consumer of {queue} failed"))?,
                None => anyhow::bail!("the broker closed the consumer of {queue}"),
            },
        };
        let acker = delivery.acker.clone();
        let key = delivery.routing_key.to_string();
        let mut attempt = 0;
        let outcome = loop {
            match handler(key.clone(), delivery.data.clone()).await {
                Err(HandlerError::Retry(err))
                    if attempt < IN_PLACE_RETRIES && !shutdown.is_cancelled() =>
                {
                    let pause = RETRY_PAUSE * 2u32.pow(attempt);
                    attempt += 1;
                    tracing::warn!(queue = %queue, error = %format!("{err:#}"), attempt,
                        "handling failed; retrying in {} s", pause.as_secs());
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                Err(HandlerError::Outage(err)) if !shutdown.is_cancelled() => {
                    let pause = (RETRY_PAUSE * 2u32.pow(attempt.min(5))).min(OUTAGE_MAX_PAUSE);
                    attempt += 1;
                    tracing::warn!(queue = %queue, error = %format!("{err:#}"), attempt,
                        "a dependency is down; retrying in {} s", pause.as_secs());
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
                other => break other,
            }
        };
        match outcome {
            Ok(()) => {
                acker.ack(BasicAckOptions::default()).await?;
            }
            Err(HandlerError::Reject(err)) => {
                metrics::counter!("broker_messages_dead_lettered_total", "queue" => queue.clone())
                    .increment(1);
                tracing::error!(queue = %queue, error = %format!("{err:#}"), "message dead-lettered");
                acker
                    .nack(BasicNackOptions {
                        requeue: false,
                        ..Default::default()
                    })
                    .await?;
            }
            Err(HandlerError::Retry(err) | HandlerError::Outage(err)) => {
                tracing::warn!(queue = %queue, error = %format!("{err:#}"), "handling failed; will retry");
                tokio::time::sleep(RETRY_PAUSE).await;
                acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..Default::default()
                    })
                    .await?;
            }
        }
    }
    let _ = channel.close(200, "consumer stopped".into()).await;
    Ok(())
}

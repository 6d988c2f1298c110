//! The consumer loop shared by every service: deliveries handed to the handler in bounded
//! batches of what has already arrived (one at a time for [`consume`]), each acknowledged only
//! after the handler returned its outcome (i.e. after its database transaction committed),
//! poison messages dead-lettered, transient failures retried.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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

/// One delivery handed to a batch handler.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub routing_key: String,
    pub data: Vec<u8>,
}

/// Consumes `queue` (an unprefixed name) one delivery at a time until `shutdown` fires or the
/// channel dies.
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
    consume_batches(broker, queue, shutdown, 1, move |mut batch| {
        let one = batch.pop().expect("a batch holds at least one delivery");
        let handled = handler(one.routing_key, one.data);
        async move { vec![handled.await] }
    })
    .await
}

/// Consumes `queue` in batches: after a delivery arrives, the deliveries already received
/// behind it (up to `max_batch`, bounded by the channel's prefetch) join it, without waiting
/// for more. The handler returns one outcome per delivery, in order; each delivery is settled
/// by its own outcome (acknowledged, dead-lettered, or retried with the batch's other transient
/// failures, in their order), so a handler that commits groups of a batch apart can report them
/// apart. A batch is settled before the next one is taken.
pub async fn consume_batches<F, Fut>(
    broker: &Broker,
    queue: &str,
    shutdown: CancellationToken,
    max_batch: usize,
    handler: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<Delivered>) -> Fut,
    Fut: Future<Output = Vec<Result<(), HandlerError>>>,
{
    consume_batches_gated(broker, queue, shutdown, max_batch, None, handler).await
}

/// Like [`consume_batches`], taking each batch only once a permit of `gate` (shared by several
/// consumers) is free, and holding it while the handler works on the batch: consumers waiting
/// for a permit let deliveries gather, so under load each takes a larger batch, while an idle
/// consumer waits for nothing. The permit is given back before any pause between attempts and
/// taken again for the next one, so a batch that waits to be retried never holds the other
/// consumers up, and retries do not pile up beyond the gate when a dependency comes back.
pub async fn consume_batches_gated<F, Fut>(
    broker: &Broker,
    queue: &str,
    shutdown: CancellationToken,
    max_batch: usize,
    gate: Option<Arc<Semaphore>>,
    mut handler: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<Delivered>) -> Fut,
    Fut: Future<Output = Vec<Result<(), HandlerError>>>,
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
    let closed = || anyhow::anyhow!("the broker closed the consumer of {queue}");

    loop {
        let first = tokio::select! {
            // Stopping first: a batch requeued at shutdown must not be overtaken by deliveries
            // already prefetched behind it (they go back to the queue, in order, with the
            // channel).
            biased;
            _ = shutdown.cancelled() => break,
            next = consumer.next() => next.ok_or_else(closed)?,
        };
        let first = first.with_context(|| format!("consumer of {queue} failed"))?;
        let permit = match &gate {
            Some(gate) => tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                permit = gate.clone().acquire_owned() => Some(permit?),
            },
            None => None,
        };
        let mut batch = vec![first];
        while batch.len() < max_batch.max(1) {
            match consumer.next().now_or_never() {
                Some(Some(next)) => {
                    batch.push(next.with_context(|| format!("consumer of {queue} failed"))?)
                }
                Some(None) => return Err(closed()),
                None => break,
            }
        }
        metrics::histogram!("broker_batch_deliveries", "queue" => queue.clone())
            .record(batch.len() as f64);
        settle_batch(
            &queue,
            &batch,
            &shutdown,
            gate.as_ref(),
            permit,
            &mut handler,
        )
        .await?;
    }
    let _ = channel.close(200, "consumer stopped".into()).await;
    Ok(())
}

/// Acknowledges the deliveries of `batch` at `succeeded`. When every delivery of the batch
/// succeeded, one acknowledgement with `multiple` covers them all: every earlier delivery of
/// the channel is settled already (a batch is settled before the next one is taken), so it
/// settles exactly this batch, in one frame instead of one per delivery.
async fn acknowledge(batch: &[Delivery], succeeded: &[usize]) -> anyhow::Result<()> {
    match batch.last() {
        Some(last) if succeeded.len() == batch.len() && batch.len() > 1 => {
            last.acker.ack(BasicAckOptions { multiple: true }).await?;
        }
        _ => {
            for &i in succeeded {
                batch[i].acker.ack(BasicAckOptions::default()).await?;
            }
        }
    }
    Ok(())
}

/// Hands `batch` to the handler, retries its transient failures in place, then settles every
/// delivery by its final outcome.
async fn settle_batch<F, Fut>(
    queue: &str,
    batch: &[Delivery],
    shutdown: &CancellationToken,
    gate: Option<&Arc<Semaphore>>,
    mut permit: Option<OwnedSemaphorePermit>,
    handler: &mut F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<Delivered>) -> Fut,
    Fut: Future<Output = Vec<Result<(), HandlerError>>>,
{
    let mut pending: Vec<usize> = (0..batch.len()).collect();
    let mut succeeded = Vec::new();
    let mut requeue = Vec::new();
    let mut attempt = 0;
    while !pending.is_empty() {
        let deliveries = pending
            .iter()
            .map(|&i| Delivered {
                routing_key: batch[i].routing_key.to_string(),
                data: batch[i].data.clone(),
            })
            .collect();
        let mut outcomes = handler(deliveries).await.into_iter();
        let mut again = Vec::new();
        let mut pause = Duration::ZERO;
        for i in std::mem::take(&mut pending) {
            let outcome = outcomes.next().unwrap_or_else(|| {
                Err(HandlerError::Retry(anyhow::anyhow!(
                    "the handler gave no outcome for this delivery"
                )))
            });
            match outcome {
                Err(HandlerError::Retry(err))
                    if attempt < IN_PLACE_RETRIES && !shutdown.is_cancelled() =>
                {
                    let wait = RETRY_PAUSE * 2u32.pow(attempt);
                    tracing::warn!(queue = %queue, error = %format!("{err:#}"), attempt = attempt + 1,
                        "handling failed; retrying in {} s", wait.as_secs());
                    pause = pause.max(wait);
                    again.push(i);
                }
                Err(HandlerError::Outage(err)) if !shutdown.is_cancelled() => {
                    let wait = (RETRY_PAUSE * 2u32.pow(attempt.min(5))).min(OUTAGE_MAX_PAUSE);
                    tracing::warn!(queue = %queue, error = %format!("{err:#}"), attempt = attempt + 1,
                        "a dependency is down; retrying in {} s", wait.as_secs());
                    pause = pause.max(wait);
                    again.push(i);
                }
                Ok(()) => succeeded.push(i),
                Err(HandlerError::Reject(err)) => {
                    metrics::counter!("broker_messages_dead_lettered_total", "queue" => queue.to_owned())
                        .increment(1);
                    tracing::error!(queue = %queue, error = %format!("{err:#}"), "message dead-lettered");
                    batch[i]
                        .acker
                        .nack(BasicNackOptions {
                            requeue: false,
                            ..Default::default()
                        })
                        .await?;
                }
                Err(HandlerError::Retry(err) | HandlerError::Outage(err)) => {
                    tracing::warn!(queue = %queue, error = %format!("{err:#}"), "handling failed; will retry");
                    requeue.push(i);
                }
            }
        }
        if !again.is_empty() {
            // The gate's permit is for working, not for waiting.
            permit = None;
            attempt += 1;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(pause) => {}
            }
            // ...and the next attempt works under the gate again (after a shutdown, the last
            // attempt that settles the batch does not wait for it).
            if let Some(gate) = gate {
                permit = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => None,
                    taken = gate.clone().acquire_owned() => Some(taken?),
                };
            }
        }
        pending = again;
    }
    acknowledge(batch, &succeeded).await?;
    drop(permit);
    if !requeue.is_empty() {
        // Requeued at once, a failure caused by an outage would come back in a hot loop.
        tokio::time::sleep(RETRY_PAUSE).await;
        for i in requeue {
            batch[i]
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(())
}

//! Consumes the partition queues this replica owns (decisions #51): every few seconds one
//! balancing round in Postgres ([`store::partitions::balance`]) renews its leases and takes its
//! fair share of free or expired partitions; a consumer runs per owned partition, handing the
//! deliveries it has received, in batches, to the [`ChangeHandler`]. A partition given back (another replica joined) is released
//! only after its consumer has stopped and its channel closed, so the next owner receives the
//! unacknowledged deliveries again, in order. A replica that cannot renew its leases stops its
//! consumers before the leases run out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use service_kit::broker::{Broker, consume_batches_gated};
use sqlx::PgPool;
use sync_protocol::topology::Partition;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::handler::ChangeHandler;
use crate::store::partitions;

/// How the replica takes part in the partitions.
#[derive(Debug, Clone, Copy)]
pub struct PartitionSettings {
    /// A partition's lease: a dead replica's partitions move after at most this long.
    pub lease: Duration,
    /// Users' batches handled at once across this replica's partitions (each holds a database
    /// connection for its transaction).
    pub concurrency: usize,
    /// Deliveries taken from a partition queue at once (decisions #81): each user's among them
    /// are handled in one transaction.
    pub batch: usize,
    /// Partitions whose batches are handled at once (0: no limit). The others' deliveries
    /// gather meanwhile, so under load batches grow and a user's transaction holds more of
    /// its messages (decisions #114).
    pub at_once: usize,
}

struct Consumer {
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Consumer {
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await?
    }
}

pub async fn run(
    pool: PgPool,
    broker: Broker,
    handler: Arc<ChangeHandler>,
    settings: PartitionSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let replica = Uuid::new_v4();
    partitions::seed(&pool).await?;
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let gate = (settings.at_once > 0).then(|| Arc::new(Semaphore::new(settings.at_once)));
    let tick = settings.lease / 4;
    let mut running: BTreeMap<Partition, Consumer> = BTreeMap::new();
    let mut renewed = tokio::time::Instant::now();
    tracing::info!(%replica, lease_secs = settings.lease.as_secs_f64(), "taking part in the partitions");
    let result = loop {
        // A consumer that ended by itself lost its channel: the service stops (decisions #13).
        if let Some(partition) = running
            .iter()
            .find(|(_, c)| c.task.is_finished())
            .map(|(p, _)| *p)
        {
            let consumer = running.remove(&partition).expect("listed");
            let outcome = consumer
                .task
                .await
                .map_err(anyhow::Error::from)
                .and_then(|r| r);
            break Err(outcome.err().unwrap_or_else(|| {
                anyhow::anyhow!("the consumer of partition {partition} ended")
            }));
        }
        match partitions::balance(&pool, replica, settings.lease).await {
            Ok(plan) => {
                renewed = tokio::time::Instant::now();
                let lost: Vec<Partition> = running
                    .keys()
                    .filter(|p| !plan.owned.contains(p))
                    .copied()
                    .collect();
                for partition in lost {
                    tracing::warn!(%partition, "partition taken over by another replica");
                    stop(&mut running, partition).await?;
                }
                for &partition in &plan.surplus {
                    stop(&mut running, partition).await?;
                    partitions::release(&pool, replica, partition).await?;
                    tracing::info!(%partition, "partition handed over");
                }
                for &partition in plan.owned.iter().filter(|p| !plan.surplus.contains(p)) {
                    if let std::collections::btree_map::Entry::Vacant(free) =
                        running.entry(partition)
                    {
                        tracing::info!(%partition, "partition taken");
                        free.insert(start(
                            &broker,
                            &handler,
                            &permits,
                            &gate,
                            partition,
                            settings.batch,
                            shutdown.child_token(),
                        ));
                    }
                }
                metrics::gauge!("sync_partitions_owned").set(running.len() as f64);
            }
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "cannot renew the partition leases");
                // Another replica may take them once they expire: stop consuming before that.
                if renewed.elapsed() > settings.lease / 2 && !running.is_empty() {
                    tracing::warn!("partition leases not renewed in time; consumers stopped");
                    for partition in running.keys().copied().collect::<Vec<_>>() {
                        stop(&mut running, partition).await?;
                    }
                    metrics::gauge!("sync_partitions_owned").set(0.0);
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            _ = tokio::time::sleep(tick) => {}
        }
    };
    for (_, consumer) in std::mem::take(&mut running) {
        let _ = consumer.stop().await;
    }
    // Handing everything over at once spares the others the wait for the leases to expire.
    if let Err(err) = partitions::leave(&pool, replica).await {
        tracing::warn!(error = %format!("{err:#}"), "cannot give the partitions back; they move when their leases expire");
    }
    result
}

fn start(
    broker: &Broker,
    handler: &Arc<ChangeHandler>,
    permits: &Arc<Semaphore>,
    gate: &Option<Arc<Semaphore>>,
    partition: Partition,
    batch: usize,
    stop: CancellationToken,
) -> Consumer {
    let (broker, handler, permits, gate) = (
        broker.clone(),
        handler.clone(),
        permits.clone(),
        gate.clone(),
    );
    let token = stop.clone();
    let task = tokio::spawn(async move {
        consume_batches_gated(
            &broker,
            &partition.queue(),
            token,
            batch,
            gate,
            move |deliveries| {
                let (handler, permits) = (handler.clone(), permits.clone());
                async move {
                    let data: Vec<Vec<u8>> = deliveries.into_iter().map(|d| d.data).collect();
                    handler.handle_batch(&data, &permits).await
                }
            },
        )
        .await
    });
    Consumer { stop, task }
}

async fn stop(
    running: &mut BTreeMap<Partition, Consumer>,
    partition: Partition,
) -> anyhow::Result<()> {
    match running.remove(&partition) {
        Some(consumer) => consumer.stop().await,
        None => Ok(()),
    }
}

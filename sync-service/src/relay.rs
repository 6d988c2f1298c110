//! The outbox relay: takes committed commands off the outbox, publishes them with confirms, then
//! commits (decision 99). A crash between the publish and the commit puts the rows back and
//! republishes them; the connectors de-duplicate by command id.

use std::sync::Arc;
use std::time::Duration;

use service_kit::broker::Publisher;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::{inbox, links, outbox};

const BATCH: i64 = 500;
/// Also look without a wake-up, for rows written by another replica.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// What the relay's hourly housekeeping keeps, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// The ids of handled messages (decisions #61).
    pub inbox: Duration,
    /// Links marked deleted (decisions #74).
    pub deleted_links: Duration,
}

pub async fn run(
    pool: PgPool,
    publisher: Publisher,
    wakeup: Arc<Notify>,
    retention: Retention,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut last_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(IDLE_POLL) => {}
        }
        loop {
            match relay_batch(&pool, &publisher).await {
                Ok(n) if n < BATCH as usize => break,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "outbox relay failed; will retry");
                    break;
                }
            }
        }
        if last_prune.elapsed() > Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            let _ = outbox::prune(&pool).await;
            match inbox::prune(&pool, retention.inbox).await {
                Ok(gone) => {
                    tracing::debug!(gone, "handled message ids past their retention forgotten")
                }
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot prune the inbox; will retry")
                }
            }
            match links::prune_deleted(&pool, retention.deleted_links).await {
                Ok(gone) => tracing::debug!(gone, "links deleted past their retention forgotten"),
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot prune deleted links; will retry")
                }
            }
        }
    }
}

/// Publishes the oldest commands of the outbox (at most a page) and removes them; an error
/// leaves them all where they were. How many went out.
pub async fn relay_batch(pool: &PgPool, publisher: &Publisher) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let envelopes = outbox::take(&mut tx, BATCH).await?;
    // The batch goes out in order, its confirms awaited together (decisions #5).
    publisher.publish_commands(&envelopes).await?;
    tx.commit().await?;
    metrics::counter!("sync_commands_published_total").increment(envelopes.len() as u64);
    Ok(envelopes.len())
}

//! Hourly housekeeping: the outcomes of commands applied longer ago than the retention and call
//! counts older than the budget's window are forgotten (decisions #74).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

const EVERY: Duration = Duration::from_secs(3600);

/// Prunes now and then every hour until `shutdown`. A failure is logged and tried again at the
/// next hour: nothing depends on a prune having happened.
pub async fn run(
    store: Store,
    applied_retention: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut every = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = every.tick() => {}
        }
        match store.prune_applied(applied_retention).await {
            Ok(gone) => tracing::debug!(gone, "applied command ids past their retention forgotten"),
            Err(err) => tracing::warn!(error = %err, "cannot prune applied commands; will retry"),
        }
        if let Err(err) = store.prune_calls().await {
            tracing::warn!(error = %err, "cannot prune call counts; will retry");
        }
    }
}

//! Retention of applied command ids against the real Postgres (decisions #74): outcomes older
//! than the retention are forgotten, recent ones still answer a redelivery.

use std::time::Duration;

use sync_protocol::ApplyOutcome;

use crate::poller::world;

#[tokio::test]
async fn applied_commands_older_than_the_retention_are_forgotten_and_recent_ones_kept()
-> anyhow::Result<()> {
    let world = world().await?;
    let (old, recent) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let outcome = serde_json::to_value(ApplyOutcome::Gone { external_id: None })?;
    sqlx::query(
        "INSERT INTO applied_commands (command_id, outcome, applied_at)
         VALUES ($1, $3, now() - interval '8 days'), ($2, $3, now() - interval '6 days')",
    )
    .bind(old)
    .bind(recent)
    .bind(&outcome)
    .execute(world.store.pool())
    .await?;

    let gone = world
        .store
        .prune_applied(Duration::from_secs(7 * 86_400))
        .await?;
    assert_eq!(gone, 1);
    assert_eq!(world.store.applied_outcome(old).await?, None);
    assert_eq!(
        world.store.applied_outcome(recent).await?,
        Some(ApplyOutcome::Gone { external_id: None }),
        "a redelivery of a recent command is still answered, not applied again"
    );
    Ok(())
}

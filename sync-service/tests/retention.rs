//! Retention of the inbox against the real Postgres (decisions #61): the ids of messages handled
//! longer ago than the retention are forgotten, the recent ones kept (a redelivery of those is
//! still recognised).

use std::time::Duration;

use sqlx::PgPool;

async fn inbox() -> anyhow::Result<PgPool> {
    let database = test_support::fresh_database().await?;
    let pool = service_kit::database::connect(&database, sync_service::startup::SCHEMA).await?;
    service_kit::database::migrate(&pool, &sync_service::startup::MIGRATOR).await?;
    Ok(pool)
}

#[tokio::test]
async fn handled_message_ids_older_than_the_retention_are_forgotten_and_recent_ones_kept()
-> anyhow::Result<()> {
    let pool = inbox().await?;
    let (old, recent) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    sqlx::query(
        "INSERT INTO processed_messages (message_id, processed_at)
         VALUES ($1, now() - interval '8 days'), ($2, now() - interval '6 days')",
    )
    .bind(old)
    .bind(recent)
    .execute(&pool)
    .await?;

    let gone = sync_service::store::inbox::prune(&pool, Duration::from_secs(7 * 86_400)).await?;
    assert_eq!(gone, 1);
    let kept: Vec<(uuid::Uuid,)> = sqlx::query_as("SELECT message_id FROM processed_messages")
        .fetch_all(&pool)
        .await?;
    assert_eq!(kept, vec![(recent,)]);
    pool.close().await;
    Ok(())
}

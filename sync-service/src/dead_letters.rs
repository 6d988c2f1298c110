//! Copies messages off the dead-letter queue into Postgres, where the admin API lists and
//! replays them (a queue cannot be browsed without taking its messages).

use service_kit::broker::{Broker, HandlerError, consume_with_key};
use sqlx::PgPool;
use sync_protocol::topology::DEAD_LETTER_QUEUE;
use tokio_util::sync::CancellationToken;

pub async fn run(broker: Broker, pool: PgPool, shutdown: CancellationToken) -> anyhow::Result<()> {
    consume_with_key(&broker, DEAD_LETTER_QUEUE, shutdown, |routing_key, data| {
        let pool = pool.clone();
        async move {
            sqlx::query("INSERT INTO dead_letters (routing_key, payload) VALUES ($1, $2)")
                .bind(routing_key)
                .bind(data)
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| HandlerError::Retry(e.into()))
        }
    })
    .await
}

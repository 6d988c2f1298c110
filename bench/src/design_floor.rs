//! The *design floor* of the engine-throughput scenario: the least durable work that
//! `design.md` asks of any engine per event, done as cheaply as this machine allows, so the
//! engine's gap to the batched floor can be split into what the design costs and what the
//! engine adds. Per batch of what has arrived (the batched floor's prefetch and batch size),
//! one transaction: the events' ids into an inbox (de-duplication), a link per new item with
//! its merge base (the item as JSON), a create command per new item into an outbox; commit,
//! acknowledge. A relay in the same process takes the outbox in pages, publishes each command
//! persistently with the confirms of a page awaited together, and deletes the page in the
//! transaction that took it, as sync-service's relay does (decision 99). It decides nothing:
//! no merge, no filters, no per-user transactions, no partition queues, one index a table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use service_kit::broker::{Delivered, HandlerError};
use sync_model::{LinkId, Side};
use sync_protocol::{ApplyOp, ChangeMessage, CommandMessage, Envelope};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The queue the design floor's commands go to (unprefixed); nothing consumes it, as nothing
/// consumes sync-service's commands in this scenario.
pub const COMMANDS_QUEUE: &str = "bench.floor.commands";
/// The relay's page, as sync-service's.
const RELAY_PAGE: i64 = 500;

pub async fn create_tables(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    for statement in [
        "CREATE TABLE IF NOT EXISTS floor_inbox (message_id uuid PRIMARY KEY)",
        "CREATE TABLE IF NOT EXISTS floor_links (
             id uuid PRIMARY KEY, user_id uuid NOT NULL, outlook_id text NOT NULL,
             base jsonb NOT NULL)",
        "CREATE TABLE IF NOT EXISTS floor_outbox (id bigserial PRIMARY KEY, payload jsonb NOT NULL)",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    Ok(())
}

/// One batch: inbox, links and outbox in one transaction; the relay is woken after the commit.
pub async fn handle(
    pool: &sqlx::PgPool,
    batch: &[Delivered],
    relay: &Notify,
) -> Result<(), HandlerError> {
    let mut ids = Vec::with_capacity(batch.len());
    let mut envelopes = Vec::with_capacity(batch.len());
    for delivery in batch {
        let envelope: Envelope<ChangeMessage> =
            serde_json::from_slice(&delivery.data).map_err(|e| HandlerError::Reject(e.into()))?;
        ids.push(envelope.message_id);
        envelopes.push(envelope);
    }
    let retry = |e: sqlx::Error| HandlerError::Retry(e.into());
    let mut tx = pool.begin().await.map_err(retry)?;
    let new: Vec<(uuid::Uuid,)> = sqlx::query_as(
        "INSERT INTO floor_inbox (message_id) SELECT unnest($1::uuid[])
         ON CONFLICT DO NOTHING RETURNING message_id",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await
    .map_err(retry)?;
    let new: std::collections::HashSet<uuid::Uuid> = new.into_iter().map(|(id,)| id).collect();
    let (mut links, mut users, mut outlook_ids, mut bases, mut commands) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for envelope in envelopes {
        if !new.contains(&envelope.message_id) {
            continue;
        }
        let ChangeMessage::ItemChanged {
            external_id, item, ..
        } = envelope.body
        else {
            continue;
        };
        let link = LinkId(uuid::Uuid::new_v4());
        let base = serde_json::to_string(&item).map_err(|e| HandlerError::Reject(e.into()))?;
        let command = Envelope::new(
            envelope.user_id,
            CommandMessage::Apply {
                command_id: uuid::Uuid::new_v4(),
                link_id: link,
                kind: item.kind(),
                side: Side::Zoho,
                op: ApplyOp::Create {
                    item,
                    origin: Some(external_id.clone()),
                    may_exist: false,
                },
            },
        );
        links.push(link.0);
        users.push(envelope.user_id.0);
        outlook_ids.push(external_id.0);
        bases.push(base);
        commands.push(serde_json::to_string(&command).map_err(|e| HandlerError::Reject(e.into()))?);
    }
    sqlx::query(
        "INSERT INTO floor_links (id, user_id, outlook_id, base)
         SELECT i, u, o, b::jsonb
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS t(i, u, o, b)",
    )
    .bind(&links)
    .bind(&users)
    .bind(&outlook_ids)
    .bind(&bases)
    .execute(&mut *tx)
    .await
    .map_err(retry)?;
    sqlx::query("INSERT INTO floor_outbox (payload) SELECT p::jsonb FROM unnest($1::text[]) AS p")
        .bind(&commands)
        .execute(&mut *tx)
        .await
        .map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    relay.notify_one();
    Ok(())
}

/// The relay: pages of the outbox published with confirms, deleted in the same transaction,
/// until `stop`. Counts the commands published.
pub async fn relay(
    pool: sqlx::PgPool,
    channel: Channel,
    queue: String,
    wakeup: Arc<Notify>,
    published: Arc<AtomicU64>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        loop {
            let mut tx = pool.begin().await?;
            let page: Vec<(String,)> = sqlx::query_as(
                "DELETE FROM floor_outbox WHERE id IN (
                     SELECT id FROM floor_outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING payload::text",
            )
            .bind(RELAY_PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let mut confirms = Vec::with_capacity(page.len());
            for (payload,) in &page {
                confirms.push(
                    channel
                        .basic_publish(
                            "".into(),
                            queue.as_str().into(),
                            BasicPublishOptions {
                                mandatory: true,
                                ..Default::default()
                            },
                            payload.as_bytes(),
                            BasicProperties::default()
                                .with_content_type("application/json".into())
                                .with_delivery_mode(2),
                        )
                        .await?,
                );
            }
            for confirm in confirms {
                anyhow::ensure!(
                    confirm.await?.is_ack(),
                    "the broker refused a design-floor command"
                );
            }
            tx.commit().await?;
            published.fetch_add(page.len() as u64, Ordering::Relaxed);
            if (page.len() as i64) < RELAY_PAGE {
                break;
            }
        }
    }
}

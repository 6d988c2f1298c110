//! Retention against the real Postgres:
//! - the inbox (decisions #61): the ids of messages handled longer ago than the retention are
//!   forgotten, the recent ones kept (a redelivery of those is still recognised);
//! - links marked deleted (decisions #74): forgotten after their retention, while within it a
//!   late read of the deleted item finds its link and brings nothing back; never while a write
//!   is in flight on them or their user's changes are held.

mod common;

use common::{contact_user, handler, pool};

use std::time::Duration;

use sqlx::PgPool;
use sync_model::{Contact, ContentHash, ExternalId, Item, ItemKind, LinkId, Side, UserId, Version};
use sync_protocol::{ApplyOutcome, ChangeMessage, CommandMessage, Envelope};
use sync_service::handler::ChangeHandler;
use sync_service::store::links;

#[tokio::test]
async fn handled_message_ids_older_than_the_retention_are_forgotten_and_recent_ones_kept()
-> anyhow::Result<()> {
    let pool = pool().await?;
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

/// A user syncing contacts both ways, first sync done, and the handler of their changes.
struct User {
    id: UserId,
    pool: PgPool,
    handler: ChangeHandler,
}

impl User {
    async fn new(pool: &PgPool) -> anyhow::Result<User> {
        Ok(User {
            id: contact_user(pool).await?,
            pool: pool.clone(),
            handler: handler(pool),
        })
    }

    async fn handle(&self, body: ChangeMessage) -> anyhow::Result<()> {
        let data = serde_json::to_vec(&Envelope::new(self.id, body))?;
        // Boxed: the handler's future is large for a debug build's test thread stack.
        Box::pin(self.handler.handle(&data))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Zoho's read of contact `z-1` with `surname`.
    async fn zoho_read(&self, surname: &str, version: &str) -> anyhow::Result<()> {
        self.handle(ChangeMessage::ItemChanged {
            side: Side::Zoho,
            external_id: ExternalId("z-1".into()),
            version: Version(version.into()),
            item: Item::Contact(Contact {
                surname: Some(surname.into()),
                ..Contact::default()
            }),
            identity: None,
            modified: None,
        })
        .await
    }

    /// The last command decided: its id, link and op.
    async fn last_command(&self) -> anyhow::Result<(uuid::Uuid, LinkId, String)> {
        let (payload,): (serde_json::Value,) = sqlx::query_as(
            "SELECT payload FROM outbox WHERE user_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(self.id.0)
        .fetch_one(&self.pool)
        .await?;
        let envelope: Envelope<CommandMessage> = serde_json::from_value(payload)?;
        match envelope.body {
            CommandMessage::Apply {
                command_id,
                link_id,
                op,
                ..
            } => Ok((command_id, link_id, format!("{op:?}"))),
            other => anyhow::bail!("not an apply command: {other:?}"),
        }
    }

    async fn commands(&self) -> anyhow::Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox WHERE user_id = $1")
            .bind(self.id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    async fn applied_on_outlook(&self, command_id: uuid::Uuid, link: LinkId) -> anyhow::Result<()> {
        self.handle(ChangeMessage::ApplyResult {
            command_id,
            link_id: link,
            side: Side::Outlook,
            kind: ItemKind::Contact,
            outcome: ApplyOutcome::Applied {
                external_id: ExternalId("o-1".into()),
                version: Version("1".into()),
                content_hash: ContentHash("unused".into()),
                modified: None,
            },
        })
        .await
    }

    /// The statuses of the user's links.
    async fn links(&self) -> anyhow::Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT status FROM links WHERE user_id = $1 ORDER BY created_at")
                .bind(self.id.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    /// A contact made on Zoho, copied to Outlook, then deleted on Zoho and on Outlook: its link
    /// stays marked deleted.
    async fn deleted_contact(&self) -> anyhow::Result<LinkId> {
        self.zoho_read("Lovelace", "1").await?;
        let (create, link, op) = self.last_command().await?;
        assert!(op.starts_with("Create"), "{op}");
        self.applied_on_outlook(create, link).await?;
        self.handle(ChangeMessage::ItemDeleted {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            external_id: ExternalId("z-1".into()),
            left_scope: false,
        })
        .await?;
        self.handle(ChangeMessage::ReadCompleted {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            full: false,
            items_read: 1,
            round: None,
            lists_everything: true,
        })
        .await?;
        let (delete, same, op) = self.last_command().await?;
        assert_eq!(same, link);
        assert!(op.starts_with("Delete"), "{op}");
        self.applied_on_outlook(delete, link).await?;
        assert_eq!(self.links().await?, ["deleted"]);
        Ok(link)
    }

    async fn age_links(&self, days: i64) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE links SET updated_at = now() - make_interval(days => $2) WHERE user_id = $1",
        )
        .bind(self.id.0)
        .bind(days as i32)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

const MONTH: Duration = Duration::from_secs(30 * 86_400);

#[tokio::test]
async fn a_deleted_link_within_the_retention_stops_a_late_read_and_an_older_one_is_forgotten()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let user = User::new(&pool).await?;
    user.deleted_contact().await?;
    let commands = user.commands().await?;

    // Within the retention: kept, and a late read of the deleted item (published before its
    // delete was seen) finds it and brings nothing back.
    user.age_links(29).await?;
    assert_eq!(links::prune_deleted(&pool, MONTH).await?, 0);
    user.zoho_read("Lovelace", "1").await?;
    assert_eq!(user.links().await?, ["deleted"], "no new link");
    assert_eq!(user.commands().await?, commands, "nothing created again");

    // Past it: forgotten.
    user.age_links(31).await?;
    assert_eq!(links::prune_deleted(&pool, MONTH).await?, 1);
    assert!(user.links().await?.is_empty());

    // What the kept link stood against: the same late read, now, makes the item again. The
    // retention must outlast every message that can still arrive about a deleted item.
    user.zoho_read("Lovelace", "1").await?;
    assert_eq!(user.links().await?, ["active"]);
    assert_eq!(user.commands().await?, commands + 1, "created again");
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn old_links_are_kept_while_live_in_flight_or_of_a_user_whose_changes_are_held()
-> anyhow::Result<()> {
    let pool = pool().await?;

    // A live link, however old, is never pruned.
    let live = User::new(&pool).await?;
    live.zoho_read("Hopper", "1").await?;
    let (create, link, _) = live.last_command().await?;
    live.applied_on_outlook(create, link).await?;
    live.age_links(400).await?;

    // A deleted link whose delete on Outlook is still in flight: its result must find it.
    let in_flight = User::new(&pool).await?;
    in_flight.zoho_read("Lamarr", "1").await?;
    let (create, link, _) = in_flight.last_command().await?;
    in_flight.applied_on_outlook(create, link).await?;
    in_flight
        .handle(ChangeMessage::ItemDeleted {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            external_id: ExternalId("z-1".into()),
            left_scope: false,
        })
        .await?;
    in_flight
        .handle(ChangeMessage::ReadCompleted {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            full: false,
            items_read: 1,
            round: None,
            lists_everything: true,
        })
        .await?;
    assert_eq!(in_flight.links().await?, ["deleted"]);
    in_flight.age_links(400).await?;

    // A deleted link of a user whose changes are held (they may hold a late read of it).
    let held = User::new(&pool).await?;
    held.deleted_contact().await?;
    held.age_links(400).await?;
    sqlx::query(
        "INSERT INTO held_messages (user_id, message_id, payload) VALUES ($1, $2, '\\x00')",
    )
    .bind(held.id.0)
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await?;

    assert_eq!(links::prune_deleted(&pool, MONTH).await?, 0);
    assert_eq!(live.links().await?, ["active"]);
    assert_eq!(in_flight.links().await?, ["deleted"]);
    assert_eq!(held.links().await?, ["deleted"]);

    // Once the held changes are handled, the old deleted link goes.
    sqlx::query("DELETE FROM held_messages WHERE user_id = $1")
        .bind(held.id.0)
        .execute(&pool)
        .await?;
    assert_eq!(links::prune_deleted(&pool, MONTH).await?, 1);
    assert!(held.links().await?.is_empty());
    pool.close().await;
    Ok(())
}

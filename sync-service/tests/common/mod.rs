//! What the handler's integration tests share: a fresh database, a handler over it, a user
//! syncing contacts, and the commands decided so far.
#![allow(dead_code)] // each test file uses its own part of it

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sync_model::{
    Contact, EmailAddress, Event, EventTime, ExternalId, Item, ItemKind, LinkId, Modified, Side,
    UserId, Version,
};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope};
use sync_service::domain::settings::{
    CategoryFilter, ConflictRule, Direction, KindSettings, UserSettings,
};
use sync_service::handler::{ChangeHandler, DeleteGuard, RetryPolicy};
use uuid::Uuid;

/// A fresh database with sync-service's schema.
pub async fn pool() -> anyhow::Result<PgPool> {
    let database = test_support::fresh_database().await?;
    let pool = service_kit::database::connect(&database, sync_service::startup::SCHEMA).await?;
    service_kit::database::migrate(&pool, &sync_service::startup::MIGRATOR).await?;
    Ok(pool)
}

/// The handler with the service's defaults for the guard and a slow retry (no retry happens
/// within a test).
pub fn handler(pool: &PgPool) -> ChangeHandler {
    ChangeHandler {
        pool: pool.clone(),
        relay_wakeup: Arc::new(tokio::sync::Notify::new()),
        guard: DeleteGuard {
            share: 0.3,
            minimum: 5,
        },
        retry: RetryPolicy {
            attempts: 3,
            backoff: Duration::from_secs(60),
        },
    }
}

/// A user syncing contacts both ways ("Zoho wins"), first sync done.
pub async fn contact_user(pool: &PgPool) -> anyhow::Result<UserId> {
    let id = new_contact_user(pool).await?;
    sqlx::query(
        "INSERT INTO kind_progress (user_id, kind, first_sync_done) VALUES ($1, 'contact', true)",
    )
    .bind(id.0)
    .execute(pool)
    .await?;
    Ok(id)
}

/// A user just connected to sync contacts both ways ("Zoho wins"): the first sync to come.
pub async fn new_contact_user(pool: &PgPool) -> anyhow::Result<UserId> {
    let id = UserId(Uuid::new_v4());
    let settings = UserSettings {
        contact_folder_id: Some("folder".into()),
        contacts: KindSettings {
            enabled: true,
            direction: Direction::TwoWay,
        },
        task_list_id: None,
        tasks: KindSettings::default(),
        events: KindSettings::default(),
        calendar_categories: CategoryFilter::ZohoOnly,
        conflict_rule: ConflictRule::ZohoWins,
        poll_interval_secs: 60,
        paused: false,
    };
    save_settings(pool, id, &settings).await?;
    Ok(id)
}

/// A user syncing events both ways ("Zoho wins") in the "Zoho" category only, first sync done.
pub async fn event_user(pool: &PgPool) -> anyhow::Result<UserId> {
    event_user_with(pool, ConflictRule::ZohoWins).await
}

/// [`event_user`] with conflicts decided by `rule`.
pub async fn event_user_with(pool: &PgPool, rule: ConflictRule) -> anyhow::Result<UserId> {
    let id = UserId(Uuid::new_v4());
    let settings = UserSettings {
        contact_folder_id: None,
        contacts: KindSettings::default(),
        task_list_id: None,
        tasks: KindSettings::default(),
        events: KindSettings {
            enabled: true,
            direction: Direction::TwoWay,
        },
        calendar_categories: CategoryFilter::ZohoOnly,
        conflict_rule: rule,
        poll_interval_secs: 60,
        paused: false,
    };
    save_settings(pool, id, &settings).await?;
    sqlx::query(
        "INSERT INTO kind_progress (user_id, kind, first_sync_done) VALUES ($1, 'event', true)",
    )
    .bind(id.0)
    .execute(pool)
    .await?;
    Ok(id)
}

async fn save_settings(pool: &PgPool, id: UserId, settings: &UserSettings) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sync_service::store::settings::save(&mut tx, id, settings).await?;
    tx.commit().await?;
    Ok(())
}

/// Deliveries handled as one batch (the set-wise path); fails on the first that failed.
pub async fn handle_batch(handler: &ChangeHandler, batch: &[Vec<u8>]) -> anyhow::Result<()> {
    let outcomes = Box::pin(handler.handle_batch(batch, &tokio::sync::Semaphore::new(4))).await;
    anyhow::ensure!(outcomes.len() == batch.len(), "one outcome per delivery");
    for outcome in outcomes {
        outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// `user`'s messages handled as one batch of deliveries (the set-wise path).
pub async fn handle_messages(
    handler: &ChangeHandler,
    user: UserId,
    bodies: Vec<ChangeMessage>,
) -> anyhow::Result<()> {
    let batch: Vec<Vec<u8>> = bodies
        .into_iter()
        .map(|body| serde_json::to_vec(&Envelope::new(user, body)))
        .collect::<Result<_, _>>()?;
    handle_batch(handler, &batch).await
}

/// One message of `user`, handled on its own.
pub async fn handle(
    handler: &ChangeHandler,
    user: UserId,
    body: ChangeMessage,
) -> anyhow::Result<()> {
    let message = serde_json::to_vec(&Envelope::new(user, body))?;
    handler
        .handle(&message)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// The apply commands decided so far, in order.
pub async fn commands(pool: &PgPool) -> anyhow::Result<Vec<(Uuid, LinkId, Side, ApplyOp)>> {
    let rows: Vec<(sqlx::types::Json<Envelope<CommandMessage>>,)> =
        sqlx::query_as("SELECT payload FROM outbox ORDER BY id")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(envelope,)| match envelope.0.body {
            CommandMessage::Apply {
                command_id,
                link_id,
                side,
                op,
                ..
            } => Some((command_id, link_id, side, op)),
            _ => None,
        })
        .collect())
}

/// A read of a new Outlook contact named `name` (id `AAMk-<name>`): decided as a create on Zoho.
pub fn new_outlook_contact(name: &str) -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId(format!("AAMk-{name}")),
        version: Version("v1".into()),
        item: Item::Contact(Contact {
            given_name: Some(name.into()),
            emails: vec![EmailAddress(format!("{name}@example.jp"))],
            ..Contact::default()
        }),
        identity: None,
        modified: None,
    }
}

/// An event of 10 December 2026, 09:00 to 10:00 UTC, titled `subject`, in `categories`.
pub fn meeting(subject: &str, categories: &[&str]) -> Item {
    let at = |s: &str| EventTime::DateTime {
        utc: s.parse().expect("a time"),
        time_zone: None,
    };
    Item::Event(Event {
        subject: subject.into(),
        start: at("2026-12-10T09:00:00Z"),
        end: at("2026-12-10T10:00:00Z"),
        location: None,
        description: None,
        categories: categories.iter().map(|c| (*c).to_owned()).collect(),
        reminder_minutes_before: None,
        attendees: Vec::new(),
        recurrence: None,
    })
}

/// A read of the user's Zoho contact (always the same record).
pub fn zoho_read(version: &str, item: Item) -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Zoho,
        external_id: ExternalId("3652397000000624001".into()),
        version: Version(version.into()),
        item,
        identity: None,
        modified: None,
    }
}

/// Outlook's answer to a contact command.
pub fn outlook_result(command_id: Uuid, link_id: LinkId, outcome: ApplyOutcome) -> ChangeMessage {
    ChangeMessage::ApplyResult {
        command_id,
        link_id,
        side: Side::Outlook,
        kind: ItemKind::Contact,
        outcome,
    }
}

/// The end of an Outlook contact poll round (not a full read): the moment a lost create is
/// retried and an unlisted copy asked for.
pub fn outlook_round_end() -> ChangeMessage {
    ChangeMessage::ReadCompleted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        full: false,
        items_read: 0,
        round: None,
        lists_everything: true,
    }
}

/// A read of Outlook's event `AAMkTermin` changed at 10:00:`second` on 7 December 2026.
pub fn termin(subject: &str, categories: &[&str], second: u32) -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId("AAMkTermin".into()),
        version: Version(format!("ck{second}")),
        item: meeting(subject, categories),
        identity: None,
        modified: format!("2026-12-07T10:00:{second:02}Z")
            .parse()
            .ok()
            .map(Modified),
    }
}

/// `AAMkTermin` ("Quartalsgespräch", in the synced category "Zoho", read at 10:00:01) copied to
/// Zoho as `3652397000002`, for a new [`event_user_with`] `rule`.
pub async fn synced_event(
    pool: &PgPool,
    handler: &ChangeHandler,
    rule: ConflictRule,
) -> anyhow::Result<UserId> {
    let user = event_user_with(pool, rule).await?;
    handle(handler, user, termin("Quartalsgespräch", &["Zoho"], 1)).await?;
    let [(create, link, Side::Zoho, ApplyOp::Create { item, .. })] = &commands(pool).await?[..]
    else {
        anyhow::bail!("one create in Zoho expected");
    };
    let made = ChangeMessage::ApplyResult {
        command_id: *create,
        link_id: *link,
        side: Side::Zoho,
        kind: ItemKind::Event,
        outcome: ApplyOutcome::Applied {
            external_id: ExternalId("3652397000002".into()),
            version: Version("1".into()),
            content_hash: item.content_hash(),
            modified: None,
        },
    };
    handle(handler, user, made).await?;
    Ok(user)
}

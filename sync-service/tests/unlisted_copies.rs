//! A copy our create made, deleted there before any read listed it (decision 91), through the
//! handler against the real Postgres: Graph's `calendarView/delta` never tells the removal of
//! an event its sync state did not list, so the side's next round end asks for the copy by id,
//! and its absence deletes the original.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sync_model::{Contact, ExternalId, Item, ItemKind, LinkId, Side, UserId, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope};
use sync_service::domain::settings::{
    CategoryFilter, ConflictRule, Direction, KindSettings, UserSettings,
};
use sync_service::handler::{ChangeHandler, DeleteGuard, RetryPolicy};
use uuid::Uuid;

async fn pool() -> anyhow::Result<PgPool> {
    let database = test_support::fresh_database().await?;
    let pool = service_kit::database::connect(&database, sync_service::startup::SCHEMA).await?;
    service_kit::database::migrate(&pool, &sync_service::startup::MIGRATOR).await?;
    Ok(pool)
}

fn handler(pool: &PgPool) -> ChangeHandler {
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

/// A user syncing contacts both ways, first sync done.
async fn user(pool: &PgPool) -> anyhow::Result<UserId> {
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
    let mut tx = pool.begin().await?;
    sync_service::store::settings::save(&mut tx, id, &settings).await?;
    tx.commit().await?;
    sqlx::query(
        "INSERT INTO kind_progress (user_id, kind, first_sync_done) VALUES ($1, 'contact', true)",
    )
    .bind(id.0)
    .execute(pool)
    .await?;
    Ok(id)
}

fn person(job: &str) -> Item {
    Item::Contact(Contact {
        given_name: Some("Ken".into()),
        surname: Some("Watanabe".into()),
        job_title: Some(job.into()),
        ..Contact::default()
    })
}

async fn handle(handler: &ChangeHandler, user: UserId, body: ChangeMessage) -> anyhow::Result<()> {
    let message = serde_json::to_vec(&Envelope::new(user, body))?;
    handler
        .handle(&message)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// The apply commands decided so far, in order.
async fn commands(pool: &PgPool) -> anyhow::Result<Vec<(Uuid, LinkId, Side, ApplyOp)>> {
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

fn zoho_read(version: &str, item: Item) -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Zoho,
        external_id: ExternalId("3652397000000624001".into()),
        version: Version(version.into()),
        item,
        identity: None,
    }
}

fn result(command_id: Uuid, link_id: LinkId, outcome: ApplyOutcome) -> ChangeMessage {
    ChangeMessage::ApplyResult {
        command_id,
        link_id,
        side: Side::Outlook,
        kind: ItemKind::Contact,
        outcome,
    }
}

fn round_end() -> ChangeMessage {
    ChangeMessage::ReadCompleted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        full: false,
        items_read: 0,
        round: None,
        lists_everything: true,
    }
}

#[tokio::test]
async fn a_copy_deleted_before_any_read_listed_it_is_asked_for_and_its_original_deleted()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = user(&pool).await?;

    handle(&handler, user, zoho_read("1", person("first"))).await?;
    let (create, link) = match &commands(&pool).await?[..] {
        [(id, link, Side::Outlook, ApplyOp::Create { .. })] => (*id, *link),
        other => panic!("a create in Outlook expected: {other:?}"),
    };
    let made = ApplyOutcome::Applied {
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck1".into()),
        content_hash: person("first").content_hash(),
    };
    handle(&handler, user, result(create, link, made)).await?;
    // The person deletes the copy at once; Outlook's next round lists nothing (the copy is in
    // neither sync state) and tells no removal.
    handle(&handler, user, round_end()).await?;
    let decided = commands(&pool).await?;
    let probe = match &decided[..] {
        [_, (id, l, Side::Outlook, ApplyOp::Probe { external_id })] => {
            assert_eq!((l, external_id.0.as_str()), (&link, "AAMkCopy"));
            *id
        }
        other => panic!("the copy asked for by id expected: {other:?}"),
    };
    handle(
        &handler,
        user,
        result(
            probe,
            link,
            ApplyOutcome::Gone {
                external_id: Some(ExternalId("AAMkCopy".into())),
            },
        ),
    )
    .await?;
    // Staged like any delete, released at the end of the deleting side's round.
    handle(&handler, user, round_end()).await?;
    let decided = commands(&pool).await?;
    assert!(
        decided.iter().any(|(_, l, side, op)| *l == link
            && *side == Side::Zoho
            && matches!(op, ApplyOp::Delete { .. })),
        "the original deleted in Zoho: {decided:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_copy_a_read_listed_is_not_asked_for() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = user(&pool).await?;

    handle(&handler, user, zoho_read("1", person("first"))).await?;
    let (create, link) = match &commands(&pool).await?[..] {
        [(id, link, Side::Outlook, ApplyOp::Create { .. })] => (*id, *link),
        other => panic!("a create in Outlook expected: {other:?}"),
    };
    let made = ApplyOutcome::Applied {
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck1".into()),
        content_hash: person("first").content_hash(),
    };
    handle(&handler, user, result(create, link, made)).await?;
    // The round lists the copy (the echo of our create), then ends.
    let echo = ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck1".into()),
        item: person("first"),
        identity: None,
    };
    handle(&handler, user, echo).await?;
    handle(&handler, user, round_end()).await?;
    assert_eq!(commands(&pool).await?.len(), 1, "nothing asked for");
    Ok(())
}

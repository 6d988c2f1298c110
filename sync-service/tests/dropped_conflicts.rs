//! The conflict log's held entries mirror the links' held conflicts (decision 107): a conflict
//! held for the user whose item is then deleted, leaves for good, or whose links are rebuilt no
//! longer waits for a choice, and the log says so (`dropped`) instead of offering a choice the
//! service would refuse. Through the handler against the real Postgres, one message at a time
//! and in a batch.

mod common;

use common::{commands, handle, handle_messages, handler, meeting, pool, synced_event, termin};
use sync_model::{ExternalId, ItemKind, Side, UserId, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};
use sync_service::domain::settings::ConflictRule;
use sync_service::handler::ChangeHandler;

/// The conflict log: (field, status), oldest first.
async fn log(pool: &sqlx::PgPool) -> anyhow::Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT field, status FROM conflicts ORDER BY id")
            .fetch_all(pool)
            .await?,
    )
}

fn held(field: &str) -> (String, String) {
    (field.to_owned(), "held".to_owned())
}

fn dropped(field: &str) -> (String, String) {
    (field.to_owned(), "dropped".to_owned())
}

/// The synced event retitled in Zoho, and in Outlook before our update of it landed: in review
/// mode, the subject's conflict waits for the user.
async fn conflict_held(pool: &sqlx::PgPool, handler: &ChangeHandler) -> anyhow::Result<UserId> {
    let (user, coming) = conflict_coming(pool, handler).await?;
    for message in coming {
        handle(handler, user, message).await?;
    }
    assert_eq!(
        log(pool).await?,
        vec![held("subject")],
        "the conflict waits"
    );
    Ok(user)
}

/// [`conflict_held`] up to Zoho's edit: the messages that hold the conflict (Outlook's read of
/// its own edit and our update's `Stale` answer) are returned.
async fn conflict_coming(
    pool: &sqlx::PgPool,
    handler: &ChangeHandler,
) -> anyhow::Result<(UserId, Vec<ChangeMessage>)> {
    let user = synced_event(pool, handler, ConflictRule::Review).await?;
    let zoho = ChangeMessage::ItemChanged {
        side: Side::Zoho,
        external_id: ExternalId("3652397000002".into()),
        version: Version("2".into()),
        item: meeting("Zoho-Titel", &[]),
        identity: None,
        modified: None,
    };
    handle(handler, user, zoho).await?;
    let update = match &commands(pool).await?[1..] {
        [(command, link, Side::Outlook, ApplyOp::Update { .. })] => (*command, *link),
        other => anyhow::bail!("one update of Outlook expected: {other:?}"),
    };
    let stale = ChangeMessage::ApplyResult {
        command_id: update.0,
        link_id: update.1,
        side: Side::Outlook,
        kind: ItemKind::Event,
        outcome: ApplyOutcome::Stale {
            external_id: ExternalId("AAMkTermin".into()),
            version: Version("ck5".into()),
            item: meeting("Outlook-Titel", &["Zoho"]),
            modified: None,
        },
    };
    Ok((user, vec![termin("Outlook-Titel", &["Zoho"], 5), stale]))
}

fn deleted_in_outlook() -> ChangeMessage {
    ChangeMessage::ItemDeleted {
        side: Side::Outlook,
        kind: ItemKind::Event,
        external_id: ExternalId("AAMkTermin".into()),
        left_scope: false,
    }
}

#[tokio::test]
async fn a_held_conflict_of_an_event_deleted_while_out_of_its_category_is_dropped()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = conflict_held(&pool, &handler).await?;
    // Out of the category, the conflict still waits for the user (decision 105).
    handle(&handler, user, termin("Outlook-Titel", &[], 9)).await?;
    assert_eq!(log(&pool).await?, vec![held("subject")]);
    // Deleted there: it cannot come back, and there is nothing left to choose.
    handle(&handler, user, deleted_in_outlook()).await?;
    assert_eq!(log(&pool).await?, vec![dropped("subject")]);
    Ok(())
}

/// The same in a batch (the set-wise path): leaving and the deletion decided together.
#[tokio::test]
async fn a_batch_drops_the_held_conflict_of_an_event_deleted_while_out() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = conflict_held(&pool, &handler).await?;
    let out_and_deleted = vec![termin("Outlook-Titel", &[], 9), deleted_in_outlook()];
    handle_messages(&handler, user, out_and_deleted).await?;
    assert_eq!(log(&pool).await?, vec![dropped("subject")]);
    Ok(())
}

/// Held and dropped within one batch: the entry is recorded, then dropped, in that order.
#[tokio::test]
async fn a_conflict_held_and_given_up_within_one_batch_is_dropped() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (user, mut batch) = conflict_coming(&pool, &handler).await?;
    assert_eq!(log(&pool).await?, vec![]);
    batch.extend([termin("Outlook-Titel", &[], 9), deleted_in_outlook()]);
    handle_messages(&handler, user, batch).await?;
    assert_eq!(log(&pool).await?, vec![dropped("subject")]);
    Ok(())
}

/// A conflict decided while held stays as it is when the links are later saved or dropped;
/// only what still waits becomes `dropped` when the links of the kind are rebuilt.
#[tokio::test]
async fn a_links_rebuild_drops_the_conflicts_that_wait_and_keeps_the_rest() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = conflict_held(&pool, &handler).await?;
    sqlx::query(
        "INSERT INTO conflicts (user_id, link_id, kind, label, field, rule, winner, status)
         SELECT user_id, link_id, kind, label, 'location', rule, 'zoho', 'resolved'
         FROM conflicts",
    )
    .execute(&pool)
    .await?;
    // A later read of the event saves its link, the conflict still held: nothing changes.
    handle(&handler, user, termin("Outlook-Titel", &["Zoho"], 7)).await?;
    assert_eq!(
        log(&pool).await?,
        vec![held("subject"), ("location".into(), "resolved".into())]
    );
    let mut tx = pool.begin().await?;
    sync_service::store::links::remove_kind(&mut tx, user, ItemKind::Event).await?;
    tx.commit().await?;
    assert_eq!(
        log(&pool).await?,
        vec![dropped("subject"), ("location".into(), "resolved".into())]
    );
    Ok(())
}

/// A run that removes a link and saves it anew holding its conflicts (the finale's pair keeping
/// the Zoho half's id) leaves them held; a link only removed drops them.
#[tokio::test]
async fn a_link_removed_and_saved_anew_with_its_conflicts_keeps_them_held() -> anyhow::Result<()> {
    use sync_service::store::{batch, links};
    let pool = pool().await?;
    let handler = handler(&pool);
    conflict_held(&pool, &handler).await?;
    let (id,): (uuid::Uuid,) = sqlx::query_as("SELECT link_id FROM conflicts")
        .fetch_one(&pool)
        .await?;
    let mut tx = pool.begin().await?;
    let link = links::get(&mut tx, sync_model::LinkId(id))
        .await?
        .expect("the link");
    assert_eq!(link.held.len(), 1);
    links::remove_many(&mut tx, &[link.id], &[link.id]).await?;
    batch::save(&mut tx, &[&link], &[]).await?;
    tx.commit().await?;
    assert_eq!(log(&pool).await?, vec![held("subject")]);

    let mut tx = pool.begin().await?;
    links::remove_many(&mut tx, &[link.id], &[]).await?;
    tx.commit().await?;
    assert_eq!(log(&pool).await?, vec![dropped("subject")]);
    Ok(())
}

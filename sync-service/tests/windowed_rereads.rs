//! A read parked behind our create of the same content (decision 84), then a re-read of a
//! window of its side (Outlook's calendar) that did not list it: the item may have been deleted
//! unannounced in between, so when the create's answer releases the read, the item is asked for
//! by id before anything is copied (decision 102). Through the handler against the real
//! Postgres, one message at a time and in a batch. (The handler treats a window of contacts as
//! it treats one of events; contacts keep the setup short.)

mod common;

use common::{commands, contact_user, handle, handler, outlook_result, pool, zoho_read};
use sync_model::{Contact, ExternalId, Item, ItemKind, LinkId, Side, UserId, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};
use sync_service::handler::ChangeHandler;
use uuid::Uuid;

fn person() -> Item {
    Item::Contact(Contact {
        given_name: Some("Aiko".into()),
        surname: Some("Mori".into()),
        ..Contact::default()
    })
}

/// Outlook's read of `id`, holding the same content as the Zoho contact we are creating there.
fn twin_read(id: &str) -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId(id.into()),
        version: Version("ck1".into()),
        item: person(),
        identity: None,
        modified: None,
    }
}

const ROUND: Uuid = Uuid::from_u128(0x5eed);

fn window_started() -> ChangeMessage {
    ChangeMessage::ReadStarted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        round: ROUND,
        lists_everything: false,
    }
}

fn window_completed(items_read: u64) -> ChangeMessage {
    ChangeMessage::ReadCompleted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        full: true,
        items_read,
        round: Some(ROUND),
        lists_everything: false,
    }
}

/// Our create of the Zoho contact in Outlook is in flight, and a person's Outlook contact with
/// the same content, `AAMkTwin`, is read meanwhile: parked. Returns the create and its link.
async fn twin_parked(
    pool: &sqlx::PgPool,
    handler: &ChangeHandler,
    user: UserId,
) -> anyhow::Result<(Uuid, LinkId)> {
    handle(handler, user, zoho_read("1", person())).await?;
    let [(create, link, Side::Outlook, ApplyOp::Create { .. })] = &commands(pool).await?[..] else {
        panic!("a create in Outlook expected");
    };
    handle(handler, user, twin_read("AAMkTwin")).await?;
    let (parked,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM parked_changes WHERE external_id = 'AAMkTwin'")
            .fetch_one(pool)
            .await?;
    assert_eq!(parked, 1, "the twin waits for our create's answer");
    Ok((*create, *link))
}

/// Our create's answer: it made `AAMkCopy`, not the twin.
fn created(create: Uuid, link: LinkId) -> ChangeMessage {
    outlook_result(
        create,
        link,
        ApplyOutcome::Applied {
            external_id: ExternalId("AAMkCopy".into()),
            version: Version("ck1".into()),
            content_hash: person().content_hash(),
            modified: None,
        },
    )
}

/// The commands decided after the first `skip`, without their ids.
async fn decided_since(
    pool: &sqlx::PgPool,
    skip: usize,
) -> anyhow::Result<Vec<(Uuid, LinkId, Side, ApplyOp)>> {
    Ok(commands(pool).await?.into_iter().skip(skip).collect())
}

async fn twin_links(pool: &sqlx::PgPool) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM links WHERE outlook_id = 'AAMkTwin'")
        .fetch_one(pool)
        .await?;
    Ok(n)
}

/// The twin parked, a window read that does not list it, then our create's answer: the twin
/// is released and asked for by id, nothing made in Zoho yet. Returns the ask and its link.
async fn twin_asked_for(
    pool: &sqlx::PgPool,
    handler: &ChangeHandler,
    user: UserId,
) -> anyhow::Result<(Uuid, LinkId)> {
    let (create, link) = twin_parked(pool, handler, user).await?;
    // The twin is deleted, or lies outside the window: the window read does not list it.
    handle(handler, user, window_started()).await?;
    handle(handler, user, window_completed(0)).await?;
    handle(handler, user, created(create, link)).await?;
    match &decided_since(pool, 1).await?[..] {
        [(probe, twin, Side::Outlook, ApplyOp::Probe { external_id })]
            if external_id.0 == "AAMkTwin" =>
        {
            Ok((*probe, *twin))
        }
        other => panic!("one ask for the twin by id expected: {other:?}"),
    }
}

#[tokio::test]
async fn a_parked_read_a_window_did_not_list_is_asked_for_and_not_copied_when_gone()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let (probe, twin) = twin_asked_for(&pool, &handler, user).await?;

    // Outlook has no such item: the link goes, and Zoho never gets a copy.
    let gone = ApplyOutcome::Gone {
        external_id: Some(ExternalId("AAMkTwin".into())),
    };
    handle(&handler, user, outlook_result(probe, twin, gone)).await?;
    handle(&handler, user, common::outlook_round_end()).await?;
    assert_eq!(
        twin_links(&pool).await?,
        0,
        "the gone twin is linked to nothing"
    );
    assert!(
        decided_since(&pool, 2).await?.is_empty(),
        "nothing is written anywhere for a gone item"
    );
    Ok(())
}

#[tokio::test]
async fn a_parked_read_a_window_did_not_list_is_copied_once_found() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let (probe, twin) = twin_asked_for(&pool, &handler, user).await?;

    // It lies outside the window and is still there: now it is copied, once.
    let found = ApplyOutcome::Stale {
        external_id: ExternalId("AAMkTwin".into()),
        version: Version("ck1".into()),
        item: person(),
        modified: None,
    };
    handle(&handler, user, outlook_result(probe, twin, found)).await?;
    match &decided_since(&pool, 2).await?[..] {
        [(_, copied, Side::Zoho, ApplyOp::Create { item, .. })] => {
            assert_eq!(*copied, twin);
            assert_eq!(item, &person());
        }
        other => panic!("one create in Zoho expected: {other:?}"),
    }
    assert_eq!(twin_links(&pool).await?, 1);
    Ok(())
}

/// Listed by the window read, the twin is known to be there: released as any new item.
#[tokio::test]
async fn a_parked_read_the_window_listed_again_is_copied_without_asking() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let (create, link) = twin_parked(&pool, &handler, user).await?;
    let bodies = vec![
        window_started(),
        twin_read("AAMkTwin"),
        window_completed(1),
        created(create, link),
    ];
    common::handle_messages(&handler, user, bodies).await?;
    match &decided_since(&pool, 1).await?[..] {
        [(_, _, Side::Zoho, ApplyOp::Create { item, .. })] => assert_eq!(item, &person()),
        other => panic!("the twin copied to Zoho without an ask expected: {other:?}"),
    }
    Ok(())
}

/// The same release in a batch (the set-wise path): the unconfirmed twin is asked for.
#[tokio::test]
async fn a_batch_asks_for_a_parked_read_the_window_did_not_list() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let (create, link) = twin_parked(&pool, &handler, user).await?;
    let bodies = vec![window_started(), window_completed(0), created(create, link)];
    common::handle_messages(&handler, user, bodies).await?;
    match &decided_since(&pool, 1).await?[..] {
        [(_, _, Side::Outlook, ApplyOp::Probe { external_id })] => {
            assert_eq!(external_id.0, "AAMkTwin")
        }
        other => panic!("one ask for the twin by id expected: {other:?}"),
    }
    Ok(())
}

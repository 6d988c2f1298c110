//! A copy our create made, deleted there before any read listed it (decisions 91, 101), through
//! the handler against the real Postgres: Graph's `calendarView/delta` never tells the removal
//! of an event its sync state did not list, so the end of a round of that side that began after
//! the create asks for the copy by id, and its absence deletes the original. The round that was
//! under way when the create was answered may not have seen the copy: it asks nothing.

mod common;

use common::{
    commands, contact_user, handle, handler, outlook_result as result, outlook_round_end, pool,
    zoho_read,
};

use sqlx::PgPool;
use sync_model::{Contact, ExternalId, Item, LinkId, Side, UserId, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};
use sync_service::handler::ChangeHandler;

fn person(job: &str) -> Item {
    Item::Contact(Contact {
        given_name: Some("Ken".into()),
        surname: Some("Watanabe".into()),
        job_title: Some(job.into()),
        ..Contact::default()
    })
}

/// A read of the copy (the echo of our create).
fn echo() -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck1".into()),
        item: person("first"),
        identity: None,
        modified: None,
    }
}

/// A Zoho contact copied to Outlook, the create answered: the copy is `AAMkCopy`.
async fn copy_made() -> anyhow::Result<(PgPool, ChangeHandler, UserId, LinkId)> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;

    handle(&handler, user, zoho_read("1", person("first"))).await?;
    let (create, link) = match &commands(&pool).await?[..] {
        [(id, link, Side::Outlook, ApplyOp::Create { .. })] => (*id, *link),
        other => panic!("a create in Outlook expected: {other:?}"),
    };
    let made = ApplyOutcome::Applied {
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck1".into()),
        content_hash: person("first").content_hash(),
        modified: None,
    };
    handle(&handler, user, result(create, link, made)).await?;
    Ok((pool, handler, user, link))
}

#[tokio::test]
async fn a_copy_deleted_before_any_read_listed_it_is_asked_for_and_its_original_deleted()
-> anyhow::Result<()> {
    let (pool, handler, user, link) = copy_made().await?;
    // The person deletes the copy at once. The round under way when the create was answered
    // ends without listing it: it may have begun before the copy existed, so nothing is asked.
    handle(&handler, user, outlook_round_end()).await?;
    assert_eq!(commands(&pool).await?.len(), 1, "nothing asked for yet");
    // The next round lists nothing either (the copy is in neither sync state) and tells no
    // removal.
    handle(&handler, user, outlook_round_end()).await?;
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
    handle(&handler, user, outlook_round_end()).await?;
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
    let (pool, handler, user, _link) = copy_made().await?;
    // The round lists the copy (the echo of our create), then ends.
    handle(&handler, user, echo()).await?;
    handle(&handler, user, outlook_round_end()).await?;
    handle(&handler, user, outlook_round_end()).await?;
    assert_eq!(commands(&pool).await?.len(), 1, "nothing asked for");
    Ok(())
}

/// The first sync's case: rounds follow each other while the creates are answered. A round under
/// way at an answer ends without the copy; the next lists it (the echo). Nothing is asked for.
#[tokio::test]
async fn a_copy_answered_during_a_round_is_listed_by_the_next_and_never_asked_for()
-> anyhow::Result<()> {
    let (pool, handler, user, _link) = copy_made().await?;
    handle(&handler, user, outlook_round_end()).await?;
    handle(&handler, user, echo()).await?;
    handle(&handler, user, outlook_round_end()).await?;
    handle(&handler, user, outlook_round_end()).await?;
    assert_eq!(commands(&pool).await?.len(), 1, "nothing asked for");
    Ok(())
}

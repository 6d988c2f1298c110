//! A page published by a poller whose lease another replica took over (decisions #111, #112),
//! through the handler against the real Postgres. The stalled poller read a new Outlook contact;
//! the user deleted it; the replica that took the watch over reported the delete and its
//! round's end. The stalled page arriving after all that must not copy the deleted contact to
//! Zoho: its claim is older than the newest seen for the user's Outlook contacts.

mod common;

use common::{commands, contact_user, handle_batch, handler, new_outlook_contact, pool};
use sync_model::{ExternalId, ItemKind, Side, UserId};
use sync_protocol::{ApplyOp, ChangeMessage, Envelope, PollClaim};

fn delivery(user: UserId, claim: Option<PollClaim>, body: ChangeMessage) -> Vec<u8> {
    serde_json::to_vec(&Envelope::new(user, body).with_claim(claim)).expect("serialisable")
}

fn deleted(name: &str) -> ChangeMessage {
    ChangeMessage::ItemDeleted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        external_id: ExternalId(format!("AAMk-{name}")),
        left_scope: false,
    }
}

fn round_end() -> ChangeMessage {
    ChangeMessage::ReadCompleted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        full: false,
        items_read: 1,
        round: None,
        lists_everything: true,
    }
}

/// The names of the contacts a create was decided for in Zoho.
async fn created_in_zoho(pool: &sqlx::PgPool) -> anyhow::Result<Vec<String>> {
    Ok(commands(pool)
        .await?
        .into_iter()
        .filter_map(|(_, _, side, op)| match (side, op) {
            (
                Side::Zoho,
                ApplyOp::Create {
                    item: sync_model::Item::Contact(c),
                    ..
                },
            ) => c.given_name,
            _ => None,
        })
        .collect())
}

#[tokio::test]
async fn a_stalled_page_after_the_new_holders_round_is_dropped_one_by_one() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let (stalled, taken_over) = (Some(PollClaim(41)), Some(PollClaim(42)));

    for message in [
        delivery(user, taken_over, deleted("Aiko")),
        delivery(user, taken_over, round_end()),
        delivery(user, stalled, new_outlook_contact("Aiko")),
        // Later news still counts: the new holder's next read, and a message with no claim
        // (a connector of an earlier version).
        delivery(user, taken_over, new_outlook_contact("Ben")),
        delivery(user, None, new_outlook_contact("Chie")),
    ] {
        handler
            .handle(&message)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    assert_eq!(created_in_zoho(&pool).await?, vec!["Ben", "Chie"]);
    let (links,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM links WHERE outlook_id = 'AAMk-Aiko'")
            .fetch_one(&pool)
            .await?;
    assert_eq!(links, 0, "the deleted contact is not linked");
    Ok(())
}

#[tokio::test]
async fn a_stalled_page_is_dropped_in_a_batch_and_after_it() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let claim = |number| Some(PollClaim(number));

    // One batch: the new holder's round, then the stalled page, then the new holder's next read.
    handle_batch(
        &handler,
        &[
            delivery(user, claim(8), deleted("Aiko")),
            delivery(user, claim(8), round_end()),
            delivery(user, claim(7), new_outlook_contact("Aiko")),
            delivery(user, claim(9), new_outlook_contact("Ben")),
        ],
    )
    .await?;
    assert_eq!(created_in_zoho(&pool).await?, vec!["Ben"]);

    // The newest claim (9) is stored by the set-wise path: a page of an older claim is dropped
    // in later transactions too, alone (one by one) and in a run of the user's messages
    // (set-wise), while another user's claims are their own.
    let other = contact_user(&pool).await?;
    handle_batch(
        &handler,
        &[delivery(user, claim(7), new_outlook_contact("Dai"))],
    )
    .await?;
    handle_batch(
        &handler,
        &[
            delivery(user, claim(7), new_outlook_contact("Emi")),
            delivery(user, claim(7), new_outlook_contact("Gen")),
            delivery(other, claim(7), new_outlook_contact("Fumi")),
        ],
    )
    .await?;
    assert_eq!(created_in_zoho(&pool).await?, vec!["Ben", "Fumi"]);
    Ok(())
}

#[tokio::test]
async fn a_stalled_page_before_the_new_holders_messages_is_read_and_then_overtaken()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let claim = |number| Some(PollClaim(number));

    // The stalled page reaches the queue first: it is an older read like any other, and the
    // new holder's round, which read the same changes again with the delete, follows it.
    handle_batch(
        &handler,
        &[delivery(user, claim(3), new_outlook_contact("Aiko"))],
    )
    .await?;
    assert_eq!(created_in_zoho(&pool).await?, vec!["Aiko"]);
    handle_batch(
        &handler,
        &[
            delivery(user, claim(4), deleted("Aiko")),
            delivery(user, claim(4), round_end()),
        ],
    )
    .await?;
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM links WHERE outlook_id = 'AAMk-Aiko'")
            .fetch_one(&pool)
            .await?;
    // Staged: it waits for the answer to the create in flight to Zoho.
    assert!(
        matches!(status.as_str(), "staged_delete" | "deleted"),
        "the delete is taken in, not dropped: {status}"
    );
    Ok(())
}

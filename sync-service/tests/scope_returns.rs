//! An Outlook event put out of the synced categories and back again (decision 105), through
//! the handler against the real Postgres, one message at a time and in a batch: the link keeps
//! the event's id while it is out, so a late read from before it left changes nothing, and a
//! read of it back in scope pairs it with its Zoho event again instead of copying it.

mod common;

use common::{commands, handle, handle_messages, handler, pool, termin};
use sync_model::{ExternalId, Item, ItemKind, Side};
use sync_protocol::{ApplyOp, ChangeMessage};
use sync_service::domain::settings::ConflictRule;

/// The user's event links: (status, Outlook id, Zoho id).
async fn links(
    pool: &sqlx::PgPool,
) -> anyhow::Result<Vec<(String, Option<String>, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT status, outlook_id, zoho_id FROM links WHERE kind = 'event' ORDER BY created_at",
    )
    .fetch_all(pool)
    .await?)
}

fn out_of_scope() -> (String, Option<String>, Option<String>) {
    (
        "out_of_scope".into(),
        Some("AAMkTermin".into()),
        Some("3652397000002".into()),
    )
}

#[tokio::test]
async fn an_event_put_back_in_its_category_pairs_with_its_zoho_event_again() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = common::synced_event(&pool, &handler, ConflictRule::ZohoWins).await?;

    // The category removed at 10:00:05: the event leaves the scope, Zoho's stays.
    handle(&handler, user, termin("Quartalsgespräch", &[], 5)).await?;
    assert_eq!(links(&pool).await?, vec![out_of_scope()]);
    // A read from 10:00:03, with the category, published late: it changes nothing.
    handle(&handler, user, termin("Quartalsgespräch", &["Zoho"], 3)).await?;
    assert_eq!(links(&pool).await?, vec![out_of_scope()]);
    assert_eq!(commands(&pool).await?.len(), 1, "nothing written or copied");

    // Put back at 10:00:09 with a new subject: the same pair syncs again, the edit goes to
    // Zoho as an update of its event, and no second event is made.
    handle(&handler, user, termin("Jahresgespräch", &["Zoho"], 9)).await?;
    let active = (
        "active".to_owned(),
        Some("AAMkTermin".to_owned()),
        Some("3652397000002".to_owned()),
    );
    assert_eq!(links(&pool).await?, vec![active]);
    match &commands(&pool).await?[1..] {
        [
            (
                _,
                _,
                Side::Zoho,
                ApplyOp::Update {
                    external_id, item, ..
                },
            ),
        ] => {
            assert_eq!(external_id, &ExternalId("3652397000002".into()));
            let Item::Event(event) = item else {
                panic!("an event: {item:?}")
            };
            assert_eq!(event.subject, "Jahresgespräch");
        }
        other => panic!("one update of the Zoho event expected: {other:?}"),
    }
    Ok(())
}

/// The same in batches (the set-wise path): the late read and the return in one batch each.
#[tokio::test]
async fn a_batch_pairs_an_event_back_in_its_category_with_its_zoho_event() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = common::synced_event(&pool, &handler, ConflictRule::ZohoWins).await?;

    let out_and_late = vec![
        termin("Quartalsgespräch", &[], 5),
        termin("Quartalsgespräch", &["Zoho"], 3),
    ];
    handle_messages(&handler, user, out_and_late).await?;
    assert_eq!(links(&pool).await?, vec![out_of_scope()]);
    assert_eq!(commands(&pool).await?.len(), 1, "nothing written or copied");

    let back = vec![
        termin("Quartalsgespräch", &["Zoho"], 3),
        termin("Jahresgespräch", &["Zoho"], 9),
    ];
    handle_messages(&handler, user, back).await?;
    let decided: Vec<(Side, bool)> = commands(&pool)
        .await?
        .into_iter()
        .skip(1)
        .map(|(_, _, side, op)| (side, matches!(op, ApplyOp::Create { .. })))
        .collect();
    assert_eq!(decided, vec![(Side::Zoho, false)], "one update, no create");
    let (status, _, zoho) = links(&pool).await?.remove(0);
    assert_eq!(
        (status.as_str(), zoho.as_deref()),
        ("active", Some("3652397000002"))
    );
    assert_eq!(links(&pool).await?.len(), 1);
    Ok(())
}

/// Deleted in Outlook while out of its category: the Zoho event stays, out of scope, and the
/// link no longer answers to the Outlook id.
#[tokio::test]
async fn an_event_deleted_while_out_of_its_category_leaves_the_zoho_event() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = common::synced_event(&pool, &handler, ConflictRule::ZohoWins).await?;
    handle(&handler, user, termin("Quartalsgespräch", &[], 5)).await?;
    let deleted = ChangeMessage::ItemDeleted {
        side: Side::Outlook,
        kind: ItemKind::Event,
        external_id: ExternalId("AAMkTermin".into()),
        left_scope: false,
    };
    handle(&handler, user, deleted).await?;
    assert_eq!(
        links(&pool).await?,
        vec![("out_of_scope".into(), None, Some("3652397000002".into()))]
    );
    assert_eq!(commands(&pool).await?.len(), 1, "nothing deleted in Zoho");
    Ok(())
}

//! A create whose answer was lost (decisions #79, #84), through the handler against the real
//! Postgres: retried at the end of that side's next round with `may_exist`, answered by the
//! copy the first attempt made (`stale`), which joins the link and is brought up to date with
//! what the other side changed meanwhile. No second create.

mod common;

use common::{
    commands, contact_user, handle, handler, outlook_result as result, outlook_round_end, pool,
    zoho_read,
};

use sync_model::{Contact, ExternalId, Item, Side, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, FailureCode};

fn person(job: &str, department: Option<&str>) -> Item {
    Item::Contact(Contact {
        given_name: Some("Ken".into()),
        surname: Some("Watanabe".into()),
        job_title: Some(job.into()),
        department: department.map(Into::into),
        ..Contact::default()
    })
}

#[tokio::test]
async fn a_lost_create_is_retried_with_may_exist_and_the_copy_it_finds_joins_the_link()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;

    handle(&handler, user, zoho_read("1", person("first", None))).await?;
    let (first, link) = match &commands(&pool).await?[..] {
        [(id, link, Side::Outlook, ApplyOp::Create { may_exist, .. })] => {
            assert!(!may_exist);
            (*id, *link)
        }
        other => panic!("a create in Outlook expected: {other:?}"),
    };
    // Graph made the item; its answer was lost.
    let lost = ApplyOutcome::Failed {
        code: FailureCode::CreateUnconfirmed,
        message: "the answer was lost".into(),
        retryable: false,
    };
    handle(&handler, user, result(first, link, lost)).await?;
    // Zoho's user edits the record meanwhile: nothing is written to Outlook yet.
    handle(&handler, user, zoho_read("2", person("second", None))).await?;
    assert_eq!(commands(&pool).await?.len(), 1);

    // Outlook's round ends without showing the copy (it lies outside the window it reads).
    handle(&handler, user, outlook_round_end()).await?;
    let decided = commands(&pool).await?;
    let (retry, retry_link, may_exist) = match &decided[..] {
        [_, (id, l, Side::Outlook, ApplyOp::Create { may_exist, .. })] => (*id, *l, *may_exist),
        other => panic!("a retried create expected: {other:?}"),
    };
    assert_eq!(retry_link, link);
    assert!(may_exist, "the retry says its copy may exist");

    // The connector finds the copy: it holds what the first attempt sent, and an Outlook
    // user's department.
    let found = ApplyOutcome::Stale {
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck1".into()),
        item: person("first", Some("Sales")),
        modified: None,
    };
    handle(&handler, user, result(retry, link, found)).await?;

    let (links, outlook_id): (i64, Option<String>) =
        sqlx::query_as("SELECT count(*), max(outlook_id) FROM links WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&pool)
            .await?;
    assert_eq!(links, 1);
    assert_eq!(outlook_id.as_deref(), Some("AAMkCopy"));
    let decided = commands(&pool).await?;
    let creates = decided
        .iter()
        .filter(|(.., op)| matches!(op, ApplyOp::Create { .. }))
        .count();
    assert_eq!(
        creates, 2,
        "no create after the copy was found: {decided:?}"
    );
    let update = |side: Side| {
        decided[2..].iter().find_map(|(_, _, s, op)| match op {
            ApplyOp::Update {
                external_id, item, ..
            } if *s == side => Some((external_id.0.clone(), item.clone())),
            _ => None,
        })
    };
    // The copy gets Zoho's edit; Zoho gets the Outlook user's department.
    assert_eq!(
        update(Side::Outlook),
        Some((
            "AAMkCopy".into(),
            person("second", Some("Sales")).project_for(Side::Outlook)
        ))
    );
    assert_eq!(
        update(Side::Zoho).map(|(id, _)| id),
        Some("3652397000000624001".into())
    );
    pool.close().await;
    Ok(())
}

//! Reads ordered by when the provider last changed the item (decision 100), through the
//! handler against the real Postgres: a poller's read that reaches the queue after a write's
//! answer read the item again is the older, and undoes nothing of what the answer showed.

mod common;

use chrono::{DateTime, Utc};
use common::{
    commands, contact_user, handle, handler, outlook_result as result, outlook_round_end, pool,
    zoho_read,
};

use sync_model::{Contact, ExternalId, Item, Modified, Side, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, FailureCode};

fn person(department: Option<&str>) -> Item {
    Item::Contact(Contact {
        given_name: Some("Ken".into()),
        surname: Some("Watanabe".into()),
        job_title: Some("Leiter".into()),
        department: department.map(Into::into),
        ..Contact::default()
    })
}

fn at(time: &str) -> Option<Modified> {
    time.parse::<DateTime<Utc>>().ok().map(Modified)
}

/// A poller's read of Outlook item `id` at `version`, changed at `time`.
fn outlook_read(id: &str, version: &str, department: Option<&str>, time: &str) -> ChangeMessage {
    ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId(id.into()),
        version: Version(version.into()),
        item: person(department),
        identity: None,
        modified: at(time),
    }
}

async fn target_department(pool: &sqlx::PgPool) -> anyhow::Result<Option<String>> {
    let (department,): (Option<String>,) = sqlx::query_as(
        "SELECT doc->'target'->>'department' FROM links WHERE outlook_id = 'AAMkCopy'",
    )
    .fetch_one(pool)
    .await?;
    Ok(department)
}

#[tokio::test]
async fn an_older_read_after_a_found_copy_undoes_no_edit_the_answer_showed() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;

    // A Zoho contact is created in Outlook; Graph made it, and the answer was lost.
    handle(&handler, user, zoho_read("1", person(None))).await?;
    let [(first, link, Side::Outlook, ApplyOp::Create { .. })] = &commands(&pool).await?[..] else {
        panic!("a create in Outlook expected");
    };
    let (first, link) = (*first, *link);
    let lost = ApplyOutcome::Failed {
        code: FailureCode::CreateUnconfirmed,
        message: "the answer was lost".into(),
        retryable: false,
    };
    handle(&handler, user, result(first, link, lost)).await?;
    handle(&handler, user, outlook_round_end()).await?;
    let retry = match &commands(&pool).await?[..] {
        [
            _,
            (
                id,
                _,
                Side::Outlook,
                ApplyOp::Create {
                    may_exist: true, ..
                },
            ),
        ] => *id,
        other => panic!("a retried create expected: {other:?}"),
    };

    // The retry finds the copy as the Outlook user left it at 10:00:05: a department added.
    let found = ApplyOutcome::Stale {
        external_id: ExternalId("AAMkCopy".into()),
        version: Version("ck3".into()),
        item: person(Some("Vertrieb")),
        modified: at("2026-12-07T10:00:05Z"),
    };
    handle(&handler, user, result(retry, link, found)).await?;
    assert_eq!(target_department(&pool).await?.as_deref(), Some("Vertrieb"));
    let decided = commands(&pool).await?.len();

    // The poller's read of the copy as it was at 10:00:02, before that edit, comes after.
    let late = outlook_read("AAMkCopy", "ck2", None, "2026-12-07T10:00:02Z");
    handle(&handler, user, late).await?;
    assert_eq!(
        target_department(&pool).await?.as_deref(),
        Some("Vertrieb"),
        "the older read removes nothing"
    );
    assert_eq!(commands(&pool).await?.len(), decided);

    // A read made after the answer is an edit as ever: the department goes.
    let newer = outlook_read("AAMkCopy", "ck4", None, "2026-12-07T10:00:09Z");
    handle(&handler, user, newer).await?;
    assert_eq!(target_department(&pool).await?, None);
    Ok(())
}

/// A read parked behind our create of the same content (decision 84) is replaced by a newer read
/// of the item, never by one changed before it.
#[tokio::test]
async fn a_parked_read_is_replaced_by_a_newer_read_only() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;

    // A Zoho contact is being created in Outlook; the poller reads the copy before the answer.
    handle(&handler, user, zoho_read("1", person(None))).await?;
    let read = |version: &str, department: Option<&str>, time: &str| {
        outlook_read("AAMkEcho", version, department, time)
    };
    let parked = || async {
        sqlx::query_as::<_, (String,)>(
            "SELECT version FROM parked_changes WHERE external_id = 'AAMkEcho'",
        )
        .fetch_all(&pool)
        .await
    };
    handle(&handler, user, read("ck1", None, "2026-12-07T10:00:01Z")).await?;
    assert_eq!(parked().await?, vec![("ck1".to_owned(),)]);
    // A newer read replaces it; an older one, published late, does not.
    handle(
        &handler,
        user,
        read("ck3", Some("Vertrieb"), "2026-12-07T10:00:03Z"),
    )
    .await?;
    handle(
        &handler,
        user,
        read("ck2", Some("Einkauf"), "2026-12-07T10:00:02Z"),
    )
    .await?;
    assert_eq!(parked().await?, vec![("ck3".to_owned(),)]);
    Ok(())
}

/// Decision 103: a read that the category filter puts outside the scope drops the parked read
/// of its item only when it is not older than that read.
#[tokio::test]
async fn an_older_read_outside_the_category_filter_keeps_a_newer_parked_read() -> anyhow::Result<()>
{
    use sync_model::ItemKind;

    let pool = pool().await?;
    let handler = handler(&pool);
    let user = common::event_user(&pool).await?;

    let meeting = |categories: &[&str]| common::meeting("Quartalsgespräch", categories);
    // A Zoho event is being created in Outlook (tagged "Zoho"); an Outlook event with the same
    // content, read at 10:00:05, waits for that create's answer.
    let zoho = ChangeMessage::ItemChanged {
        side: Side::Zoho,
        external_id: ExternalId("3652397000001".into()),
        version: Version("1".into()),
        item: meeting(&[]),
        identity: None,
        modified: None,
    };
    handle(&handler, user, zoho).await?;
    let outlook = |categories: &[&str], version: &str, time: &str| ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id: ExternalId("AAMkTermin".into()),
        version: Version(version.into()),
        item: meeting(categories),
        identity: None,
        modified: at(time),
    };
    handle(
        &handler,
        user,
        outlook(&["Zoho"], "ck5", "2026-12-07T10:00:05Z"),
    )
    .await?;
    let parked = || async {
        sqlx::query_as::<_, (String,)>(
            "SELECT version FROM parked_changes WHERE external_id = 'AAMkTermin' AND kind = $1",
        )
        .bind(ItemKind::Event.as_str())
        .fetch_all(&pool)
        .await
    };
    assert_eq!(parked().await?, vec![("ck5".to_owned(),)]);

    // A read from 10:00:03, without the category, published late: the parked read stays.
    handle(&handler, user, outlook(&[], "ck3", "2026-12-07T10:00:03Z")).await?;
    assert_eq!(parked().await?, vec![("ck5".to_owned(),)]);
    // One from 10:00:07 without it: the event has left the scope, and its parked read goes.
    handle(&handler, user, outlook(&[], "ck7", "2026-12-07T10:00:07Z")).await?;
    assert!(parked().await?.is_empty());
    Ok(())
}

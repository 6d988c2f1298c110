//! The first sync's finale in pages (decisions #83) against the real Postgres: a first sync of
//! 2,000 contacts settled in pages of 100 steps, each in its own transaction; another user's
//! change handled between two pages; the user's own changes during the finale (a pair's partner
//! deleted, a new item) come out right; the pager stopped after a few pages and a new one
//! started (a replica killed and replaced) finishes with every pair linked once and every other
//! item created once.

mod common;

use common::{handler, new_contact_user as new_user, pool};

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sync_model::{Contact, EmailAddress, ExternalId, Item, ItemKind, Side, UserId, Version};
use sync_protocol::{ChangeMessage, Envelope};
use sync_service::handler::ChangeHandler;
use tokio_util::sync::CancellationToken;

const PAIRS: usize = 800;
const OUTLOOK_ONLY: usize = 200;
const ZOHO_ONLY: usize = 200;
const PAGE: usize = 100;

async fn handle(handler: &ChangeHandler, user: UserId, body: ChangeMessage) -> anyhow::Result<()> {
    let data = serde_json::to_vec(&Envelope::new(user, body))?;
    // Boxed: the handler's future is large for a debug build's test thread stack.
    Box::pin(handler.handle(&data))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn person(n: usize) -> Item {
    Item::Contact(Contact {
        given_name: Some(format!("Person{n}")),
        surname: Some("Tanaka".into()),
        emails: vec![EmailAddress(format!("person{n}@example.jp"))],
        ..Contact::default()
    })
}

async fn read(
    handler: &ChangeHandler,
    user: UserId,
    side: Side,
    id: String,
    item: Item,
) -> anyhow::Result<()> {
    handle(
        handler,
        user,
        ChangeMessage::ItemChanged {
            side,
            external_id: ExternalId(id),
            version: Version("v1".into()),
            item,
            identity: None,
            modified: None,
        },
    )
    .await
}

async fn full_read_ends(
    handler: &ChangeHandler,
    user: UserId,
    side: Side,
    items: u64,
) -> anyhow::Result<()> {
    handle(
        handler,
        user,
        ChangeMessage::ReadCompleted {
            side,
            kind: ItemKind::Contact,
            full: true,
            items_read: items,
            round: None,
            lists_everything: true,
        },
    )
    .await
}

async fn first_sync_done(pool: &PgPool, user: UserId) -> anyhow::Result<bool> {
    let done: Option<(bool,)> = sqlx::query_as(
        "SELECT first_sync_done FROM kind_progress WHERE user_id = $1 AND kind = 'contact'",
    )
    .bind(user.0)
    .fetch_optional(pool)
    .await?;
    Ok(done.is_some_and(|(d,)| d))
}

/// Creates the user's commands ask for, per link.
async fn creates(pool: &PgPool, user: UserId) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT payload->'body'->>'link_id', count(*) FROM outbox
         WHERE user_id = $1 AND payload->'body'->>'type' = 'apply'
           AND payload->'body'->'op'->>'op' = 'create'
         GROUP BY 1",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?)
}

#[tokio::test]
async fn a_large_first_sync_is_settled_in_pages_that_resume_after_a_crash() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = new_user(&pool).await?;

    // Both full reads: PAIRS people on both sides, some on one side only.
    for n in 0..PAIRS + OUTLOOK_ONLY {
        read(&handler, user, Side::Outlook, format!("o-{n}"), person(n)).await?;
    }
    for n in (0..PAIRS).chain(PAIRS + OUTLOOK_ONLY..PAIRS + OUTLOOK_ONLY + ZOHO_ONLY) {
        read(&handler, user, Side::Zoho, format!("z-{n}"), person(n)).await?;
    }
    full_read_ends(&handler, user, Side::Outlook, (PAIRS + OUTLOOK_ONLY) as u64).await?;
    full_read_ends(&handler, user, Side::Zoho, (PAIRS + ZOHO_ONLY) as u64).await?;

    // The round end planned the finale and settled nothing yet.
    assert!(!first_sync_done(&pool, user).await?);
    let (planned, settled): (i64, i64) =
        sqlx::query_as("SELECT planned, settled FROM finales WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(&pool)
            .await?;
    assert_eq!(
        (planned, settled),
        ((PAIRS + OUTLOOK_ONLY + ZOHO_ONLY) as i64, 0)
    );
    assert!(creates(&pool, user).await?.is_empty());

    // Three pages, each its own transaction.
    for _ in 0..3 {
        let page = sync_service::finale::page(&pool, PAGE)
            .await?
            .expect("a page");
        assert_eq!((page.user, page.settled, page.done), (user, PAGE, false));
    }
    let status = sync_service::store::finale::progress(&pool, user).await?;
    assert_eq!(status.get("contact"), Some(&(3 * PAGE as i64, planned)));
    assert!(!first_sync_done(&pool, user).await?);

    // Another user's change is handled while the finale is under way.
    let other = new_user(&pool).await?;
    full_read_ends(&handler, other, Side::Outlook, 0).await?;
    full_read_ends(&handler, other, Side::Zoho, 0).await?;
    assert!(
        first_sync_done(&pool, other).await?,
        "a small finale at once"
    );
    read(&handler, other, Side::Outlook, "o-x".into(), person(9999)).await?;
    assert_eq!(
        creates(&pool, other).await?.len(),
        1,
        "the other user syncs"
    );

    // The user's own changes meanwhile: the Zoho half of a pair not settled yet is deleted,
    // and a new contact is read in Outlook.
    let (zoho_half,): (String,) = sqlx::query_as(
        "SELECT l.zoho_id FROM finale_steps s JOIN links l ON l.id = (s.step->>'zoho')::uuid
         WHERE s.user_id = $1 AND s.step->>'step' = 'pair' ORDER BY s.seq DESC LIMIT 1",
    )
    .bind(user.0)
    .fetch_one(&pool)
    .await?;
    handle(
        &handler,
        user,
        ChangeMessage::ItemDeleted {
            side: Side::Zoho,
            kind: ItemKind::Contact,
            external_id: ExternalId(zoho_half.clone()),
            left_scope: false,
        },
    )
    .await?;
    read(&handler, user, Side::Outlook, "o-new".into(), person(5000)).await?;

    // The pager is gone (its replica killed between pages); another one takes over.
    let shutdown = CancellationToken::new();
    let pager = tokio::spawn(sync_service::finale::run(
        pool.clone(),
        Arc::new(tokio::sync::Notify::new()),
        PAGE,
        shutdown.clone(),
    ));
    test_support::wait_for("the finale's last page", Duration::from_secs(120), || {
        let pool = pool.clone();
        async move { Ok(first_sync_done(&pool, user).await?.then_some(())) }
    })
    .await?;
    shutdown.cancel();
    pager.await??;

    // Every pair linked once, every other item created once on the other side: the Outlook
    // half of the broken pair and the new contact too.
    let (active, waiting, both): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'active'),
                count(*) FILTER (WHERE status IN ('unmatched', 'ambiguous')),
                count(*) FILTER (WHERE outlook_id IS NOT NULL AND zoho_id IS NOT NULL)
         FROM links WHERE user_id = $1",
    )
    .bind(user.0)
    .fetch_one(&pool)
    .await?;
    let expected_links = PAIRS + OUTLOOK_ONLY + ZOHO_ONLY + 1;
    assert_eq!(active, expected_links as i64);
    assert_eq!(waiting, 0);
    assert_eq!(
        both,
        (PAIRS - 1) as i64,
        "each pair once, the broken one apart"
    );
    let creates = creates(&pool, user).await?;
    assert!(
        creates.iter().all(|(_, n)| *n == 1),
        "a link created twice: {creates:?}"
    );
    assert_eq!(creates.len(), OUTLOOK_ONLY + ZOHO_ONLY + 2);
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM finales WHERE user_id = $1),
                (SELECT count(*) FROM finale_steps WHERE user_id = $1)",
    )
    .bind(user.0)
    .fetch_one(&pool)
    .await?;
    assert_eq!(left, (0, 0));
    let broken = format!("o-{}", &zoho_half[2..]);
    let (status,): (String,) = sqlx::query_as(
        "SELECT status FROM links WHERE user_id = $1 AND outlook_id = $2 AND zoho_id IS NULL",
    )
    .bind(user.0)
    .bind(&broken)
    .fetch_one(&pool)
    .await?;
    assert_eq!(
        status, "active",
        "the survivor of the broken pair is created in Zoho"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_finale_whose_page_keeps_failing_does_not_hold_up_another_users() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);

    // A finale under way first, whose next step cannot be read (a poisoned plan).
    let stuck = new_user(&pool).await?;
    for sql in [
        "INSERT INTO finales (user_id, kind, planned, paged_at)
         VALUES ($1, 'contact', 1, now() - interval '1 hour')",
        "INSERT INTO finale_steps (user_id, kind, seq, step)
         VALUES ($1, 'contact', 1, '{\"step\": \"unknown\"}')",
    ] {
        sqlx::query(sql).bind(stuck.0).execute(&pool).await?;
    }

    // Another user's first sync, large enough to be paged: Outlook contacts only.
    let user = new_user(&pool).await?;
    let items = 2 * PAGE;
    for n in 0..items {
        read(&handler, user, Side::Outlook, format!("o-{n}"), person(n)).await?;
    }
    full_read_ends(&handler, user, Side::Outlook, items as u64).await?;
    full_read_ends(&handler, user, Side::Zoho, 0).await?;
    assert!(!first_sync_done(&pool, user).await?, "paged");

    let mut pages = 0;
    while !first_sync_done(&pool, user).await? {
        pages += 1;
        assert!(pages < 10, "the other user's finale does not end");
        if let Some(page) = sync_service::finale::page(&pool, PAGE).await? {
            assert_eq!(page.user, user, "only the other user's pages settle");
        }
    }
    assert_eq!(creates(&pool, user).await?.len(), items);
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM finale_steps WHERE user_id = $1")
        .bind(stuck.0)
        .fetch_one(&pool)
        .await?;
    assert_eq!(left, 1, "the poisoned step stays for an operator");
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_finale_page_writes_its_links_and_commands_in_one_statement_each() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = new_user(&pool).await?;
    // 100 pairs and 20 Outlook contacts alone: more steps than a round end settles at once.
    for n in 0..120 {
        read(&handler, user, Side::Outlook, format!("o-{n}"), person(n)).await?;
    }
    for n in 0..100 {
        read(&handler, user, Side::Zoho, format!("z-{n}"), person(n)).await?;
    }
    full_read_ends(&handler, user, Side::Outlook, 120).await?;
    full_read_ends(&handler, user, Side::Zoho, 100).await?;
    assert!(
        !first_sync_done(&pool, user).await?,
        "planned, settled in pages"
    );
    // Statement-level triggers count the statements that write each table.
    sqlx::raw_sql(
        "CREATE TABLE statements (what text NOT NULL);
         CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN INSERT INTO statements VALUES (TG_TABLE_NAME || ' ' || TG_OP);
                RETURN NULL; END $$;
         CREATE TRIGGER count_links AFTER INSERT OR DELETE ON links
             FOR EACH STATEMENT EXECUTE FUNCTION count_statement();
         CREATE TRIGGER count_outbox AFTER INSERT ON outbox
             FOR EACH STATEMENT EXECUTE FUNCTION count_statement();",
    )
    .execute(&pool)
    .await?;

    let page = sync_service::finale::page(&pool, 500)
        .await?
        .expect("the finale is paged");
    assert_eq!((page.settled, page.done), (120, true));
    assert_eq!(
        creates(&pool, user).await?.len(),
        20,
        "the 20 alone created"
    );
    let counted: Vec<(String, i64)> =
        sqlx::query_as("SELECT what, count(*) FROM statements GROUP BY what ORDER BY what")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        counted,
        [
            ("links DELETE".to_owned(), 1),
            ("links INSERT".to_owned(), 1),
            ("outbox INSERT".to_owned(), 1)
        ],
        "120 steps: one statement per table and operation"
    );
    pool.close().await;
    Ok(())
}

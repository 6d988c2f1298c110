//! What a batch reads from a links table the planner has no statistics for: a first sync fills
//! the table within a minute, long before any ANALYZE (this machine's Postgres runs without
//! autovacuum; with it, the first one comes a minute late). Planned without statistics, a
//! lookup that names a link's status as well as its create hash was costed the same on
//! `links_status` (every link of the user and kind) and took it: 3.3 s for 512 read-backs on a
//! first sync's 25,200 links (decision 98).

mod common;

use common::{commands, contact_user, handler, new_outlook_contact};

use std::time::{Duration, Instant};

use sqlx::PgPool;
use sync_model::{ExternalId, Item, Side, UserId, Version};
use sync_protocol::{ApplyOp, ChangeMessage, Envelope};
use tokio::sync::Semaphore;

/// Tuples read through `links_status`, links inserted and parked reads inserted, as Postgres's
/// statistics hold them.
async fn counters(pool: &PgPool) -> anyhow::Result<(i64, i64, i64)> {
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(pool)
        .await?;
    let (read,): (i64,) = sqlx::query_as(
        "SELECT idx_tup_read FROM pg_stat_user_indexes
         WHERE schemaname = current_schema() AND indexrelname = 'links_status'",
    )
    .fetch_one(pool)
    .await?;
    let (links, parked): (i64, i64) = sqlx::query_as(
        "SELECT sum(n_tup_ins) FILTER (WHERE relname = 'links')::bigint,
                sum(n_tup_ins) FILTER (WHERE relname = 'parked_changes')::bigint
         FROM pg_stat_user_tables WHERE schemaname = current_schema()",
    )
    .fetch_one(pool)
    .await?;
    Ok((read, links, parked))
}

/// The counters once a closed pool's backends have reported their work, seen as at least
/// `links` links and `parked` parked reads inserted (a backend reports when it exits).
async fn counters_after(pool: &PgPool, links: i64, parked: i64) -> anyhow::Result<(i64, i64, i64)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = counters(pool).await?;
        if now.1 >= links && now.2 >= parked {
            return Ok(now);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the statistics never showed {links} links and {parked} parked reads: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn message(user: UserId, body: ChangeMessage) -> Vec<u8> {
    serde_json::to_vec(&Envelope::new(user, body)).expect("serialisable")
}

async fn handle(pool: &PgPool, batch: &[Vec<u8>]) -> anyhow::Result<()> {
    let handler = handler(pool);
    for outcome in Box::pin(handler.handle_batch(batch, &Semaphore::new(4))).await {
        outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn read_backs_of_our_creates_find_them_by_their_hash_not_by_every_link_of_the_kind()
-> anyhow::Result<()> {
    const CONTACTS: usize = 2_000;
    const READ_BACKS: usize = 300;
    // The service's own pool (every statement planned for its parameters), one for the setup
    // and one for what is measured, so that each reports its statistics when closed.
    let database = test_support::fresh_database().await?;
    let setup = sync_service::startup::connect(&database).await?;
    service_kit::database::migrate(&setup, &sync_service::startup::MIGRATOR).await?;
    let user = contact_user(&setup).await?;

    // A first sync's worth of new Outlook contacts, each decided as a create on Zoho.
    let news: Vec<Vec<u8>> = (0..CONTACTS)
        .map(|n| message(user, new_outlook_contact(&format!("p{n}"))))
        .collect();
    for chunk in news.chunks(500) {
        handle(&setup, chunk).await?;
    }
    let creates: Vec<Item> = commands(&setup)
        .await?
        .into_iter()
        .filter_map(|(_, _, side, op)| match (side, op) {
            (Side::Zoho, ApplyOp::Create { item, .. }) => Some(item),
            _ => None,
        })
        .collect();
    assert_eq!(
        creates.len(),
        CONTACTS,
        "every new contact is created on Zoho"
    );
    setup.close().await;
    let observer = service_kit::database::connect(&database, sync_service::startup::SCHEMA).await?;
    let (read_before, _, _) = counters_after(&observer, CONTACTS as i64, 0).await?;

    // The poller reads some of those copies back before their creates' answers arrive: each
    // read may be our create's echo (found by its content's hash), so it waits for the answer.
    let measured = sync_service::startup::connect(&database).await?;
    let reads: Vec<Vec<u8>> = creates
        .iter()
        .take(READ_BACKS)
        .enumerate()
        .map(|(n, item)| {
            message(
                user,
                ChangeMessage::ItemChanged {
                    side: Side::Zoho,
                    external_id: ExternalId(format!("36523970000{n:08}")),
                    version: Version("z1".into()),
                    item: item.clone(),
                    identity: None,
                    modified: None,
                },
            )
        })
        .collect();
    handle(&measured, &reads).await?;
    measured.close().await;
    let (read_after, _, parked) = counters_after(&observer, 0, READ_BACKS as i64).await?;

    assert_eq!(
        parked, READ_BACKS as i64,
        "every read-back waits for its create's answer"
    );
    let decided = commands(&observer).await?;
    assert_eq!(decided.len(), CONTACTS, "nothing new decided for them");
    let scanned = read_after - read_before;
    assert!(
        scanned < CONTACTS as i64,
        "{READ_BACKS} read-backs read {scanned} links through links_status: every link of the \
         kind for each read, not their creates by hash"
    );
    observer.close().await;
    Ok(())
}

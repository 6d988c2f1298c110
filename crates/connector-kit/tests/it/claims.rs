//! Every claim of a watch puts a newer claim number on its round's messages (decisions #112),
//! and a round that takes over an expired lease reports its end even when it reads nothing:
//! that report is how sync-service learns the newer claim, so that a page the stalled holder
//! publishes afterwards can be told apart and dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use service_kit::broker::Broker;
use sync_model::ItemKind;
use sync_protocol::{ChangeMessage, PollClaim};
use tokio_util::sync::CancellationToken;

use crate::poller::{collect_as, eventually, idle, poller, provider, watch_user, world};

type Log = Arc<Mutex<Vec<(Option<PollClaim>, ChangeMessage)>>>;

/// Every message published, with its claim, in order.
async fn collect_claims(broker: &Broker) -> anyhow::Result<Log> {
    collect_as(broker, "test-claims", |envelope| {
        (envelope.claim, envelope.body)
    })
    .await
}

fn ends(log: &Log) -> Vec<(Option<PollClaim>, u64)> {
    log.lock()
        .unwrap()
        .iter()
        .filter_map(|(claim, m)| match m {
            ChangeMessage::ReadCompleted { items_read, .. } => Some((*claim, *items_read)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_round_that_takes_over_an_expired_lease_reports_its_newer_claim() -> anyhow::Result<()> {
    let world = world().await?;
    let log = collect_claims(&world.broker).await?;
    let user = watch_user(&world.store).await?;

    // A first round by replica A: every message of it carries its claim.
    let a = Arc::new(provider(&world, 15, None));
    let stop = CancellationToken::new();
    let task = tokio::spawn(poller(&world, a, "A", None).await?.run(stop.clone()));
    eventually("the first round", || ends(&log).len() == 1).await;
    idle(&world.store, user).await?;
    stop.cancel();
    let _ = task.await;
    let first = {
        let log = log.lock().unwrap();
        assert_eq!(log.len(), 16, "15 items and the round's end: {log:?}");
        let claim = log[0].0.expect("a poll message carries its claim");
        assert!(
            log.iter().all(|(c, _)| *c == Some(claim)),
            "one claim for the round"
        );
        claim
    };

    // Replica S claims the next round and stalls (it never publishes nor releases).
    world
        .store
        .poll_kind_now(user, ItemKind::Contact, false, false)
        .await?;
    let stalled = world
        .store
        .claim_due("S", Duration::from_secs(1), 10)
        .await?;
    assert_eq!(stalled.len(), 1);
    assert!(stalled[0].claim > first);

    // Once S's lease ran out, replica B takes the watch over. Nothing changed since the first
    // round, yet B reports its end, with a claim newer than S's.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let b = Arc::new(provider(&world, 15, None));
    let stop = CancellationToken::new();
    let task = tokio::spawn(poller(&world, b, "B", None).await?.run(stop.clone()));
    eventually("the taken-over round's end", || ends(&log).len() == 2).await;
    idle(&world.store, user).await?;
    let (claim, items) = ends(&log)[1];
    assert_eq!(items, 0, "a round that read nothing");
    let claim = claim.expect("the report carries its claim");
    assert!(
        claim > stalled[0].claim,
        "{claim:?} is newer than the stalled {:?}",
        stalled[0].claim
    );

    // B's next quiet round claims normally (released, not expired): it reports nothing.
    let before = last_polled(&world, user).await?;
    world
        .store
        .poll_kind_now(user, ItemKind::Contact, false, false)
        .await?;
    for _ in 0..100 {
        if last_polled(&world, user).await? > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(last_polled(&world, user).await? > before, "B polled again");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let _ = task.await;
    assert_eq!(
        ends(&log).len(),
        2,
        "a quiet round after a released lease is not reported"
    );
    Ok(())
}

async fn last_polled(
    world: &crate::poller::World,
    user: sync_model::UserId,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let (polled,): (Option<chrono::DateTime<chrono::Utc>>,) =
        sqlx::query_as("SELECT last_polled_at FROM watches WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(world.store.pool())
            .await?;
    Ok(polled)
}

#[tokio::test]
async fn a_stalled_round_saves_nothing_once_its_watch_is_claimed_again() -> anyhow::Result<()> {
    let world = world().await?;
    let user = watch_user(&world.store).await?;
    let lease = Duration::from_millis(500);
    let stalled = world.store.claim_due("R", lease, 10).await?;
    assert_eq!(stalled.len(), 1);

    // The same replica (one owner per process) claims the watch again once the lease ran out,
    // for a new round, while the stalled round's task still runs.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let again = world.store.claim_due("R", lease, 10).await?;
    assert_eq!(again.len(), 1);
    assert!(again[0].claim > stalled[0].claim);

    // The stalled round cannot move the cursor past what it published late, nor release the
    // watch from under the new round; the new round can.
    let cursor = serde_json::json!({"offset": 99});
    let round = connector_kit::store::Round::default();
    assert_eq!(
        world
            .store
            .save_round(&stalled[0], "R", lease, Some(&cursor), round)
            .await?,
        connector_kit::store::Saved::LeaseLost
    );
    world
        .store
        .release(&stalled[0], "R", Duration::from_secs(60), None)
        .await?;
    let (owner, saved): (Option<String>, Option<serde_json::Value>) =
        sqlx::query_as("SELECT lease_owner, cursor FROM watches WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(world.store.pool())
            .await?;
    assert_eq!(owner.as_deref(), Some("R"), "still held by the new round");
    assert_eq!(saved, None, "the stalled round's cursor was not saved");
    assert_eq!(
        world
            .store
            .save_round(&again[0], "R", lease, Some(&cursor), round)
            .await?,
        connector_kit::store::Saved::Kept
    );
    Ok(())
}

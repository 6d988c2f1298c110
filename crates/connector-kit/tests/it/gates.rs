//! The per-user bound on requests in flight holds across replicas: two `Gates` on one database
//! (two replicas) never hold more than 4 slots of a user at once, a weighted acquisition waits
//! for the others, and a dead replica's slots free themselves when their lease ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use connector_kit::api::Gates;
use connector_kit::slots::SlotTable;
use sqlx::PgPool;
use sync_model::UserId;

/// A fresh database, migrated, and a second pool on it (each replica has its own).
async fn two_pools() -> anyhow::Result<(PgPool, PgPool)> {
    let settings = test_support::fresh_database().await?;
    let first = service_kit::database::connect(&settings, "connector_test").await?;
    service_kit::database::migrate(&first, &connector_kit::MIGRATOR).await?;
    let second = service_kit::database::connect(&settings, "connector_test").await?;
    Ok((first, second))
}

fn replica(pool: PgPool, name: &str, lease: Duration) -> Gates {
    Gates::shared(4, SlotTable::new(pool, name, lease))
}

#[tokio::test]
async fn two_replicas_never_hold_more_than_four_slots_of_a_user() -> anyhow::Result<()> {
    let (a, b) = two_pools().await?;
    let lease = Duration::from_secs(60);
    let replicas = [
        replica(a, "replica-a", lease),
        replica(b, "replica-b", lease),
    ];
    let user = UserId(uuid::Uuid::new_v4());
    let other = UserId(uuid::Uuid::new_v4());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let highest = Arc::new(AtomicUsize::new(0));
    let other_highest = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, gates) in replicas.iter().enumerate() {
        for task in 0..12 {
            let gate = gates.for_user(user);
            let (in_flight, highest) = (in_flight.clone(), highest.clone());
            tasks.spawn(async move {
                for round in 0..6 {
                    // Mostly single calls, now and then a batch.
                    let weight = if (task + round + n) % 5 == 0 {
                        1 + (task + round) % 4
                    } else {
                        1
                    };
                    let permit = gate.acquire(weight).await?;
                    let now = in_flight.fetch_add(weight, Ordering::SeqCst) + weight;
                    highest.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    in_flight.fetch_sub(weight, Ordering::SeqCst);
                    permit.release().await;
                }
                anyhow::Ok(())
            });
        }
        // Another user's calls are not held up by this one's.
        let gate = gates.for_user(other);
        let other_highest = other_highest.clone();
        tasks.spawn(async move {
            let permit = gate.acquire(4).await?;
            other_highest.fetch_max(4, Ordering::SeqCst);
            permit.release().await;
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let highest = highest.load(Ordering::SeqCst);
    assert!(highest <= 4, "{highest} slots held at once");
    assert!(highest >= 2, "the replicas never overlapped ({highest})");
    assert_eq!(other_highest.load(Ordering::SeqCst), 4);
    Ok(())
}

#[tokio::test]
async fn a_batch_waits_for_all_four_slots_and_then_gets_them() -> anyhow::Result<()> {
    let (a, b) = two_pools().await?;
    let lease = Duration::from_secs(60);
    let table_a = SlotTable::new(a, "replica-a", lease);
    let (one, two) = (
        Gates::shared(4, table_a.clone()),
        replica(b, "replica-b", lease),
    );
    let user = UserId(uuid::Uuid::new_v4());
    // Replica A has three calls in flight.
    let gate_a = one.for_user(user);
    let held = vec![
        gate_a.acquire(1).await?,
        gate_a.acquire(1).await?,
        gate_a.acquire(1).await?,
    ];
    assert_eq!(table_a.held(user).await?, 3);
    // Replica B's batch needs four: it waits.
    let gate_b = two.for_user(user);
    let batch = tokio::spawn(async move { gate_b.acquire(4).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !batch.is_finished(),
        "the batch went ahead of three calls in flight"
    );
    // One more single call still fits meanwhile (the batch holds nothing while it waits).
    let fourth = one.for_user(user).acquire(1).await?;
    fourth.release().await;
    for permit in held {
        permit.release().await;
    }
    let permit = tokio::time::timeout(Duration::from_secs(5), batch).await???;
    assert_eq!(table_a.held(user).await?, 4);
    // While the batch holds every slot, nobody else gets one.
    let single = tokio::spawn({
        let gate = one.for_user(user);
        async move { gate.acquire(1).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!single.is_finished());
    permit.release().await;
    tokio::time::timeout(Duration::from_secs(5), single)
        .await???
        .release()
        .await;
    assert_eq!(table_a.held(user).await?, 0);
    Ok(())
}

#[tokio::test]
async fn a_dead_replicas_slots_are_taken_over_when_their_lease_ends() -> anyhow::Result<()> {
    let (a, b) = two_pools().await?;
    let user = UserId(uuid::Uuid::new_v4());
    // The dead replica took every slot with a short lease and never gave them back (a crash:
    // nothing runs on its side any more).
    let dead = replica(a, "replica-dead", Duration::from_secs(1));
    let permit = dead.for_user(user).acquire(4).await?;
    let started = Instant::now();
    std::mem::forget(permit);
    let alive = replica(b.clone(), "replica-alive", Duration::from_secs(60));
    let permit =
        tokio::time::timeout(Duration::from_secs(10), alive.for_user(user).acquire(2)).await??;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "taken before the lease ended ({waited:?})"
    );
    permit.release().await;

    // A call cancelled while it holds slots gives them back on its own.
    let table = SlotTable::new(b, "replica-alive", Duration::from_secs(60));
    let gates = Gates::shared(4, table.clone());
    let permit = gates.for_user(user).acquire(3).await?;
    assert_eq!(table.held(user).await?, 3);
    drop(permit);
    test_support::wait_for("the dropped slots", Duration::from_secs(5), || async {
        Ok((table.held(user).await? == 0).then_some(()))
    })
    .await?;
    Ok(())
}

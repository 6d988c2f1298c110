//! What a quiet poll round (nothing changed) costs, against the real Postgres and RabbitMQ
//! (decisions #74): statements counted as sqlx runs them (tagged by the poll's span, the claim
//! by the replica's), messages as the partition queues receive them.
//! - a round that reads nothing costs one statement beside its share of the claim, and
//!   publishes nothing;
//! - its end is still reported after a command of the user and kind was answered, and when
//!   the last report is older than the period;
//! - the daily call budget is checked with the counts the claim brought.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use connector_kit::store::WatchState;
use sync_model::ItemKind;
use sync_protocol::{ApplyOutcome, ChangeMessage};
use test_support::statements::Statements;
use tokio_util::sync::CancellationToken;

use crate::poller::{collect_all, idle, next_round, poller, provider, watch_user, world};

/// Quiet rounds measured.
const ROUNDS: usize = 5;

#[tokio::test]
async fn a_quiet_round_costs_one_statement_and_publishes_nothing() -> anyhow::Result<()> {
    let statements = Statements::install();
    let world = world().await?;
    let log = collect_all(&world.broker).await?;
    let user = watch_user(&world.store).await?;
    let p = Arc::new(provider(&world, 15, None));
    let owner = format!("quiet-{}", uuid::Uuid::new_v4());
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, p.clone(), &owner, None)
            .await?
            .run(stop.clone()),
    );
    // The first read (two pages) is reported as ever.
    assert_eq!(next_round(&log).await, (None, 15, None));
    idle(&world.store, user).await?;

    // Then a round every second, each finding nothing.
    let reads = p.reads.load(Ordering::SeqCst);
    let mark = statements.mark();
    sqlx::query(
        "UPDATE watches SET poll_interval_secs = 1, next_poll_at = now() WHERE user_id = $1",
    )
    .bind(user.0)
    .execute(world.store.pool())
    .await?;
    while p.reads.load(Ordering::SeqCst) < reads + ROUNDS {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    idle(&world.store, user).await?;
    stop.cancel();
    let _ = task.await;
    let rounds = p.reads.load(Ordering::SeqCst) - reads;

    let polls = statements.since(mark, &user.to_string());
    let claims: Vec<_> = statements
        .since(mark, &owner)
        .into_iter()
        .filter(|s| s.rows_returned > 0)
        .collect();
    eprintln!(
        "{rounds} quiet rounds: {} statements in their polls ({:?}), {} claims that returned the watch",
        polls.len(),
        polls.iter().map(|s| s.summary.as_str()).collect::<Vec<_>>(),
        claims.len()
    );
    assert_eq!(
        polls.len(),
        rounds,
        "one statement per quiet round: {polls:?}"
    );
    assert!(
        polls.iter().all(|s| s.rows_affected == 1),
        "each saves and releases the watch: {polls:?}"
    );
    assert_eq!(claims.len(), rounds, "one claim brought each round");
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing published: {:?}",
        log.lock().unwrap()
    );

    // The one statement still did the round's bookkeeping: the calls are counted, the cursor
    // kept, the watch released in good health.
    let (calls,): (i64,) =
        sqlx::query_as("SELECT sum(calls)::bigint FROM api_calls WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(world.store.pool())
            .await?;
    assert_eq!(calls as usize, p.reads.load(Ordering::SeqCst));
    let status = world.store.watch_statuses(user).await?;
    assert_eq!(status[0].state, WatchState::Ok);
    assert!(status[0].has_cursor && status[0].last_error.is_none());
    Ok(())
}

/// Waits for the watch to be released, asks for an incremental round and waits for it to end.
async fn quiet_round(
    world: &crate::poller::World,
    p: &crate::poller::Provider,
    user: sync_model::UserId,
) -> anyhow::Result<()> {
    idle(&world.store, user).await?;
    let reads = p.reads.load(Ordering::SeqCst);
    world
        .store
        .poll_kind_now(user, ItemKind::Contact, false, false)
        .await?;
    while p.reads.load(Ordering::SeqCst) == reads {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    idle(&world.store, user).await
}

fn quiet_end(message: &ChangeMessage) -> bool {
    matches!(
        message,
        ChangeMessage::ReadCompleted {
            full: false,
            items_read: 0,
            round: None,
            ..
        }
    )
}

#[tokio::test]
async fn a_quiet_round_is_reported_after_an_answered_command_and_when_the_last_report_is_old()
-> anyhow::Result<()> {
    let world = world().await?;
    let log = collect_all(&world.broker).await?;
    let user = watch_user(&world.store).await?;
    let p = Arc::new(provider(&world, 15, None));
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, p.clone(), "A", None)
            .await?
            .run(stop.clone()),
    );
    assert_eq!(next_round(&log).await, (None, 15, None));

    // Nothing changed, nothing answered: not reported.
    quiet_round(&world, &p, user).await?;
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    // A command of another kind answered: this kind's round is still not reported.
    world
        .store
        .record_applied(
            user,
            ItemKind::Task,
            uuid::Uuid::now_v7(),
            &ApplyOutcome::Gone { external_id: None },
        )
        .await?;
    quiet_round(&world, &p, user).await?;
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    // A command of this user and kind answered (sync-service may wait for this side's next
    // round end): the next round reports its end, once.
    world
        .store
        .record_applied(
            user,
            ItemKind::Contact,
            uuid::Uuid::now_v7(),
            &ApplyOutcome::Gone { external_id: None },
        )
        .await?;
    quiet_round(&world, &p, user).await?;
    {
        let mut log = log.lock().unwrap();
        assert!(log.len() == 1 && quiet_end(&log[0]), "{log:?}");
        log.clear();
    }
    quiet_round(&world, &p, user).await?;
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());

    // The last report is older than the period: reported again.
    sqlx::query(
        "UPDATE watches SET reported_at = now() - make_interval(secs => $2) WHERE user_id = $1",
    )
    .bind(user.0)
    .bind(connector_kit::store::QUIET_REPORT_EVERY.as_secs_f64() + 1.0)
    .execute(world.store.pool())
    .await?;
    quiet_round(&world, &p, user).await?;
    {
        let log = log.lock().unwrap();
        assert!(log.len() == 1 && quiet_end(&log[0]), "{log:?}");
    }
    stop.cancel();
    let _ = task.await;
    Ok(())
}

#[tokio::test]
async fn a_budget_spent_before_the_round_is_seen_from_the_claim() -> anyhow::Result<()> {
    let world = world().await?;
    let user = watch_user(&world.store).await?;
    sqlx::query(
        "INSERT INTO api_calls (user_id, hour, calls) VALUES ($1, date_trunc('hour', now()), 5)",
    )
    .bind(user.0)
    .execute(world.store.pool())
    .await?;
    let p = Arc::new(provider(&world, 15, None));
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, p.clone(), "A", Some(5))
            .await?
            .run(stop.clone()),
    );
    idle(&world.store, user).await?;
    stop.cancel();
    let _ = task.await;
    let status = world.store.watch_statuses(user).await?;
    assert_eq!(status[0].state, WatchState::BudgetExhausted, "{status:?}");
    assert_eq!(p.reads.load(Ordering::SeqCst), 0, "nothing read");
    Ok(())
}

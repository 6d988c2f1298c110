//! The poll loop against the real Postgres and RabbitMQ, with a provider double (pages from a
//! list, calls made through the real `ApiCaller` to a local endpoint) and an auth-service
//! double answering the token endpoint:
//! - a replica that dies in the middle of a round: another takes over after the lease and goes
//!   on from the saved cursor; every item is published exactly once;
//! - a 401: the token is refreshed once with `force_refresh` and the round goes on;
//! - a connection that needs reconnecting: nothing is read, every watch of the user shows it;
//! - the daily call budget: polling stops early, between pages, and the watch says so;
//! - a poll for identities (a links rebuild): one full round reads them, the next is ordinary;
//! - a round that hangs holds its own place only: another user is polled again meanwhile.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::routing::{get, post};
use axum::{Json, Router};
use connector_kit::api::{ApiCaller, Gates, Idempotency, RetryPolicy};
use connector_kit::poller::Poller;
use connector_kit::store::{Store, Watch, WatchState};
use connector_kit::tokens::TokenClient;
use connector_kit::{ApiError, ApplyRequest, CallContext, Connector, Page};
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use service_kit::broker::Broker;
use sync_model::{Contact, ExternalId, Item, ItemKind, Side, UserId, Version};
use sync_protocol::{ApplyOutcome, ChangeMessage, Envelope, WatchScope};
use tokio_util::sync::CancellationToken;

/// The auth-service double: a token per user, `reconnect_needed` for the users listed, and a
/// record of forced refreshes.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    reconnect: Arc<Mutex<Vec<String>>>,
    forced: Arc<AtomicUsize>,
}

/// A provider with `total` contacts, read `page_size` at a time; every read is one real HTTP
/// call through the `ApiCaller`. `hang_at` makes reads of that offset never return (a replica
/// that dies mid-round); `refuse_token` answers 401 to that token.
pub(crate) struct Provider {
    total: usize,
    page_size: usize,
    base: String,
    http: reqwest::Client,
    caller: ApiCaller,
    hang_at: Option<usize>,
    /// Every read of this user's never returns.
    hang_user: Option<UserId>,
    refuse_token: Option<String>,
    pub(crate) reads: AtomicUsize,
    hung: AtomicBool,
    /// The next read from a cursor answers that the cursor expired.
    expire_cursor: AtomicBool,
    /// The next page reports one item it could not read.
    garble: AtomicBool,
}

#[async_trait]
impl Connector for Provider {
    fn side(&self) -> Side {
        Side::Zoho
    }

    async fn read_page(
        &self,
        ctx: &CallContext,
        watch: &Watch,
        cursor: Option<&Value>,
    ) -> Result<Page, ApiError> {
        // An identify read (a links rebuild): every item with its identity, then a null cursor
        // (a listing has no delta link to go on from).
        let identify = match cursor {
            None => watch.identify,
            Some(c) => c["identify"] == true,
        };
        let offset = cursor
            .and_then(|c| c["offset"].as_u64())
            .unwrap_or_default() as usize;
        if self.refuse_token.as_deref() == Some(ctx.token.secret.expose_secret()) {
            return Err(ApiError::Unauthorized);
        }
        if cursor.is_some() && self.expire_cursor.swap(false, Ordering::SeqCst) {
            return Err(ApiError::ResyncRequired);
        }
        if self.hang_at == Some(offset) || self.hang_user == Some(ctx.user_id) {
            self.hung.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.reads.fetch_add(1, Ordering::SeqCst);
        let url = format!("{}/provider", self.base);
        self.caller
            .call(&ctx.gate, "GET /provider", Idempotency::Idempotent, || {
                self.http.get(&url)
            })
            .await?;
        let end = (offset + self.page_size).min(self.total);
        let changes = (offset..end)
            .map(|n| ChangeMessage::ItemChanged {
                side: Side::Zoho,
                identity: identify.then(|| sync_protocol::LinkIdentity {
                    link: sync_model::LinkId(uuid::Uuid::from_u128(n as u128)),
                    origin: None,
                }),
                external_id: ExternalId(format!("id-{n}")),
                version: Version("1".into()),
                item: Item::Contact(Contact {
                    surname: Some(format!("Nr. {n}")),
                    ..Contact::default()
                }),
                modified: None,
            })
            .collect();
        let more = end < self.total;
        let cursor = match (identify, more) {
            (true, true) => json!({"offset": end, "identify": true}),
            (true, false) => Value::Null,
            (false, _) => json!({"offset": end}),
        };
        Ok(Page {
            changes,
            cursor,
            more,
            unreadable: usize::from(self.garble.swap(false, Ordering::SeqCst)),
        })
    }

    async fn apply(&self, _ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        requests
            .iter()
            .map(|_| ApplyOutcome::Gone { external_id: None })
            .collect()
    }
}

pub(crate) struct World {
    pub(crate) store: Store,
    pub(crate) broker: Broker,
    pub(crate) base: String,
    pub(crate) auth: Auth,
}

pub(crate) async fn world() -> anyhow::Result<World> {
    let database = test_support::fresh_database().await?;
    let pool = service_kit::database::connect(&database, "connector_test").await?;
    service_kit::database::migrate(&pool, &connector_kit::MIGRATOR).await?;
    let broker = Broker::connect(&test_support::test_broker(), "connector-test").await?;
    let auth = Auth::default();
    let state = auth.clone();
    let app = Router::new()
        .route("/provider", get(|| async { Json(json!({"ok": true})) }))
        .route(
            "/internal/v1/provider-tokens",
            post(move |Json(body): Json<Value>| {
                let state = state.clone();
                async move {
                    let user = body["user_id"].as_str().unwrap_or_default().to_owned();
                    if state.reconnect.lock().unwrap().contains(&user) {
                        return (
                            axum::http::StatusCode::CONFLICT,
                            Json(json!({"code": "reconnect_needed"})),
                        );
                    }
                    let forced = body["force_refresh"] == true;
                    if forced {
                        state.forced.fetch_add(1, Ordering::SeqCst);
                    }
                    let token = if forced { "fresh" } else { "first" };
                    (
                        axum::http::StatusCode::OK,
                        Json(json!({
                            "access_token": token,
                            "expires_at": chrono::Utc::now() + chrono::Duration::hours(1),
                            "api_domain": "http://unused",
                        })),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(World {
        store: Store::new(pool),
        broker,
        base,
        auth,
    })
}

pub(crate) fn provider(world: &World, total: usize, hang_at: Option<usize>) -> Provider {
    Provider {
        total,
        page_size: 10,
        base: world.base.clone(),
        http: reqwest::Client::new(),
        caller: ApiCaller::new(
            Side::Zoho,
            RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
                max_retry_after: Duration::from_secs(1),
            },
        ),
        hang_at,
        hang_user: None,
        refuse_token: None,
        reads: AtomicUsize::new(0),
        hung: AtomicBool::new(false),
        expire_cursor: AtomicBool::new(false),
        garble: AtomicBool::new(false),
    }
}

pub(crate) async fn poller(
    world: &World,
    provider: Arc<Provider>,
    owner: &str,
    budget: Option<u64>,
) -> anyhow::Result<Poller<Provider>> {
    Ok(Poller {
        connector: provider,
        store: world.store.clone(),
        tokens: TokenClient::new(
            reqwest::Client::new(),
            world.base.clone(),
            SecretString::from("service"),
            Side::Zoho,
        ),
        publisher: world.broker.publisher().await?,
        owner: owner.to_owned(),
        lease: Duration::from_secs(1),
        tick: Duration::from_millis(50),
        gates: Gates::new(4),
        daily_call_budget: budget,
        concurrency: 8,
    })
}

pub(crate) async fn watch_user(store: &Store) -> anyhow::Result<UserId> {
    let user = UserId(uuid::Uuid::new_v4());
    store
        .set_watch(
            user,
            ItemKind::Contact,
            Some(&WatchScope {
                container_id: None,
                poll_interval_secs: 3600,
                categories: Vec::new(),
            }),
        )
        .await?;
    Ok(user)
}

/// Every partition queue of changes, merged: what the connectors publish for any user (one
/// user's messages stay in order: they share a partition).
pub(crate) async fn changes(
    broker: &Broker,
    tag: &str,
) -> anyhow::Result<(
    lapin::Channel,
    futures_util::stream::SelectAll<lapin::Consumer>,
)> {
    let channel = broker.channel().await?;
    let mut consumers = Vec::new();
    for partition in sync_protocol::topology::Partition::all() {
        consumers.push(
            channel
                .basic_consume(
                    broker.name(&partition.queue()).into(),
                    format!("{tag}-{partition}").into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?,
        );
    }
    Ok((channel, futures_util::stream::select_all(consumers)))
}

/// Collects what the poll loop publishes: external ids per count, and the completed rounds.
async fn collect(
    broker: &Broker,
) -> anyhow::Result<(Arc<Mutex<BTreeMap<String, usize>>>, Arc<AtomicUsize>)> {
    let (channel, mut consumer) = changes(broker, "test").await?;
    let seen: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let completed = Arc::new(AtomicUsize::new(0));
    let (s, c) = (seen.clone(), completed.clone());
    tokio::spawn(async move {
        let _channel = channel;
        while let Some(Ok(delivery)) = consumer.next().await {
            let envelope: Envelope<ChangeMessage> =
                serde_json::from_slice(&delivery.data).expect("a change message");
            match envelope.body {
                ChangeMessage::ItemChanged { external_id, .. } => {
                    *s.lock().unwrap().entry(external_id.0).or_default() += 1
                }
                ChangeMessage::ReadCompleted { .. } => {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            }
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        }
    });
    Ok((seen, completed))
}

pub(crate) async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_replica_that_dies_mid_round_is_taken_over_and_nothing_is_lost_or_doubled()
-> anyhow::Result<()> {
    let world = world().await?;
    let (seen, completed) = collect(&world.broker).await?;
    watch_user(&world.store).await?;

    // Replica A reads two pages, then hangs on the third (as if its process froze).
    let a = Arc::new(provider(&world, 55, Some(20)));
    let a_stop = CancellationToken::new();
    let a_task = tokio::spawn(
        poller(&world, a.clone(), "A", None)
            .await?
            .run(a_stop.clone()),
    );
    eventually("replica A to hang", || a.hung.load(Ordering::SeqCst)).await;
    assert_eq!(seen.lock().unwrap().len(), 20);
    a_task.abort();

    // Replica B takes the watch once A's lease ran out and goes on from A's last cursor.
    let b = Arc::new(provider(&world, 55, None));
    let b_stop = CancellationToken::new();
    let b_task = tokio::spawn(
        poller(&world, b.clone(), "B", None)
            .await?
            .run(b_stop.clone()),
    );
    eventually("the round to complete", || {
        completed.load(Ordering::SeqCst) == 1
    })
    .await;
    b_stop.cancel();
    let _ = b_task.await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 55, "every item");
    assert!(
        seen.values().all(|n| *n == 1),
        "each exactly once: {seen:?}"
    );
    assert_eq!(
        b.reads.load(Ordering::SeqCst),
        4,
        "B read only the pages A had not"
    );
    Ok(())
}

/// Collects every message the poll loop publishes, in order.
pub(crate) async fn collect_all(broker: &Broker) -> anyhow::Result<Arc<Mutex<Vec<ChangeMessage>>>> {
    collect_as(broker, "test-all", |envelope| envelope.body).await
}

/// Collects what `keep` takes of every message the poll loop publishes, in order.
pub(crate) async fn collect_as<T: Send + 'static>(
    broker: &Broker,
    tag: &str,
    keep: fn(Envelope<ChangeMessage>) -> T,
) -> anyhow::Result<Arc<Mutex<Vec<T>>>> {
    let (channel, mut consumer) = changes(broker, tag).await?;
    let log: Arc<Mutex<Vec<T>>> = Arc::default();
    let sink = log.clone();
    tokio::spawn(async move {
        let _channel = channel;
        while let Some(Ok(delivery)) = consumer.next().await {
            let envelope: Envelope<ChangeMessage> =
                serde_json::from_slice(&delivery.data).expect("a change message");
            sink.lock().unwrap().push(keep(envelope));
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
        }
    });
    Ok(log)
}

/// Waits until the poller let go of the user's watch after a round (a poll asked for while it
/// still holds it would be overwritten by its release), then asks for the next one.
async fn poll_again(store: &Store, user: UserId, full: bool) -> anyhow::Result<()> {
    idle(store, user).await?;
    Ok(store
        .poll_kind_now(user, ItemKind::Contact, full, false)
        .await?)
}

pub(crate) async fn idle(store: &Store, user: UserId) -> anyhow::Result<()> {
    for _ in 0..200 {
        let statuses = store.watch_statuses(user).await?;
        if statuses.iter().all(|w| w.last_polled_at.is_some()) {
            let (owner,): (Option<String>,) =
                sqlx::query_as("SELECT lease_owner FROM watches WHERE user_id = $1")
                    .bind(user.0)
                    .fetch_one(store.pool())
                    .await?;
            if owner.is_none() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the watch was never released")
}

/// The next completed round's messages: (the round its start announced, items, the round its
/// end names).
pub(crate) async fn next_round(
    log: &Arc<Mutex<Vec<ChangeMessage>>>,
) -> (Option<uuid::Uuid>, usize, Option<uuid::Uuid>) {
    eventually("a round to complete", || {
        log.lock()
            .unwrap()
            .iter()
            .any(|m| matches!(m, ChangeMessage::ReadCompleted { .. }))
    })
    .await;
    let mut log = log.lock().unwrap();
    let end = log
        .iter()
        .position(|m| matches!(m, ChangeMessage::ReadCompleted { .. }))
        .unwrap();
    let round: Vec<ChangeMessage> = log.drain(..=end).collect();
    let started = round.iter().find_map(|m| match m {
        ChangeMessage::ReadStarted { round, .. } => Some(*round),
        _ => None,
    });
    if started.is_some() {
        assert!(
            matches!(round[0], ChangeMessage::ReadStarted { .. }),
            "the start comes before every item: {round:?}"
        );
    }
    let items = round
        .iter()
        .filter(|m| matches!(m, ChangeMessage::ItemChanged { .. }))
        .count();
    let Some(ChangeMessage::ReadCompleted { round: ended, .. }) = round.last() else {
        unreachable!()
    };
    (started, items, *ended)
}

#[tokio::test]
async fn only_a_full_re_read_of_a_known_scope_is_announced_as_one() -> anyhow::Result<()> {
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

    // The first read of a scope proves no deletion: not announced.
    assert_eq!(next_round(&log).await, (None, 15, None));

    // An admin's resync: announced, every item, then the end naming the same round.
    poll_again(&world.store, user, true).await?;
    let (started, items, ended) = next_round(&log).await;
    assert!(started.is_some());
    assert_eq!((items, ended), (15, started));

    // An expired cursor in an incremental round: the full re-read is announced too.
    p.expire_cursor.store(true, Ordering::SeqCst);
    poll_again(&world.store, user, false).await?;
    let (started, items, ended) = next_round(&log).await;
    assert!(started.is_some());
    assert_eq!((items, ended), (15, started));

    // A resync whose read skipped an item it could not read: its end names no round (the
    // item's absence proves nothing).
    p.garble.store(true, Ordering::SeqCst);
    poll_again(&world.store, user, true).await?;
    let (started, _, ended) = next_round(&log).await;
    assert!(started.is_some());
    assert_eq!(ended, None);

    // A resync asked for just before the user picks another folder: the new folder's first
    // read is no re-read of the old one.
    idle(&world.store, user).await?;
    stop.cancel();
    let _ = task.await;
    world
        .store
        .poll_kind_now(user, ItemKind::Contact, true, false)
        .await?;
    let other = WatchScope {
        container_id: Some("another folder".into()),
        poll_interval_secs: 3600,
        categories: Vec::new(),
    };
    world
        .store
        .set_watch(user, ItemKind::Contact, Some(&other))
        .await?;
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, p.clone(), "B", None)
            .await?
            .run(stop.clone()),
    );
    assert_eq!(next_round(&log).await, (None, 15, None));
    stop.cancel();
    let _ = task.await;
    Ok(())
}

/// The items of the next completed round, each with whether it carried an identity.
async fn next_items(log: &Arc<Mutex<Vec<ChangeMessage>>>) -> Vec<bool> {
    eventually("a round to complete", || {
        log.lock()
            .unwrap()
            .iter()
            .any(|m| matches!(m, ChangeMessage::ReadCompleted { .. }))
    })
    .await;
    let mut log = log.lock().unwrap();
    let end = log
        .iter()
        .position(|m| matches!(m, ChangeMessage::ReadCompleted { .. }))
        .unwrap();
    log.drain(..=end)
        .filter_map(|m| match m {
            ChangeMessage::ItemChanged { identity, .. } => Some(identity.is_some()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_poll_for_identities_makes_one_full_round_an_identify_read() -> anyhow::Result<()> {
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
    assert_eq!(next_items(&log).await, vec![false; 15], "an ordinary read");

    // A links rebuild asks for identities with a full read: that round (two pages) carries
    // them, and ends with a null cursor.
    idle(&world.store, user).await?;
    world
        .store
        .poll_kind_now(user, ItemKind::Contact, true, true)
        .await?;
    assert_eq!(next_items(&log).await, vec![true; 15], "the identify read");
    idle(&world.store, user).await?;
    let (cursor, identify): (Option<Value>, bool) =
        sqlx::query_as("SELECT cursor, identify FROM watches WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(world.store.pool())
            .await?;
    assert_eq!((cursor, identify), (None, false), "asked for once, served");

    // The next round is an ordinary full read, and the one after it an incremental one.
    poll_again(&world.store, user, false).await?;
    assert_eq!(next_items(&log).await, vec![false; 15]);
    idle(&world.store, user).await?;
    let (cursor,): (Option<Value>,) =
        sqlx::query_as("SELECT cursor FROM watches WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(world.store.pool())
            .await?;
    assert_eq!(cursor, Some(json!({"offset": 15})));
    stop.cancel();
    let _ = task.await;
    Ok(())
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_with_force_refresh() -> anyhow::Result<()> {
    let world = world().await?;
    let (seen, completed) = collect(&world.broker).await?;
    let user = watch_user(&world.store).await?;
    let mut p = provider(&world, 15, None);
    p.refuse_token = Some("first".into());
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, Arc::new(p), "A", None)
            .await?
            .run(stop.clone()),
    );
    eventually("the round", || completed.load(Ordering::SeqCst) == 1).await;
    stop.cancel();
    let _ = task.await;
    assert_eq!(world.auth.forced.load(Ordering::SeqCst), 1);
    assert_eq!(seen.lock().unwrap().len(), 15);
    let status = world.store.watch_statuses(user).await?;
    assert_eq!(status[0].state, WatchState::Ok);
    Ok(())
}

#[tokio::test]
async fn a_connection_to_reconnect_stops_polling_the_user_and_shows_why() -> anyhow::Result<()> {
    let world = world().await?;
    let (seen, _) = collect(&world.broker).await?;
    let user = watch_user(&world.store).await?;
    // A second kind of the same user is held too.
    world
        .store
        .set_watch(
            user,
            ItemKind::Task,
            Some(&WatchScope {
                container_id: None,
                poll_interval_secs: 3600,
                categories: Vec::new(),
            }),
        )
        .await?;
    world.auth.reconnect.lock().unwrap().push(user.to_string());
    let p = Arc::new(provider(&world, 15, None));
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, p.clone(), "A", None)
            .await?
            .run(stop.clone()),
    );
    let store = world.store.clone();
    let mut held = false;
    for _ in 0..100 {
        let status = store.watch_statuses(user).await?;
        if status.len() == 2
            && status
                .iter()
                .all(|w| w.state == WatchState::ReconnectNeeded)
        {
            held = true;
            assert!(status.iter().all(|w| {
                w.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("reconnect"))
                    && w.next_poll_at > chrono::Utc::now() + chrono::Duration::seconds(60)
            }));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let _ = task.await;
    assert!(held, "{:?}", store.watch_statuses(user).await?);
    assert_eq!(p.reads.load(Ordering::SeqCst), 0, "nothing read");
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing published, so nothing deleted"
    );
    Ok(())
}

#[tokio::test]
async fn an_exhausted_call_budget_stops_polling_early_and_says_so() -> anyhow::Result<()> {
    let world = world().await?;
    let (seen, completed) = collect(&world.broker).await?;
    let user = watch_user(&world.store).await?;
    let p = Arc::new(provider(&world, 100, None));
    let stop = CancellationToken::new();
    let task = tokio::spawn(
        poller(&world, p.clone(), "A", Some(3))
            .await?
            .run(stop.clone()),
    );
    let store = world.store.clone();
    let mut status = Vec::new();
    for _ in 0..100 {
        status = store.watch_statuses(user).await?;
        if status[0].state == WatchState::BudgetExhausted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    let _ = task.await;
    assert_eq!(status[0].state, WatchState::BudgetExhausted, "{status:?}");
    assert!(
        status[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("3 of 3 calls")),
        "{status:?}"
    );
    assert_eq!(
        p.reads.load(Ordering::SeqCst),
        3,
        "stopped after the budget's calls"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        30,
        "the pages read were published"
    );
    assert_eq!(completed.load(Ordering::SeqCst), 0, "the round is not over");
    assert!(status[0].has_cursor, "it goes on from there later");
    assert_eq!(store.calls_last_day(user).await?.0, 3);
    // The admin console's list of watches not polling normally names it, with its user.
    let unwell = store.unwell_watches(100).await?;
    let mine: Vec<_> = unwell.iter().filter(|w| w.user_id == user.0).collect();
    assert_eq!(mine.len(), 1, "{unwell:?}");
    assert_eq!(
        (mine[0].kind.as_str(), mine[0].state),
        ("contact", WatchState::BudgetExhausted)
    );
    Ok(())
}

#[tokio::test]
async fn a_hung_round_holds_only_its_own_place() -> anyhow::Result<()> {
    let world = world().await?;
    let (_, completed) = collect(&world.broker).await?;
    let stuck = watch_user(&world.store).await?;
    let other = watch_user(&world.store).await?;
    let provider = Arc::new(Provider {
        hang_user: Some(stuck),
        ..provider(&world, 5, None)
    });
    let mut poller = poller(&world, provider.clone(), "replica", None).await?;
    poller.concurrency = 2;
    // The stuck round keeps its lease for the whole test: it is not claimed a second time.
    poller.lease = Duration::from_secs(60);
    let stop = CancellationToken::new();
    let task = tokio::spawn(poller.run(stop.clone()));
    let p = provider.clone();
    eventually("the stuck user's round to hang", || {
        p.hung.load(Ordering::SeqCst)
    })
    .await;
    let c = completed.clone();
    eventually("the other user's round", || c.load(Ordering::SeqCst) >= 1).await;
    // Due again while the stuck round still hangs: polled again at once, not after it. (Made
    // due until it is: a round that was still releasing its watch would push it back. A quiet
    // round announces nothing, so its read is what is counted; the stuck user's reads hang
    // before they are counted.)
    let mut rounds = 0;
    for _ in 0..100 {
        rounds = provider.reads.load(Ordering::SeqCst);
        if rounds >= 2 {
            break;
        }
        world.store.poll_now(other).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rounds >= 2, "the other user was not polled again");
    assert!(
        provider.hung.load(Ordering::SeqCst) && !task.is_finished(),
        "the stuck round still hangs"
    );
    // A stop waits for rounds under way; this one never ends.
    stop.cancel();
    task.abort();
    Ok(())
}

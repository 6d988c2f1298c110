//! Two replicas never poll the same user and kind at once; a dead replica's lease expires.

use std::time::Duration;

use connector_kit::store::{Round, Saved, Store};
use sync_model::{ItemKind, UserId};
use sync_protocol::WatchScope;

async fn store() -> anyhow::Result<Store> {
    let settings = test_support::fresh_database().await?;
    let pool = service_kit::database::connect(&settings, "connector_test").await?;
    service_kit::database::migrate(&pool, &connector_kit::MIGRATOR).await?;
    Ok(Store::new(pool))
}

fn scope(folder: &str) -> WatchScope {
    WatchScope {
        container_id: Some(folder.into()),
        poll_interval_secs: 60,
        categories: Vec::new(),
    }
}

#[tokio::test]
async fn a_claimed_watch_is_not_claimed_again_until_its_lease_expires() -> anyhow::Result<()> {
    let store = store().await?;
    let user = UserId(uuid::Uuid::new_v4());
    store
        .set_watch(user, ItemKind::Contact, Some(&scope("f1")))
        .await?;

    let lease = Duration::from_secs(1);
    let first = store.claim_due("replica-a", lease, 10).await?;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].container_id.as_deref(), Some("f1"));
    assert!(
        store.claim_due("replica-b", lease, 10).await?.is_empty(),
        "held by replica-a"
    );

    // replica-a dies without releasing; after the lease replica-b takes over.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let taken = store
        .claim_due("replica-b", Duration::from_secs(30), 10)
        .await?;
    assert_eq!(taken.len(), 1);
    // replica-a wakes up: its cursor write is refused, so it cannot overwrite replica-b's.
    let cursor = serde_json::json!({"link": "stale"});
    assert!(
        !store
            .save_cursor(
                &first[0],
                "replica-a",
                lease,
                Some(&cursor),
                Round::default()
            )
            .await?
    );
    assert!(
        store
            .save_cursor(
                &taken[0],
                "replica-b",
                lease,
                Some(&cursor),
                Round::default()
            )
            .await?
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_claims_split_the_watches() -> anyhow::Result<()> {
    let store = store().await?;
    for _ in 0..20 {
        store
            .set_watch(
                UserId(uuid::Uuid::new_v4()),
                ItemKind::Contact,
                Some(&scope("f")),
            )
            .await?;
    }
    let lease = Duration::from_secs(30);
    let (a, b) = tokio::join!(
        store.claim_due("a", lease, 15),
        store.claim_due("b", lease, 15)
    );
    let (a, b) = (a?, b?);
    assert_eq!(a.len() + b.len(), 20, "every watch claimed once");
    for watch in &a {
        assert!(
            !b.iter().any(|w| w.user_id == watch.user_id),
            "claimed twice: {:?}",
            watch.user_id
        );
    }
    Ok(())
}

#[tokio::test]
async fn released_watch_is_due_after_its_interval_and_a_new_folder_resets_the_cursor()
-> anyhow::Result<()> {
    let store = store().await?;
    let user = UserId(uuid::Uuid::new_v4());
    store
        .set_watch(user, ItemKind::Contact, Some(&scope("f1")))
        .await?;
    let lease = Duration::from_secs(30);
    let watch = store.claim_due("a", lease, 1).await?.remove(0);
    store
        .save_cursor(
            &watch,
            "a",
            lease,
            Some(&serde_json::json!({"link": "delta-1"})),
            Round::default(),
        )
        .await?;
    store
        .release(&watch, "a", Duration::from_secs(60), None)
        .await?;
    assert!(
        store.claim_due("a", lease, 1).await?.is_empty(),
        "not due before its interval"
    );

    // "Sync now" makes it due at once, with its cursor.
    store.poll_now(user).await?;
    let watch = store.claim_due("a", lease, 1).await?.remove(0);
    assert_eq!(watch.cursor, Some(serde_json::json!({"link": "delta-1"})));
    store
        .release(&watch, "a", Duration::from_secs(0), None)
        .await?;

    // The same folder keeps the cursor; another folder starts over with a full read.
    store
        .set_watch(user, ItemKind::Contact, Some(&scope("f1")))
        .await?;
    let watch = store.claim_due("a", lease, 1).await?.remove(0);
    assert!(watch.cursor.is_some());
    store
        .release(&watch, "a", Duration::from_secs(0), None)
        .await?;
    store
        .set_watch(user, ItemKind::Contact, Some(&scope("f2")))
        .await?;
    let watch = store.claim_due("a", lease, 1).await?.remove(0);
    assert_eq!(watch.container_id.as_deref(), Some("f2"));
    assert_eq!(watch.cursor, None);

    // Stopping the watch stops the polls.
    store
        .release(&watch, "a", Duration::from_secs(0), None)
        .await?;
    store.set_watch(user, ItemKind::Contact, None).await?;
    assert!(store.claim_due("a", lease, 1).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_rescope_stops_the_round_under_way_and_tags_the_full_read_that_follows()
-> anyhow::Result<()> {
    let store = store().await?;
    let user = UserId(uuid::Uuid::new_v4());
    store
        .set_watch(user, ItemKind::Contact, Some(&scope("f1")))
        .await?;
    let lease = Duration::from_secs(30);
    let cursor = |n: u32| serde_json::json!({"link": format!("delta-{n}")});
    // An incremental round of the old scope is under way...
    let old = store.claim_due("a", lease, 1).await?.remove(0);
    assert_eq!(old.rescope, None);
    assert_eq!(
        store
            .save_round(&old, "a", lease, Some(&cursor(1)), Round::default())
            .await?,
        Saved::Kept
    );
    // ...when the scope changes: it may not save its cursor over the reset one.
    let tag = uuid::Uuid::new_v4();
    store
        .set_watch_rescoped(user, ItemKind::Contact, Some(&scope("f1")), Some(tag))
        .await?;
    assert_eq!(
        store
            .save_round(&old, "a", lease, Some(&cursor(2)), Round::default())
            .await?,
        Saved::Rescoped
    );
    assert!(
        !store
            .save_cursor(&old, "a", lease, Some(&cursor(2)), Round::default())
            .await?
    );
    // Released with its usual delay, it is due at once all the same: the full read is next.
    store
        .release(&old, "a", Duration::from_secs(3600), None)
        .await?;
    let full = store.claim_due("a", lease, 1).await?.remove(0);
    assert_eq!(full.cursor, None, "the same folder, read again in full");
    assert_eq!(full.rescope, Some(tag));
    // The round goes on from its cursor with its tag, and the next one is untagged.
    let round = Round {
        full: true,
        items: 10,
        id: None,
        rescope: Some(tag),
    };
    store
        .save_round(&full, "a", lease, Some(&cursor(3)), round)
        .await?;
    store
        .release(&full, "a", Duration::from_secs(0), None)
        .await?;
    let more = store.claim_due("a", lease, 1).await?.remove(0);
    assert_eq!(more.rescope, Some(tag));
    assert!(more.full_read);
    store
        .save_round(&more, "a", lease, Some(&cursor(4)), Round::default())
        .await?;
    store
        .release(&more, "a", Duration::from_secs(0), None)
        .await?;
    let next = store.claim_due("a", lease, 1).await?.remove(0);
    assert_eq!(next.rescope, None);
    assert_eq!(next.cursor, Some(cursor(4)));
    Ok(())
}

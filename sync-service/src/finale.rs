//! The first sync's finale in pages (issue 14 point 4, decisions #83). When both sides' full
//! reads are in, the handler plans the finale from the waiting links' keys
//! ([`crate::domain::finale::plan`]); a small plan is settled at once, a larger one is queued
//! in `finale_steps` and settled here, a page of steps per transaction under the user's lock,
//! by every replica's pager: users take turns; a page waits for the user's lock up to
//! [`LOCK_WAIT`] (the user's changes are handled in short transactions meanwhile), then goes to
//! another user's finale. After the last page the waiting
//! links are planned again (what arrived meanwhile); the first sync is done when that plan is
//! empty.

use std::sync::Arc;
use std::time::Duration;

use service_kit::database::is_outage;
use sqlx::PgPool;
use sync_model::{ItemKind, UserId};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::finale::{Step, plan, settle};
use crate::domain::{RandomIds, Rules};
use crate::handler::rules;
use crate::store::{Tx, finale, progress};
use crate::writes::Writes;

/// A plan of at most this many steps is settled in the transaction of the round end that
/// completes the reads (a first sync of a few items ends at once, as before).
pub const INLINE_STEPS: usize = 100;

/// How long a page waits for the user's lock (held by the handling of the user's changes).
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// How often an idle pager looks for a finale to page (another replica may have queued one).
const IDLE: Duration = Duration::from_millis(500);

/// Both sides' full reads are in (`rules`: the kind's, first sync still open): plans the
/// finale, unless one is under way. Returns whether commands were written.
pub async fn begin(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    rules: Rules,
) -> anyhow::Result<bool> {
    if finale::is_open(tx, user, kind).await? {
        return Ok(false); // its pages are settling it; another round end changes nothing
    }
    let waiting = finale::waiting(tx, user, kind, rules.rebuilding).await?;
    let count = waiting.len();
    let steps = plan(waiting, rules.rebuilding);
    if steps.len() <= INLINE_STEPS {
        let wrote = settle_steps(tx, user, &steps, rules).await?;
        progress::first_sync_done(tx, user, kind).await?;
        tracing::info!(%user, %kind, candidates = count, steps = steps.len(), "first sync matched");
        return Ok(wrote);
    }
    finale::queue(tx, user, kind, &steps).await?;
    tracing::info!(%user, %kind, candidates = count, steps = steps.len(), "first sync planned; settled in pages");
    Ok(false)
}

/// Settles `steps` on the links as they are now (locked), and stores the outcome.
async fn settle_steps(
    tx: &mut Tx<'_>,
    user: UserId,
    steps: &[Step],
    rules: Rules,
) -> anyhow::Result<bool> {
    let ids: Vec<_> = steps.iter().flat_map(Step::links).collect();
    let mut links = finale::links(tx, &ids).await?;
    let closed = Rules {
        first_sync_open: false,
        rebuilding: false,
        ..rules
    };
    // The steps read nothing but `links`: their writes are kept and stored together.
    let mut writes = Writes::default();
    let mut wrote = false;
    for step in steps {
        for settled in settle(step, &mut links, rules, &mut RandomIds) {
            wrote |= writes.record(user, Some(settled.id), settled.out, closed);
        }
    }
    writes.flush(tx).await?;
    Ok(wrote)
}

/// What one [`page`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub user: UserId,
    pub kind: ItemKind,
    /// Steps settled.
    pub settled: usize,
    /// The last page: the first sync is done.
    pub done: bool,
    /// Commands were written (the relay has work).
    pub wrote: bool,
}

/// Settles the next page (at most `size` steps) of the least recently paged finale whose user
/// is free, in one transaction. `None`: no finale could be paged now. A page that fails by
/// itself (not an outage) is rolled back and its finale goes behind the others: it is tried
/// again at its turn, and never holds up another user's.
pub async fn page(pool: &PgPool, size: usize) -> anyhow::Result<Option<Page>> {
    let size = size.max(1);
    for (user, kind) in finale::due(pool, 8).await? {
        match page_of(pool, user, kind, size).await {
            Ok(Some(page)) => return Ok(Some(page)),
            Ok(None) => {}
            Err(err) if is_outage(&err) => return Err(err),
            Err(err) => {
                tracing::warn!(%user, %kind, error = %format!("{err:#}"), "a finale page failed; tried again after the others");
                metrics::counter!("sync_finale_pages_failed_total").increment(1);
                finale::postpone(pool, user, kind).await?;
            }
        }
    }
    Ok(None)
}

/// The next page of the user's finale of `kind`; `None` when the user's lock is held elsewhere
/// or the finale just ended.
async fn page_of(
    pool: &PgPool,
    user: UserId,
    kind: ItemKind,
    size: usize,
) -> anyhow::Result<Option<Page>> {
    let mut tx = pool.begin().await?;
    if !finale::lock_user_within(&mut tx, user, LOCK_WAIT).await?
        || !finale::is_open(&mut tx, user, kind).await?
    {
        return Ok(None); // the user's changes are being handled, or the finale just ended
    }
    let (rules, _) = rules(&mut tx, user, kind).await?;
    let queued = finale::next_steps(&mut tx, user, kind, size as i64).await?;
    let mut wrote = false;
    if let Some(&(last, _)) = queued.last() {
        let steps: Vec<Step> = queued.iter().map(|(_, step)| step.clone()).collect();
        wrote |= settle_steps(&mut tx, user, &steps, rules).await?;
        finale::settled(&mut tx, user, kind, last, steps.len()).await?;
    }
    let mut done = false;
    if queued.len() < size {
        // The plan is settled: what arrived meanwhile (new items read, pairs whose partner
        // vanished) is planned again; nothing left, the first sync is done.
        let steps = plan(
            finale::waiting(&mut tx, user, kind, rules.rebuilding).await?,
            rules.rebuilding,
        );
        if steps.is_empty() {
            finale::close(&mut tx, user, kind).await?;
            progress::first_sync_done(&mut tx, user, kind).await?;
            done = true;
            tracing::info!(%user, %kind, "first sync's finale done");
        } else {
            tracing::info!(%user, %kind, steps = steps.len(), "first sync's finale: a sweep for what arrived meanwhile");
            finale::queue(&mut tx, user, kind, &steps).await?;
        }
    }
    tx.commit().await?;
    metrics::counter!("sync_finale_steps_settled_total").increment(queued.len() as u64);
    Ok(Some(Page {
        user,
        kind,
        settled: queued.len(),
        done,
        wrote,
    }))
}

/// The pager: pages finales while there are any, looks again every [`IDLE`] otherwise.
pub async fn run(
    pool: PgPool,
    relay_wakeup: Arc<Notify>,
    size: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let pause = match page(&pool, size).await {
            Ok(Some(page)) => {
                if page.wrote {
                    relay_wakeup.notify_one();
                }
                Duration::ZERO
            }
            Ok(None) => IDLE,
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "a finale page failed; will retry");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

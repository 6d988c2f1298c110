//! The poll loop: claims due watches, reads their pages, publishes the changes with confirms and
//! only then moves the cursor, so a crash at any point re-reads instead of losing a change.
//!
//! A round that reads nothing costs one statement (decisions #74): the claim brings what it
//! needs, its end is published only when sync-service may wait for it, and the last page's
//! cursor, calls and the release are written together.

use std::sync::Arc;
use std::time::Duration;

use service_kit::broker::Publisher;
use service_kit::telemetry::current_traceparent;
use sync_protocol::{ChangeMessage, Envelope};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::Gates;
use crate::connector::{ApiError, CallContext, Connector};
use crate::store::{Round, RoundEnd, Saved, Store, Watch, WatchState};
use crate::tokens::{TokenClient, TokenError};

/// Pause after a failed poll before the next attempt (throttling uses the API's own delay): the
/// poll interval, at most this. The call already retried with backoff; the cursor is saved, so
/// the next attempt goes on from the failed page.
const ERROR_BACKOFF: Duration = Duration::from_secs(30);
/// A connection that needs reconnecting is looked at again this rarely.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(300);
/// When a provider says its daily allowance is used up without saying until when: look again
/// after this long.
const DAILY_LIMIT_PROBE: Duration = Duration::from_secs(3600);

pub struct Poller<C> {
    pub connector: Arc<C>,
    pub store: Store,
    pub tokens: TokenClient,
    pub publisher: Publisher,
    pub owner: String,
    pub lease: Duration,
    pub tick: Duration,
    pub gates: Gates,
    /// API calls one user may spend per 24 hours (`None`: no budget).
    pub daily_call_budget: Option<u64>,
    /// Watches this replica polls at once (each user's own calls are bounded by its gate).
    pub concurrency: usize,
}

enum PollFailure {
    Api(ApiError),
    Token(TokenError),
    /// The provider refused the token even after a forced refresh.
    StillUnauthorized,
    /// The user's daily call budget is spent; polling resumes at `resume_at`.
    Budget {
        used: u64,
        budget: u64,
        resume_at: chrono::DateTime<chrono::Utc>,
    },
    Internal(anyhow::Error),
}

/// How a round that went well left its watch.
enum Ended {
    /// Saved and released in the round's last statement.
    Released,
    /// Still leased (lost, re-scoped, or a round that ends early): the poll releases it.
    Leased,
}

impl<C: Connector> Poller<C> {
    /// Every tick, claims as many due watches as there are free places and polls each in its
    /// own task: a slow or throttled round holds its place only, and a watch is leased only
    /// once a place is free (its lease does not run out while it waits behind others).
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let this = Arc::new(self);
        let limit = this.concurrency.max(1);
        let mut polls = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(this.tick) => {}
            }
            while let Some(ended) = polls.try_join_next() {
                if let Err(err) = ended {
                    tracing::error!(error = %err, "a poll task failed");
                }
            }
            let free = limit.saturating_sub(polls.len());
            if free == 0 {
                continue;
            }
            let claim = tracing::debug_span!("claim", owner = %this.owner);
            let due = match this
                .store
                .claim_due(&this.owner, this.lease, free as i64)
                .instrument(claim)
                .await
            {
                Ok(due) => due,
                Err(err) => {
                    tracing::warn!(error = %format!("{err:#}"), "cannot claim due watches");
                    continue;
                }
            };
            for watch in due {
                let this = this.clone();
                polls.spawn(async move { this.poll(watch).await });
            }
        }
        // Rounds under way end as before a stop: each saves its cursor and releases its lease.
        while polls.join_next().await.is_some() {}
        Ok(())
    }

    async fn poll(&self, watch: Watch) {
        let side = self.connector.side();
        let span = tracing::info_span!("poll", %side, user = %watch.user_id, kind = %watch.kind);
        self.poll_and_release(watch).instrument(span).await
    }

    async fn poll_and_release(&self, watch: Watch) {
        let side = self.connector.side();
        let outcome = self.poll_round(&watch).await;
        let retry_soon = watch.poll_interval.min(ERROR_BACKOFF);
        let (delay, error, state) = match outcome {
            Ok(Ended::Released) => return,
            Ok(Ended::Leased) => (watch.poll_interval, None, WatchState::Ok),
            // The provider's own daily allowance (Zoho's API credits): told apart from a burst
            // slowed down, as "allowance used up until" the time it names.
            Err(PollFailure::Api(ApiError::Throttled {
                retry_after,
                daily: true,
            })) => (
                retry_after
                    .unwrap_or(DAILY_LIMIT_PROBE)
                    .max(watch.poll_interval),
                Some("the provider's daily API allowance is used up".to_owned()),
                WatchState::BudgetExhausted,
            ),
            Err(PollFailure::Api(ApiError::Throttled { retry_after, .. })) => (
                retry_after.unwrap_or(retry_soon),
                Some("throttled by the provider".to_owned()),
                WatchState::Throttled,
            ),
            Err(PollFailure::Token(
                err @ (TokenError::ReconnectNeeded(_) | TokenError::NotConnected(_)),
            )) => {
                // The whole user waits, not only this kind: every call would fail the same way.
                let error = err.to_string();
                if let Err(e) = self
                    .store
                    .hold_user(
                        watch.user_id,
                        RECONNECT_BACKOFF,
                        &error,
                        WatchState::ReconnectNeeded,
                    )
                    .await
                {
                    tracing::warn!(error = %e, "cannot hold the user's watches");
                }
                (RECONNECT_BACKOFF, Some(error), WatchState::ReconnectNeeded)
            }
            // auth-service hands out the same token again when it refreshed it moments ago (no
            // refresh storms), so this may pass; a connection that is really broken shows up as
            // `reconnect_needed` from auth-service once it refreshes.
            Err(PollFailure::StillUnauthorized) => (
                ERROR_BACKOFF,
                Some(format!(
                    "the {side} account refused a freshly requested token; trying again later"
                )),
                WatchState::Error,
            ),
            Err(PollFailure::Budget {
                used,
                budget,
                resume_at,
            }) => {
                let wait = (resume_at - chrono::Utc::now())
                    .to_std()
                    .unwrap_or(ERROR_BACKOFF)
                    .max(watch.poll_interval);
                (
                    wait,
                    Some(format!(
                        "API call budget exhausted: {used} of {budget} calls in the last 24 hours; \
                         polling resumes at {}",
                        resume_at.format("%Y-%m-%d %H:%M UTC")
                    )),
                    WatchState::BudgetExhausted,
                )
            }
            Err(PollFailure::Token(err)) => {
                (ERROR_BACKOFF, Some(err.to_string()), WatchState::Error)
            }
            Err(PollFailure::Api(err)) => (retry_soon, Some(err.to_string()), WatchState::Error),
            Err(PollFailure::Internal(err)) => {
                (ERROR_BACKOFF, Some(format!("{err:#}")), WatchState::Error)
            }
        };
        if let Some(error) = &error {
            metrics::counter!("connector_poll_failures_total", "side" => side.as_str(), "state" => state.as_str())
                .increment(1);
            tracing::warn!(%error, "poll failed");
        }
        if let Err(err) = self
            .store
            .release_with_state(&watch, &self.owner, delay, error.as_deref(), state)
            .await
        {
            tracing::warn!(error = %err, "cannot release a watch lease; it will expire");
        }
    }

    /// Fails when the user's budget is spent (counting the calls this round has made so far).
    async fn check_budget(&self, user: sync_model::UserId) -> Result<(), PollFailure> {
        if self.daily_call_budget.is_none() {
            return Ok(());
        }
        let (used, oldest) = self
            .store
            .calls_last_day(user)
            .await
            .map_err(|e| PollFailure::Internal(e.into()))?;
        self.within_budget(used, oldest)
    }

    /// Fails when `used` calls spend the user's budget; `oldest`: when the oldest of them
    /// leaves the 24 hours.
    fn within_budget(
        &self,
        used: u64,
        oldest: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), PollFailure> {
        let Some(budget) = self.daily_call_budget else {
            return Ok(());
        };
        if used >= budget {
            return Err(PollFailure::Budget {
                used,
                budget,
                resume_at: oldest
                    .unwrap_or_else(|| chrono::Utc::now() + chrono::Duration::hours(1)),
            });
        }
        Ok(())
    }

    async fn record_calls(&self, ctx: &CallContext, counted: &mut u64) {
        let now = ctx.gate.calls();
        let calls = now.saturating_sub(*counted);
        *counted = now;
        if let Err(err) = self.store.record_calls(ctx.user_id, calls).await {
            tracing::warn!(error = %err, "cannot record API calls");
        }
    }

    /// Begins a full round that re-reads a scope already read: sync-service is told first, so
    /// that what the round does not publish can be recognised as gone (or, for a read of a time
    /// window, asked for by id).
    async fn start_resync(&self, watch: &Watch) -> Result<Option<uuid::Uuid>, PollFailure> {
        let round = uuid::Uuid::now_v7();
        let started = ChangeMessage::ReadStarted {
            side: self.connector.side(),
            kind: watch.kind,
            round,
            lists_everything: self.connector.full_read_lists_everything(watch.kind),
        };
        let envelope = Envelope::new(watch.user_id, started)
            .with_traceparent(current_traceparent())
            .with_claim(Some(watch.claim));
        self.publisher
            .publish_change(&envelope)
            .await
            .map_err(PollFailure::Internal)?;
        Ok(Some(round))
    }

    async fn poll_round(&self, watch: &Watch) -> Result<Ended, PollFailure> {
        // The claim counted the user's calls of the last day.
        self.within_budget(watch.calls_used, watch.calls_oldest)?;
        let mut ctx = CallContext {
            user_id: watch.user_id,
            token: self
                .tokens
                .get(watch.user_id)
                .await
                .map_err(PollFailure::Token)?,
            gate: self.gates.for_user(watch.user_id),
        };
        let mut counted = ctx.gate.calls();
        let mut cursor = watch.cursor.clone();
        // A round from no cursor is a full read; it carries the re-scope asked for, if any
        // (the claim answers the round's own tag when it goes on from a cursor).
        let mut round = match cursor {
            // No cursor: an admin's resync re-reads a scope already read; otherwise this is the
            // first read of the scope (a new watch, another folder), which proves no deletion.
            None => Round {
                full: true,
                items: 0,
                id: None,
                rescope: watch.rescope,
            },
            Some(_) => Round {
                full: watch.full_read,
                items: watch.round_items,
                id: watch.round_id,
                rescope: watch.rescope,
            },
        };
        if cursor.is_none() && watch.resync_requested {
            round.id = self.start_resync(watch).await?;
        }
        let (mut resynced, mut reauthorised) = (false, false);
        // The identify read asked for is this round when it reads everything (from the start,
        // or going on with a full round an error interrupted).
        let identifying = watch.identify && (cursor.is_none() || watch.full_read);
        loop {
            let read = self.connector.read_page(&ctx, watch, cursor.as_ref()).await;
            // The last page's calls are counted by the round's last statement.
            if !matches!(&read, Ok(page) if !page.more) {
                self.record_calls(&ctx, &mut counted).await;
            }
            let page = match read {
                Ok(page) => page,
                Err(ApiError::ResyncRequired) if !resynced => {
                    tracing::info!("cursor no longer valid; starting a full read");
                    metrics::counter!("connector_full_resyncs_total", "side" => self.connector.side().as_str()).increment(1);
                    resynced = true;
                    cursor = None;
                    // The first read of a scope stays one; any other round re-reads a known scope.
                    let first_read = round.full && round.id.is_none();
                    round = Round {
                        full: true,
                        items: 0,
                        id: None,
                        rescope: round.rescope,
                    };
                    if !first_read {
                        round.id = self.start_resync(watch).await?;
                    }
                    continue;
                }
                Err(ApiError::Unauthorized) if !reauthorised => {
                    reauthorised = true;
                    ctx.token = self
                        .tokens
                        .refresh(watch.user_id)
                        .await
                        .map_err(PollFailure::Token)?;
                    continue;
                }
                Err(ApiError::Unauthorized) => return Err(PollFailure::StillUnauthorized),
                Err(err) => return Err(PollFailure::Api(err)),
            };
            if page.unreadable > 0 && round.id.take().is_some() {
                tracing::warn!(
                    unreadable = page.unreadable,
                    "items of this full read could not be read: it will not tell deletions"
                );
            }
            let published = page.changes.len();
            // The page (and the round's end) goes out in order, its confirms awaited together.
            let mut envelopes: Vec<Envelope<ChangeMessage>> = page
                .changes
                .into_iter()
                .map(|change| {
                    Envelope::new(watch.user_id, change)
                        .with_traceparent(current_traceparent())
                        .with_rescope(round.rescope)
                        .with_claim(Some(watch.claim))
                })
                .collect();
            round.items += published as i64;
            // A delta round that read nothing is not reported unless sync-service may wait for
            // it (a command answered since the last report) or the last report is old.
            let reported = round.full || round.items > 0 || watch.report_due;
            if !page.more && reported {
                // Tells sync-service the round is over (first-sync matching and the mass-delete
                // guard wait for it); published before the cursor moves, like the changes.
                let completed = ChangeMessage::ReadCompleted {
                    side: self.connector.side(),
                    kind: watch.kind,
                    full: round.full,
                    items_read: round.items.max(0) as u64,
                    round: round.id,
                    lists_everything: self.connector.full_read_lists_everything(watch.kind),
                };
                envelopes.push(
                    Envelope::new(watch.user_id, completed)
                        .with_traceparent(current_traceparent())
                        .with_rescope(round.rescope)
                        .with_claim(Some(watch.claim)),
                );
            }
            if !envelopes.is_empty()
                && let Err(err) = self.publisher.publish_changes(&envelopes).await
            {
                self.record_calls(&ctx, &mut counted).await;
                return Err(PollFailure::Internal(err));
            }
            metrics::counter!("connector_changes_published_total", "side" => self.connector.side().as_str())
                .increment(published as u64);
            // A null cursor: the next round starts with a full read (after an identify read,
            // whose listing has no delta link to go on from).
            let next = (!page.cursor.is_null()).then_some(&page.cursor);
            let saved = if page.more {
                self.store
                    .save_round(watch, &self.owner, self.lease, next, round)
                    .await
            } else {
                let end = RoundEnd {
                    cursor: next,
                    calls: ctx.gate.calls().saturating_sub(counted),
                    identified: identifying,
                    reported,
                };
                self.store.finish_round(watch, &self.owner, end).await
            };
            let saved = match saved {
                Ok(saved) => saved,
                Err(err) => {
                    if !page.more {
                        self.record_calls(&ctx, &mut counted).await;
                    }
                    return Err(PollFailure::Internal(err.into()));
                }
            };
            match saved {
                Saved::Kept if page.more => {}
                Saved::Kept => return Ok(Ended::Released),
                Saved::LeaseLost => {
                    tracing::warn!("lost the poll lease to another replica; stopping this round");
                    return Ok(Ended::Leased);
                }
                Saved::Rescoped => {
                    tracing::info!("the scope changed; its full read starts next");
                    return Ok(Ended::Leased);
                }
            }
            cursor = Some(page.cursor);
            // Stop early, between pages, when the budget runs out: the cursor is saved, so the
            // round goes on from here once calls are available again.
            self.check_budget(watch.user_id).await?;
        }
    }
}

//! Consumes `sync.changes`: each change, apply result or end of a poll round is decided by the
//! engine and written, with the commands it causes, in one transaction; the message is
//! acknowledged only after it commits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use service_kit::broker::HandlerError;
use service_kit::database::is_outage;
use service_kit::telemetry::{adopt_traceparent, current_traceparent};
use sqlx::PgPool;
use sync_model::{ItemKind, LinkId, Side, UserId};
use sync_protocol::{ApplyOutcome, ChangeMessage, CommandMessage, Envelope, SCHEMA_VERSION};
use tokio::sync::{Notify, Semaphore};
use tracing::Instrument;

use crate::domain::collision;
use crate::domain::fence::Fence;
use crate::domain::full_read::{self, Unlisted};
use crate::domain::matching::holds_back;
use crate::domain::scope::{self, Reading};
use crate::domain::unknown_read::{self, UnknownRead};
use crate::domain::{Command, Input, Link, Output, RandomIds, Rules, UserSettings, step};
use crate::fencing::{fence_one, fenced_in};
use crate::setwise;
use crate::store::inbox::Admission;
use crate::store::{Tx, claims, conflicts, held, inbox, links, outbox, parked, progress};

/// The mass-delete guard's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct DeleteGuard {
    /// Share of a user's items (of one kind) that one poll round may delete without review.
    pub share: f64,
    /// Rounds deleting fewer items than this always pass.
    pub minimum: usize,
}

/// What a `read_completed` says about the round it ends.
struct RoundEnd {
    full: bool,
    items: u64,
    /// The full re-read it ends (its `read_started`), if it was one.
    round: Option<uuid::Uuid>,
    /// The re-scope whose full read it ends, if it was one (`Envelope::rescope`).
    rescope: Option<uuid::Uuid>,
    /// `false`: the read covers a window only, what it did not list is asked for by id.
    lists_everything: bool,
}

pub struct ChangeHandler {
    pub pool: PgPool,
    /// Wakes the outbox relay after a commit that wrote commands.
    pub relay_wakeup: Arc<Notify>,
    pub guard: DeleteGuard,
    pub retry: RetryPolicy,
}

/// How a failed message is retried before its user is blocked (decisions #58).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after each one, up to five minutes.
    pub backoff: Duration,
}

impl RetryPolicy {
    /// The pause after the `failures`-th failure.
    pub fn pause(&self, failures: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1 << failures.saturating_sub(1).min(16));
        doubled.min(Duration::from_secs(300))
    }
}

/// What [`ChangeHandler::replay_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The user's first held message was handled; the next one may be due at once.
    Handled,
    /// It failed again; `blocked` when that was its last attempt.
    Failed { blocked: bool },
    /// Nothing due.
    Nothing,
}

/// A change message read from a delivery, with the delivery's bytes (held as they came).
struct Received<'a> {
    envelope: Envelope<ChangeMessage>,
    data: &'a [u8],
}

fn parse(data: &[u8]) -> Result<Received<'_>, HandlerError> {
    let envelope: Envelope<ChangeMessage> = serde_json::from_slice(data)
        .map_err(|e| HandlerError::Reject(anyhow!("not a change message: {e}")))?;
    if envelope.schema_version != SCHEMA_VERSION {
        return Err(HandlerError::Reject(anyhow!(
            "schema version {} unknown",
            envelope.schema_version
        )));
    }
    Ok(Received { envelope, data })
}

fn span_of(envelope: &Envelope<ChangeMessage>) -> tracing::Span {
    let span = tracing::info_span!(
        "change",
        user = %envelope.user_id,
        side = %envelope.body.side(),
        kind = %envelope.body.kind(),
        verb = envelope.body.verb(),
    );
    adopt_traceparent(&span, envelope.traceparent.as_deref());
    span
}

impl ChangeHandler {
    /// Handles one delivery in its own transaction.
    pub async fn handle(&self, data: &[u8]) -> Result<(), HandlerError> {
        let received = parse(data)?;
        self.handle_one(received.envelope, received.data).await
    }

    /// Handles a batch of deliveries of one partition (decisions #81, #115): all its users'
    /// messages, each user's in their order, in one transaction (holding one of `permits`, a
    /// database connection). Should that fail by itself, nothing of it stays and each user's
    /// messages are handled on their own ([`Self::handle_user`]), the users at once. Returns
    /// one outcome per delivery, in order: a user's messages share theirs (committed together,
    /// or retried together).
    pub async fn handle_batch(
        &self,
        batch: &[Vec<u8>],
        permits: &Semaphore,
    ) -> Vec<Result<(), HandlerError>> {
        let mut outcomes: Vec<Option<Result<(), HandlerError>>> =
            std::iter::repeat_with(|| None).take(batch.len()).collect();
        let mut by_user: BTreeMap<UserId, Vec<(usize, Received)>> = BTreeMap::new();
        for (i, data) in batch.iter().enumerate() {
            match parse(data) {
                Ok(received) => by_user
                    .entry(received.envelope.user_id)
                    .or_default()
                    .push((i, received)),
                Err(rejected) => outcomes[i] = Some(Err(rejected)),
            }
        }
        let several_users = by_user.len() > 1;
        if several_users {
            let runs: Vec<(UserId, Vec<&Received>)> = by_user
                .iter()
                .map(|(user, messages)| (*user, messages.iter().map(|(_, r)| r).collect()))
                .collect();
            let together = match permits.acquire().await {
                Ok(_permit) => self.decide_together(&runs).await,
                Err(closed) => Err(closed.into()),
            };
            let outcome = match together {
                Ok(()) => Ok(()),
                Err(err) if is_outage(&err) => Err(HandlerError::Outage(err)),
                Err(err) => {
                    // Rare (a message failing by itself): counted and told, so that a failure
                    // of the batch's statements themselves, which would double every batch's
                    // work, cannot pass unseen.
                    metrics::counter!("sync_batch_fallbacks_total").increment(1);
                    tracing::warn!(error = %format!("{err:#}"), "a message of the batch failed; each user's messages are handled on their own");
                    Err(HandlerError::Retry(err))
                }
            };
            if !matches!(outcome, Err(HandlerError::Retry(_))) {
                for i in by_user.values().flatten().map(|(i, _)| *i) {
                    outcomes[i] = Some(copy(&outcome));
                }
                return outcomes
                    .into_iter()
                    .map(|o| o.expect("every delivery is parsed or rejected"))
                    .collect();
            }
        }
        let users = by_user.into_values().map(|messages| async move {
            let indices: Vec<usize> = messages.iter().map(|(i, _)| *i).collect();
            let outcome = match permits.acquire().await {
                Ok(_permit) => {
                    self.handle_user(messages.into_iter().map(|(_, r)| r).collect())
                        .await
                }
                Err(closed) => Err(HandlerError::Retry(closed.into())),
            };
            (indices, outcome)
        });
        for (indices, outcome) in futures_util::future::join_all(users).await {
            for i in indices {
                outcomes[i] = Some(copy(&outcome));
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.expect("every delivery is parsed or rejected"))
            .collect()
    }

    /// One user's messages of a batch, in one transaction. Should one of them fail by itself,
    /// nothing of the transaction stays and they are handled again one by one, each in its
    /// own transaction (the failing one held as [`Self::handle_one`] does): the common case
    /// pays no savepoint per message.
    async fn handle_user(&self, messages: Vec<Received<'_>>) -> Result<(), HandlerError> {
        if messages.len() > 1 {
            let user = messages[0].envelope.user_id;
            match self
                .decide_together(&[(user, messages.iter().collect())])
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) if is_outage(&err) => return Err(HandlerError::Outage(err)),
                Err(err) => {
                    metrics::counter!("sync_batch_fallbacks_total").increment(1);
                    tracing::warn!(error = %format!("{err:#}"), "a message of the batch failed; its user's messages are handled one by one");
                }
            }
        }
        for received in messages {
            self.handle_one(received.envelope, received.data).await?;
        }
        Ok(())
    }

    /// The messages of `users` (each user once, its messages in their order) in one
    /// transaction: the inbox admits them at once; each user's first run of item messages is
    /// decided set-wise with the other users' (decisions #87, #115), the rest of its messages
    /// in their order after it (runs of item messages set-wise, any other message on its own).
    async fn decide_together(&self, users: &[(UserId, Vec<&Received<'_>>)]) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let ids: Vec<(UserId, uuid::Uuid)> = users
            .iter()
            .flat_map(|(user, messages)| messages.iter().map(|m| (*user, m.envelope.message_id)))
            .collect();
        let admissions = inbox::admit_many(&mut tx, &ids).await?;
        let mut admission_of = admissions.iter().copied();
        // The fences of the users whose messages carry poll claims, loaded at once.
        let claiming: Vec<UserId> = users
            .iter()
            .filter(|(_, messages)| messages.iter().any(|m| m.envelope.claim.is_some()))
            .map(|(user, _)| *user)
            .collect();
        let mut fences = claims::load_many(&mut tx, &claiming).await?;
        let mut first_runs = Vec::with_capacity(users.len());
        let mut rests = Vec::with_capacity(users.len());
        let mut fenced = Vec::new();
        for (user, messages) in users {
            let mut fence = fences.remove(user);
            let mut run = Vec::new();
            let mut rest = Vec::new();
            for received in messages {
                let admission = admission_of.next().expect("one admission per message");
                let span = span_of(&received.envelope);
                if !span.in_scope(|| admitted(admission)) {
                    if admission == Admission::Held {
                        held::append(&mut tx, *user, received.envelope.message_id, received.data)
                            .instrument(span)
                            .await?;
                    }
                    continue;
                }
                if !fenced_in(&mut tx, &mut fence, &received.envelope)
                    .instrument(span.clone())
                    .await?
                {
                    continue;
                }
                match setwise::ItemMessage::sort(received.envelope.clone(), span) {
                    setwise::Sorted::Item(item) if rest.is_empty() => run.push(item),
                    sorted => rest.push(sorted),
                }
            }
            first_runs.push((*user, run));
            rests.push((*user, rest));
            fenced.extend(fence.map(|fence| (*user, fence)));
        }
        let mut wrote = setwise::decide(&mut tx, &first_runs).await?;
        for (user, rest) in rests {
            let mut items = Vec::new();
            for sorted in rest {
                match sorted {
                    setwise::Sorted::Item(item) => items.push(item),
                    setwise::Sorted::Other(envelope) => {
                        wrote |=
                            setwise::decide(&mut tx, &[(user, std::mem::take(&mut items))]).await?;
                        let span = span_of(&envelope);
                        wrote |= self
                            .dispatch(&mut tx, user, envelope.body, envelope.rescope)
                            .instrument(span)
                            .await?;
                    }
                }
            }
            wrote |= setwise::decide(&mut tx, &[(user, items)]).await?;
        }
        let fences: Vec<(UserId, &Fence)> = fenced.iter().map(|(u, f)| (*u, f)).collect();
        claims::save_many(&mut tx, &fences).await?;
        tx.commit().await?;
        count_admitted(&admissions);
        metrics::histogram!("sync_batch_messages").record(admissions.len() as f64);
        if wrote {
            self.relay_wakeup.notify_one();
        }
        Ok(())
    }

    async fn handle_one(
        &self,
        envelope: Envelope<ChangeMessage>,
        data: &[u8],
    ) -> Result<(), HandlerError> {
        let span = span_of(&envelope);
        let (user, message_id) = (envelope.user_id, envelope.message_id);
        async {
            match self.admit_and_decide(envelope, data).await {
                Ok(()) => Ok(()),
                Err(err) if is_outage(&err) => Err(HandlerError::Outage(err)),
                Err(err) => {
                    // The message fails by itself: it is held with the user's later changes,
                    // and the partition goes on with the other users.
                    let reason = format!("{err:#}");
                    tracing::warn!(error = %reason, "handling failed; the user's changes are held for retries");
                    metrics::counter!("sync_messages_held_total").increment(1);
                    held::hold(
                        &self.pool,
                        user,
                        message_id,
                        data,
                        &reason,
                        self.retry.pause(1),
                    )
                    .await
                    .map_err(|e| HandlerError::Outage(e.into()))
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn admit_and_decide(
        &self,
        envelope: Envelope<ChangeMessage>,
        data: &[u8],
    ) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await?;
        let (admission, wrote) = self.admit_and_dispatch(&mut tx, envelope, data).await?;
        tx.commit().await?;
        count_admitted(&[admission]);
        if wrote {
            self.relay_wakeup.notify_one();
        }
        Ok(())
    }

    /// Lets the message in (once; behind the user's held messages, if any) and decides it.
    /// Returns how it was let in, and whether commands were written.
    async fn admit_and_dispatch(
        &self,
        tx: &mut Tx<'_>,
        envelope: Envelope<ChangeMessage>,
        data: &[u8],
    ) -> anyhow::Result<(Admission, bool)> {
        let admission = inbox::admit(tx, envelope.user_id, envelope.message_id).await?;
        if !admitted(admission) {
            if admission == Admission::Held {
                held::append(tx, envelope.user_id, envelope.message_id, data).await?;
            }
            return Ok((admission, false));
        }
        if !fence_one(tx, &envelope).await? {
            return Ok((admission, false));
        }
        let wrote = self
            .dispatch(tx, envelope.user_id, envelope.body, envelope.rescope)
            .await?;
        Ok((admission, wrote))
    }

    /// Tries the user's first held message if it is due: handled, it leaves the hold in the
    /// same transaction; failed, it is retried later or, after its last attempt, blocks the
    /// user. An outage is returned as an error and changes nothing.
    pub async fn replay_next(&self, user: UserId) -> anyhow::Result<Replay> {
        let mut tx = self.pool.begin().await?;
        inbox::lock_user(&mut tx, user).await?;
        let Some(head) = held::due_head(&mut tx, user).await? else {
            return Ok(Replay::Nothing);
        };
        let envelope: Envelope<ChangeMessage> = serde_json::from_slice(&head.payload)?;
        let outcome = async {
            if !inbox::lock_user_and_record(&mut tx, user, envelope.message_id).await? {
                return Ok((Admission::Duplicate, false));
            }
            if !fence_one(&mut tx, &envelope).await? {
                return Ok((Admission::New, false));
            }
            let wrote = self
                .dispatch(&mut tx, user, envelope.body, envelope.rescope)
                .await?;
            Ok((Admission::New, wrote))
        }
        .await;
        match outcome {
            Ok((admission, wrote)) => {
                held::remove(&mut tx, head.id).await?;
                tx.commit().await?;
                count_admitted(&[admission]);
                if wrote {
                    self.relay_wakeup.notify_one();
                }
                Ok(Replay::Handled)
            }
            Err(err) if is_outage(&err) => Err(err),
            Err(err) => {
                drop(tx);
                let failures = head.attempts.max(0) as u32 + 1;
                let blocked = failures >= self.retry.attempts;
                let reason = format!("{err:#}");
                if blocked {
                    metrics::counter!("sync_users_blocked_total").increment(1);
                    tracing::error!(%user, error = %reason, attempts = failures, "a change keeps failing; the user is blocked until an admin acts");
                } else {
                    tracing::warn!(%user, error = %reason, attempts = failures, "a held change failed again");
                }
                held::failed_again(
                    &self.pool,
                    head.id,
                    &reason,
                    self.retry.pause(failures),
                    blocked,
                )
                .await?;
                Ok(Replay::Failed { blocked })
            }
        }
    }

    /// Returns whether commands were written. `rescope`: the re-scope whose full read the
    /// message comes from, if any.
    async fn dispatch(
        &self,
        tx: &mut Tx<'_>,
        user: UserId,
        body: ChangeMessage,
        rescope: Option<uuid::Uuid>,
    ) -> anyhow::Result<bool> {
        match body {
            ChangeMessage::ItemChanged {
                side,
                external_id,
                version,
                item,
                identity,
                modified,
            } => {
                let kind = item.kind();
                // Each arm's future boxed: inline, the largest of them made this one's (and so
                // every caller's) state, and a debug build's frames overflowed a 2 MiB stack.
                Box::pin(on_item(
                    tx,
                    user,
                    kind,
                    side,
                    Input::Changed {
                        side,
                        external_id,
                        version,
                        item,
                        identity,
                        modified,
                    },
                    rescope,
                ))
                .await
            }
            ChangeMessage::ItemDeleted {
                side,
                kind,
                external_id,
                left_scope,
            } => {
                let input = if left_scope {
                    Input::LeftScope {
                        side,
                        external_id,
                        modified: None,
                    }
                } else {
                    Input::Deleted { side, external_id }
                };
                Box::pin(on_item(tx, user, kind, side, input, rescope)).await
            }
            ChangeMessage::ApplyResult {
                command_id,
                link_id,
                side,
                kind,
                outcome,
            } => {
                Box::pin(on_result(
                    tx, user, kind, side, link_id, command_id, outcome,
                ))
                .await
            }
            ChangeMessage::ReadStarted {
                side,
                kind,
                round,
                lists_everything,
            } => {
                let mut marked = Vec::new();
                for mut link in links::known_on(tx, user, kind, side).await? {
                    if full_read::begin(&mut link, side, round) {
                        marked.push(link);
                    }
                }
                // Parked reads of `side` are dropped: the re-read lists again what still exists.
                // A read of a window does not: they are kept, but a deletion it swallows may be
                // theirs, so they are asked for by id when released (decision 102).
                let (dropped, doubted) = if lists_everything {
                    (parked::forget_side(tx, user, kind, side).await?, 0)
                } else {
                    (0, parked::doubt_side(tx, user, kind, side).await?)
                };
                tracing::info!(%round, links = marked.len(), parked_dropped = dropped, parked_unconfirmed = doubted, "full re-read begun");
                links::save_docs(tx, &marked).await?;
                Ok(false)
            }
            ChangeMessage::ReadCompleted {
                side,
                kind,
                full,
                items_read,
                round,
                lists_everything,
            } => {
                let end = RoundEnd {
                    full,
                    items: items_read,
                    round,
                    rescope,
                    lists_everything,
                };
                Box::pin(self.round_completed(tx, user, kind, side, end)).await
            }
        }
    }

    async fn round_completed(
        &self,
        tx: &mut Tx<'_>,
        user: UserId,
        kind: ItemKind,
        side: Side,
        end: RoundEnd,
    ) -> anyhow::Result<bool> {
        let RoundEnd {
            full,
            items,
            round,
            rescope,
            lists_everything,
        } = end;
        // Only the full read the open re-scope asked for counts (not one of the old scope); a
        // delta round never does, so its end needs no look first.
        let counts = full
            && progress::load(tx, user, kind)
                .await?
                .reading()
                .counts(full, rescope);
        progress::round_completed(tx, user, kind, side, counts, items as i64).await?;
        let (state, settings) = progress::load_with_settings(tx, user, kind).await?;
        let rules = rules_of(&state, settings.as_ref(), kind);
        let mut wrote = false;
        if scope::reads_in(state.first_sync_done, state.reading()) {
            wrote |= finish_first_sync(tx, user, kind, rules).await?;
        }

        // Creates on `side` whose answer was lost and whose item this round did not show: again.
        // Copies our creates made there that no read has listed since: asked for by id once a
        // whole round has passed without listing them, since their deletion may never be told
        // (decisions 91, 101).
        let mut waited = Vec::new();
        for mut link in links::round_end_candidates(tx, user, kind, side).await? {
            let input = if unknown_read::lost_create(&link, side) {
                Input::Retry { side }
            } else {
                match full_read::unlisted(&mut link, side) {
                    Some(Unlisted::Ask(input)) => input,
                    Some(Unlisted::WaitedARound) => {
                        waited.push(link);
                        continue;
                    }
                    None => continue,
                }
            };
            wrote |= apply(tx, user, Some(link), input, rules).await?;
        }
        links::save_docs(tx, &waited).await?;

        // A full re-read's end: what it never showed was deleted on `side` (staged below).
        if let Some(round) = round.filter(|_| full) {
            let (mut gone, mut probed) = (0u64, 0u64);
            for mut link in links::unseen_in(tx, user, kind, side, round).await? {
                match full_read::end(&mut link, side, round, lists_everything) {
                    Some(input) => {
                        if matches!(input, Input::Probe { .. }) {
                            probed += 1;
                        } else {
                            gone += 1;
                        }
                        wrote |= apply(tx, user, Some(link), input, rules).await?;
                    }
                    None => links::save(tx, &link).await?,
                }
            }
            if gone > 0 {
                metrics::counter!("sync_deletes_found_by_full_read_total").increment(gone);
                tracing::info!(%round, deletes = gone, "a full re-read found deleted items");
            }
            if probed > 0 {
                tracing::info!(%round, probes = probed, "a windowed re-read did not list some items: asked for by id");
            }
        }

        // The mass-delete guard looks at everything this round deleted on `side` at once.
        let staged = links::deletes_by(tx, user, kind, side, "staged_delete").await?;
        if !staged.is_empty() {
            let total = links::live_count(tx, user, kind).await? as usize;
            let hold = holds_back(staged.len(), total, self.guard.share, self.guard.minimum);
            if hold {
                metrics::counter!("sync_deletes_held_total").increment(staged.len() as u64);
                tracing::warn!(%user, %kind, %side, deletes = staged.len(), total, "mass delete held back for an admin");
            }
            for link in staged {
                let input = if hold {
                    Input::HoldDelete
                } else {
                    Input::ReleaseDelete
                };
                wrote |= apply(tx, user, Some(link), input, rules).await?;
            }
        }
        Ok(wrote)
    }
}

/// The outcome of a user's messages, for each of its deliveries.
fn copy(outcome: &Result<(), HandlerError>) -> Result<(), HandlerError> {
    match outcome {
        Ok(()) => Ok(()),
        Err(HandlerError::Outage(err)) => Err(HandlerError::Outage(anyhow!("{err:#}"))),
        Err(HandlerError::Retry(err)) => Err(HandlerError::Retry(anyhow!("{err:#}"))),
        Err(HandlerError::Reject(err)) => Err(HandlerError::Reject(anyhow!("{err:#}"))),
    }
}

/// Logs how the inbox let a message in; `true` when it is to be decided now. It is counted once
/// the transaction that let it in commits ([`count_admitted`]): a batch that fails and is
/// handled again counts each message once.
fn admitted(admission: Admission) -> bool {
    match admission {
        Admission::New => true,
        Admission::Duplicate => {
            tracing::debug!("duplicate delivery ignored");
            false
        }
        Admission::Held => {
            tracing::debug!("the user's changes are held; this one waits behind them");
            false
        }
    }
}

/// Counts the admissions of a committed transaction: the messages decided, the duplicates.
fn count_admitted(admissions: &[Admission]) {
    let count = |wanted: Admission| admissions.iter().filter(|a| **a == wanted).count() as u64;
    metrics::counter!("sync_messages_decided_total").increment(count(Admission::New));
    metrics::counter!("sync_duplicate_deliveries_total").increment(count(Admission::Duplicate));
}

/// The user's rules for `kind` (no settings: nothing syncs).
pub async fn rules(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
) -> anyhow::Result<(Rules, Option<UserSettings>)> {
    let (rules, settings, _) = rules_and_reading(tx, user, kind).await?;
    Ok((rules, settings))
}

/// [`rules`], and where the kind's re-scope stands.
async fn rules_and_reading(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
) -> anyhow::Result<(Rules, Option<UserSettings>, Reading)> {
    let (state, settings) = progress::load_with_settings(tx, user, kind).await?;
    let rules = rules_of(&state, settings.as_ref(), kind);
    Ok((rules, settings, state.reading()))
}

/// The rules of `kind` given its progress and the user's settings.
pub(crate) fn rules_of(
    state: &progress::Progress,
    settings: Option<&UserSettings>,
    kind: ItemKind,
) -> Rules {
    Rules {
        direction: settings.and_then(|s| s.direction(kind)),
        conflict_rule: settings.map(|s| s.conflict_rule).unwrap_or_default(),
        first_sync_open: !state.first_sync_done,
        rebuilding: !state.first_sync_done && state.rebuilding,
    }
}

pub(crate) async fn on_item(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    input: Input,
    rescope: Option<uuid::Uuid>,
) -> anyhow::Result<bool> {
    let (rules, settings, reading) = rules_and_reading(tx, user, kind).await?;
    let input = scope::within(settings.as_ref(), input);
    let external_id = match &input {
        Input::Changed { external_id, .. }
        | Input::Deleted { external_id, .. }
        | Input::LeftScope { external_id, .. } => external_id.clone(),
        _ => return Ok(false),
    };
    let link = links::find(tx, user, kind, side, &external_id).await?;
    if link.is_none()
        && matches!(input, Input::Changed { .. })
        && !reading.admits_new(side, rescope)
    {
        tracing::debug!(%side, "a read of the old scope skipped; the re-scope's full read follows");
        return Ok(false);
    }
    if link.is_none() && !matches!(input, Input::Changed { .. }) {
        // A parked read of an item deleted (or gone out of scope) since must not come back;
        // a read outside the scope that is older than the parked one tells nothing of it.
        let modified = match &input {
            Input::LeftScope { modified, .. } => *modified,
            _ => None,
        };
        parked::forget(tx, user, kind, side, &external_id, modified).await?;
    }
    if link.is_none()
        && let Input::Changed {
            version,
            item,
            identity,
            modified,
            ..
        } = &input
    {
        let parked_read = || parked::Read {
            version,
            item,
            modified: *modified,
        };
        // A newer read of a parked item replaces it: the parked one must never win later.
        if parked::replace(tx, user, kind, side, &external_id, parked_read()).await? {
            return Ok(false);
        }
        // The item may carry the identity our create wrote on it (it is that link's, whatever
        // its content became since), or be the echo or the lost answer of a create of ours.
        let claimed = match identity {
            Some(identity) if !rules.rebuilding => links::get(tx, identity.link).await?,
            _ => None,
        };
        let read = item.project_for(side).content_hash();
        let pending = links::creates_with(tx, user, kind, side, &read).await?;
        match unknown_read::decide(user, kind, side, item, claimed.as_ref(), &pending) {
            UnknownRead::Park => {
                parked::park(tx, user, kind, side, &external_id, parked_read()).await?;
                return Ok(false);
            }
            UnknownRead::Join(id) => {
                let mut link = claimed
                    .into_iter()
                    .chain(pending)
                    .find(|l| l.id == id)
                    .expect("decide joins one of the links it was given");
                unknown_read::adopt(&mut link, side, external_id.clone());
                links::save(tx, &link).await?;
                return apply(tx, user, Some(link), input, rules).await;
            }
            UnknownRead::New => {}
        }
    }
    apply(tx, user, link, input, rules).await
}

/// The answer to one of our commands (decided one by one; a batch's results are decided
/// set-wise by [`setwise`], which falls back on this for what its state cannot decide alone).
pub(crate) async fn on_result(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    link_id: LinkId,
    command_id: uuid::Uuid,
    outcome: ApplyOutcome,
) -> anyhow::Result<bool> {
    // A link of another user is none of this one's (as in the set-wise path): as if gone.
    let Some(link) = links::get(tx, link_id)
        .await?
        .filter(|link| link.user_id == user)
    else {
        tracing::debug!(%link_id, "result for a link that no longer exists");
        return Ok(false);
    };
    if matches!(
        outcome,
        ApplyOutcome::Applied { .. } | ApplyOutcome::Gone { .. }
    ) {
        progress::written(tx, user, kind, side).await?;
    }
    let input = result_input(side, command_id, outcome);
    let (rules, _) = rules(tx, user, kind).await?;
    let mut wrote = false;
    let mut news = None;
    let mut pending = None;
    if let Input::Applied { external_id, .. } | Input::Stale { external_id, .. } = &input
        && link.awaits(side, command_id)
        && let Some(holder) = links::find(tx, user, kind, side, external_id).await?
        && holder.id != link.id
    {
        tracing::warn!(%side, link = %link.id, holder = %holder.id, "our create's item was linked from a read: the duplicate link gives it up");
        metrics::counter!("sync_duplicate_links_resolved_total").increment(1);
        let resolution = collision::resolve(holder.clone(), side, rules, &mut RandomIds);
        wrote |= persist(tx, user, Some(holder.id), resolution.holder, rules).await?;
        news = resolution.news;
        pending = resolution.pending;
    }
    let link_id = link.id;
    wrote |= apply(tx, user, Some(link), input, rules).await?;
    if let Some(news) = news {
        let link = links::get(tx, link_id).await?;
        wrote |= apply(tx, user, link, news, rules).await?;
    }
    if let Some(item) = pending
        && let Some(link) = links::get(tx, link_id).await?
    {
        let out = collision::expect_write(link, side, item, rules, &mut RandomIds);
        wrote |= persist(tx, user, Some(link_id), out, rules).await?;
    }
    Ok(release_parked(tx, user, kind, side).await? || wrote)
}

/// The engine's input for the answer `outcome` to command `command_id` on `side`.
pub(crate) fn result_input(side: Side, command_id: uuid::Uuid, outcome: ApplyOutcome) -> Input {
    match outcome {
        ApplyOutcome::Applied {
            external_id,
            version,
            modified,
            ..
        } => Input::Applied {
            side,
            command_id,
            external_id,
            version,
            modified,
        },
        ApplyOutcome::Stale {
            external_id,
            version,
            item,
            modified,
        } => Input::Stale {
            side,
            command_id,
            external_id,
            version,
            item,
            modified,
        },
        ApplyOutcome::Gone { .. } => Input::Gone { side, command_id },
        ApplyOutcome::Failed { code, message, .. } => {
            tracing::warn!(%side, %code, "write refused by the provider");
            Input::Failed {
                side,
                command_id,
                code,
                message,
            }
        }
    }
}

/// After a result from `side`: the parked reads the domain releases (our own creates' reads
/// join their links, the others are new items) go on; the rest stay parked.
async fn release_parked(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
) -> anyhow::Result<bool> {
    let mut wrote = false;
    for parked in parked::list(tx, user, kind, side).await? {
        let known = links::find(tx, user, kind, side, &parked.external_id)
            .await?
            .is_some();
        let creating = match known {
            true => Vec::new(),
            false => {
                let read = parked.item.project_for(side).content_hash();
                links::creates_with(tx, user, kind, side, &read).await?
            }
        };
        if !unknown_read::releases(side, side, &parked.item, known, &creating) {
            continue;
        }
        parked::remove(tx, parked.id).await?;
        let link = links::find(tx, user, kind, side, &parked.external_id).await?;
        let input = Input::Changed {
            side,
            external_id: parked.external_id,
            version: parked.version,
            item: parked.item,
            identity: None,
            modified: parked.modified,
        };
        let (rules, _) = rules(tx, user, kind).await?;
        let old = link.as_ref().map(|l| l.id);
        let out =
            unknown_read::release(link, input, parked.unconfirmed, user, rules, &mut RandomIds);
        wrote |= persist(tx, user, old, out, rules).await?;
    }
    Ok(wrote)
}

pub async fn apply(
    tx: &mut Tx<'_>,
    user: UserId,
    link: Option<Link>,
    input: Input,
    rules: Rules,
) -> anyhow::Result<bool> {
    let old = link.as_ref().map(|l| l.id);
    let out = step(link, input, user, rules, &mut RandomIds);
    persist(tx, user, old, out, rules).await
}

/// Stores what the engine decided: the link, its conflicts and its commands (outbox).
pub(crate) async fn persist(
    tx: &mut Tx<'_>,
    user: UserId,
    old: Option<LinkId>,
    out: Output,
    rules: Rules,
) -> anyhow::Result<bool> {
    if out.remove {
        if let Some(id) = old {
            links::remove(tx, id).await?;
        }
        return Ok(false);
    }
    let Some(link) = &out.link else {
        return Ok(false);
    };
    links::save(tx, link).await?;
    for conflict in &out.conflicts {
        metrics::counter!("sync_conflicts_total").increment(1);
        conflicts::record(tx, user, link, rules.conflict_rule, conflict).await?;
    }
    for command in &out.commands {
        outbox::push(tx, &command_envelope(user, link, command)).await?;
    }
    Ok(!out.commands.is_empty())
}

/// The outbox message of `command`, decided for `link`.
pub(crate) fn command_envelope(
    user: UserId,
    link: &Link,
    command: &Command,
) -> Envelope<CommandMessage> {
    let message = CommandMessage::Apply {
        command_id: command.command_id,
        link_id: link.id,
        side: command.side,
        kind: link.kind,
        op: command.op.clone(),
    };
    Envelope::new(user, message).with_traceparent(current_traceparent())
}

/// Both sides' full reads of the first sync (or of a re-scope) are in: the domain pairs the
/// items known on one side only, holds the ambiguous ones and creates the rest, at once for a
/// few, in pages otherwise (the first sync is done after the last one; decisions #83).
async fn finish_first_sync(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    rules: Rules,
) -> anyhow::Result<bool> {
    crate::finale::begin(tx, user, kind, rules).await
}

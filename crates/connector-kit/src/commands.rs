//! The command consumer: `watch` and `poll` commands configure polling; `apply` commands are
//! collected for a short, bounded window into batches (so Zoho's 100-record writes and Graph's
//! `$batch` of 20 really form), written through the connector, and answered one by one with an
//! `apply_result` on `sync.changes`, de-duplicated by command id.
//!
//! Commands are served per user ([`crate::mailboxes`]): each user's in arrival order by one
//! task, up to `concurrency` users at once, so a throttled mailbox (its calls sleeping through
//! `Retry-After`) delays only its own commands. A user's task writes several batches at once
//! (`mailbox_concurrency`), of commands of different links: a link's commands go one batch
//! after another, in order (decision 90). Each delivery is acknowledged on its own (never
//! `multiple`: batches finish out of order) once its outcome is recorded and its result
//! published. One that failed in a way worth retrying (throttled, the provider down) goes back
//! to the front of its user's queue with every later command of its batch, and is tried again
//! after a pause; the other users are not held up. A message that is not a command
//! is dead-lettered.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use service_kit::broker::{Broker, Publisher};
use service_kit::telemetry::{adopt_traceparent, current_traceparent};
use sync_model::{ItemKind, LinkId, UserId};
use sync_protocol::topology::connector_commands_queue;
use sync_protocol::{
    ApplyOutcome, ChangeMessage, CommandMessage, Envelope, FailureCode, SCHEMA_VERSION,
};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::Gates;
use crate::connector::{ApiError, ApplyRequest, CallContext, Connector};
use crate::mailboxes::{Mailboxes, Pick, Queue};
use crate::store::Store;
use crate::tokens::{TokenClient, TokenError};

/// Pause before a user's commands that failed transiently are tried again, so an outage is not
/// a hot loop. It does not grow: each call already waited out `Retry-After` and backed off
/// inside the API caller, and a growing pause on top of that left a user's few throttled items
/// of a `$batch` waiting many seconds under a storm of 429s.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

pub struct CommandHandler<C> {
    pub connector: Arc<C>,
    pub store: Store,
    pub tokens: TokenClient,
    pub publisher: Publisher,
    pub gates: Gates,
    /// How long to wait for more apply commands after the first of a batch.
    pub batch_window: Duration,
    /// Commands per batch at most.
    pub batch_max: usize,
    /// Users whose commands are handled at once (a throttled user's task counts while it
    /// waits).
    pub concurrency: usize,
    /// Batches of one user written at once (commands of different links).
    pub mailbox_concurrency: usize,
    /// Unacknowledged deliveries at most (all users together): what may wait in the users'
    /// queues.
    pub prefetch: u16,
}

/// A command delivery waiting in its user's queue.
struct Queued {
    delivery: Delivery,
    envelope: Envelope<CommandMessage>,
}

/// One apply command waiting in a batch, with its delivery.
struct Pending {
    queued: Queued,
    request: ApplyRequest,
    side: sync_model::Side,
}

/// What to do with a delivery once its command was handled.
enum Settle {
    Ack,
    DeadLetter,
}

/// Commands to try again, in their order (the front of the user's queue).
type Retry = Vec<Queued>;

/// Commands numbered in their order within a batch, so a partial retry can be put back in it.
type Numbered<T> = Vec<(usize, T)>;

impl<C: Connector> CommandHandler<C> {
    pub async fn run(self, broker: Broker, shutdown: CancellationToken) -> anyhow::Result<()> {
        let queue = broker.name(&connector_commands_queue(self.connector.side()));
        let channel = broker.channel().await?;
        // Enough unacknowledged deliveries for a whole batch, and for the other users' commands
        // to reach their tasks while one user's wait.
        let prefetch = broker
            .settings()
            .prefetch
            .max(self.prefetch)
            .max(self.batch_max.min(u16::MAX as usize) as u16);
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await?;
        let mut consumer = channel
            .basic_consume(
                queue.clone().into(),
                format!("{queue}.{}", uuid::Uuid::new_v4()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("cannot consume {queue}"))?;
        let this = Arc::new(self);
        let mut mailboxes = Mailboxes::new(this.concurrency);
        let mut serving: JoinSet<(UserId, anyhow::Result<()>)> = JoinSet::new();
        let stop = shutdown.child_token();
        let outcome = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                Some(ended) = serving.join_next() => {
                    let (user, result) = match ended {
                        Ok(ended) => ended,
                        Err(err) => break Err(anyhow::Error::from(err).context("a user's command task failed")),
                    };
                    if let Err(err) = result {
                        break Err(err);
                    }
                    if let Some((next, queue)) = mailboxes.ended(user) {
                        serving.spawn(this.clone().serve(next, queue, stop.clone()));
                    }
                }
                next = consumer.next() => {
                    let delivery = match next {
                        None => break Err(anyhow!("the broker closed the consumer of {queue}")),
                        Some(Err(err)) => break Err(anyhow::Error::from(err).context("consumer failed")),
                        Some(Ok(delivery)) => delivery,
                    };
                    let Some(queued) = parse(delivery).await? else { continue };
                    let user = queued.envelope.user_id;
                    if let Some(queue) = mailboxes.push(user, queued) {
                        serving.spawn(this.clone().serve(user, queue, stop.clone()));
                    }
                }
            }
        };
        // The users' tasks stop after the batch in hand; what waits in their queues goes back to
        // the broker when the channel closes.
        stop.cancel();
        while serving.join_next().await.is_some() {}
        let _ = channel.close(200, "consumer stopped".into()).await;
        outcome
    }

    /// Serves one user's queue until it is empty (or the consumer stops): batches in arrival
    /// order, up to `mailbox_concurrency` of them written at once. While batches are in flight,
    /// another takes only commands independent of them: apply commands whose link no batch in
    /// flight holds and no command left waiting before them has (so a link's commands go one
    /// batch after another, in order), up to the first other command (a watch or poll waits
    /// until nothing is in flight, and everything after it waits for it). Commands to try
    /// again go back to the front, and no new batch starts for a pause.
    async fn serve(
        self: Arc<Self>,
        user: UserId,
        queue: Arc<Queue<Queued>>,
        stop: CancellationToken,
    ) -> (UserId, anyhow::Result<()>) {
        let mut writing = FuturesUnordered::new();
        // The links and commands of the batches in flight.
        let mut busy: HashSet<Key> = HashSet::new();
        // When the batch being collected is taken, full or not (the batch window).
        let mut window: Option<Instant> = None;
        let mut paused: Option<Instant> = None;
        // What waits depends on the batches in flight: nothing starts until one ends.
        let mut blocked = false;
        let mut failed: Option<anyhow::Error> = None;
        loop {
            let now = Instant::now();
            if paused.is_some_and(|until| now >= until) {
                paused = None;
            }
            let room = writing.len() < self.mailbox_concurrency
                && paused.is_none()
                && failed.is_none()
                && !stop.is_cancelled();
            if room && !blocked && queue.len() > 0 {
                let due = *window.get_or_insert(now + self.batch_window);
                if queue.len() >= self.batch_max || now >= due {
                    window = None;
                    let batch = if writing.is_empty() {
                        queue.take(self.batch_max)
                    } else {
                        let mut held = HashSet::new();
                        queue.take_where(self.batch_max, |q| independent(q, &busy, &mut held))
                    };
                    if batch.is_empty() {
                        blocked = true;
                    } else {
                        metrics::histogram!("connector_command_batch_size", "side" => self.connector.side().as_str())
                            .record(batch.len() as f64);
                        let links: Vec<Key> = batch.iter().flat_map(keys_of).collect();
                        busy.extend(links.iter().copied());
                        let this = self.clone();
                        writing.push(async move { (links, this.handle_batch(batch).await) });
                        continue;
                    }
                }
            }
            if writing.is_empty() && (queue.len() == 0 || stop.is_cancelled() || failed.is_some()) {
                break;
            }
            let wake = paused.or(window.filter(|_| room && !blocked));
            tokio::select! {
                Some((links, result)) = writing.next() => {
                    for link in links {
                        busy.remove(&link);
                    }
                    blocked = false;
                    match result {
                        Ok(retry) if retry.is_empty() => {}
                        Ok(retry) => {
                            metrics::counter!("connector_command_retries_total", "side" => self.connector.side().as_str())
                                .increment(retry.len() as u64);
                            queue.put_back(retry);
                            paused = Some(Instant::now() + RETRY_PAUSE);
                        }
                        Err(err) => {
                            failed.get_or_insert(err);
                        }
                    }
                }
                _ = queue.arrival(), if room && !blocked => {}
                _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => {}
                _ = stop.cancelled(), if !stop.is_cancelled() => {}
            }
        }
        (user, failed.map_or(Ok(()), Err))
    }

    /// Handles one user's deliveries in order; consecutive apply commands are written together.
    /// Returns the commands to try again: the first that failed transiently and every later
    /// one, so the user's order holds.
    async fn handle_batch(&self, deliveries: Vec<Queued>) -> anyhow::Result<Retry> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut rest = deliveries.into_iter();
        while let Some(queued) = rest.next() {
            match &queued.envelope.body {
                CommandMessage::Apply {
                    command_id,
                    link_id,
                    kind,
                    op,
                    side,
                } => pending.push(Pending {
                    request: ApplyRequest {
                        command_id: *command_id,
                        link_id: *link_id,
                        kind: *kind,
                        op: op.clone(),
                        container_id: None,
                        repeated: false,
                    },
                    side: *side,
                    queued,
                }),
                other => {
                    // Keep the order: earlier writes go first (a new folder must not receive
                    // creates that were meant for the old one, nor the reverse).
                    let mut retry = self.apply_all(std::mem::take(&mut pending)).await?;
                    if !retry.is_empty() {
                        retry.push(queued);
                        retry.extend(rest);
                        return Ok(retry);
                    }
                    let user = queued.envelope.user_id;
                    let span = tracing::info_span!("command", %user, verb = other.verb());
                    adopt_traceparent(&span, queued.envelope.traceparent.as_deref());
                    let done = self.configure(user, other.clone()).instrument(span).await;
                    match done {
                        Ok(()) => settle(&queued.delivery, Settle::Ack).await?,
                        Err(err) => {
                            tracing::warn!(error = %format!("{err:#}"), "command failed; will retry");
                            let mut retry = vec![queued];
                            retry.extend(rest);
                            return Ok(retry);
                        }
                    }
                }
            }
        }
        self.apply_all(pending).await
    }

    async fn configure(&self, user: UserId, command: CommandMessage) -> anyhow::Result<()> {
        match command {
            CommandMessage::Watch {
                kind,
                scope,
                rescope,
                ..
            } => {
                // The categories first: once the watch is stored the poller may read the new
                // scope at once, and a first sync complete with its filter's category still
                // missing from the mailbox leaves the user nothing to tag events with.
                if let Some(categories) = scope.as_ref().map(|s| &s.categories)
                    && !categories.is_empty()
                {
                    self.ensure_categories(user, categories).await?;
                }
                self.store
                    .set_watch_rescoped(user, kind, scope.as_ref(), rescope)
                    .await?;
            }
            CommandMessage::Poll {
                kind,
                full,
                identities,
                ..
            } => {
                self.store
                    .poll_kind_now(user, kind, full, identities)
                    .await?
            }
            CommandMessage::Apply { .. } => {}
        }
        Ok(())
    }

    /// Creates the categories the calendar filter relies on when the mailbox lacks them. Only a
    /// passing failure (throttled, the provider or auth-service down) is retried; one that
    /// cannot pass (no connection, no permission) is logged and the watch stands.
    async fn ensure_categories(&self, user: UserId, names: &[String]) -> anyhow::Result<()> {
        let token = match self.tokens.get(user).await {
            Ok(token) => token,
            Err(err @ (TokenError::ReconnectNeeded(_) | TokenError::NotConnected(_))) => {
                tracing::warn!(error = %err, "cannot create the mailbox's categories");
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        let ctx = CallContext {
            user_id: user,
            token,
            gate: self.gates.for_user(user),
        };
        match self.connector.ensure_categories(&ctx, names).await {
            Ok(()) => Ok(()),
            Err(err @ (ApiError::Throttled { .. } | ApiError::Transient(_))) => Err(err.into()),
            Err(err) => {
                tracing::warn!(error = %err, "cannot create the mailbox's categories");
                Ok(())
            }
        }
    }

    /// Writes one user's pending commands, per kind, in waves in which a link appears once (a
    /// second command for the same item waits for the first). After a wave with commands to try
    /// again nothing more is written: those and every later command are returned, in order.
    async fn apply_all(&self, pending: Vec<Pending>) -> anyhow::Result<Retry> {
        let mut groups: Vec<((UserId, ItemKind), Numbered<Pending>)> = Vec::new();
        for (order, p) in pending.into_iter().enumerate() {
            let key = (p.queued.envelope.user_id, p.request.kind);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push((order, p)),
                None => groups.push((key, vec![(order, p)])),
            }
        }
        let mut retry: Numbered<Queued> = Vec::new();
        for ((user, kind), mut group) in groups {
            while !group.is_empty() {
                if !retry.is_empty() {
                    // Held back behind the commands to try again.
                    retry.extend(group.into_iter().map(|(order, p)| (order, p.queued)));
                    break;
                }
                let mut seen = HashSet::new();
                let (wave, later): (Vec<_>, Vec<_>) = group
                    .into_iter()
                    .partition(|(_, p)| seen.insert(p.request.link_id));
                group = later;
                retry.extend(self.apply_wave(user, kind, wave).await?);
            }
        }
        retry.sort_by_key(|(order, _)| *order);
        Ok(retry.into_iter().map(|(_, queued)| queued).collect())
    }

    async fn apply_wave(
        &self,
        user: UserId,
        kind: ItemKind,
        wave: Numbered<Pending>,
    ) -> anyhow::Result<Numbered<Queued>> {
        let span = tracing::info_span!("apply", %user, %kind, commands = wave.len());
        if let Some((_, first)) = wave.first() {
            adopt_traceparent(&span, first.queued.envelope.traceparent.as_deref());
        }
        self.apply_wave_inner(user, kind, wave)
            .instrument(span)
            .await
    }

    async fn apply_wave_inner(
        &self,
        user: UserId,
        kind: ItemKind,
        wave: Numbered<Pending>,
    ) -> anyhow::Result<Numbered<Queued>> {
        let mut retry = Vec::new();
        let again = |todo: Numbered<Pending>| -> Numbered<Queued> {
            todo.into_iter().map(|(o, p)| (o, p.queued)).collect()
        };
        // Commands already carried out (a redelivery) are answered with their recorded outcome.
        let ids: Vec<uuid::Uuid> = wave.iter().map(|(_, p)| p.request.command_id).collect();
        let mut applied = match self.store.applied_outcomes(&ids).await {
            Ok(applied) => applied,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read applied commands; will retry");
                return Ok(again(wave));
            }
        };
        let mut todo = Vec::new();
        let mut answered = Vec::new();
        for (order, p) in wave {
            match applied.remove(&p.request.command_id) {
                Some(outcome) => answered.push((order, p, outcome)),
                None => todo.push((order, p)),
            }
        }
        retry.extend(self.finish_all(answered, false).await?);
        if todo.is_empty() {
            return Ok(retry);
        }
        let container_id = match self.store.container(user, kind).await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the watch; will retry");
                retry.extend(again(todo));
                return Ok(retry);
            }
        };
        for (_, p) in &mut todo {
            p.request.container_id = container_id.clone();
        }
        // The intent is recorded before the write, so a crash between the write and the record
        // of its outcome is recognised when the command comes again.
        let ids: Vec<uuid::Uuid> = todo.iter().map(|(_, p)| p.request.command_id).collect();
        match self.store.begin_writes(&ids).await {
            Ok(begun) => {
                for (_, p) in &mut todo {
                    p.request.repeated = begun.contains(&p.request.command_id);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot record the intent of writes; will retry");
                retry.extend(again(todo));
                return Ok(retry);
            }
        }
        let repeated = todo.iter().filter(|(_, p)| p.request.repeated).count();
        if repeated > 0 {
            metrics::counter!("connector_repeated_commands_total", "side" => self.connector.side().as_str())
                .increment(repeated as u64);
            tracing::info!(
                repeated,
                "commands whose earlier attempt may have written: looking for their first copies"
            );
        }
        let requests: Vec<ApplyRequest> = todo.iter().map(|(_, p)| p.request.clone()).collect();
        let outcomes = match self.tokens.get(user).await {
            Ok(token) => self.write(user, token, &requests).await,
            Err(err @ (TokenError::ReconnectNeeded(_) | TokenError::NotConnected(_))) => {
                let outcome = ApplyOutcome::Failed {
                    code: FailureCode::ReconnectNeeded,
                    message: err.to_string(),
                    retryable: true,
                };
                vec![outcome; todo.len()]
            }
            Err(err) => {
                tracing::warn!(error = %err, "no access token; will retry");
                retry.extend(again(todo));
                return Ok(retry);
            }
        };
        // A refused call (429) wrote nothing: its next attempt needs no look-up.
        let untouched: Vec<uuid::Uuid> = requests
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| {
                matches!(
                    o,
                    ApplyOutcome::Failed {
                        code: FailureCode::Throttled,
                        ..
                    }
                )
            })
            .map(|(r, _)| r.command_id)
            .collect();
        if !untouched.is_empty()
            && let Err(err) = self.store.abandon_writes(&untouched).await
        {
            tracing::warn!(error = %err, "cannot forget the intent of throttled writes");
        }
        let done = todo
            .into_iter()
            .zip(outcomes)
            .map(|((order, p), outcome)| (order, p, outcome))
            .collect();
        retry.extend(self.finish_all(done, true).await?);
        Ok(retry)
    }

    /// One call of the connector (with one retry of the records refused for the token, after a
    /// forced refresh); one outcome per command.
    async fn write(
        &self,
        user: UserId,
        token: crate::tokens::AccessToken,
        requests: &[ApplyRequest],
    ) -> Vec<ApplyOutcome> {
        let mut ctx = CallContext {
            user_id: user,
            token,
            gate: self.gates.for_user(user),
        };
        let mut outcomes = self.apply_checked(&ctx, requests).await;
        let refused: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| {
                matches!(
                    o,
                    ApplyOutcome::Failed {
                        code: FailureCode::Unauthorized,
                        ..
                    }
                )
            })
            .map(|(i, _)| i)
            .collect();
        if !refused.is_empty() {
            match self.tokens.refresh(user).await {
                Ok(token) => {
                    ctx.token = token;
                    let again: Vec<ApplyRequest> =
                        refused.iter().map(|i| requests[*i].clone()).collect();
                    let retried = self.apply_checked(&ctx, &again).await;
                    for (i, outcome) in refused.iter().copied().zip(retried) {
                        outcomes[i] = outcome;
                    }
                }
                Err(err) => {
                    let code = match err {
                        TokenError::ReconnectNeeded(_) | TokenError::NotConnected(_) => {
                            FailureCode::ReconnectNeeded
                        }
                        TokenError::Unavailable(_) => FailureCode::Unauthorized,
                    };
                    for i in refused.iter().copied() {
                        outcomes[i] = ApplyOutcome::Failed {
                            code: code.clone(),
                            message: err.to_string(),
                            retryable: true,
                        };
                    }
                }
            }
            // Still refused with a fresh token: auth-service may have handed out the same one
            // (it refreshed moments ago); the write is tried again later, not given up.
            for i in refused {
                if let ApplyOutcome::Failed {
                    code, retryable, ..
                } = &mut outcomes[i]
                    && *code == FailureCode::Unauthorized
                {
                    *retryable = true;
                }
            }
        }
        if let Err(err) = self.store.record_calls(user, ctx.gate.calls()).await {
            tracing::warn!(error = %err, "cannot record API calls");
        }
        outcomes
    }

    /// The connector's outcomes, exactly one per request whatever it answered.
    async fn apply_checked(
        &self,
        ctx: &CallContext,
        requests: &[ApplyRequest],
    ) -> Vec<ApplyOutcome> {
        let mut outcomes = self.connector.apply(ctx, requests).await;
        if outcomes.len() != requests.len() {
            tracing::error!(
                expected = requests.len(),
                got = outcomes.len(),
                "the connector returned the wrong number of outcomes"
            );
        }
        outcomes.resize(
            requests.len(),
            ApplyOutcome::Failed {
                code: FailureCode::NoOutcome,
                message: "the connector returned no outcome".into(),
                retryable: true,
            },
        );
        outcomes
    }

    /// Records (when final and new), publishes and acknowledges the outcomes of one wave (one
    /// user and kind): the records in one statement, then the results published together
    /// (their confirms awaited at once), then each delivery acknowledged, so each command's
    /// outcome is recorded before its result goes out and its result before its
    /// acknowledgement. A transient failure is returned to be tried again instead, so the write
    /// happens once the provider is back; so is every command of the wave whose record or
    /// publication failed.
    async fn finish_all(
        &self,
        done: Vec<(usize, Pending, ApplyOutcome)>,
        record: bool,
    ) -> anyhow::Result<Numbered<Queued>> {
        let mut retry = Vec::new();
        let mut finals = Vec::new();
        for (order, p, outcome) in done {
            let label = outcome_label(&outcome);
            metrics::counter!("connector_apply_outcomes_total", "side" => p.side.as_str(), "kind" => p.request.kind.as_str(), "outcome" => label).increment(1);
            let final_outcome = !matches!(
                &outcome,
                ApplyOutcome::Failed { retryable: true, code, .. } if *code != FailureCode::ReconnectNeeded
            );
            if final_outcome {
                finals.push((order, p, outcome));
            } else {
                retry.push((order, p.queued));
            }
        }
        let Some((_, first, _)) = finals.first() else {
            return Ok(retry);
        };
        let (user, kind) = (first.queued.envelope.user_id, first.request.kind);
        // A connection that needs reconnecting is reported but not recorded: a redelivery of
        // the same command after the user reconnects is written then.
        let to_record: Vec<(uuid::Uuid, &ApplyOutcome)> = finals
            .iter()
            .filter(|(_, _, outcome)| record && outcome_label(outcome) != "reconnect_needed")
            .map(|(_, p, outcome)| (p.request.command_id, outcome))
            .collect();
        if let Err(err) = self.store.record_applied_many(user, kind, &to_record).await {
            tracing::warn!(error = %err, "cannot record applied commands; will retry");
            retry.extend(finals.into_iter().map(|(order, p, _)| (order, p.queued)));
            return Ok(retry);
        }
        let mut replies = Vec::with_capacity(finals.len());
        let mut settled = Vec::with_capacity(finals.len());
        for (order, p, outcome) in finals {
            let result = ChangeMessage::ApplyResult {
                command_id: p.request.command_id,
                link_id: p.request.link_id,
                side: p.side,
                kind: p.request.kind,
                outcome,
            };
            let envelope = &p.queued.envelope;
            replies.push(
                Envelope::new(envelope.user_id, result)
                    .with_traceparent(envelope.traceparent.clone().or_else(current_traceparent)),
            );
            settled.push((order, p.queued));
        }
        if let Err(err) = self.publisher.publish_changes(&replies).await {
            tracing::warn!(error = %format!("{err:#}"), "cannot publish apply results; will retry");
            retry.extend(settled);
            return Ok(retry);
        }
        for (_, queued) in &settled {
            settle(&queued.delivery, Settle::Ack).await?;
        }
        Ok(retry)
    }
}

/// The command a delivery carries; one that is none is dead-lettered (and `None` returned).
async fn parse(delivery: Delivery) -> anyhow::Result<Option<Queued>> {
    let envelope: Envelope<CommandMessage> = match serde_json::from_slice(&delivery.data) {
        Ok(e) => e,
        Err(err) => {
            dead_letter(&delivery, &format!("not a command message: {err}")).await?;
            return Ok(None);
        }
    };
    if envelope.schema_version != SCHEMA_VERSION {
        let reason = format!("schema version {} unknown", envelope.schema_version);
        dead_letter(&delivery, &reason).await?;
        return Ok(None);
    }
    Ok(Some(Queued { delivery, envelope }))
}

/// What a batch in flight holds: no other batch writes the same link, nor the same command
/// (a redelivery of one still in hand waits for its outcome to be recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Link(LinkId),
    Command(uuid::Uuid),
}

/// The keys of an apply command (none for any other command).
fn keys_of(queued: &Queued) -> Vec<Key> {
    match &queued.envelope.body {
        CommandMessage::Apply {
            link_id,
            command_id,
            ..
        } => vec![Key::Link(*link_id), Key::Command(*command_id)],
        _ => Vec::new(),
    }
}

/// Whether a waiting command may be written beside the batches in flight (whose keys are
/// `busy`): an apply command none of whose keys is in flight or `held` (left waiting earlier in
/// this look, which holds the link's later commands back too). Any other command ends the look.
fn independent(queued: &Queued, busy: &HashSet<Key>, held: &mut HashSet<Key>) -> Pick {
    let keys = keys_of(queued);
    if keys.is_empty() {
        return Pick::Stop;
    }
    if keys.iter().any(|k| busy.contains(k) || held.contains(k)) {
        held.extend(keys);
        return Pick::Skip;
    }
    Pick::Take
}

fn outcome_label(outcome: &ApplyOutcome) -> &'static str {
    match outcome {
        ApplyOutcome::Applied { .. } => "applied",
        ApplyOutcome::Stale { .. } => "stale",
        ApplyOutcome::Gone { .. } => "gone",
        ApplyOutcome::Failed {
            code: FailureCode::ReconnectNeeded,
            ..
        } => "reconnect_needed",
        ApplyOutcome::Failed {
            retryable: true, ..
        } => "retry",
        ApplyOutcome::Failed { .. } => "failed",
    }
}

async fn dead_letter(delivery: &Delivery, reason: &str) -> anyhow::Result<()> {
    metrics::counter!("broker_messages_dead_lettered_total", "queue" => "commands").increment(1);
    tracing::error!(%reason, "command dead-lettered");
    settle(delivery, Settle::DeadLetter).await
}

/// Settles this delivery alone (`multiple: false`): the users' tasks finish out of order, so
/// acknowledging "everything up to this tag" would settle other users' commands still in hand.
async fn settle(delivery: &Delivery, how: Settle) -> anyhow::Result<()> {
    match how {
        Settle::Ack => {
            delivery
                .acker
                .ack(BasicAckOptions { multiple: false })
                .await?;
        }
        Settle::DeadLetter => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: false,
                    multiple: false,
                })
                .await?;
        }
    }
    Ok(())
}

//! The command consumer: `watch` and `poll` commands configure polling; `apply` commands are
//! collected for a short, bounded window into batches (so Zoho's 100-record writes and Graph's
//! `$batch` of 20 really form), written through the connector, and answered one by one with an
//! `apply_result` on `sync.changes`, de-duplicated by command id.
//!
//! Each delivery is acknowledged on its own once its result is published; one that failed in a
//! way worth retrying (throttled, the provider down) is requeued, the others are not held up. A
//! message that is not a command is dead-lettered.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use service_kit::broker::{Broker, Publisher};
use service_kit::telemetry::{adopt_traceparent, current_traceparent};
use sync_model::{ItemKind, UserId};
use sync_protocol::topology::connector_commands_queue;
use sync_protocol::{
    ApplyOutcome, ChangeMessage, CommandMessage, Envelope, FailureCode, SCHEMA_VERSION,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::api::Gates;
use crate::connector::{ApiError, ApplyRequest, CallContext, Connector};
use crate::store::Store;
use crate::tokens::{TokenClient, TokenError};

/// Pause before requeueing commands that failed transiently, so an outage is not a hot loop.
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
}

/// One apply command waiting in a batch, with its delivery.
struct Pending {
    delivery: Delivery,
    user: UserId,
    traceparent: Option<String>,
    request: ApplyRequest,
    side: sync_model::Side,
}

/// What to do with a delivery once its command was handled.
enum Settle {
    Ack,
    Requeue,
    DeadLetter,
}

impl<C: Connector> CommandHandler<C> {
    pub async fn run(self, broker: Broker, shutdown: CancellationToken) -> anyhow::Result<()> {
        let queue = broker.name(&connector_commands_queue(self.connector.side()));
        let channel = broker.channel().await?;
        // Enough unacknowledged deliveries for a whole batch.
        let prefetch = broker.settings().prefetch.max(self.batch_max as u16);
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
        let closed = || anyhow!("the broker closed the consumer of {queue}");
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = consumer.next() => next.ok_or_else(closed)?.context("consumer failed")?,
            };
            let mut batch = vec![first];
            let deadline = tokio::time::Instant::now() + self.batch_window;
            while batch.len() < self.batch_max {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    next = consumer.next() => batch.push(next.ok_or_else(closed)?.context("consumer failed")?),
                }
            }
            metrics::histogram!("connector_command_batch_size", "side" => self.connector.side().as_str())
                .record(batch.len() as f64);
            self.handle_batch(batch).await?;
        }
        let _ = channel.close(200, "consumer stopped".into()).await;
        Ok(())
    }

    /// Handles deliveries in order; consecutive apply commands are written together.
    async fn handle_batch(&self, deliveries: Vec<Delivery>) -> anyhow::Result<()> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut requeued = false;
        for delivery in deliveries {
            let envelope: Envelope<CommandMessage> = match serde_json::from_slice(&delivery.data) {
                Ok(e) => e,
                Err(err) => {
                    dead_letter(&delivery, &format!("not a command message: {err}")).await?;
                    continue;
                }
            };
            if envelope.schema_version != SCHEMA_VERSION {
                let reason = format!("schema version {} unknown", envelope.schema_version);
                dead_letter(&delivery, &reason).await?;
                continue;
            }
            match envelope.body {
                CommandMessage::Apply {
                    command_id,
                    link_id,
                    kind,
                    op,
                    side,
                } => pending.push(Pending {
                    delivery,
                    user: envelope.user_id,
                    traceparent: envelope.traceparent,
                    request: ApplyRequest {
                        command_id,
                        link_id,
                        kind,
                        op,
                        container_id: None,
                        repeated: false,
                    },
                    side,
                }),
                other => {
                    // Keep the order: earlier writes go first (a new folder must not receive
                    // creates that were meant for the old one, nor the reverse).
                    requeued |= self.apply_all(std::mem::take(&mut pending)).await?;
                    let span = tracing::info_span!("command", user = %envelope.user_id, verb = other.verb());
                    adopt_traceparent(&span, envelope.traceparent.as_deref());
                    let done = self
                        .configure(envelope.user_id, other)
                        .instrument(span)
                        .await;
                    match done {
                        Ok(()) => settle(&delivery, Settle::Ack).await?,
                        Err(err) => {
                            tracing::warn!(error = %format!("{err:#}"), "command failed; will retry");
                            requeued = true;
                            settle(&delivery, Settle::Requeue).await?;
                        }
                    }
                }
            }
        }
        requeued |= self.apply_all(pending).await?;
        if requeued {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        Ok(())
    }

    async fn configure(&self, user: UserId, command: CommandMessage) -> anyhow::Result<()> {
        match command {
            CommandMessage::Watch {
                kind,
                scope,
                rescope,
                ..
            } => {
                self.store
                    .set_watch_rescoped(user, kind, scope.as_ref(), rescope)
                    .await?;
                if let Some(scope) = scope.filter(|s| !s.categories.is_empty()) {
                    self.ensure_categories(user, &scope.categories).await?;
                }
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

    /// Writes the pending commands, per user and kind, in waves in which a link appears once (a
    /// second command for the same item waits for the first). Returns whether any was requeued.
    async fn apply_all(&self, pending: Vec<Pending>) -> anyhow::Result<bool> {
        let mut requeued = false;
        let mut groups: Vec<((UserId, ItemKind), Vec<Pending>)> = Vec::new();
        for p in pending {
            let key = (p.user, p.request.kind);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(p),
                None => groups.push((key, vec![p])),
            }
        }
        for ((user, kind), mut group) in groups {
            while !group.is_empty() {
                let mut seen = HashSet::new();
                let (wave, later): (Vec<Pending>, Vec<Pending>) = group
                    .into_iter()
                    .partition(|p| seen.insert(p.request.link_id));
                group = later;
                requeued |= self.apply_wave(user, kind, wave).await?;
            }
        }
        Ok(requeued)
    }

    async fn apply_wave(
        &self,
        user: UserId,
        kind: ItemKind,
        wave: Vec<Pending>,
    ) -> anyhow::Result<bool> {
        let span = tracing::info_span!("apply", %user, %kind, commands = wave.len());
        if let Some(first) = wave.first() {
            adopt_traceparent(&span, first.traceparent.as_deref());
        }
        self.apply_wave_inner(user, kind, wave)
            .instrument(span)
            .await
    }

    async fn apply_wave_inner(
        &self,
        user: UserId,
        kind: ItemKind,
        wave: Vec<Pending>,
    ) -> anyhow::Result<bool> {
        let mut requeued = false;
        // Commands already carried out (a redelivery) are answered with their recorded outcome.
        let mut todo = Vec::new();
        for p in wave {
            match self.store.applied_outcome(p.request.command_id).await {
                Ok(Some(outcome)) => {
                    requeued |= self.finish(p, outcome, false).await?;
                }
                Ok(None) => todo.push(p),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read applied commands; will retry");
                    settle(&p.delivery, Settle::Requeue).await?;
                    requeued = true;
                }
            }
        }
        if todo.is_empty() {
            return Ok(requeued);
        }
        let container_id = match self.store.container(user, kind).await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the watch; will retry");
                for p in todo {
                    settle(&p.delivery, Settle::Requeue).await?;
                }
                return Ok(true);
            }
        };
        for p in &mut todo {
            p.request.container_id = container_id.clone();
        }
        // The intent is recorded before the write, so a crash between the write and the record
        // of its outcome is recognised when the command comes again.
        let ids: Vec<uuid::Uuid> = todo.iter().map(|p| p.request.command_id).collect();
        match self.store.begin_writes(&ids).await {
            Ok(begun) => {
                for p in &mut todo {
                    p.request.repeated = begun.contains(&p.request.command_id);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot record the intent of writes; will retry");
                for p in todo {
                    settle(&p.delivery, Settle::Requeue).await?;
                }
                return Ok(true);
            }
        }
        let repeated = todo.iter().filter(|p| p.request.repeated).count();
        if repeated > 0 {
            metrics::counter!("connector_repeated_commands_total", "side" => self.connector.side().as_str())
                .increment(repeated as u64);
            tracing::info!(
                repeated,
                "commands whose earlier attempt may have written: looking for their first copies"
            );
        }
        let outcomes = match self.tokens.get(user).await {
            Ok(token) => self.write(user, token, &todo).await,
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
                for p in todo {
                    settle(&p.delivery, Settle::Requeue).await?;
                }
                return Ok(true);
            }
        };
        // A refused call (429) wrote nothing: its next attempt needs no look-up.
        let untouched: Vec<uuid::Uuid> = todo
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
            .map(|(p, _)| p.request.command_id)
            .collect();
        if !untouched.is_empty()
            && let Err(err) = self.store.abandon_writes(&untouched).await
        {
            tracing::warn!(error = %err, "cannot forget the intent of throttled writes");
        }
        for (p, outcome) in todo.into_iter().zip(outcomes) {
            requeued |= self.finish(p, outcome, true).await?;
        }
        Ok(requeued)
    }

    /// One call of the connector (with one retry of the records refused for the token, after a
    /// forced refresh); one outcome per command.
    async fn write(
        &self,
        user: UserId,
        token: crate::tokens::AccessToken,
        todo: &[Pending],
    ) -> Vec<ApplyOutcome> {
        let requests: Vec<ApplyRequest> = todo.iter().map(|p| p.request.clone()).collect();
        let mut ctx = CallContext {
            user_id: user,
            token,
            gate: self.gates.for_user(user),
        };
        let mut outcomes = self.apply_checked(&ctx, &requests).await;
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

    /// Records (when final and new), publishes and settles one command's outcome. A transient
    /// failure is requeued instead, so the write happens once the provider is back. Returns
    /// whether the delivery was requeued.
    async fn finish(
        &self,
        p: Pending,
        outcome: ApplyOutcome,
        record: bool,
    ) -> anyhow::Result<bool> {
        let label = outcome_label(&outcome);
        metrics::counter!("connector_apply_outcomes_total", "side" => p.side.as_str(), "kind" => p.request.kind.as_str(), "outcome" => label).increment(1);
        let final_outcome = !matches!(
            &outcome,
            ApplyOutcome::Failed { retryable: true, code, .. } if *code != FailureCode::ReconnectNeeded
        );
        if !final_outcome {
            settle(&p.delivery, Settle::Requeue).await?;
            return Ok(true);
        }
        // A connection that needs reconnecting is reported but not recorded: a redelivery of
        // the same command after the user reconnects is written then.
        let keep = record && label != "reconnect_needed";
        if keep
            && let Err(err) = self
                .store
                .record_applied(p.user, p.request.kind, p.request.command_id, &outcome)
                .await
        {
            tracing::warn!(error = %err, "cannot record an applied command; will retry");
            settle(&p.delivery, Settle::Requeue).await?;
            return Ok(true);
        }
        let result = ChangeMessage::ApplyResult {
            command_id: p.request.command_id,
            link_id: p.request.link_id,
            side: p.side,
            kind: p.request.kind,
            outcome,
        };
        let reply = Envelope::new(p.user, result)
            .with_traceparent(p.traceparent.clone().or_else(current_traceparent));
        if let Err(err) = self.publisher.publish_change(&reply).await {
            tracing::warn!(error = %format!("{err:#}"), "cannot publish an apply result; will retry");
            settle(&p.delivery, Settle::Requeue).await?;
            return Ok(true);
        }
        settle(&p.delivery, Settle::Ack).await?;
        Ok(false)
    }
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

async fn settle(delivery: &Delivery, how: Settle) -> anyhow::Result<()> {
    match how {
        Settle::Ack => {
            delivery.acker.ack(BasicAckOptions::default()).await?;
        }
        Settle::Requeue => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await?;
        }
        Settle::DeadLetter => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await?;
        }
    }
    Ok(())
}

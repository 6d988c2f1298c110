//! The command consumer: `watch` commands configure polling, `apply` commands are written through
//! the connector and answered with an `apply_result` on `sync.changes`.

use std::sync::Arc;

use anyhow::anyhow;
use service_kit::broker::{Broker, HandlerError, Publisher, consume};
use service_kit::telemetry::{adopt_traceparent, current_traceparent};
use sync_protocol::topology::connector_commands_queue;
use sync_protocol::{ApplyOutcome, ChangeMessage, CommandMessage, Envelope, SCHEMA_VERSION};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::connector::{ApplyRequest, CallContext, Connector};
use crate::store::Store;
use crate::tokens::{TokenClient, TokenError};

pub struct CommandHandler<C> {
    pub connector: Arc<C>,
    pub store: Store,
    pub tokens: TokenClient,
    pub publisher: Publisher,
}

impl<C: Connector> CommandHandler<C> {
    pub async fn run(self, broker: Broker, shutdown: CancellationToken) -> anyhow::Result<()> {
        let queue = connector_commands_queue(self.connector.side());
        let this = Arc::new(self);
        consume(&broker, &queue, shutdown, |data| {
            let this = this.clone();
            async move { this.handle(&data).await }
        })
        .await
    }

    async fn handle(&self, data: &[u8]) -> Result<(), HandlerError> {
        let envelope: Envelope<CommandMessage> = serde_json::from_slice(data)
            .map_err(|e| HandlerError::Reject(anyhow!("not a command message: {e}")))?;
        if envelope.schema_version != SCHEMA_VERSION {
            return Err(HandlerError::Reject(anyhow!(
                "schema version {} unknown",
                envelope.schema_version
            )));
        }
        let span =
            tracing::info_span!("command", user = %envelope.user_id, verb = envelope.body.verb());
        adopt_traceparent(&span, envelope.traceparent.as_deref());
        async {
            match envelope.body {
                CommandMessage::Watch { kind, scope, .. } => self
                    .store
                    .set_watch(envelope.user_id, kind, scope.as_ref())
                    .await
                    .map_err(|e| HandlerError::Retry(e.into())),
                CommandMessage::Poll { kind, full, .. } => self
                    .store
                    .poll_kind_now(envelope.user_id, kind, full)
                    .await
                    .map_err(|e| HandlerError::Retry(e.into())),
                CommandMessage::Apply {
                    command_id,
                    link_id,
                    kind,
                    op,
                    side,
                } => {
                    let outcome = match self.store.applied_outcome(command_id).await {
                        Ok(Some(outcome)) => outcome,
                        Ok(None) => {
                            let container_id = self
                                .store
                                .container(envelope.user_id, kind)
                                .await
                                .map_err(|e| HandlerError::Retry(e.into()))?;
                            let request = ApplyRequest {
                                command_id,
                                link_id,
                                kind,
                                op,
                                container_id,
                            };
                            let outcome = self.apply(envelope.user_id, request).await?;
                            self.store
                                .record_applied(command_id, &outcome)
                                .await
                                .map_err(|e| HandlerError::Retry(e.into()))?;
                            outcome
                        }
                        Err(err) => return Err(HandlerError::Retry(err.into())),
                    };
                    let result = ChangeMessage::ApplyResult {
                        command_id,
                        link_id,
                        side,
                        kind,
                        outcome,
                    };
                    let reply = Envelope::new(envelope.user_id, result)
                        .with_traceparent(current_traceparent());
                    self.publisher
                        .publish_change(&reply)
                        .await
                        .map_err(HandlerError::Retry)
                }
            }
        }
        .instrument(span)
        .await
    }

    async fn apply(
        &self,
        user: sync_model::UserId,
        request: ApplyRequest,
    ) -> Result<ApplyOutcome, HandlerError> {
        let mut reauthorised = false;
        loop {
            let token = match self.tokens.get(user).await {
                Ok(token) => token,
                Err(err @ (TokenError::ReconnectNeeded(_) | TokenError::NotConnected(_))) => {
                    return Ok(ApplyOutcome::Failed {
                        code: "reconnect_needed".into(),
                        message: err.to_string(),
                        retryable: true,
                    });
                }
                Err(err) => return Err(HandlerError::Retry(err.into())),
            };
            let ctx = CallContext {
                user_id: user,
                token,
            };
            let outcome = self
                .connector
                .apply(&ctx, std::slice::from_ref(&request))
                .await
                .pop()
                .unwrap_or(ApplyOutcome::Failed {
                    code: "no_outcome".into(),
                    message: "the connector returned no outcome".into(),
                    retryable: true,
                });
            match &outcome {
                ApplyOutcome::Failed { code, .. } if code == "unauthorized" && !reauthorised => {
                    reauthorised = true;
                    self.tokens.invalidate(user).await;
                }
                // A transient failure is retried through the broker rather than recorded, so the
                // write happens once the provider is back.
                ApplyOutcome::Failed {
                    retryable: true,
                    code,
                    message,
                } if code != "reconnect_needed" => {
                    return Err(HandlerError::Retry(anyhow!("{code}: {message}")));
                }
                _ => return Ok(outcome),
            }
        }
    }
}

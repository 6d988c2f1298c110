//! Consumes `sync.changes`: each change or apply result is decided and written, with the
//! commands it causes, in one transaction; the message is acknowledged only after it commits.

use std::sync::Arc;

use anyhow::anyhow;
use service_kit::broker::HandlerError;
use service_kit::telemetry::{adopt_traceparent, current_traceparent};
use sqlx::PgPool;
use sync_model::{Item, ItemKind, LinkId, Side, UserId};
use sync_protocol::{
    ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope, SCHEMA_VERSION,
};
use tokio::sync::Notify;
use tracing::Instrument;
use uuid::Uuid;

use crate::domain::{Decision, Incoming, Link, LinkStatus, SideRef, decide};
use crate::store::{Tx, inbox, links, outbox, settings};

pub struct ChangeHandler {
    pub pool: PgPool,
    /// Wakes the outbox relay after a commit that wrote commands.
    pub relay_wakeup: Arc<Notify>,
}

fn retry<E: Into<anyhow::Error>>(err: E) -> HandlerError {
    HandlerError::Retry(err.into())
}

impl ChangeHandler {
    pub async fn handle(&self, data: &[u8]) -> Result<(), HandlerError> {
        let envelope: Envelope<ChangeMessage> = serde_json::from_slice(data)
            .map_err(|e| HandlerError::Reject(anyhow!("not a change message: {e}")))?;
        if envelope.schema_version != SCHEMA_VERSION {
            return Err(HandlerError::Reject(anyhow!(
                "schema version {} unknown",
                envelope.schema_version
            )));
        }
        let span = tracing::info_span!(
            "change",
            user = %envelope.user_id,
            side = %envelope.body.side(),
            kind = %envelope.body.kind(),
            verb = envelope.body.verb(),
        );
        adopt_traceparent(&span, envelope.traceparent.as_deref());
        async {
            let mut tx = self.pool.begin().await.map_err(retry)?;
            inbox::lock_user(&mut tx, envelope.user_id)
                .await
                .map_err(retry)?;
            if !inbox::first_time(&mut tx, envelope.message_id)
                .await
                .map_err(retry)?
            {
                tracing::debug!("duplicate delivery ignored");
                return tx.commit().await.map_err(retry);
            }
            let user = envelope.user_id;
            let wrote_commands = match envelope.body {
                ChangeMessage::ItemChanged {
                    side,
                    external_id,
                    version,
                    item,
                } => {
                    let kind = item.kind();
                    let change = Incoming::Changed {
                        side,
                        external_id,
                        version,
                        item,
                    };
                    on_change(&mut tx, user, kind, change)
                        .await
                        .map_err(retry)?
                }
                ChangeMessage::ItemDeleted {
                    side,
                    kind,
                    external_id,
                    left_scope,
                } => {
                    let change = Incoming::Deleted {
                        side,
                        external_id,
                        left_scope,
                    };
                    on_change(&mut tx, user, kind, change)
                        .await
                        .map_err(retry)?
                }
                ChangeMessage::ReadCompleted { .. } => false,
                ChangeMessage::ApplyResult {
                    link_id,
                    side,
                    outcome,
                    ..
                } => on_result(&mut tx, user, link_id, side, outcome)
                    .await
                    .map_err(retry)?,
            };
            tx.commit().await.map_err(retry)?;
            if wrote_commands {
                self.relay_wakeup.notify_one();
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// Returns whether commands were written.
async fn on_change(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    change: Incoming,
) -> anyhow::Result<bool> {
    let direction = settings::load(tx, user)
        .await?
        .and_then(|s| s.direction(kind));
    let side = change.side();
    let mut link = links::find(tx, user, kind, side, change.external_id()).await?;
    if link.is_none()
        && let Incoming::Changed { item, .. } = &change
    {
        link = adopt(tx, user, kind, side, item).await?;
    }
    let decision = decide(link.as_ref(), &change, direction);
    tracing::debug!(?decision, "decided");
    metrics::counter!("sync_decisions_total", "decision" => decision_name(&decision)).increment(1);

    let source = match &change {
        Incoming::Changed {
            external_id,
            version,
            ..
        } => SideRef {
            id: external_id.clone(),
            version: Some(version.clone()),
        },
        Incoming::Deleted { external_id, .. } => SideRef {
            id: external_id.clone(),
            version: None,
        },
    };
    match (decision, link) {
        (Decision::Ignore { reason }, _) => {
            tracing::debug!(reason, "change ignored");
            Ok(false)
        }
        (Decision::Create { target, item }, _) => {
            let mut link = Link {
                id: LinkId(Uuid::now_v7()),
                user_id: user,
                kind,
                outlook: None,
                zoho: None,
                base: item.clone(),
                status: LinkStatus::Active,
            };
            *link.side_mut(side) = Some(source);
            links::insert(tx, &link).await?;
            push_apply(tx, &link, target, ApplyOp::Create { item }).await?;
            Ok(true)
        }
        (Decision::Echo, Some(mut link)) => {
            *link.side_mut(side) = Some(source);
            links::update(tx, &link).await?;
            Ok(false)
        }
        (Decision::Rebase { new_base }, Some(mut link)) => {
            *link.side_mut(side) = Some(source);
            link.base = new_base;
            links::update(tx, &link).await?;
            Ok(false)
        }
        (
            Decision::Update {
                target,
                item,
                base,
                new_base,
            },
            Some(mut link),
        ) => {
            let Some(target_ref) = link.side(target).cloned() else {
                anyhow::bail!("decided an update of a side the link does not have");
            };
            *link.side_mut(side) = Some(source);
            link.base = new_base;
            links::update(tx, &link).await?;
            let op = ApplyOp::Update {
                external_id: target_ref.id,
                item,
                base: Some(base),
                expected_version: None,
            };
            push_apply(tx, &link, target, op).await?;
            Ok(true)
        }
        (Decision::Delete { target }, Some(mut link)) => {
            let Some(target_ref) = link.side(target).cloned() else {
                anyhow::bail!("decided a delete of a side the link does not have");
            };
            link.status = LinkStatus::Deleted;
            links::update(tx, &link).await?;
            push_apply(
                tx,
                &link,
                target,
                ApplyOp::Delete {
                    external_id: target_ref.id,
                },
            )
            .await?;
            Ok(true)
        }
        (Decision::Unlink { side }, Some(mut link)) => {
            *link.side_mut(side) = None;
            if link.outlook.is_none() && link.zoho.is_none() {
                links::delete(tx, link.id).await?;
            } else {
                links::update(tx, &link).await?;
            }
            Ok(false)
        }
        (decision, None) => anyhow::bail!("decision {decision:?} needs a link"),
    }
}

/// An item we asked `side` to create may be read back before the create's result arrives: it is
/// recognised by its content, so it is linked instead of being created again on the first side.
async fn adopt(
    tx: &mut Tx<'_>,
    user: UserId,
    kind: ItemKind,
    side: Side,
    item: &Item,
) -> anyhow::Result<Option<Link>> {
    let candidates = links::awaiting_create(tx, user, kind, side).await?;
    Ok(candidates.into_iter().find(|link| link.is_echo(side, item)))
}

async fn on_result(
    tx: &mut Tx<'_>,
    user: UserId,
    link_id: LinkId,
    side: Side,
    outcome: ApplyOutcome,
) -> anyhow::Result<bool> {
    let Some(mut link) = links::get(tx, link_id).await? else {
        tracing::warn!(%link_id, "result for an unknown link");
        return Ok(false);
    };
    match outcome {
        ApplyOutcome::Applied {
            external_id,
            version,
            content_hash,
        } => {
            let was_create = link.side(side).is_none();
            // An adoption may already have recorded the id; keep the newest version either way.
            *link.side_mut(side) = Some(SideRef {
                id: external_id.clone(),
                version: Some(version),
            });
            links::update(tx, &link).await?;
            links::record_failure(tx, link.id, None, None).await?;
            // The item changed again while its create was in flight: send the difference.
            if was_create
                && link.status == LinkStatus::Active
                && content_hash != link.base.project_for(side).content_hash()
            {
                let op = ApplyOp::Update {
                    external_id,
                    item: link.base.clone(),
                    base: None,
                    expected_version: None,
                };
                push_apply(tx, &link, side, op).await?;
                return Ok(true);
            }
            Ok(false)
        }
        ApplyOutcome::Gone { .. } | ApplyOutcome::Stale { .. } => {
            // The item's delete on that side arrives as its own change and is decided then.
            links::record_failure(tx, link.id, Some(side), Some("the item no longer exists"))
                .await?;
            Ok(false)
        }
        ApplyOutcome::Failed { code, message, .. } => {
            tracing::warn!(%user, %side, %code, "write refused by the provider");
            links::record_failure(tx, link.id, Some(side), Some(&format!("{code}: {message}")))
                .await?;
            Ok(false)
        }
    }
}

async fn push_apply(tx: &mut Tx<'_>, link: &Link, target: Side, op: ApplyOp) -> sqlx::Result<()> {
    let command = CommandMessage::Apply {
        command_id: Uuid::now_v7(),
        link_id: link.id,
        side: target,
        kind: link.kind,
        op,
    };
    let envelope = Envelope::new(link.user_id, command).with_traceparent(current_traceparent());
    outbox::push(tx, &envelope).await
}

fn decision_name(decision: &Decision) -> &'static str {
    match decision {
        Decision::Ignore { .. } => "ignore",
        Decision::Echo => "echo",
        Decision::Create { .. } => "create",
        Decision::Update { .. } => "update",
        Decision::Rebase { .. } => "rebase",
        Decision::Delete { .. } => "delete",
        Decision::Unlink { .. } => "unlink",
    }
}

//! Poll messages of a lost lease, dropped on the way in (decisions #112): the three paths that
//! decide admitted messages (a batch, one by one, a held message replayed) ask here first.

use sync_protocol::{ChangeMessage, Envelope};

use crate::domain::fence::Fence;
use crate::store::{Tx, claims};

/// Whether `envelope` still counts by the poll claim it carries (decisions #112): `false` for a
/// page published late by a poller whose lease another replica took over (counted and logged).
/// The user's fence is loaded at the first message of the transaction that carries a claim.
pub(crate) async fn fenced_in(
    tx: &mut Tx<'_>,
    fence: &mut Option<Fence>,
    envelope: &Envelope<ChangeMessage>,
) -> anyhow::Result<bool> {
    if envelope.claim.is_none() {
        return Ok(true);
    }
    let fence = match fence {
        Some(fence) => fence,
        None => fence.insert(claims::load(tx, envelope.user_id).await?),
    };
    let (kind, side) = (envelope.body.kind(), envelope.body.side());
    if fence.admits(kind, side, envelope.claim) {
        return Ok(true);
    }
    tracing::warn!(%side, %kind, "a poll page read under a lease another replica took over arrived after that replica's reads: dropped");
    metrics::counter!("sync_stale_poll_messages_dropped_total").increment(1);
    Ok(false)
}

/// [`fenced_in`] for a message decided alone, its claim stored at once.
pub(crate) async fn fence_one(
    tx: &mut Tx<'_>,
    envelope: &Envelope<ChangeMessage>,
) -> anyhow::Result<bool> {
    let mut fence = None;
    let admitted = fenced_in(tx, &mut fence, envelope).await?;
    if let Some(fence) = &fence {
        claims::save(tx, envelope.user_id, fence).await?;
    }
    Ok(admitted)
}

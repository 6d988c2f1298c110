//! The conflict log. Its held entries mirror `Link::held`: a link saved without held conflicts,
//! or removed, has its held entries marked dropped by the statement that stores it
//! (`links::save`, `batch::save`, the removals; decision 107).

use serde::{Deserialize, Serialize};
use sync_model::UserId;

use crate::domain::{ConflictRule, FieldConflict, Link};

use super::Tx;

/// Where a conflict of the log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    /// The rule picked the winner.
    Decided,
    /// Waits for the user's choice (review mode).
    Held,
    /// The user chose.
    Resolved,
    /// Held, and no longer waiting: the item was deleted, left the scope for good or went to
    /// another link, or the links were rebuilt.
    Dropped,
}

impl ConflictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Decided => "decided",
            ConflictStatus::Held => "held",
            ConflictStatus::Resolved => "resolved",
            ConflictStatus::Dropped => "dropped",
        }
    }
}

pub async fn record(
    tx: &mut Tx<'_>,
    user: UserId,
    link: &Link,
    rule: ConflictRule,
    conflict: &FieldConflict,
) -> sqlx::Result<()> {
    let rule = serde_json::to_value(rule)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO conflicts (user_id, link_id, kind, label, field, base, outlook, zoho, rule, winner, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(user.0)
    .bind(link.id.0)
    .bind(link.kind.as_str())
    .bind(link.target.label())
    .bind(&conflict.field)
    .bind(&conflict.base)
    .bind(&conflict.outlook)
    .bind(&conflict.zoho)
    .bind(rule)
    .bind(conflict.winner.map(|s| s.as_str()))
    .bind(
        if conflict.winner.is_some() {
            ConflictStatus::Decided
        } else {
            ConflictStatus::Held
        }
        .as_str(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks the held conflicts of a link resolved with `winner`.
pub async fn resolve(
    tx: &mut Tx<'_>,
    link: sync_model::LinkId,
    winner: sync_model::Side,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE conflicts SET status = 'resolved', winner = $2, resolved_at = now()
         WHERE link_id = $1 AND status = 'held'",
    )
    .bind(link.0)
    .bind(winner.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

//! Postgres access of sync-service, one module per table group. Functions take the transaction
//! explicitly, so a decision and its commands commit together.

pub mod batch;
pub mod claims;
pub mod conflicts;
pub mod finale;
pub mod held;
pub mod inbox;
pub mod links;
pub mod outbox;
pub mod parked;
pub mod partitions;
pub mod progress;
pub mod settings;

pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// (user, kind, side) triples as the three arrays a statement unnests.
pub(crate) fn triple_columns(
    triples: &[(sync_model::UserId, sync_model::ItemKind, sync_model::Side)],
) -> (Vec<uuid::Uuid>, Vec<&'static str>, Vec<&'static str>) {
    (
        triples.iter().map(|(u, _, _)| u.0).collect(),
        triples.iter().map(|(_, k, _)| k.as_str()).collect(),
        triples.iter().map(|(_, _, s)| s.as_str()).collect(),
    )
}

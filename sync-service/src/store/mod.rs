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

//! SQL, next to the types it reads and writes. Functions take an executor (a pool or an open
//! transaction) so callers decide the transaction boundaries.

pub mod app_passwords;
pub mod audit;
pub mod connections;
pub mod password_resets;
pub mod second_factor;
pub mod sessions;
pub mod throttle;
pub mod users;

/// Postgres `unique_violation`.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

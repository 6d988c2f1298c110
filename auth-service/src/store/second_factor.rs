//! TOTP credentials (secret sealed) and recovery codes (hashed).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::crypto::Sealed;
use crate::domain::UserId;
use crate::error::Result;

#[derive(sqlx::FromRow)]
pub struct TotpRow {
    pub secret_key_id: String,
    pub secret_sealed: Vec<u8>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_used_step: Option<i64>,
}

impl TotpRow {
    pub fn secret(&self) -> Sealed {
        Sealed {
            key_id: self.secret_key_id.clone(),
            bytes: self.secret_sealed.clone(),
        }
    }
}

pub fn seal_context(user_id: UserId) -> String {
    format!("auth/totp_credentials/{user_id}/secret")
}

pub async fn find(db: impl PgExecutor<'_>, user_id: UserId) -> Result<Option<TotpRow>> {
    let row = sqlx::query_as(
        "SELECT secret_key_id, secret_sealed, enabled_at, last_used_step FROM totp_credentials WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(row)
}

/// Locks the credential: two sign-ins racing with the same code must not both pass.
pub async fn find_for_update(tx: &mut PgConnection, user_id: UserId) -> Result<Option<TotpRow>> {
    let row = sqlx::query_as(
        "SELECT secret_key_id, secret_sealed, enabled_at, last_used_step FROM totp_credentials \
         WHERE user_id = $1 FOR UPDATE",
    )
    .bind(user_id)
    .fetch_optional(tx)
    .await?;
    Ok(row)
}

pub async fn is_enabled(db: impl PgExecutor<'_>, user_id: UserId) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM totp_credentials WHERE user_id = $1 AND enabled_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// Stores a pending (not yet confirmed) secret, replacing an earlier pending one.
pub async fn put_pending(db: impl PgExecutor<'_>, user_id: UserId, secret: &Sealed) -> Result<()> {
    sqlx::query(
        "INSERT INTO totp_credentials (user_id, secret_key_id, secret_sealed) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id) DO UPDATE SET secret_key_id = EXCLUDED.secret_key_id, \
             secret_sealed = EXCLUDED.secret_sealed, enabled_at = NULL, last_used_step = NULL, \
             created_at = now() \
         WHERE totp_credentials.enabled_at IS NULL",
    )
    .bind(user_id)
    .bind(&secret.key_id)
    .bind(&secret.bytes)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn mark_used(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    step: i64,
    enable: bool,
) -> Result<()> {
    sqlx::query(
        "UPDATE totp_credentials SET last_used_step = $2, \
             enabled_at = CASE WHEN $3 THEN COALESCE(enabled_at, now()) ELSE enabled_at END \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(step)
    .bind(enable)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, user_id: UserId) -> Result<()> {
    sqlx::query("DELETE FROM totp_credentials WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Replaces the user's recovery codes with `(salt, hash)` pairs.
pub async fn replace_recovery_codes(
    tx: &mut PgConnection,
    user_id: UserId,
    salted: &[(Vec<u8>, Vec<u8>)],
) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let (salts, hashes): (Vec<Vec<u8>>, Vec<Vec<u8>>) = salted.iter().cloned().unzip();
    sqlx::query(
        "INSERT INTO recovery_codes (user_id, salt, code_hash) \
         SELECT $1, * FROM unnest($2::bytea[], $3::bytea[])",
    )
    .bind(user_id)
    .bind(salts)
    .bind(hashes)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct RecoveryCodeRow {
    /// None for codes issued before salting.
    pub salt: Option<Vec<u8>>,
    pub code_hash: Vec<u8>,
}

/// The user's unused recovery codes, locked: two sign-ins with one code must not both pass.
pub async fn unused_recovery_codes(
    tx: &mut PgConnection,
    user_id: UserId,
) -> Result<Vec<RecoveryCodeRow>> {
    let rows = sqlx::query_as(
        "SELECT salt, code_hash FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL \
         FOR UPDATE",
    )
    .bind(user_id)
    .fetch_all(tx)
    .await?;
    Ok(rows)
}

/// Marks a recovery code used; false when it was used meanwhile.
pub async fn mark_recovery_code_used(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    hash: &[u8],
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(hash)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remaining_recovery_codes(db: impl PgExecutor<'_>, user_id: UserId) -> Result<i64> {
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(db)
    .await?;
    Ok(n)
}

pub async fn delete_recovery_codes(db: impl PgExecutor<'_>, user_id: UserId) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

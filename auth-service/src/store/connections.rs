//! Provider connections. Tokens are stored sealed (see [`crate::crypto`]); this module never
//! sees a plaintext token.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use crate::crypto::Sealed;
use crate::domain::{Provider, UserId};
use crate::error::Result;

pub const CONNECTED: &str = "connected";
pub const RECONNECT_NEEDED: &str = "reconnect_needed";

/// A connection row. No `Debug`: it holds sealed tokens, and there is nothing to learn from them
/// in a log.
#[derive(sqlx::FromRow)]
pub struct ConnectionRow {
    pub provider: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub data_centre: Option<String>,
    pub tenant: Option<String>,
    pub refresh_token_key_id: String,
    pub refresh_token_sealed: Vec<u8>,
    pub access_token_key_id: Option<String>,
    pub access_token_sealed: Option<Vec<u8>>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub api_domain: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_refresh_at: Option<DateTime<Utc>>,
}

impl ConnectionRow {
    pub fn refresh_token(&self) -> Sealed {
        Sealed {
            key_id: self.refresh_token_key_id.clone(),
            bytes: self.refresh_token_sealed.clone(),
        }
    }

    /// The cached access token and its expiry, when there is one.
    pub fn access_token(&self) -> Option<(Sealed, DateTime<Utc>)> {
        match (
            &self.access_token_key_id,
            &self.access_token_sealed,
            self.access_token_expires_at,
        ) {
            (Some(key_id), Some(bytes), Some(expires_at)) => Some((
                Sealed {
                    key_id: key_id.clone(),
                    bytes: bytes.clone(),
                },
                expires_at,
            )),
            _ => None,
        }
    }
}

/// The associated data that binds a sealed token to its row and column.
pub fn seal_context(user_id: UserId, provider: Provider, column: &str) -> String {
    format!("auth/provider_connections/{user_id}/{provider}/{column}")
}

const COLUMNS: &str = "provider, status, status_reason, data_centre, tenant, refresh_token_key_id, \
     refresh_token_sealed, access_token_key_id, access_token_sealed, access_token_expires_at, \
     api_domain, connected_at, updated_at, last_refresh_at";

/// Stores a (new) grant: the connection is `connected` again and any cached access token, which
/// belonged to the old grant, is dropped.
#[tracing::instrument(skip_all, fields(%user_id, %provider))]
pub async fn upsert(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    provider: Provider,
    data_centre: Option<&str>,
    tenant: Option<&str>,
    refresh_token: &Sealed,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO provider_connections \
             (user_id, provider, status, data_centre, tenant, refresh_token_key_id, refresh_token_sealed) \
         VALUES ($1, $2, 'connected', $3, $4, $5, $6) \
         ON CONFLICT (user_id, provider) DO UPDATE SET \
             status = 'connected', status_reason = NULL, \
             data_centre = EXCLUDED.data_centre, tenant = EXCLUDED.tenant, \
             refresh_token_key_id = EXCLUDED.refresh_token_key_id, \
             refresh_token_sealed = EXCLUDED.refresh_token_sealed, \
             access_token_key_id = NULL, access_token_sealed = NULL, \
             access_token_expires_at = NULL, api_domain = NULL, \
             connected_at = now(), updated_at = now()",
    )
    .bind(user_id)
    .bind(provider.as_str())
    .bind(data_centre)
    .bind(tenant)
    .bind(&refresh_token.key_id)
    .bind(&refresh_token.bytes)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn find(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    provider: Provider,
) -> Result<Option<ConnectionRow>> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provider_connections WHERE user_id = $1 AND provider = $2"
    )))
    .bind(user_id)
    .bind(provider.as_str())
    .fetch_optional(db)
    .await?;
    Ok(row)
}

/// Reads the row and locks it until the transaction ends, so only one caller refreshes a
/// connection's token at a time, across all replicas.
pub async fn find_for_update(
    tx: &mut PgConnection,
    user_id: UserId,
    provider: Provider,
) -> Result<Option<ConnectionRow>> {
    let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provider_connections WHERE user_id = $1 AND provider = $2 FOR UPDATE"
    )))
    .bind(user_id)
    .bind(provider.as_str())
    .fetch_optional(tx)
    .await?;
    Ok(row)
}

pub async fn list(db: impl PgExecutor<'_>, user_id: UserId) -> Result<Vec<ConnectionRow>> {
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM provider_connections WHERE user_id = $1 ORDER BY provider"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// One connection of any user, for the admin overview (no tokens).
#[derive(sqlx::FromRow)]
pub struct ConnectionHealthRow {
    pub user_id: UserId,
    pub email: String,
    pub provider: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub data_centre: Option<String>,
    pub tenant: Option<String>,
    pub api_domain: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_refresh_at: Option<DateTime<Utc>>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
}

/// Every user's connections, those needing a reconnect first, optionally of one status and
/// provider.
pub async fn list_all(
    db: impl PgExecutor<'_>,
    status: Option<&str>,
    provider: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ConnectionHealthRow>> {
    let rows = sqlx::query_as(
        "SELECT c.user_id, u.email, c.provider, c.status, c.status_reason, c.data_centre,              c.tenant, c.api_domain, c.connected_at, c.updated_at, c.last_refresh_at,              c.access_token_expires_at          FROM provider_connections c JOIN users u ON u.id = c.user_id          WHERE ($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.provider = $2)          ORDER BY c.status = 'connected', u.email, c.provider LIMIT $3 OFFSET $4",
    )
    .bind(status)
    .bind(provider)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// How many connections there are per provider and status.
pub async fn count_by_status(db: impl PgExecutor<'_>) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query_as(
        "SELECT provider, status, count(*) FROM provider_connections          GROUP BY provider, status ORDER BY provider, status",
    )
    .fetch_all(db)
    .await?;
    Ok(rows)
}

pub struct Refreshed<'a> {
    pub access_token: &'a Sealed,
    pub expires_at: DateTime<Utc>,
    pub api_domain: Option<&'a str>,
    /// A rotated refresh token, when the provider issued one.
    pub refresh_token: Option<&'a Sealed>,
}

pub async fn store_refreshed(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    provider: Provider,
    refreshed: Refreshed<'_>,
) -> Result<()> {
    sqlx::query(
        "UPDATE provider_connections SET \
             access_token_key_id = $3, access_token_sealed = $4, access_token_expires_at = $5, \
             api_domain = $6, \
             refresh_token_key_id = COALESCE($7, refresh_token_key_id), \
             refresh_token_sealed = COALESCE($8, refresh_token_sealed), \
             last_refresh_at = now(), updated_at = now() \
         WHERE user_id = $1 AND provider = $2",
    )
    .bind(user_id)
    .bind(provider.as_str())
    .bind(&refreshed.access_token.key_id)
    .bind(&refreshed.access_token.bytes)
    .bind(refreshed.expires_at)
    .bind(refreshed.api_domain)
    .bind(refreshed.refresh_token.map(|s| s.key_id.as_str()))
    .bind(refreshed.refresh_token.map(|s| s.bytes.as_slice()))
    .execute(db)
    .await?;
    Ok(())
}

pub async fn mark_reconnect_needed(
    db: impl PgExecutor<'_>,
    user_id: UserId,
    provider: Provider,
    reason: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE provider_connections SET status = 'reconnect_needed', status_reason = $3, \
             access_token_key_id = NULL, access_token_sealed = NULL, access_token_expires_at = NULL, \
             updated_at = now() \
         WHERE user_id = $1 AND provider = $2",
    )
    .bind(user_id)
    .bind(provider.as_str())
    .bind(reason)
    .execute(db)
    .await?;
    Ok(())
}

//! Handing connectors a provider access token: the cached one while it is good for at least
//! [`MIN_VALIDITY`] more, else a fresh one from the provider.
//!
//! Only one refresh per connection runs at a time, even with concurrent callers on several
//! replicas: the refresh happens inside a transaction that holds the connection row's lock
//! (`SELECT ... FOR UPDATE`), and whoever gets the lock re-checks the cached token first, so
//! callers that queued behind a refresh reuse its result instead of refreshing again. That also
//! keeps us inside Zoho's limit of 10 access tokens per refresh token per 10 minutes, and makes a
//! rotated Microsoft refresh token impossible to lose to a race.
//!
//! Inside one replica, callers first queue on an in-process [`RefreshGate`], so a burst of calls
//! for one connection holds one pooled database connection, not one each, while it waits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, SubsecRound, Utc};
use secrecy::SecretString;
use serde_json::json;

use crate::domain::{MicrosoftTenant, Provider, UserId, ZohoDataCentre};
use crate::error::{Error, Result};
use crate::providers::{RefreshError, TokenGrant};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::connections::{self, ConnectionRow, Refreshed, seal_context};

/// A cached token with less life left than this is refreshed: the caller needs time to use it.
pub const MIN_VALIDITY: Duration = Duration::seconds(60);
/// A forced refresh within this time of the last refresh returns that refresh's token.
pub const FORCED_REFRESH_FLOOR: Duration = Duration::seconds(30);

/// An access token for a provider's API.
#[derive(Debug)]
pub struct ProviderToken {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
    /// Zoho's API base for the account's data centre; `None` for Outlook.
    pub api_domain: Option<String>,
}

#[tracing::instrument(skip_all, fields(%user_id, %provider))]
pub async fn provider_token(
    state: &AppState,
    user_id: UserId,
    provider: Provider,
    force_refresh: bool,
) -> Result<ProviderToken> {
    // Fast path without a lock: most calls find a good cached token.
    let row = connections::find(&state.pool, user_id, provider)
        .await?
        .ok_or(Error::NotConnected)?;
    if let Some(token) = cached(state, &row, user_id, provider, force_refresh)? {
        return Ok(token);
    }

    let _turn = state.refresh_gate.enter(user_id, provider).await;
    let mut tx = state.pool.begin().await?;
    let row = connections::find_for_update(&mut tx, user_id, provider)
        .await?
        .ok_or(Error::NotConnected)?;
    // Someone else may have refreshed while we waited for the lock.
    if let Some(token) = cached(state, &row, user_id, provider, force_refresh)? {
        tx.commit().await?;
        return Ok(token);
    }

    let refresh_token = state.vault.open(
        &row.refresh_token(),
        &seal_context(user_id, provider, "refresh_token"),
    )?;
    let outcome = match provider {
        Provider::Zoho => {
            let dc = row
                .data_centre
                .as_deref()
                .and_then(ZohoDataCentre::parse)
                .unwrap_or_default();
            state.providers.zoho.refresh(dc, &refresh_token).await
        }
        Provider::Outlook => {
            let tenant = row
                .tenant
                .as_deref()
                .and_then(MicrosoftTenant::parse)
                .unwrap_or_default();
            state
                .providers
                .microsoft
                .refresh(&tenant, &refresh_token)
                .await
        }
    };

    match outcome {
        Ok(grant) => {
            let token = store_grant(state, &mut tx, user_id, provider, grant).await?;
            tx.commit().await?;
            tracing::info!(expires_at = %token.expires_at, "provider token refreshed");
            Ok(token)
        }
        Err(RefreshError::Revoked(reason)) => {
            connections::mark_reconnect_needed(&mut *tx, user_id, provider, &reason).await?;
            audit::record(
                &mut *tx,
                Some(user_id),
                Event::ReconnectNeeded,
                Some(provider),
                json!({"reason": reason}),
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(%reason, "provider grant revoked; the user must reconnect");
            Err(Error::ReconnectNeeded { reason })
        }
        Err(other) => {
            // Nothing changed: release the lock before writing the audit entry.
            tx.rollback().await?;
            let err = Error::from(other);
            audit::record(
                &state.pool,
                Some(user_id),
                Event::TokenRefreshFailed,
                Some(provider),
                json!({"code": err.code(), "reason": err.to_string()}),
            )
            .await?;
            Err(err)
        }
    }
}

/// The cached access token when it is still good; an error when the connection needs the user.
///
/// `force_refresh`: the provider refused the cached token (a 401), so it is not good even if it
/// has not expired, unless it was refreshed within [`FORCED_REFRESH_FLOOR`]: then another caller
/// just replaced the refused token and the new one is returned (no refresh storm).
fn cached(
    state: &AppState,
    row: &ConnectionRow,
    user_id: UserId,
    provider: Provider,
    force_refresh: bool,
) -> Result<Option<ProviderToken>> {
    if row.status == connections::RECONNECT_NEEDED {
        let reason = row
            .status_reason
            .clone()
            .unwrap_or_else(|| "the provider revoked the grant".into());
        return Err(Error::ReconnectNeeded { reason });
    }
    let Some((sealed, expires_at)) = row.access_token() else {
        return Ok(None);
    };
    if expires_at <= Utc::now() + MIN_VALIDITY {
        return Ok(None);
    }
    if force_refresh
        && row
            .last_refresh_at
            .is_none_or(|at| at < Utc::now() - FORCED_REFRESH_FLOOR)
    {
        return Ok(None);
    }
    match state
        .vault
        .open(&sealed, &seal_context(user_id, provider, "access_token"))
    {
        Ok(access_token) => Ok(Some(ProviderToken {
            access_token,
            expires_at,
            api_domain: row.api_domain.clone(),
        })),
        // E.g. its key was retired: a refresh replaces it, no harm done.
        Err(err) => {
            tracing::warn!(error = %err, "cached access token unreadable; refreshing");
            Ok(None)
        }
    }
}

async fn store_grant(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
    provider: Provider,
    grant: TokenGrant,
) -> Result<ProviderToken> {
    // Whole seconds: what Postgres stores and what the caller sees are then the same instant.
    let expires_at = (Utc::now() + Duration::seconds(grant.expires_in.max(0))).trunc_subsecs(0);
    let access = state.vault.seal(
        &grant.access_token,
        &seal_context(user_id, provider, "access_token"),
    )?;
    let rotated = grant
        .refresh_token
        .as_ref()
        .map(|t| {
            state
                .vault
                .seal(t, &seal_context(user_id, provider, "refresh_token"))
        })
        .transpose()?;
    connections::store_refreshed(
        &mut *tx,
        user_id,
        provider,
        Refreshed {
            access_token: &access,
            expires_at,
            api_domain: grant.api_domain.as_deref(),
            refresh_token: rotated.as_ref(),
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::TokenRefreshed,
        Some(provider),
        json!({"expires_at": expires_at, "refresh_token_rotated": rotated.is_some()}),
    )
    .await?;
    Ok(ProviderToken {
        access_token: grant.access_token,
        expires_at,
        api_domain: grant.api_domain,
    })
}

type GateKey = (UserId, Provider);

/// One in-process queue per connection, created on demand and dropped when nobody waits on it.
#[derive(Debug, Default)]
pub struct RefreshGate {
    queues: Mutex<HashMap<GateKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A caller's turn; leaving the turn (also by cancellation) lets the next one in.
pub struct Turn<'a> {
    gate: &'a RefreshGate,
    key: GateKey,
    queue: Option<Arc<tokio::sync::Mutex<()>>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl RefreshGate {
    pub async fn enter(&self, user_id: UserId, provider: Provider) -> Turn<'_> {
        let key = (user_id, provider);
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            queues.entry(key).or_default().clone()
        };
        // The turn owns the queue before awaiting, so a cancelled wait still cleans up.
        let mut turn = Turn {
            gate: self,
            key,
            queue: Some(queue.clone()),
            guard: None,
        };
        turn.guard = Some(queue.lock_owned().await);
        turn
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.queues.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let Some(queue) = self.queue.take() else {
            return;
        };
        let mut queues = self.gate.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are only made under this lock: two references (the map's and ours) mean nobody
        // else is waiting.
        if Arc::strong_count(&queue) == 2 {
            queues.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gate_serialises_and_cleans_up() {
        let gate = Arc::new(RefreshGate::default());
        let user = UserId::new();
        let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (gate, active) = (gate.clone(), active.clone());
            tasks.push(tokio::spawn(async move {
                let _turn = gate.enter(user, Provider::Zoho).await;
                assert_eq!(active.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                active.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(gate.len(), 0);
        // A cancelled wait cleans up too.
        let held = gate.enter(user, Provider::Zoho).await;
        let waiting = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            gate.enter(user, Provider::Zoho),
        )
        .await;
        assert!(waiting.is_err());
        drop(held);
        assert_eq!(gate.len(), 0);
    }
}

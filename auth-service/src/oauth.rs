//! Connecting a provider account with the OAuth 2.0 authorization-code flow and PKCE (S256).
//!
//! `start` makes three random values: the `state` (finds the pending flow; stored hashed), the
//! PKCE verifier (stored sealed; only its challenge travels), and a browser cookie (stored
//! hashed). `finish` takes the pending flow out (single use, ten minutes at most), checks that
//! the same browser came back, redeems the code and stores the grant like any other connection.
//! The cookie closes the classic hole of the flow: without it, anyone could start a flow for
//! their own user and trick someone else into finishing it with the victim's provider account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Duration, SubsecRound, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::crypto::Sealed;
use crate::domain::{MicrosoftTenant, Provider, UserId, ZohoDataCentre};
use crate::error::{Error, Result};
use crate::providers::{ProviderRevocation, RefreshError};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::connections::{self, Refreshed, seal_context};

const FLOW_TTL: Duration = Duration::minutes(10);

/// The cookie that ties a flow to the browser that started it.
pub fn cookie_name(provider: Provider) -> String {
    format!("ozs_oauth_{provider}")
}

#[derive(Debug)]
pub struct Started {
    pub authorization_url: String,
    /// The value of [`cookie_name`] to set in the browser.
    pub browser_cookie: SecretString,
}

/// What the provider sends back to the callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<SecretString>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Zoho: the data centre the user's account lives in (`us`, `eu`, `in`, `au`, `jp`, `ca`,
    /// `sa`, `cn`). Zoho also sends `accounts-server`, a URL we deliberately do not follow: the
    /// client secret must only ever go to a known accounts server.
    pub location: Option<String>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64.encode(bytes)
}

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

pub fn redirect_uri(state: &AppState, provider: Provider) -> String {
    format!("{}/v1/connections/{provider}/callback", state.public_url)
}

pub(crate) fn verifier_context(user_id: UserId, provider: Provider) -> String {
    format!("auth/oauth_states/{user_id}/{provider}/verifier")
}

pub fn parse_data_centre(raw: Option<&str>) -> Result<ZohoDataCentre> {
    match raw {
        None => Ok(ZohoDataCentre::default()),
        Some(raw) => ZohoDataCentre::parse(raw).ok_or_else(|| {
            Error::invalid(
                "invalid_data_centre",
                "data_centre",
                "data_centre must be one of com, eu, in, com.au, jp, ca, sa, com.cn",
            )
        }),
    }
}

pub fn parse_tenant(raw: Option<&str>) -> Result<MicrosoftTenant> {
    match raw {
        None => Ok(MicrosoftTenant::default()),
        Some(raw) => MicrosoftTenant::parse(raw).ok_or_else(|| {
            Error::invalid(
                "invalid_tenant",
                "tenant",
                "tenant must be common, organizations, consumers, a tenant id or a domain",
            )
        }),
    }
}

/// Zoho's `location` callback parameter as a data centre.
fn location_data_centre(location: &str) -> Option<ZohoDataCentre> {
    Some(match location {
        "us" => ZohoDataCentre::Com,
        "eu" => ZohoDataCentre::Eu,
        "in" => ZohoDataCentre::In,
        "au" => ZohoDataCentre::ComAu,
        "jp" => ZohoDataCentre::Jp,
        "ca" => ZohoDataCentre::Ca,
        "sa" => ZohoDataCentre::Sa,
        "cn" => ZohoDataCentre::ComCn,
        _ => return None,
    })
}

#[tracing::instrument(skip_all, fields(%user_id, %provider))]
pub async fn start(
    state: &AppState,
    user_id: UserId,
    provider: Provider,
    data_centre: Option<&str>,
    tenant: Option<&str>,
) -> Result<Started> {
    let (dc, tenant) = match provider {
        Provider::Zoho => (Some(parse_data_centre(data_centre)?), None),
        Provider::Outlook => (None, Some(parse_tenant(tenant)?)),
    };
    let flow_state = random_token();
    let browser = random_token();
    let verifier = SecretString::from(random_token());
    let challenge = B64.encode(Sha256::digest(verifier.expose_secret().as_bytes()));
    let sealed = state
        .vault
        .seal(&verifier, &verifier_context(user_id, provider))?;
    let mut tx = state.pool.begin().await?;
    // Housekeeping: abandoned flows go.
    sqlx::query("DELETE FROM oauth_states WHERE expires_at < now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, user_id, provider, data_centre, tenant, browser_hash, \
             verifier_key_id, verifier_sealed, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(sha256(&flow_state))
    .bind(user_id)
    .bind(provider.as_str())
    .bind(dc.map(ZohoDataCentre::code))
    .bind(tenant.as_ref().map(MicrosoftTenant::as_str))
    .bind(sha256(&browser))
    .bind(&sealed.key_id)
    .bind(&sealed.bytes)
    .bind(Utc::now() + FLOW_TTL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let redirect = redirect_uri(state, provider);
    let authorization_url = match provider {
        Provider::Zoho => state.providers.zoho.authorize_url(
            dc.unwrap_or_default(),
            &redirect,
            &flow_state,
            &challenge,
        ),
        Provider::Outlook => state.providers.microsoft.authorize_url(
            &tenant.unwrap_or_default(),
            &redirect,
            &flow_state,
            &challenge,
        ),
    };
    Ok(Started {
        authorization_url,
        browser_cookie: SecretString::from(browser),
    })
}

#[derive(sqlx::FromRow)]
struct Pending {
    user_id: UserId,
    data_centre: Option<String>,
    tenant: Option<String>,
    browser_hash: Vec<u8>,
    verifier_key_id: String,
    verifier_sealed: Vec<u8>,
}

fn invalid_state() -> Error {
    Error::invalid(
        "invalid_state",
        "state",
        "the connection attempt is unknown, expired or from another browser; start again",
    )
}

/// Completes a flow; returns the user whose connection was stored.
#[tracing::instrument(skip_all, fields(%provider))]
pub async fn finish(
    state: &AppState,
    provider: Provider,
    callback: Callback,
    browser_cookie: Option<&str>,
) -> Result<UserId> {
    let flow_state = callback.state.as_deref().ok_or_else(invalid_state)?;
    // Taken out whatever happens next: a state is good for one try.
    let pending: Pending = sqlx::query_as(
        "DELETE FROM oauth_states WHERE state_hash = $1 AND provider = $2 AND expires_at > now() \
         RETURNING user_id, data_centre, tenant, browser_hash, verifier_key_id, verifier_sealed",
    )
    .bind(sha256(flow_state))
    .bind(provider.as_str())
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(invalid_state)?;
    let same_browser = browser_cookie
        .is_some_and(|cookie| bool::from(sha256(cookie).ct_eq(&pending.browser_hash)));
    if !same_browser {
        return Err(invalid_state());
    }
    let user_id = pending.user_id;
    if let Some(error) = callback.error {
        let reason = match callback.error_description {
            Some(d) => format!("{error}: {d}"),
            None => error,
        };
        audit::record(
            &state.pool,
            Some(user_id),
            Event::ConnectionFailed,
            Some(provider),
            json!({"reason": reason}),
        )
        .await?;
        return Err(Error::Conflict {
            code: "authorization_denied",
            message: "the provider did not grant access",
        });
    }
    let code = callback
        .code
        .ok_or_else(|| Error::invalid("missing_code", "code", "the callback carries no code"))?;
    let verifier = state.vault.open(
        &Sealed {
            key_id: pending.verifier_key_id,
            bytes: pending.verifier_sealed,
        },
        &verifier_context(user_id, provider),
    )?;
    let redirect = redirect_uri(state, provider);

    let (dc, tenant) = match provider {
        Provider::Zoho => {
            let stored = pending
                .data_centre
                .as_deref()
                .and_then(ZohoDataCentre::parse)
                .unwrap_or_default();
            // The account may live in another data centre than the one we sent the user to.
            let dc = callback
                .location
                .as_deref()
                .and_then(location_data_centre)
                .unwrap_or(stored);
            (Some(dc), None)
        }
        Provider::Outlook => (
            None,
            Some(
                pending
                    .tenant
                    .as_deref()
                    .and_then(MicrosoftTenant::parse)
                    .unwrap_or_default(),
            ),
        ),
    };
    let outcome = match provider {
        Provider::Zoho => {
            state
                .providers
                .zoho
                .exchange_code(dc.unwrap_or_default(), &code, &redirect, &verifier)
                .await
        }
        Provider::Outlook => {
            state
                .providers
                .microsoft
                .exchange_code(
                    tenant.as_ref().unwrap_or(&MicrosoftTenant::default()),
                    &code,
                    &redirect,
                    &verifier,
                )
                .await
        }
    };
    let grant = match outcome {
        Ok(grant) => grant,
        Err(RefreshError::Revoked(reason)) => {
            audit::record(
                &state.pool,
                Some(user_id),
                Event::ConnectionFailed,
                Some(provider),
                json!({"reason": reason}),
            )
            .await?;
            return Err(Error::Conflict {
                code: "invalid_authorization_code",
                message: "the provider refused the authorization code; start again",
            });
        }
        Err(other) => return Err(other.into()),
    };
    let Some(refresh_token) = grant.refresh_token.as_ref() else {
        return Err(Error::ProviderRejected(
            "the provider granted no refresh token (no offline access)".into(),
        ));
    };

    let sealed_refresh = state.vault.seal(
        refresh_token,
        &seal_context(user_id, provider, "refresh_token"),
    )?;
    let sealed_access = state.vault.seal(
        &grant.access_token,
        &seal_context(user_id, provider, "access_token"),
    )?;
    let expires_at = (Utc::now() + Duration::seconds(grant.expires_in.max(0))).trunc_subsecs(0);
    let dc_code = dc.map(ZohoDataCentre::code);
    let tenant_name = tenant.as_ref().map(MicrosoftTenant::as_str);
    let mut tx = state.pool.begin().await?;
    connections::upsert(
        &mut *tx,
        user_id,
        provider,
        dc_code,
        tenant_name,
        &sealed_refresh,
    )
    .await?;
    connections::store_refreshed(
        &mut *tx,
        user_id,
        provider,
        Refreshed {
            access_token: &sealed_access,
            expires_at,
            api_domain: grant.api_domain.as_deref(),
            refresh_token: None,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::ConnectionStored,
        Some(provider),
        json!({"via": "oauth", "data_centre": dc_code, "tenant": tenant_name, "key_id": sealed_refresh.key_id}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(%user_id, "provider connected through OAuth");
    Ok(user_id)
}

/// Removes a connection and its tokens, and revokes the grant at the provider where the provider
/// lets an application do so (Zoho; Microsoft offers none, decision in docs/decisions.md). The
/// row stays locked during the revoke call so a concurrent refresh cannot use the token after it.
/// A failed revocation never blocks the disconnect: its stable code goes to the audit log.
pub async fn disconnect(state: &AppState, user_id: UserId, provider: Provider) -> Result<()> {
    let mut tx = state.pool.begin().await?;
    let row = connections::find_for_update(&mut tx, user_id, provider)
        .await?
        .ok_or(Error::NotConnected)?;
    let revocation = revoke_at_provider(state, user_id, provider, &row).await;
    if revocation != ProviderRevocation::Revoked {
        tracing::warn!(%user_id, provider = provider.as_str(), outcome = revocation.code(), "grant not revoked at the provider");
    }
    sqlx::query("DELETE FROM provider_connections WHERE user_id = $1 AND provider = $2")
        .bind(user_id)
        .bind(provider.as_str())
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::ConnectionRemoved,
        Some(provider),
        json!({"provider_revocation": revocation.code()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn revoke_at_provider(
    state: &AppState,
    user_id: UserId,
    provider: Provider,
    row: &connections::ConnectionRow,
) -> ProviderRevocation {
    match provider {
        // The Microsoft identity platform has no endpoint for an application to revoke one
        // refresh token; revokeSignInSessions ends every app's sessions and needs an admin scope.
        Provider::Outlook => ProviderRevocation::NotSupported,
        Provider::Zoho => {
            let opened = state.vault.open(
                &row.refresh_token(),
                &seal_context(user_id, provider, "refresh_token"),
            );
            let Ok(refresh_token) = opened else {
                tracing::warn!(%user_id, "stored Zoho refresh token could not be opened for revocation");
                return ProviderRevocation::Failed;
            };
            let dc = row
                .data_centre
                .as_deref()
                .and_then(ZohoDataCentre::parse)
                .unwrap_or_default();
            state.providers.zoho.revoke(dc, &refresh_token).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoho_locations_map_to_data_centres() {
        assert_eq!(location_data_centre("us"), Some(ZohoDataCentre::Com));
        assert_eq!(location_data_centre("au"), Some(ZohoDataCentre::ComAu));
        assert_eq!(location_data_centre("cn"), Some(ZohoDataCentre::ComCn));
        assert_eq!(location_data_centre("evil.example"), None);
    }
}

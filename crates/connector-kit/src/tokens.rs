//! Provider access tokens from auth-service's internal endpoint, cached until shortly before they
//! expire. The connectors never see a refresh token.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sync_model::{Side, UserId};
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct AccessToken {
    pub secret: SecretString,
    /// Zoho's `api_domain` for this user's data centre; `None` for Graph.
    pub api_domain: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[redacted]")
            .field("api_domain", &self.api_domain)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The user must connect the account again; polling stops, nothing is deleted.
    #[error("the {0} connection needs to be reconnected")]
    ReconnectNeeded(Side),
    #[error("the {0} account is not connected")]
    NotConnected(Side),
    #[error("auth-service is unavailable: {0:#}")]
    Unavailable(anyhow::Error),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_at: DateTime<Utc>,
    api_domain: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    code: String,
}

/// Tokens are considered expired this long before they really are.
const EXPIRY_MARGIN: Duration = Duration::seconds(60);

#[derive(Clone)]
pub struct TokenClient {
    http: reqwest::Client,
    auth_url: String,
    service_token: SecretString,
    side: Side,
    cache: Arc<Mutex<HashMap<UserId, AccessToken>>>,
}

impl TokenClient {
    pub fn new(
        http: reqwest::Client,
        auth_url: String,
        service_token: SecretString,
        side: Side,
    ) -> Self {
        TokenClient {
            http,
            auth_url,
            service_token,
            side,
            cache: Arc::default(),
        }
    }

    pub async fn get(&self, user: UserId) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.cache.lock().await.get(&user)
            && token.expires_at - EXPIRY_MARGIN > Utc::now()
        {
            return Ok(token.clone());
        }
        let token = self.fetch(user, false).await?;
        self.cache.lock().await.insert(user, token.clone());
        Ok(token)
    }

    /// A new token after the provider refused the cached one (a 401): asks auth-service to
    /// refresh even if it believes its own cached token is still valid (`force_refresh`).
    pub async fn refresh(&self, user: UserId) -> Result<AccessToken, TokenError> {
        self.invalidate(user).await;
        let token = self.fetch(user, true).await?;
        self.cache.lock().await.insert(user, token.clone());
        Ok(token)
    }

    /// Drops a token the provider refused, so the next `get` asks auth-service again.
    pub async fn invalidate(&self, user: UserId) {
        self.cache.lock().await.remove(&user);
    }

    async fn fetch(&self, user: UserId, force_refresh: bool) -> Result<AccessToken, TokenError> {
        let url = format!(
            "{}/internal/v1/provider-tokens",
            self.auth_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(url)
            .bearer_auth(self.service_token.expose_secret())
            .json(&serde_json::json!({
                "user_id": user,
                "provider": self.side,
                "force_refresh": force_refresh,
            }))
            .send()
            .await
            .map_err(|e| TokenError::Unavailable(e.into()))?;
        let status = response.status();
        if status.is_success() {
            let answer: TokenAnswer = response
                .json()
                .await
                .map_err(|e| TokenError::Unavailable(e.into()))?;
            return Ok(AccessToken {
                secret: SecretString::from(answer.access_token),
                api_domain: answer.api_domain,
                expires_at: answer.expires_at,
            });
        }
        let code = response
            .json::<ErrorAnswer>()
            .await
            .map(|e| e.code)
            .unwrap_or_default();
        Err(match code.as_str() {
            "reconnect_needed" => TokenError::ReconnectNeeded(self.side),
            "not_connected" => TokenError::NotConnected(self.side),
            _ => {
                TokenError::Unavailable(anyhow::anyhow!("auth-service answered {status} ({code})"))
            }
        })
    }
}

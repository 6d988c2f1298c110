//! Zoho Accounts: `POST {accounts}/oauth/v2/token` (refresh and authorization-code grants),
//! `POST {accounts}/oauth/v2/token/revoke` and the authorization URL. Zoho answers errors with HTTP 200 and `{"error": "invalid_code"}`
//! (api-reference 2.1), so the body decides, not the status.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{ProviderRevocation, RefreshError, TokenGrant, clip, unreachable};
use crate::domain::ZohoDataCentre;
use crate::settings::ZohoOAuthSettings;

/// What the sync needs in Zoho CRM: the three modules, field metadata (and adding the "Outlook
/// Sync Link" field that keeps each link's identity on its records) and the current user.
pub const SCOPES: &str = "ZohoCRM.modules.contacts.ALL,ZohoCRM.modules.tasks.ALL,\
ZohoCRM.modules.events.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.settings.fields.CREATE,ZohoCRM.users.READ";

#[derive(Debug, Clone)]
pub struct ZohoTokenClient {
    http: reqwest::Client,
    settings: ZohoOAuthSettings,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<SecretString>,
    refresh_token: Option<SecretString>,
    expires_in: Option<i64>,
    api_domain: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl ZohoTokenClient {
    pub fn new(http: reqwest::Client, settings: ZohoOAuthSettings) -> Self {
        ZohoTokenClient { http, settings }
    }

    /// The accounts server of a data centre: the configured template (tests, the sandbox) or
    /// Zoho's real one.
    pub fn accounts_base(&self, dc: ZohoDataCentre) -> String {
        let base = match &self.settings.accounts_base_template {
            Some(template) => template.replace("{dc}", dc.code()),
            None => dc.accounts_server(),
        };
        base.trim_end_matches('/').to_owned()
    }

    /// Where to send the user's browser to grant us access (offline: with a refresh token).
    pub fn authorize_url(
        &self,
        dc: ZohoDataCentre,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
    ) -> String {
        let mut url = url::Url::parse(&format!("{}/oauth/v2/auth", self.accounts_base(dc)))
            .unwrap_or_else(|_| {
                url::Url::parse("https://accounts.zoho.com/oauth/v2/auth").expect("a valid URL")
            });
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("scope", SCOPES)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("access_type", "offline")
            // Without consent Zoho issues no refresh token on a second grant.
            .append_pair("prompt", "consent")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    #[tracing::instrument(skip_all, fields(dc = dc.code()))]
    pub async fn refresh(
        &self,
        dc: ZohoDataCentre,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, RefreshError> {
        self.token(
            dc,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose_secret()),
                ("refresh_token", refresh_token.expose_secret()),
            ],
        )
        .await
    }

    /// Redeems an authorization code (with its PKCE verifier).
    #[tracing::instrument(skip_all, fields(dc = dc.code()))]
    pub async fn exchange_code(
        &self,
        dc: ZohoDataCentre,
        code: &SecretString,
        redirect_uri: &str,
        verifier: &SecretString,
    ) -> Result<TokenGrant, RefreshError> {
        self.token(
            dc,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose_secret()),
                ("redirect_uri", redirect_uri),
                ("code", code.expose_secret()),
                ("code_verifier", verifier.expose_secret()),
            ],
        )
        .await
    }

    /// Revokes a refresh token at Zoho Accounts (`POST {accounts}/oauth/v2/token/revoke?token=`,
    /// as Zoho documents it): the token and the access tokens made from it stop working.
    /// The token travels in the query string, so no error text may carry the URL.
    #[tracing::instrument(skip_all, fields(dc = dc.code()))]
    pub async fn revoke(
        &self,
        dc: ZohoDataCentre,
        refresh_token: &SecretString,
    ) -> ProviderRevocation {
        let url = format!("{}/oauth/v2/token/revoke", self.accounts_base(dc));
        let sent = self
            .http
            .post(&url)
            .query(&[("token", refresh_token.expose_secret())])
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(err) => {
                tracing::warn!(error = %err.without_url(), "Zoho revoke endpoint unreachable");
                return ProviderRevocation::Failed;
            }
        };
        let status = response.status();
        // Zoho answers an unknown or already revoked token with 400: the grant is gone either way.
        if status == reqwest::StatusCode::BAD_REQUEST {
            return ProviderRevocation::AlreadyInvalid;
        }
        let body: Option<serde_json::Value> = response.json().await.ok();
        let success = body
            .as_ref()
            .and_then(|b| b.get("status"))
            .and_then(|s| s.as_str())
            == Some("success");
        if status.is_success() && success {
            ProviderRevocation::Revoked
        } else {
            tracing::warn!(%status, "Zoho revoke endpoint did not confirm the revocation");
            ProviderRevocation::Failed
        }
    }

    async fn token(
        &self,
        dc: ZohoDataCentre,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, RefreshError> {
        let url = format!("{}/oauth/v2/token", self.accounts_base(dc));
        let response = self
            .http
            .post(&url)
            .form(form)
            .send()
            .await
            .map_err(|e| unreachable("Zoho", &e))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(RefreshError::Unavailable(format!(
                "Zoho token endpoint answered {status}"
            )));
        }
        let body: TokenBody = response.json().await.map_err(|e| {
            RefreshError::Unavailable(format!(
                "Zoho token endpoint answered {status} with an unreadable body: {e}"
            ))
        })?;
        if let Some(error) = body.error {
            let reason = match &body.error_description {
                Some(d) => format!("{error}: {d}"),
                None => error.clone(),
            };
            return Err(match error.as_str() {
                // A revoked or unknown refresh token or code (Zoho calls both `invalid_code`).
                "invalid_code" | "invalid_grant" => RefreshError::Revoked(clip(&reason)),
                // Too many token requests for this refresh token: wait and retry.
                "Access Denied" => {
                    RefreshError::Unavailable(format!("Zoho rate limit: {}", clip(&reason)))
                }
                _ => RefreshError::Rejected(format!("Zoho: {}", clip(&reason))),
            });
        }
        match (status.is_success(), body.access_token) {
            (true, Some(access_token)) => Ok(TokenGrant {
                access_token,
                // Zoho access tokens live one hour.
                expires_in: body.expires_in.unwrap_or(3600),
                refresh_token: body.refresh_token,
                api_domain: body.api_domain,
            }),
            _ => Err(RefreshError::Rejected(format!(
                "Zoho token endpoint answered {status} without a token"
            ))),
        }
    }
}

//! Microsoft identity platform v2: `POST {login}/{tenant}/oauth2/v2.0/token` (refresh and
//! authorization-code grants) and the authorization URL (api-reference 1.7). Errors are HTTP 400
//! with `{"error": "invalid_grant", ...}`; a successful refresh may rotate the refresh token.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{RefreshError, TokenGrant, clip, unreachable};
use crate::domain::MicrosoftTenant;
use crate::settings::MicrosoftOAuthSettings;

/// The delegated permissions the sync needs; `offline_access` keeps refresh tokens coming.
/// `MailboxSettings.ReadWrite` lists the mailbox's categories and creates the "Zoho" one the
/// calendar filter relies on.
pub const SCOPES: &str = "offline_access https://graph.microsoft.com/Contacts.ReadWrite \
     https://graph.microsoft.com/Calendars.ReadWrite https://graph.microsoft.com/Tasks.ReadWrite \
     https://graph.microsoft.com/MailboxSettings.ReadWrite";

#[derive(Debug, Clone)]
pub struct MicrosoftTokenClient {
    http: reqwest::Client,
    settings: MicrosoftOAuthSettings,
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: Option<SecretString>,
    expires_in: Option<i64>,
    refresh_token: Option<SecretString>,
    error: Option<String>,
    error_description: Option<String>,
}

impl MicrosoftTokenClient {
    pub fn new(http: reqwest::Client, settings: MicrosoftOAuthSettings) -> Self {
        MicrosoftTokenClient { http, settings }
    }

    fn endpoint(&self, tenant: &MicrosoftTenant, name: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{name}",
            self.settings.login_base.trim_end_matches('/'),
            tenant.as_str()
        )
    }

    pub fn token_url(&self, tenant: &MicrosoftTenant) -> String {
        self.endpoint(tenant, "token")
    }

    /// Where to send the user's browser to grant us access.
    pub fn authorize_url(
        &self,
        tenant: &MicrosoftTenant,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
    ) -> String {
        let mut url = url::Url::parse(&self.endpoint(tenant, "authorize")).unwrap_or_else(|_| {
            url::Url::parse("https://login.microsoftonline.com/common/oauth2/v2.0/authorize")
                .expect("a valid URL")
        });
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_mode", "query")
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "select_account");
        url.into()
    }

    #[tracing::instrument(skip_all, fields(tenant = tenant.as_str()))]
    pub async fn refresh(
        &self,
        tenant: &MicrosoftTenant,
        refresh_token: &SecretString,
    ) -> Result<TokenGrant, RefreshError> {
        self.token(
            tenant,
            &[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose_secret()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
                ("scope", SCOPES),
            ],
        )
        .await
    }

    /// Redeems an authorization code (with its PKCE verifier).
    #[tracing::instrument(skip_all, fields(tenant = tenant.as_str()))]
    pub async fn exchange_code(
        &self,
        tenant: &MicrosoftTenant,
        code: &SecretString,
        redirect_uri: &str,
        verifier: &SecretString,
    ) -> Result<TokenGrant, RefreshError> {
        self.token(
            tenant,
            &[
                ("client_id", self.settings.client_id.as_str()),
                ("client_secret", self.settings.client_secret.expose_secret()),
                ("grant_type", "authorization_code"),
                ("code", code.expose_secret()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.expose_secret()),
                ("scope", SCOPES),
            ],
        )
        .await
    }

    async fn token(
        &self,
        tenant: &MicrosoftTenant,
        form: &[(&str, &str)],
    ) -> Result<TokenGrant, RefreshError> {
        let response = self
            .http
            .post(self.token_url(tenant))
            .form(form)
            .send()
            .await
            .map_err(|e| unreachable("Microsoft", &e))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(RefreshError::Unavailable(format!(
                "Microsoft token endpoint answered {status}"
            )));
        }
        let body: TokenBody = response.json().await.map_err(|e| {
            RefreshError::Unavailable(format!(
                "Microsoft token endpoint answered {status} with an unreadable body: {e}"
            ))
        })?;
        if let Some(error) = body.error {
            let reason = match &body.error_description {
                // The description's first line holds the AADSTS code; the rest is trace ids.
                Some(d) => format!("{error}: {}", d.lines().next().unwrap_or_default()),
                None => error.clone(),
            };
            return Err(match error.as_str() {
                // The user must sign in again: expired/revoked grant, MFA or consent needed.
                "invalid_grant" | "interaction_required" | "consent_required" => {
                    RefreshError::Revoked(clip(&reason))
                }
                "temporarily_unavailable" => {
                    RefreshError::Unavailable(format!("Microsoft: {}", clip(&reason)))
                }
                _ => RefreshError::Rejected(format!("Microsoft: {}", clip(&reason))),
            });
        }
        match (status.is_success(), body.access_token) {
            (true, Some(access_token)) => Ok(TokenGrant {
                access_token,
                expires_in: body.expires_in.unwrap_or(3599),
                refresh_token: body.refresh_token,
                api_domain: None,
            }),
            _ => Err(RefreshError::Rejected(format!(
                "Microsoft token endpoint answered {status} without a token"
            ))),
        }
    }
}

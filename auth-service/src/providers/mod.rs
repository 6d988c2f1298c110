//! Token clients of the two identity providers: Zoho Accounts (per data centre) and the
//! Microsoft identity platform. They only refresh grants; the outcome is classified so the caller
//! can tell "the user must reconnect" from "try again later".

pub mod microsoft;
pub mod zoho;

use std::time::Duration;

use secrecy::SecretString;

use crate::settings::Settings;

/// A fresh access token from a provider.
#[derive(Debug)]
pub struct TokenGrant {
    pub access_token: SecretString,
    /// Seconds from now.
    pub expires_in: i64,
    /// A rotated refresh token (Microsoft may send one; Zoho never does).
    pub refresh_token: Option<SecretString>,
    /// Zoho's API base for this account's data centre.
    pub api_domain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The grant is expired or revoked: only the user can fix it, by connecting again.
    #[error("{0}")]
    Revoked(String),
    /// Unreachable, timed out, 5xx or rate-limited: worth retrying later.
    #[error("{0}")]
    Unavailable(String),
    /// Any other refusal, e.g. our client credentials are wrong.
    #[error("{0}")]
    Rejected(String),
}

impl From<RefreshError> for crate::error::Error {
    fn from(err: RefreshError) -> Self {
        match err {
            RefreshError::Revoked(reason) => crate::error::Error::ReconnectNeeded { reason },
            RefreshError::Unavailable(m) => crate::error::Error::ProviderUnavailable(m),
            RefreshError::Rejected(m) => crate::error::Error::ProviderRejected(m),
        }
    }
}

/// What became of a grant at its provider when the user disconnected; recorded in the audit log
/// under its stable code. Disconnecting never waits on a good outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderRevocation {
    /// The provider confirmed the refresh token is revoked.
    Revoked,
    /// The provider did not know the token (already revoked or expired).
    AlreadyInvalid,
    /// The provider offers an application no way to revoke one grant (Microsoft).
    NotSupported,
    /// Unreachable, or an unexpected answer: the token may still work at the provider.
    Failed,
}

impl ProviderRevocation {
    pub fn code(self) -> &'static str {
        match self {
            ProviderRevocation::Revoked => "revoked",
            ProviderRevocation::AlreadyInvalid => "already_invalid",
            ProviderRevocation::NotSupported => "not_supported",
            ProviderRevocation::Failed => "revoke_failed",
        }
    }
}

/// Both clients, sharing one HTTP connection pool.
#[derive(Debug, Clone)]
pub struct Providers {
    pub zoho: zoho::ZohoTokenClient,
    pub microsoft: microsoft::MicrosoftTokenClient,
}

impl Providers {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        // The token endpoints are called while a connection row is locked: bound the wait.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .user_agent(concat!(
                "outlook-zoho-sync-auth/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Providers {
            zoho: zoho::ZohoTokenClient::new(http.clone(), settings.zoho.clone()),
            microsoft: microsoft::MicrosoftTokenClient::new(http, settings.microsoft.clone()),
        })
    }
}

/// Keeps provider-supplied text short in stored reasons and messages.
fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn unreachable(provider: &str, err: &reqwest::Error) -> RefreshError {
    let kind = if err.is_timeout() {
        "timed out"
    } else {
        "unreachable"
    };
    RefreshError::Unavailable(format!(
        "{provider} token endpoint {kind}: {}",
        clip(&err.to_string())
    ))
}

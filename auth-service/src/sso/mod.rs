//! Sign-in with OpenID Connect providers (Microsoft Entra ID, Google, any operator-configured
//! standards-compliant provider).
//!
//! - [`config`]: the providers from `AUTH_OIDC_*`;
//! - [`client`]: the protocol, through the `openidconnect` crate (discovery, JWKS and rotation,
//!   code flow with PKCE, ID-token validation);
//! - [`accounts`]: the pure rule of which account an identity signs in to;
//! - [`flow`]: start, finish (a one-time ticket), redeem (a session), unlink;
//! - [`store`]: identities, flows, tickets and the organisation's sign-in policy;
//! - [`error`]: the refusals and their stable codes.

pub mod accounts;
pub mod client;
pub mod config;
pub mod error;
pub mod flow;
pub mod store;

use std::sync::Arc;

use client::{Http, OidcProvider};
use config::OidcProviderSettings;
use error::SsoFailure;

/// The configured providers, in the operator's order.
pub struct Providers {
    providers: Vec<Arc<OidcProvider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.providers.iter().map(|p| &p.settings.id))
            .finish()
    }
}

impl Providers {
    pub fn new(settings: &[OidcProviderSettings]) -> anyhow::Result<Self> {
        let http = Http::new()?;
        Ok(Providers {
            providers: settings
                .iter()
                .map(|s| Arc::new(OidcProvider::new(s.clone(), http.clone())))
                .collect(),
        })
    }

    pub fn get(&self, id: &str) -> Result<Arc<OidcProvider>, SsoFailure> {
        self.providers
            .iter()
            .find(|p| p.settings.id == id)
            .cloned()
            .ok_or(SsoFailure::UnknownProvider)
    }

    pub fn all(&self) -> impl Iterator<Item = &OidcProviderSettings> {
        self.providers.iter().map(|p| &p.settings)
    }
}

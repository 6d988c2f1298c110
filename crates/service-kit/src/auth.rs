//! Service-to-service authentication: each calling service has its own credential (a bearer
//! token), and each credential opens only what its caller needs (decisions #57). The scopes of
//! each caller are fixed here, not configured, so a deployment cannot widen them by mistake.

use std::sync::Arc;

use axum::http::{HeaderMap, header::AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::settings::var;

/// A credential shorter than this is refused at start (a 256-bit random token in hex is 64).
pub const MIN_TOKEN_LEN: usize = 32;

/// Who calls a service's internal API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    /// The settings page's backend: it asks the connectors what the page offers to choose from,
    /// and the services for the user's status.
    Web,
    /// connector-outlook: the user's Microsoft access tokens.
    ConnectorOutlook,
    /// connector-zoho: the user's Zoho access tokens.
    ConnectorZoho,
    /// The operator's automation (provisioning, the local runner, tests): users and settings,
    /// never a user's provider tokens.
    Operator,
}

/// What a credential opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// auth-service: create users (administrators included), store and list connections.
    Provision,
    /// auth-service: a user's live Microsoft access token.
    OutlookTokens,
    /// auth-service: a user's live Zoho access token.
    ZohoTokens,
    /// connectors: a user's folders, lists, categories and watch health (the settings page).
    Discovery,
    /// Read a user's state for the status page: connection statuses (auth-service, never the
    /// tokens), sync status and settings (sync-service), watch health (connectors).
    Status,
    /// connectors and sync-service: poll a user now.
    SyncNow,
    /// sync-service: change a user's settings.
    Settings,
}

impl Caller {
    pub const ALL: [Caller; 4] = [
        Caller::Web,
        Caller::ConnectorOutlook,
        Caller::ConnectorZoho,
        Caller::Operator,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Caller::Web => "web",
            Caller::ConnectorOutlook => "connector-outlook",
            Caller::ConnectorZoho => "connector-zoho",
            Caller::Operator => "operator",
        }
    }

    /// The variable holding this caller's credential: `<PREFIX>_TOKEN_<NAME>` or
    /// `SYNC_TOKEN_<NAME>`, the same name at the caller and at the services it calls.
    pub fn variable(self) -> &'static str {
        match self {
            Caller::Web => "TOKEN_WEB",
            Caller::ConnectorOutlook => "TOKEN_OUTLOOK",
            Caller::ConnectorZoho => "TOKEN_ZOHO",
            Caller::Operator => "TOKEN_OPERATOR",
        }
    }

    pub fn scopes(self) -> &'static [Scope] {
        match self {
            Caller::Web => &[Scope::Discovery, Scope::Status],
            Caller::ConnectorOutlook => &[Scope::OutlookTokens],
            Caller::ConnectorZoho => &[Scope::ZohoTokens],
            Caller::Operator => &[
                Scope::Provision,
                Scope::Settings,
                Scope::SyncNow,
                Scope::Discovery,
                Scope::Status,
            ],
        }
    }

    pub fn may(self, scope: Scope) -> bool {
        self.scopes().contains(&scope)
    }
}

/// The credential this service presents to the others. Required: there is no fallback token.
pub fn own_token(prefix: &str, caller: Caller) -> anyhow::Result<SecretString> {
    let name = caller.variable();
    let token = var(prefix, name).ok_or_else(|| {
        anyhow::anyhow!(
            "{prefix}_{name} (or SYNC_{name}) is unset: this service needs its own credential \
             (a long random string, e.g. `openssl rand -hex 32`)"
        )
    })?;
    checked(prefix, name, token)
}

fn checked(prefix: &str, name: &str, token: String) -> anyhow::Result<SecretString> {
    anyhow::ensure!(
        token.trim().len() >= MIN_TOKEN_LEN,
        "{prefix}_{name} (or SYNC_{name}) is shorter than {MIN_TOKEN_LEN} characters"
    );
    Ok(SecretString::from(token.trim().to_owned()))
}

/// The callers a service accepts on its internal API, each known by its credential's SHA-256
/// (compared in constant time, without revealing the length).
#[derive(Clone, Default)]
pub struct Callers {
    known: Arc<Vec<(Caller, [u8; 32])>>,
}

impl std::fmt::Debug for Callers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.known.iter().map(|(caller, _)| caller.name()))
            .finish()
    }
}

impl Callers {
    pub fn new(credentials: impl IntoIterator<Item = (Caller, SecretString)>) -> Self {
        Callers {
            known: Arc::new(
                credentials
                    .into_iter()
                    .map(|(caller, token)| (caller, digest(token.expose_secret())))
                    .collect(),
            ),
        }
    }

    /// Reads the credentials of `accepted` (each optional: an unset one is simply not
    /// accepted; a set one must be long enough).
    pub fn from_env(prefix: &str, accepted: &[Caller]) -> anyhow::Result<Self> {
        let mut credentials = Vec::new();
        for &caller in accepted {
            if let Some(token) = var(prefix, caller.variable()) {
                credentials.push((caller, checked(prefix, caller.variable(), token)?));
            }
        }
        Ok(Callers::new(credentials))
    }

    /// Who presents `Authorization: Bearer <credential>`, if anyone known.
    pub fn identify(&self, headers: &HeaderMap) -> Option<Caller> {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)?;
        let given = digest(presented);
        // Every entry is compared, so the time taken does not tell which one matched.
        let mut found = None;
        for (caller, expected) in self.known.iter() {
            if constant_time_eq(&given, expected) {
                found = Some(*caller);
            }
        }
        found
    }

    /// The caller, if known and allowed `scope`.
    pub fn authorise(&self, headers: &HeaderMap, scope: Scope) -> Result<Caller, Refusal> {
        let caller = self.identify(headers).ok_or(Refusal::Unauthenticated)?;
        if caller.may(scope) {
            Ok(caller)
        } else {
            tracing::warn!(
                caller = caller.name(),
                ?scope,
                "a service credential was used outside its scope"
            );
            Err(Refusal::OutOfScope)
        }
    }
}

/// Why an internal call is refused: 401 and 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unauthenticated,
    OutOfScope,
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares without an early exit, so the time taken does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        headers
    }

    #[test]
    fn a_credential_must_match_exactly() {
        let callers = Callers::new([(Caller::Web, SecretString::from("s3cret"))]);
        assert_eq!(callers.identify(&HeaderMap::new()), None);
        assert_eq!(callers.identify(&with_bearer("s3cre")), None);
        assert_eq!(callers.identify(&with_bearer("s3cret")), Some(Caller::Web));
    }

    #[test]
    fn each_credential_opens_only_its_scopes() {
        let callers = Callers::new([
            (Caller::Web, SecretString::from("web")),
            (Caller::ConnectorOutlook, SecretString::from("outlook")),
            (Caller::Operator, SecretString::from("operator")),
        ]);
        let web = with_bearer("web");
        assert_eq!(callers.authorise(&web, Scope::Discovery), Ok(Caller::Web));
        assert_eq!(callers.authorise(&web, Scope::Status), Ok(Caller::Web));
        for scope in [
            Scope::OutlookTokens,
            Scope::ZohoTokens,
            Scope::Provision,
            Scope::Settings,
            Scope::SyncNow,
        ] {
            assert_eq!(callers.authorise(&web, scope), Err(Refusal::OutOfScope));
        }
        let outlook = with_bearer("outlook");
        assert!(callers.authorise(&outlook, Scope::OutlookTokens).is_ok());
        assert_eq!(
            callers.authorise(&outlook, Scope::ZohoTokens),
            Err(Refusal::OutOfScope)
        );
        let operator = with_bearer("operator");
        for scope in [Scope::OutlookTokens, Scope::ZohoTokens] {
            assert_eq!(
                callers.authorise(&operator, scope),
                Err(Refusal::OutOfScope),
                "the operator never reads a user's provider tokens"
            );
        }
        assert_eq!(
            callers.authorise(&with_bearer("nobody"), Scope::Discovery),
            Err(Refusal::Unauthenticated)
        );
    }

    #[test]
    fn no_caller_but_the_connectors_reads_provider_tokens() {
        for caller in Caller::ALL {
            let reads = caller.may(Scope::OutlookTokens) || caller.may(Scope::ZohoTokens);
            let connector = matches!(caller, Caller::ConnectorOutlook | Caller::ConnectorZoho);
            assert_eq!(reads, connector, "{}", caller.name());
            assert!(
                !caller.may(Scope::Provision) || caller == Caller::Operator,
                "only the operator creates users"
            );
        }
    }
}

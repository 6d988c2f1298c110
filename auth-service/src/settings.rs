//! The service's typed settings: `AUTH_<NAME>` first, then the shared `SYNC_<NAME>` (see
//! [`service_kit::settings`]). Validated at boot: a missing encryption key stops the service with
//! a clear message rather than storing tokens under a made-up key.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use base64::Engine;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use service_kit::auth::{Caller, Callers};
use service_kit::settings::{self as env, DatabaseSettings, HttpSettings, TelemetrySettings};

/// Environment prefix of this service.
pub const PREFIX: &str = "AUTH";
pub const DEFAULT_PORT: u16 = 8081;
/// The callers' credentials in [`Settings::for_tests`].
pub const TEST_OPERATOR_TOKEN: &str = "test-service-token";
pub const TEST_OUTLOOK_TOKEN: &str = "test-outlook-connector-token";
pub const TEST_ZOHO_TOKEN: &str = "test-zoho-connector-token";
pub const TEST_WEB_TOKEN: &str = "test-web-token";

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub telemetry: TelemetrySettings,
    /// Who may call the internal API, each with its own credential and scopes: the connectors
    /// (their provider's tokens), `web` (connection statuses) and the operator (provisioning).
    pub callers: Callers,
    pub encryption: EncryptionSettings,
    pub zoho: ZohoOAuthSettings,
    pub microsoft: MicrosoftOAuthSettings,
    /// How users sign in: token lifetimes, signing keys, throttling.
    pub sessions: SessionSettings,
    pub passwords: PasswordSettings,
    /// The first administrator, created at start when no user has this e-mail address yet.
    pub admin: Option<AdminSettings>,
    /// How browsers reach this service (behind the proxy): OAuth redirect URIs are built on it.
    pub public_url: String,
    /// Where the browser goes after connecting a provider (e.g. the settings page); the
    /// callback answers JSON when unset.
    pub connected_redirect_url: Option<String>,
    /// Anyone may create an account (`POST /v1/users`); else only administrators do.
    pub self_signup: bool,
    /// OpenID Connect sign-in providers (`AUTH_OIDC_PROVIDERS`, see [`crate::sso::config`]).
    pub oidc: Vec<crate::sso::config::OidcProviderSettings>,
    /// Where the browser goes after signing in at a provider (the settings page); the callback
    /// answers JSON when unset.
    pub sign_in_redirect_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens: what the other services check.
    pub audience: String,
    pub access_token_ttl: chrono::Duration,
    /// A session without "keep me signed in": ends after this long without use.
    pub short_session_ttl: chrono::Duration,
    /// "Keep me signed in".
    pub long_session_ttl: chrono::Duration,
    /// No session lives longer than this after its sign-in, however often it is refreshed: a
    /// stolen refresh token cannot be kept alive for ever.
    pub max_session_age: chrono::Duration,
    /// How long one signing key signs before a new one takes over.
    pub key_rotation: chrono::Duration,
    /// Failed sign-ins per account within `failed_sign_in_window` before sign-in is refused.
    pub max_failed_sign_ins: u32,
    pub failed_sign_in_window: chrono::Duration,
    /// Failed sign-ins from one client address (any accounts) within the same window.
    pub max_failed_sign_ins_per_address: u32,
    /// Self sign-up attempts (made or refused) from one client address within the same window:
    /// a script cannot create accounts, or probe which addresses have one, at speed.
    pub max_sign_ups_per_address: u32,
    /// The proxies (IPs, CIDRs) whose `X-Forwarded-For` names the client; from any other peer
    /// the header is ignored. Empty: the client is always the connection's peer.
    pub trusted_proxies: service_kit::client_address::TrustedProxies,
}

/// Argon2id cost. Hashes carry their parameters, so raising them later keeps old hashes valid.
#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    /// Hashes computed at once (each takes `memory_kib` and a core).
    pub parallel_hashes: usize,
    /// Hashes that may wait for one of those; beyond, a request is refused at once (503
    /// `busy`, `Retry-After`) rather than queued behind a flood.
    pub queued_hashes: usize,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub email: String,
    pub password: SecretString,
}

/// AES-256 keys for secrets at rest, by key id. New rows are sealed with `active_key_id`; the
/// others stay for reading rows sealed before a rotation.
#[derive(Clone)]
pub struct EncryptionSettings {
    pub keys: BTreeMap<String, std::sync::Arc<SecretBox<[u8; 32]>>>,
    pub active_key_id: String,
}

impl std::fmt::Debug for EncryptionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionSettings")
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .field("active_key_id", &self.active_key_id)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct ZohoOAuthSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Accounts server per data centre, with `{dc}` standing for the data-centre code, e.g.
    /// `http://127.0.0.1:7070/zoho-accounts/{dc}`. `None`: Zoho's real accounts servers.
    pub accounts_base_template: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MicrosoftOAuthSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Microsoft identity platform, e.g. `https://login.microsoftonline.com`.
    pub login_base: String,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let callers = Callers::from_env(
            PREFIX,
            &[
                Caller::ConnectorOutlook,
                Caller::ConnectorZoho,
                Caller::Operator,
                Caller::Web,
            ],
        )?;
        let encryption = EncryptionSettings::parse(
            env::var(PREFIX, "ENCRYPTION_KEYS").as_deref(),
            env::var(PREFIX, "ENCRYPTION_ACTIVE_KEY").as_deref(),
        )?;
        Ok(Settings {
            http: HttpSettings::from_env(PREFIX, DEFAULT_PORT)?,
            database: DatabaseSettings::from_env(PREFIX)?,
            telemetry: TelemetrySettings::from_env(PREFIX)?,
            callers,
            encryption,
            zoho: ZohoOAuthSettings {
                client_id: env::string_or(PREFIX, "ZOHO_CLIENT_ID", "sandbox-zoho-client"),
                client_secret: env::secret_or(PREFIX, "ZOHO_CLIENT_SECRET", "sandbox-zoho-secret"),
                accounts_base_template: env::var(PREFIX, "ZOHO_ACCOUNTS_BASE"),
            },
            microsoft: MicrosoftOAuthSettings {
                client_id: env::string_or(PREFIX, "MICROSOFT_CLIENT_ID", "sandbox-graph-client"),
                client_secret: env::secret_or(
                    PREFIX,
                    "MICROSOFT_CLIENT_SECRET",
                    "sandbox-graph-secret",
                ),
                login_base: env::string_or(
                    PREFIX,
                    "MICROSOFT_LOGIN_BASE",
                    "https://login.microsoftonline.com",
                ),
            },
            sessions: SessionSettings {
                issuer: env::string_or(PREFIX, "JWT_ISSUER", "outlook-zoho-sync/auth"),
                audience: env::string_or(PREFIX, "JWT_AUDIENCE", "outlook-zoho-sync"),
                access_token_ttl: chrono::Duration::seconds(env::parse_or(
                    PREFIX,
                    "ACCESS_TOKEN_TTL_SECS",
                    900,
                )?),
                short_session_ttl: chrono::Duration::hours(env::parse_or(
                    PREFIX,
                    "SESSION_TTL_HOURS",
                    12,
                )?),
                long_session_ttl: chrono::Duration::days(env::parse_or(
                    PREFIX,
                    "LONG_SESSION_TTL_DAYS",
                    30,
                )?),
                max_session_age: chrono::Duration::days(env::parse_or(
                    PREFIX,
                    "SESSION_MAX_AGE_DAYS",
                    90,
                )?),
                key_rotation: chrono::Duration::days(env::parse_or(
                    PREFIX,
                    "SIGNING_KEY_ROTATION_DAYS",
                    30,
                )?),
                max_failed_sign_ins: env::parse_or(PREFIX, "MAX_FAILED_SIGN_INS", 5)?,
                failed_sign_in_window: chrono::Duration::minutes(env::parse_or(
                    PREFIX,
                    "FAILED_SIGN_IN_WINDOW_MINUTES",
                    15,
                )?),
                max_failed_sign_ins_per_address: env::parse_or(
                    PREFIX,
                    "MAX_FAILED_SIGN_INS_PER_ADDRESS",
                    20,
                )?,
                max_sign_ups_per_address: env::parse_or(PREFIX, "MAX_SIGN_UPS_PER_ADDRESS", 10)?,
                trusted_proxies: trusted_proxies()?,
            },
            passwords: PasswordSettings {
                // OWASP's Argon2id baseline: 19 MiB, 2 iterations, 1 lane.
                memory_kib: env::parse_or(PREFIX, "ARGON2_MEMORY_KIB", 19_456)?,
                iterations: env::parse_or(PREFIX, "ARGON2_ITERATIONS", 2)?,
                parallel_hashes: env::parse_or(PREFIX, "ARGON2_PARALLEL_HASHES", 2)?,
                queued_hashes: env::parse_or(PREFIX, "ARGON2_QUEUED_HASHES", 8)?,
            },
            admin: match (
                env::var(PREFIX, "ADMIN_EMAIL"),
                env::var(PREFIX, "ADMIN_PASSWORD"),
            ) {
                (Some(email), Some(password)) => Some(AdminSettings {
                    email,
                    password: SecretString::from(password),
                }),
                (None, None) => None,
                _ => bail!("set both AUTH_ADMIN_EMAIL and AUTH_ADMIN_PASSWORD, or neither"),
            },
            public_url: env::string_or(PREFIX, "PUBLIC_URL", "http://127.0.0.1:8081")
                .trim_end_matches('/')
                .to_owned(),
            connected_redirect_url: env::var(PREFIX, "CONNECTED_REDIRECT_URL"),
            self_signup: env::parse_or(PREFIX, "SELF_SIGNUP", false)?,
            oidc: crate::sso::config::from_env(PREFIX)?,
            sign_in_redirect_url: env::var(PREFIX, "SIGN_IN_REDIRECT_URL"),
        })
    }
}

impl Settings {
    /// Settings for an in-process test instance: a free port, the given database, a random
    /// encryption key, the service token `test-service-token`, quiet logs, and the sandbox's
    /// OAuth clients at `provider_base` (`{base}/zoho-accounts/{dc}`, `{base}/login`).
    pub fn for_tests(database_url: &str, provider_base: &str) -> Self {
        let base = provider_base.trim_end_matches('/');
        Settings {
            http: HttpSettings::local(),
            database: DatabaseSettings {
                url: SecretString::from(database_url.to_owned()),
                max_connections: 10,
                wait: service_kit::wait::StartupWait::AtMost(std::time::Duration::from_secs(30)),
            },
            telemetry: TelemetrySettings {
                otlp_endpoint: None,
                log_filter: "info".to_owned(),
                json_logs: false,
            },
            callers: Callers::new([
                (Caller::Operator, SecretString::from(TEST_OPERATOR_TOKEN)),
                (
                    Caller::ConnectorOutlook,
                    SecretString::from(TEST_OUTLOOK_TOKEN),
                ),
                (Caller::ConnectorZoho, SecretString::from(TEST_ZOHO_TOKEN)),
                (Caller::Web, SecretString::from(TEST_WEB_TOKEN)),
            ]),
            encryption: EncryptionSettings::random(),
            zoho: ZohoOAuthSettings {
                client_id: "sandbox-zoho-client".to_owned(),
                client_secret: SecretString::from("sandbox-zoho-secret"),
                accounts_base_template: Some(format!("{base}/zoho-accounts/{{dc}}")),
            },
            microsoft: MicrosoftOAuthSettings {
                client_id: "sandbox-graph-client".to_owned(),
                client_secret: SecretString::from("sandbox-graph-secret"),
                login_base: format!("{base}/login"),
            },
            sessions: SessionSettings {
                issuer: "outlook-zoho-sync/auth".to_owned(),
                audience: "outlook-zoho-sync".to_owned(),
                access_token_ttl: chrono::Duration::minutes(15),
                short_session_ttl: chrono::Duration::hours(12),
                long_session_ttl: chrono::Duration::days(30),
                max_session_age: chrono::Duration::days(90),
                key_rotation: chrono::Duration::days(30),
                max_failed_sign_ins: 5,
                failed_sign_in_window: chrono::Duration::minutes(15),
                max_failed_sign_ins_per_address: 20,
                max_sign_ups_per_address: 10,
                trusted_proxies: Default::default(),
            },
            // Cheap hashes: unoptimised test builds would take seconds per hash otherwise.
            passwords: PasswordSettings {
                memory_kib: 256,
                iterations: 1,
                parallel_hashes: 4,
                // Bursts in tests are throttle tests, not saturation tests: room for all.
                queued_hashes: 256,
            },
            admin: None,
            public_url: "http://127.0.0.1:8081".to_owned(),
            connected_redirect_url: None,
            self_signup: false,
            oidc: Vec::new(),
            sign_in_redirect_url: None,
        }
    }
}

impl EncryptionSettings {
    /// Parses `kid:base64(32 bytes),kid2:...`. The active key id may be omitted when there is
    /// exactly one key.
    pub fn parse(keys: Option<&str>, active: Option<&str>) -> anyhow::Result<Self> {
        let Some(keys) = keys else {
            bail!(
                "AUTH_ENCRYPTION_KEYS is not set: give at least one AES-256 key as \
                 `kid:<base64 of 32 random bytes>` (e.g. `k1:$(openssl rand -base64 32)`), \
                 and AUTH_ENCRYPTION_ACTIVE_KEY=<kid>"
            );
        };
        let mut parsed = BTreeMap::new();
        for entry in keys.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (kid, material) = entry
                .split_once(':')
                .context("AUTH_ENCRYPTION_KEYS: each entry must be `kid:base64`")?;
            let kid = kid.trim();
            if kid.is_empty()
                || !kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                bail!("AUTH_ENCRYPTION_KEYS: key id `{kid}` must be letters, digits, - _ or .");
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(material.trim())
                .with_context(|| format!("AUTH_ENCRYPTION_KEYS: key `{kid}` is not base64"))?;
            let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                anyhow::anyhow!(
                    "AUTH_ENCRYPTION_KEYS: key `{kid}` has {} bytes, not 32",
                    b.len()
                )
            })?;
            if parsed
                .insert(
                    kid.to_owned(),
                    std::sync::Arc::new(SecretBox::new(Box::new(key))),
                )
                .is_some()
            {
                bail!("AUTH_ENCRYPTION_KEYS: key id `{kid}` appears twice");
            }
        }
        let active_key_id = match active {
            Some(kid) => kid.trim().to_owned(),
            None if parsed.len() == 1 => parsed.keys().next().cloned().unwrap_or_default(),
            None => {
                bail!("AUTH_ENCRYPTION_ACTIVE_KEY is not set: name the key that seals new secrets")
            }
        };
        if !parsed.contains_key(&active_key_id) {
            bail!("AUTH_ENCRYPTION_ACTIVE_KEY `{active_key_id}` is not among AUTH_ENCRYPTION_KEYS");
        }
        Ok(EncryptionSettings {
            keys: parsed,
            active_key_id,
        })
    }

    /// One random key (tests and local experiments).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        let mut keys = BTreeMap::new();
        keys.insert(
            "k1".to_owned(),
            std::sync::Arc::new(SecretBox::new(Box::new(key))),
        );
        EncryptionSettings {
            keys,
            active_key_id: "k1".to_owned(),
        }
    }

    pub(crate) fn key(&self, kid: &str) -> Option<&[u8; 32]> {
        self.keys.get(kid).map(|k| k.expose_secret())
    }
}

/// `AUTH_TRUSTED_PROXIES`. The former `AUTH_TRUST_FORWARDED_FOR` believed the header from any
/// peer; a deployment still setting it is stopped rather than silently throttled as one address.
fn trusted_proxies() -> anyhow::Result<service_kit::client_address::TrustedProxies> {
    if env::var(PREFIX, "TRUST_FORWARDED_FOR").is_some() {
        anyhow::bail!(
            "{PREFIX}_TRUST_FORWARDED_FOR is gone: set {PREFIX}_TRUSTED_PROXIES to the addresses \
             (IPs or CIDRs) of the proxies in front of this service, e.g. web's"
        );
    }
    env::parse_or(PREFIX, "TRUSTED_PROXIES", Default::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn missing_keys_is_a_clear_error() {
        let err = EncryptionSettings::parse(None, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("AUTH_ENCRYPTION_KEYS is not set"), "{err}");
    }

    #[test]
    fn single_key_is_active_by_default() {
        let s = EncryptionSettings::parse(Some(&format!("k1:{KEY_A}")), None).unwrap();
        assert_eq!(s.active_key_id, "k1");
        assert!(!format!("{s:?}").contains(KEY_A));
    }

    #[test]
    fn several_keys_need_an_active_one_that_exists() {
        let keys = format!("k1:{KEY_A}, k2:{KEY_A}");
        assert!(EncryptionSettings::parse(Some(&keys), None).is_err());
        assert!(EncryptionSettings::parse(Some(&keys), Some("k3")).is_err());
        assert_eq!(
            EncryptionSettings::parse(Some(&keys), Some("k2"))
                .unwrap()
                .active_key_id,
            "k2"
        );
    }

    #[test]
    fn wrong_length_is_rejected() {
        assert!(EncryptionSettings::parse(Some("k1:AAAA"), None).is_err());
    }
}

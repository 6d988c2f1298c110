//! `web` settings: `WEB_*`, falling back to the shared `SYNC_*` variables.

use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use service_kit::client_address::TrustedProxies;
use service_kit::settings::{HttpSettings, TelemetrySettings, parse_or, string_or};

pub const PREFIX: &str = "WEB";
pub const DEFAULT_PORT: u16 = 8080;

/// Where the services behind the page live.
#[derive(Debug, Clone)]
pub struct Upstreams {
    pub auth_url: String,
    pub sync_url: String,
    pub outlook_url: String,
    pub zoho_url: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub telemetry: TelemetrySettings,
    pub upstreams: Upstreams,
    /// `web`'s own credential (`WEB_TOKEN_WEB` or `SYNC_TOKEN_WEB`): it opens the connectors'
    /// lists and what the status page reads, never a change (decisions #57).
    pub service_token: SecretString,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// The address users open (scheme, host, port). An `https://` one marks the session cookie
    /// `Secure`. Also what `AUTH_PUBLIC_URL` (`{public}/api/auth`) and
    /// `AUTH_CONNECTED_REDIRECT_URL` should point at.
    pub public_url: String,
    /// How long a call to a service behind the page may take.
    pub upstream_timeout: Duration,
    /// `WEB_TRUSTED_PROXIES`: the reverse proxies in front of `web` (IPs, CIDRs; empty by
    /// default). From one of them, the browser's address is taken from `X-Forwarded-For` (the
    /// right-most address that is not a trusted proxy); from any other peer the header is
    /// ignored (decisions #68).
    pub trusted_proxies: TrustedProxies,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let settings = Settings {
            http: HttpSettings::from_env(PREFIX, DEFAULT_PORT)?,
            telemetry: TelemetrySettings::from_env(PREFIX)?,
            upstreams: Upstreams {
                auth_url: string_or(PREFIX, "AUTH_URL", "http://127.0.0.1:8081"),
                sync_url: string_or(PREFIX, "SYNC_URL", "http://127.0.0.1:8082"),
                outlook_url: string_or(PREFIX, "OUTLOOK_URL", "http://127.0.0.1:8083"),
                zoho_url: string_or(PREFIX, "ZOHO_URL", "http://127.0.0.1:8084"),
            },
            service_token: service_kit::auth::own_token(PREFIX, service_kit::auth::Caller::Web)?,
            jwt_issuer: string_or(PREFIX, "JWT_ISSUER", "outlook-zoho-sync/auth"),
            jwt_audience: string_or(PREFIX, "JWT_AUDIENCE", "outlook-zoho-sync"),
            public_url: string_or(PREFIX, "PUBLIC_URL", "http://127.0.0.1:8080"),
            upstream_timeout: Duration::from_secs(parse_or(PREFIX, "UPSTREAM_TIMEOUT_SECS", 30)?),
            trusted_proxies: parse_or(PREFIX, "TRUSTED_PROXIES", TrustedProxies::default())?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Settings for tests: port 0, the given services, a test service token.
    pub fn for_tests(upstreams: Upstreams, service_token: &str) -> Self {
        Settings {
            http: HttpSettings::local(),
            telemetry: TelemetrySettings {
                otlp_endpoint: None,
                log_filter: "info".into(),
                json_logs: false,
            },
            upstreams,
            service_token: SecretString::from(service_token.to_owned()),
            jwt_issuer: "outlook-zoho-sync/auth".into(),
            jwt_audience: "outlook-zoho-sync".into(),
            public_url: "http://127.0.0.1".into(),
            upstream_timeout: Duration::from_secs(30),
            trusted_proxies: TrustedProxies::default(),
        }
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, value) in [
            ("WEB_AUTH_URL", &self.upstreams.auth_url),
            ("WEB_SYNC_URL", &self.upstreams.sync_url),
            ("WEB_OUTLOOK_URL", &self.upstreams.outlook_url),
            ("WEB_ZOHO_URL", &self.upstreams.zoho_url),
            ("WEB_PUBLIC_URL", &self.public_url),
        ] {
            let url = url::Url::parse(value).with_context(|| format!("{name} is not a URL"))?;
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https"),
                "{name} must be an http(s) URL"
            );
        }
        Ok(())
    }

    /// Whether the session cookie must only travel over HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstreams() -> Upstreams {
        Upstreams {
            auth_url: "http://a".into(),
            sync_url: "http://s".into(),
            outlook_url: "http://o".into(),
            zoho_url: "http://z".into(),
        }
    }

    #[test]
    fn cookies_are_secure_behind_https_only() {
        let mut settings = Settings::for_tests(upstreams(), "t");
        assert!(!settings.secure_cookies());
        settings.public_url = "https://sync.example.com".into();
        assert!(settings.secure_cookies());
        assert!(settings.validate().is_ok());
        settings.upstreams.auth_url = "not a url".into();
        assert!(settings.validate().is_err());
    }
}

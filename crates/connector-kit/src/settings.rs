//! Settings both connectors share (prefix `OUTLOOK` or `ZOHO`, falling back to `SYNC_`).

use std::time::Duration;

use secrecy::SecretString;
use service_kit::settings::{
    BrokerSettings, DatabaseSettings, HttpSettings, TelemetrySettings, parse_or, secret_or,
    string_or,
};

#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub telemetry: TelemetrySettings,
    /// auth-service's base URL, for provider access tokens.
    pub auth_url: String,
    /// Authenticates this service to auth-service's internal endpoints.
    pub service_token: SecretString,
    /// How often the poll loop looks for due watches.
    pub poll_tick: Duration,
    /// How long a poll lease lasts without being renewed.
    pub lease: Duration,
    /// Distinguishes replicas in lease rows.
    pub instance_id: String,
}

impl ConnectorSettings {
    pub fn from_env(prefix: &str, default_port: u16) -> anyhow::Result<Self> {
        Ok(ConnectorSettings {
            http: HttpSettings::from_env(prefix, default_port)?,
            database: DatabaseSettings::from_env(prefix)?,
            broker: BrokerSettings::from_env(prefix)?,
            telemetry: TelemetrySettings::from_env(prefix)?,
            auth_url: string_or(prefix, "AUTH_URL", "http://127.0.0.1:8081"),
            service_token: secret_or(prefix, "SERVICE_TOKEN", "dev-service-token"),
            poll_tick: Duration::from_millis(parse_or(prefix, "POLL_TICK_MS", 500)?),
            lease: Duration::from_secs(parse_or(prefix, "LEASE_SECS", 60)?),
            instance_id: string_or(prefix, "INSTANCE_ID", &uuid::Uuid::new_v4().to_string()),
        })
    }
}

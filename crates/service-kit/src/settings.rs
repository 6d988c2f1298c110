//! Typed settings from environment variables. Every service reads `<PREFIX>_<NAME>` first and
//! falls back to the shared `SYNC_<NAME>`, so one `.env` can configure a whole deployment while a
//! single service can still be pointed elsewhere. Defaults are safe for local use.

use std::str::FromStr;

use anyhow::Context;
use secrecy::SecretString;

use crate::wait::StartupWait;

/// Reads `<prefix>_<name>`, then `SYNC_<name>`.
pub fn var(prefix: &str, name: &str) -> Option<String> {
    std::env::var(format!("{prefix}_{name}"))
        .or_else(|_| std::env::var(format!("SYNC_{name}")))
        .ok()
        .filter(|v| !v.is_empty())
}

/// A parsed variable, or `default` when unset.
pub fn parse_or<T>(prefix: &str, name: &str, default: T) -> anyhow::Result<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    match var(prefix, name) {
        Some(raw) => raw
            .parse()
            .with_context(|| format!("{prefix}_{name} (or SYNC_{name}) is invalid")),
        None => Ok(default),
    }
}

pub fn string_or(prefix: &str, name: &str, default: &str) -> String {
    var(prefix, name).unwrap_or_else(|| default.to_owned())
}

pub fn secret_or(prefix: &str, name: &str, default: &str) -> SecretString {
    SecretString::from(string_or(prefix, name, default))
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub host: String,
    /// 0 picks a free port (tests).
    pub port: u16,
    /// What a client may hold of the server (slow or many connections).
    pub limits: ServerLimits,
}

impl HttpSettings {
    pub fn from_env(prefix: &str, default_port: u16) -> anyhow::Result<Self> {
        Ok(HttpSettings {
            host: string_or(prefix, "HOST", "127.0.0.1"),
            port: parse_or(prefix, "PORT", default_port)?,
            limits: ServerLimits::from_env(prefix)?,
        })
    }

    /// `127.0.0.1`, a free port, the default limits (tests).
    pub fn local() -> Self {
        HttpSettings {
            host: "127.0.0.1".into(),
            port: 0,
            limits: ServerLimits::default(),
        }
    }
}

/// Bounds against slow clients (slowloris) and connection floods.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's headers must arrive within this (`<PREFIX>_HEADER_TIMEOUT_SECS`, 10).
    pub header_timeout: std::time::Duration,
    /// A request's body must arrive within this from its headers (`<PREFIX>_BODY_TIMEOUT_SECS`,
    /// 30): a deadline, not an idle timeout, so trickling a byte at a time does not extend it.
    pub body_timeout: std::time::Duration,
    /// Connections served at once (`<PREFIX>_MAX_CONNECTIONS`, 1024); more wait in the listen
    /// queue until one ends.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

impl ServerLimits {
    pub fn from_env(prefix: &str) -> anyhow::Result<Self> {
        let d = ServerLimits::default();
        let secs = |name: &str, default: std::time::Duration| -> anyhow::Result<_> {
            Ok(std::time::Duration::from_secs(
                parse_or(prefix, name, default.as_secs())?.max(1),
            ))
        };
        Ok(ServerLimits {
            header_timeout: secs("HEADER_TIMEOUT_SECS", d.header_timeout)?,
            body_timeout: secs("BODY_TIMEOUT_SECS", d.body_timeout)?,
            max_connections: parse_or(prefix, "MAX_CONNECTIONS", d.max_connections)?.max(1),
        })
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
    /// How long to wait at start for Postgres to answer.
    pub wait: StartupWait,
}

impl DatabaseSettings {
    pub fn from_env(prefix: &str) -> anyhow::Result<Self> {
        Ok(DatabaseSettings {
            url: secret_or(
                prefix,
                "DATABASE_URL",
                "postgres://postgres:postgres@127.0.0.1:5432/outlook_zoho_sync",
            ),
            max_connections: parse_or(prefix, "DATABASE_MAX_CONNECTIONS", 10)?,
            wait: startup_wait(prefix)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct BrokerSettings {
    pub url: SecretString,
    /// Put before every exchange and queue name; empty in production, unique per test.
    pub prefix: String,
    /// Unacknowledged deliveries per consumer.
    pub prefetch: u16,
    /// Queues and exchanges go away with their last consumer (tests only).
    pub transient: bool,
    /// How long to wait at start for RabbitMQ to answer.
    pub wait: StartupWait,
}

impl BrokerSettings {
    pub fn from_env(prefix: &str) -> anyhow::Result<Self> {
        Ok(BrokerSettings {
            url: secret_or(prefix, "AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            prefix: string_or(prefix, "BROKER_PREFIX", ""),
            prefetch: parse_or(prefix, "BROKER_PREFETCH", 32)?,
            transient: false,
            wait: startup_wait(prefix)?,
        })
    }
}

/// `<PREFIX>_STARTUP_WAIT_SECS` (or `SYNC_STARTUP_WAIT_SECS`): how long a service waits at start
/// for Postgres and RabbitMQ; 0 (the default) waits until they answer.
fn startup_wait(prefix: &str) -> anyhow::Result<StartupWait> {
    Ok(StartupWait::from_secs(parse_or(
        prefix,
        "STARTUP_WAIT_SECS",
        0,
    )?))
}

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// e.g. `http://otel-collector:4317`; no export when unset.
    pub otlp_endpoint: Option<String>,
    /// An `EnvFilter` directive, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// JSON lines (production) or human-readable (local runs).
    pub json_logs: bool,
}

impl TelemetrySettings {
    pub fn from_env(prefix: &str) -> anyhow::Result<Self> {
        Ok(TelemetrySettings {
            otlp_endpoint: var(prefix, "OTLP_ENDPOINT")
                .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()),
            log_filter: string_or(prefix, "LOG", "info,sqlx=warn,lapin=warn"),
            json_logs: parse_or(prefix, "LOG_JSON", true)?,
        })
    }
}

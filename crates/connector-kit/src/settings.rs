//! Settings both connectors share (prefix `OUTLOOK` or `ZOHO`, falling back to `SYNC_`).

use std::time::Duration;

use secrecy::SecretString;
use service_kit::auth::{Caller, Callers};
use service_kit::settings::{
    BrokerSettings, DatabaseSettings, HttpSettings, TelemetrySettings, parse_or, string_or,
};

#[derive(Debug, Clone)]
pub struct ConnectorSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub telemetry: TelemetrySettings,
    /// auth-service's base URL, for provider access tokens.
    pub auth_url: String,
    /// This connector's own credential, presented to auth-service for its provider's tokens.
    pub service_token: SecretString,
    /// Who may call this connector's internal API: `web` (lists and watch health) and the
    /// operator.
    pub callers: Callers,
    /// How often the poll loop looks for due watches.
    pub poll_tick: Duration,
    /// How long a poll lease lasts without being renewed.
    pub lease: Duration,
    /// Distinguishes replicas in lease rows.
    pub instance_id: String,
    /// Limits and retries of provider API calls.
    pub api: ApiSettings,
    /// How long the outcomes of applied commands are kept to answer a redelivery (decisions
    /// #74): `<PREFIX>_APPLIED_COMMAND_RETENTION_DAYS`, 7.
    pub applied_retention: Duration,
}

/// How a connector treats the provider's API.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Requests in flight at once per user across every replica (Outlook allows 4 per
    /// mailbox; a Graph `$batch` counts as min(4, its requests)).
    pub max_in_flight_per_user: usize,
    /// How long a shared API slot stays taken without being given back: longer than the HTTP
    /// client's timeout (30 s), so a call still running always holds its slot, and what a
    /// replica that died costs its users at most.
    pub slot_lease: Duration,
    /// Attempts of one call in all (429, 5xx, timeouts, dropped connections are retried).
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A longer `Retry-After` ends the call; the watch or command is rescheduled after it.
    pub max_retry_after: Duration,
    /// API calls one user may spend per 24 hours (Zoho's credits); `None`: no budget.
    pub daily_call_budget: Option<u64>,
    /// How long the command consumer waits for more apply commands to fill a batch.
    pub batch_window: Duration,
    /// Apply commands collected into one batch at most.
    pub batch_max: usize,
    /// Users whose commands one replica handles at once; a throttled user's task waits in its
    /// place, so this is well above the users expected to be throttled together.
    pub command_concurrency: usize,
    /// Write batches of one user in flight at once (commands of different links; a link's
    /// commands stay in order). Each call still takes the user's share of
    /// `max_in_flight_per_user`, so this overlaps a batch's bookkeeping and its calls with the
    /// next batch's, within the provider's limit.
    pub mailbox_concurrency: usize,
    /// Command deliveries one replica holds unacknowledged (every user's together): room for
    /// the other users' commands while one user's wait.
    pub command_prefetch: u16,
    /// Watches one replica polls at once (every user's own calls stay within
    /// `max_in_flight_per_user`).
    pub poll_concurrency: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            max_in_flight_per_user: 4,
            slot_lease: Duration::from_secs(60),
            max_attempts: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            daily_call_budget: None,
            batch_window: Duration::from_millis(200),
            batch_max: 100,
            command_concurrency: 32,
            mailbox_concurrency: 4,
            command_prefetch: 1000,
            poll_concurrency: 8,
        }
    }
}

impl ApiSettings {
    pub fn from_env(prefix: &str) -> anyhow::Result<Self> {
        let d = ApiSettings::default();
        let budget: u64 = parse_or(prefix, "DAILY_CALL_BUDGET", 0)?;
        Ok(ApiSettings {
            max_in_flight_per_user: parse_or(
                prefix,
                "MAX_IN_FLIGHT_PER_USER",
                d.max_in_flight_per_user,
            )?,
            slot_lease: Duration::from_secs(
                parse_or(prefix, "SLOT_LEASE_SECS", d.slot_lease.as_secs())?.max(1),
            ),
            max_attempts: parse_or(prefix, "MAX_ATTEMPTS", d.max_attempts)?,
            base_backoff: Duration::from_millis(parse_or(
                prefix,
                "BASE_BACKOFF_MS",
                d.base_backoff.as_millis() as u64,
            )?),
            max_backoff: Duration::from_millis(parse_or(
                prefix,
                "MAX_BACKOFF_MS",
                d.max_backoff.as_millis() as u64,
            )?),
            max_retry_after: Duration::from_secs(parse_or(
                prefix,
                "MAX_RETRY_AFTER_SECS",
                d.max_retry_after.as_secs(),
            )?),
            daily_call_budget: (budget > 0).then_some(budget),
            batch_window: Duration::from_millis(parse_or(
                prefix,
                "BATCH_WINDOW_MS",
                d.batch_window.as_millis() as u64,
            )?),
            batch_max: parse_or(prefix, "BATCH_MAX", d.batch_max)?.max(1),
            command_concurrency: parse_or(prefix, "COMMAND_CONCURRENCY", d.command_concurrency)?
                .max(1),
            mailbox_concurrency: parse_or(prefix, "MAILBOX_CONCURRENCY", d.mailbox_concurrency)?
                .max(1),
            command_prefetch: parse_or(prefix, "COMMAND_PREFETCH", d.command_prefetch)?.max(1),
            poll_concurrency: parse_or(prefix, "POLL_CONCURRENCY", d.poll_concurrency)?.max(1),
        })
    }
}

impl ConnectorSettings {
    /// `caller`: who this connector is to auth-service.
    pub fn from_env(prefix: &str, caller: Caller, default_port: u16) -> anyhow::Result<Self> {
        Ok(ConnectorSettings {
            http: HttpSettings::from_env(prefix, default_port)?,
            database: DatabaseSettings::from_env(prefix)?,
            broker: BrokerSettings::from_env(prefix)?,
            telemetry: TelemetrySettings::from_env(prefix)?,
            auth_url: string_or(prefix, "AUTH_URL", "http://127.0.0.1:8081"),
            service_token: service_kit::auth::own_token(prefix, caller)?,
            callers: Callers::from_env(prefix, &[Caller::Web, Caller::Operator])?,
            poll_tick: Duration::from_millis(parse_or(prefix, "POLL_TICK_MS", 500)?),
            lease: Duration::from_secs(parse_or(prefix, "LEASE_SECS", 60)?),
            instance_id: string_or(prefix, "INSTANCE_ID", &uuid::Uuid::new_v4().to_string()),
            api: ApiSettings::from_env(prefix)?,
            applied_retention: Duration::from_secs(
                parse_or::<u64>(prefix, "APPLIED_COMMAND_RETENTION_DAYS", 7)? * 86_400,
            ),
        })
    }
}

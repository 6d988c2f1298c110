//! sync-service settings: `SYNC_SERVICE_*`, falling back to the shared `SYNC_*` variables.

use service_kit::auth::{Caller, Callers};
use service_kit::settings::{
    BrokerSettings, DatabaseSettings, HttpSettings, TelemetrySettings, parse_or, string_or,
};

const PREFIX: &str = "SYNC_SERVICE";

/// Partitions whose batches one replica handles at once unless `SYNC_SERVICE_PARTITIONS_AT_ONCE`
/// says otherwise (decisions #114, #116): enough batches in flight for the database and the
/// replica to work while the others wait on each other, few enough that the waiting partitions'
/// deliveries gather into large batches.
pub const DEFAULT_PARTITIONS_AT_ONCE: usize = 4;

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub telemetry: TelemetrySettings,
    /// Who may call the internal API: the operator (provisioning, the local runner, tests) and
    /// `web` (reading status and settings for the status page).
    pub callers: Callers,
    /// auth-service, whose JWKS verifies users' access tokens.
    pub auth_url: String,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    /// The mass-delete guard: a poll round deleting more than this share of a user's items...
    pub delete_guard_share: f64,
    /// ...and at least this many, is held back for an admin.
    pub delete_guard_minimum: usize,
    /// A partition's lease (decisions #51): a dead replica's partitions move within this time.
    pub partition_lease: std::time::Duration,
    /// A change that fails is tried this many times in all before its user is blocked...
    pub retry_attempts: u32,
    /// ...after pauses starting at this one and doubling (decisions #58).
    pub retry_backoff: std::time::Duration,
    /// How long the ids of handled messages are kept for de-duplication (decisions #61).
    pub inbox_retention: std::time::Duration,
    /// How long a link stays marked deleted before it is forgotten (decisions #74).
    pub deleted_link_retention: std::time::Duration,
    /// Deliveries taken from a partition queue at once; each user's among them share one
    /// transaction (decisions #81, #87). The broker's prefetch (`SYNC_SERVICE_BROKER_PREFETCH`,
    /// twice this by default) bounds it too.
    pub batch_max: usize,
    /// Partitions whose batches one replica handles at once; 0 for no limit (decisions #114, #116).
    pub partitions_at_once: usize,
    /// The shortest poll interval a user may choose (at least 1 s; 60 by default).
    pub min_poll_interval_secs: u32,
    /// Steps of a first sync's finale settled per transaction (decisions #83).
    pub finale_page_steps: usize,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let batch_max = parse_or::<usize>(PREFIX, "BATCH_MAX", 512)?.max(1);
        let mut broker = BrokerSettings::from_env(PREFIX)?;
        // Twice a batch by default: the next batch of a partition is already delivered while
        // one is decided (decisions #87).
        broker.prefetch = parse_or(
            PREFIX,
            "BROKER_PREFETCH",
            u16::try_from(batch_max.saturating_mul(2)).unwrap_or(u16::MAX),
        )?;
        Ok(Settings {
            http: HttpSettings::from_env(PREFIX, 8082)?,
            database: DatabaseSettings::from_env(PREFIX)?,
            broker,
            telemetry: TelemetrySettings::from_env(PREFIX)?,
            callers: Callers::from_env(PREFIX, &[Caller::Operator, Caller::Web])?,
            auth_url: string_or(PREFIX, "AUTH_URL", "http://127.0.0.1:8081"),
            jwt_issuer: string_or(PREFIX, "JWT_ISSUER", "outlook-zoho-sync/auth"),
            jwt_audience: string_or(PREFIX, "JWT_AUDIENCE", "outlook-zoho-sync"),
            delete_guard_share: parse_or(PREFIX, "DELETE_GUARD_SHARE", 0.3)?,
            delete_guard_minimum: parse_or(PREFIX, "DELETE_GUARD_MINIMUM", 5)?,
            partition_lease: std::time::Duration::from_secs_f64(parse_or(
                PREFIX,
                "PARTITION_LEASE_SECS",
                10.0,
            )?),
            retry_attempts: parse_or(PREFIX, "RETRY_ATTEMPTS", 6)?,
            retry_backoff: std::time::Duration::from_secs_f64(parse_or(
                PREFIX,
                "RETRY_BACKOFF_SECS",
                2.0,
            )?),
            inbox_retention: std::time::Duration::from_secs(
                parse_or::<u64>(PREFIX, "INBOX_RETENTION_DAYS", 7)? * 86_400,
            ),
            deleted_link_retention: std::time::Duration::from_secs(
                parse_or::<u64>(PREFIX, "DELETED_LINK_RETENTION_DAYS", 30)? * 86_400,
            ),
            batch_max,
            partitions_at_once: parse_or(PREFIX, "PARTITIONS_AT_ONCE", DEFAULT_PARTITIONS_AT_ONCE)?,
            min_poll_interval_secs: match parse_or(
                PREFIX,
                "MIN_POLL_INTERVAL_SECS",
                crate::domain::settings::DEFAULT_MIN_POLL_INTERVAL_SECS,
            )? {
                0 => anyhow::bail!("{PREFIX}_MIN_POLL_INTERVAL_SECS must be at least 1"),
                secs => secs,
            },
            finale_page_steps: match parse_or(PREFIX, "FINALE_PAGE_STEPS", 500)? {
                0 => anyhow::bail!("{PREFIX}_FINALE_PAGE_STEPS must be at least 1"),
                steps => steps,
            },
        })
    }
}

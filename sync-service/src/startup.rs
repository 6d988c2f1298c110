//! Builds and runs the service: database (schema `sync`), broker, HTTP API, the change consumer
//! (one consumer per partition this replica owns), the pager of first syncs' finales and the
//! outbox relay.

use std::sync::Arc;

use service_kit::broker::Broker;
use service_kit::http::{Dependencies, operational_routes, serve};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use auth_client::TokenVerifier;

use crate::handler::{ChangeHandler, DeleteGuard, RetryPolicy};
use crate::routes::{AppState, router};
use crate::settings::Settings;

pub const SCHEMA: &str = "sync";
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The service's pool: service-kit's, each statement planned for its own parameters
/// (`plan_cache_mode = force_custom_plan`). The set-wise statements carry arrays of 1 to 512
/// keys against a links table that a first sync grows by tens of thousands of rows in a minute;
/// a generic plan, cached after five executions while the table was small, kept scanning every
/// link for each batch (1-10 s a statement in the default initial sync; decisions #96). And
/// without JIT compilation (`jit = off`): a set-wise statement's cost over hundreds of keys,
/// estimated on tables without statistics, passed `jit_above_cost`, and each batch's lookup,
/// which ran in 2-4 ms, was compiled first for 100-420 ms (decisions #115).
pub async fn connect(settings: &service_kit::settings::DatabaseSettings) -> anyhow::Result<PgPool> {
    let bootstrap = service_kit::database::connect(settings, SCHEMA).await?;
    let options = (*bootstrap.connect_options())
        .clone()
        .options([("plan_cache_mode", "force_custom_plan"), ("jit", "off")]);
    bootstrap.close().await;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect_with(options)
        .await?;
    Ok(pool)
}

pub struct Application {
    settings: Settings,
    listener: TcpListener,
    pool: PgPool,
    broker: Broker,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = connect(&settings.database).await?;
        service_kit::database::migrate(&pool, &MIGRATOR).await?;
        let broker = Broker::connect(&settings.broker, "sync-service").await?;
        let listener = service_kit::http::bind(&settings.http).await?;
        Ok(Application {
            settings,
            listener,
            pool,
            broker,
            shutdown: CancellationToken::new(),
        })
    }

    /// Applies the migrations and returns (the `migrate` subcommand).
    pub async fn migrate_only(settings: &Settings) -> anyhow::Result<()> {
        let pool = service_kit::database::connect(&settings.database, SCHEMA).await?;
        service_kit::database::migrate(&pool, &MIGRATOR).await
    }

    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let wakeup = Arc::new(Notify::new());
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let verifier = Arc::new(TokenVerifier::new(
            http,
            &self.settings.auth_url,
            &self.settings.jwt_issuer,
            &self.settings.jwt_audience,
        ));
        let state = AppState {
            pool: self.pool.clone(),
            callers: self.settings.callers.clone(),
            relay_wakeup: wakeup.clone(),
            verifier,
            publisher: self.broker.publisher().await?,
            min_poll_interval_secs: self.settings.min_poll_interval_secs,
        };
        let app = router(state).merge(operational_routes(Dependencies {
            database: Some(self.pool.clone()),
            broker: Some(self.broker.clone()),
        }));
        let guard = DeleteGuard {
            share: self.settings.delete_guard_share,
            minimum: self.settings.delete_guard_minimum,
        };
        let handler = Arc::new(ChangeHandler {
            guard,
            pool: self.pool.clone(),
            relay_wakeup: wakeup.clone(),
            retry: RetryPolicy {
                attempts: self.settings.retry_attempts.max(1),
                backoff: self.settings.retry_backoff,
            },
        });
        let publisher = self.broker.publisher().await?;

        let shutdown = self.shutdown.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serve(
            self.listener,
            app,
            self.settings.http.limits.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(crate::finale::run(
            self.pool.clone(),
            wakeup.clone(),
            self.settings.finale_page_steps,
            shutdown.clone(),
        ));
        tasks.spawn(crate::relay::run(
            self.pool.clone(),
            publisher,
            wakeup,
            crate::relay::Retention {
                inbox: self.settings.inbox_retention,
                deleted_links: self.settings.deleted_link_retention,
            },
            shutdown.clone(),
        ));
        let partitions = crate::partitions::PartitionSettings {
            lease: self.settings.partition_lease,
            // The relay, the partition leases and the HTTP API need connections too.
            concurrency: self.settings.database.max_connections.saturating_sub(3) as usize,
            batch: self.settings.batch_max,
            at_once: self.settings.partitions_at_once,
        };
        tasks.spawn(crate::retries::run(handler.clone(), shutdown.clone()));
        tasks.spawn(crate::partitions::run(
            self.pool.clone(),
            self.broker.clone(),
            handler,
            partitions,
            shutdown.clone(),
        ));

        let (broker, pool, dlq_shutdown) =
            (self.broker.clone(), self.pool.clone(), shutdown.clone());
        tasks.spawn(async move { crate::dead_letters::run(broker, pool, dlq_shutdown).await });

        let mut result = Ok(());
        while let Some(done) = tasks.join_next().await {
            if let Err(err) = done.map_err(anyhow::Error::from).and_then(|r| r) {
                tracing::error!(error = %format!("{err:#}"), "a part of sync-service failed; stopping");
                if result.is_ok() {
                    result = Err(err);
                }
            }
            shutdown.cancel();
        }
        self.broker.close().await;
        result
    }
}

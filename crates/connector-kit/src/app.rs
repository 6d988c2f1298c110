//! A connector as a running service: database, broker, HTTP (health, metrics, "sync now"), the
//! poll loop and the command consumer. Each connector's `startup` builds one of these around its
//! [`Connector`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use secrecy::SecretString;
use service_kit::broker::Broker;
use service_kit::http::{Dependencies, operational_routes, serve};
use sync_model::UserId;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::commands::CommandHandler;
use crate::connector::Connector;
use crate::poller::Poller;
use crate::settings::ConnectorSettings;
use crate::store::Store;
use crate::tokens::TokenClient;

pub struct ConnectorApp<C> {
    connector: Arc<C>,
    settings: ConnectorSettings,
    listener: TcpListener,
    store: Store,
    broker: Broker,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

#[derive(Clone)]
struct ApiState {
    store: Store,
    service_token: SecretString,
}

impl<C: Connector> ConnectorApp<C> {
    /// Connects to Postgres (schema `schema`) and RabbitMQ, migrates, binds the HTTP listener.
    pub async fn build(
        settings: ConnectorSettings,
        schema: &str,
        connector: C,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let pool = service_kit::database::connect(&settings.database, schema).await?;
        service_kit::database::migrate(&pool, &crate::MIGRATOR).await?;
        let broker = Broker::connect(&settings.broker, schema).await?;
        let listener = service_kit::http::bind(&settings.http).await?;
        Ok(ConnectorApp {
            connector: Arc::new(connector),
            settings,
            listener,
            store: Store::new(pool),
            broker,
            http,
            shutdown: CancellationToken::new(),
        })
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

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs until the shutdown token fires or a part fails (which stops the others).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let side = self.connector.side();
        let tokens = TokenClient::new(
            self.http.clone(),
            self.settings.auth_url.clone(),
            self.settings.service_token.clone(),
            side,
        );
        let poller = Poller {
            connector: self.connector.clone(),
            store: self.store.clone(),
            tokens: tokens.clone(),
            publisher: self.broker.publisher().await?,
            owner: self.settings.instance_id.clone(),
            lease: self.settings.lease,
            tick: self.settings.poll_tick,
        };
        let commands = CommandHandler {
            connector: self.connector.clone(),
            store: self.store.clone(),
            tokens,
            publisher: self.broker.publisher().await?,
        };
        let state = ApiState {
            store: self.store.clone(),
            service_token: self.settings.service_token.clone(),
        };
        let router = Router::new()
            .route("/internal/v1/users/{user_id}/sync-now", post(sync_now))
            .with_state(state)
            .merge(operational_routes(Dependencies {
                database: Some(self.store.pool().clone()),
                broker: Some(self.broker.clone()),
            }));

        let shutdown = self.shutdown.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serve(self.listener, router, shutdown.clone()));
        tasks.spawn(poller.run(shutdown.clone()));
        tasks.spawn(commands.run(self.broker.clone(), shutdown.clone()));

        let mut result = Ok(());
        while let Some(done) = tasks.join_next().await {
            let outcome = done.map_err(anyhow::Error::from).and_then(|r| r);
            if let Err(err) = outcome {
                tracing::error!(error = %format!("{err:#}"), "a part of the connector failed; stopping");
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

/// Makes every watch of the user due now. Service-authenticated: sync-service calls it.
async fn sync_now(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(user_id): Path<UserId>,
) -> Result<Json<serde_json::Value>, StatusCode> {
    if !service_kit::auth::has_bearer(&headers, &state.service_token) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let watches = state.store.poll_now(user_id).await.map_err(|err| {
        tracing::error!(error = %err, "sync-now failed");
        StatusCode::INTERNAL_SERVER_ERROR
    })?;
    Ok(Json(serde_json::json!({"watches": watches})))
}

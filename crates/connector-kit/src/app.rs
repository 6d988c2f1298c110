//! A connector as a running service: database, broker, HTTP (health, metrics, "sync now", watch
//! status, discovery for the settings page), the poll loop and the command consumer. Each
//! connector's `startup` builds one of these around its [`Connector`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use service_kit::auth::{Callers, Refusal, Scope};
use service_kit::broker::Broker;
use service_kit::http::{Dependencies, operational_routes, serve};
use sync_model::UserId;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::Gates;
use crate::commands::CommandHandler;
use crate::connector::{ApiError, CallContext, Connector};
use crate::poller::Poller;
use crate::settings::ConnectorSettings;
use crate::slots::SlotTable;
use crate::store::Store;
use crate::tokens::{TokenClient, TokenError};

pub struct ConnectorApp<C> {
    connector: Arc<C>,
    settings: ConnectorSettings,
    listener: TcpListener,
    store: Store,
    broker: Broker,
    http: reqwest::Client,
    shutdown: CancellationToken,
}

struct ApiState<C> {
    connector: Arc<C>,
    store: Store,
    tokens: TokenClient,
    gates: Gates,
    callers: Callers,
}

impl<C> Clone for ApiState<C> {
    fn clone(&self) -> Self {
        ApiState {
            connector: self.connector.clone(),
            store: self.store.clone(),
            tokens: self.tokens.clone(),
            gates: self.gates.clone(),
            callers: self.callers.clone(),
        }
    }
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
        // One in-flight bound per user for every replica: polls, writes and discovery here, and
        // the other replicas through the slot table in this connector's schema.
        let gates = Gates::shared(
            self.settings.api.max_in_flight_per_user,
            SlotTable::new(
                self.store.pool().clone(),
                self.settings.instance_id.clone(),
                self.settings.api.slot_lease,
            ),
        );
        let poller = Poller {
            connector: self.connector.clone(),
            store: self.store.clone(),
            tokens: tokens.clone(),
            publisher: self.broker.publisher().await?,
            owner: self.settings.instance_id.clone(),
            lease: self.settings.lease,
            tick: self.settings.poll_tick,
            gates: gates.clone(),
            daily_call_budget: self.settings.api.daily_call_budget,
            concurrency: self.settings.api.poll_concurrency,
        };
        let commands = CommandHandler {
            connector: self.connector.clone(),
            store: self.store.clone(),
            tokens: tokens.clone(),
            publisher: self.broker.publisher().await?,
            gates: gates.clone(),
            batch_window: self.settings.api.batch_window,
            batch_max: self.settings.api.batch_max,
            concurrency: self.settings.api.command_concurrency,
            mailbox_concurrency: self.settings.api.mailbox_concurrency,
            prefetch: self.settings.api.command_prefetch,
        };
        let state = ApiState {
            connector: self.connector.clone(),
            store: self.store.clone(),
            tokens,
            gates,
            callers: self.settings.callers.clone(),
        };
        let router = Router::new()
            .route("/internal/v1/users/{user_id}/sync-now", post(sync_now::<C>))
            .route("/internal/v1/users/{user_id}/watches", get(watches::<C>))
            .route("/internal/v1/watches/unwell", get(unwell::<C>))
            .route(
                "/internal/v1/users/{user_id}/discovery/{what}",
                get(discover::<C>),
            )
            .with_state(state)
            .merge(operational_routes(Dependencies {
                database: Some(self.store.pool().clone()),
                broker: Some(self.broker.clone()),
            }));

        let shutdown = self.shutdown.clone();
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(serve(
            self.listener,
            router,
            self.settings.http.limits.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(poller.run(shutdown.clone()));
        tasks.spawn(commands.run(self.broker.clone(), shutdown.clone()));
        tasks.spawn(crate::retention::run(
            self.store.clone(),
            self.settings.applied_retention,
            shutdown.clone(),
        ));

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

/// An error answer: a status and a stable code.
struct HttpError {
    status: StatusCode,
    code: String,
    message: String,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpError {
    HttpError {
        status,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

/// A known caller's credential (401) with `scope` (403): the settings page's backend may list
/// and see watches; only the operator may also make a poll due.
fn authorised<C>(state: &ApiState<C>, headers: &HeaderMap, scope: Scope) -> Result<(), HttpError> {
    match state.callers.authorise(headers, scope) {
        Ok(_) => Ok(()),
        Err(Refusal::Unauthenticated) => Err(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a service credential is required",
        )),
        Err(Refusal::OutOfScope) => Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this credential does not open this endpoint",
        )),
    }
}

/// Makes every watch of the user due now (the operator: tests, automation).
async fn sync_now<C: Connector>(
    State(state): State<ApiState<C>>,
    headers: HeaderMap,
    Path(user_id): Path<UserId>,
) -> Result<Json<serde_json::Value>, HttpError> {
    authorised(&state, &headers, Scope::SyncNow)?;
    let watches = state.store.poll_now(user_id).await.map_err(|err| {
        tracing::error!(error = %err, "sync-now failed");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "sync-now failed",
        )
    })?;
    Ok(Json(json!({"watches": watches})))
}

/// The user's watches: state (`ok`, `throttled`, `budget_exhausted`, `reconnect_needed`, ...),
/// last error and poll times, for the status page.
async fn watches<C: Connector>(
    State(state): State<ApiState<C>>,
    headers: HeaderMap,
    Path(user_id): Path<UserId>,
) -> Result<Json<serde_json::Value>, HttpError> {
    authorised(&state, &headers, Scope::Status)?;
    let watches = state.store.watch_statuses(user_id).await.map_err(|err| {
        tracing::error!(error = %err, "watch status failed");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "watch status failed",
        )
    })?;
    Ok(Json(json!({
        "user_id": user_id,
        "side": state.connector.side(),
        "watches": watches,
    })))
}

/// At most this many unwell watches in one answer: far more than a team's users have kinds.
const UNWELL_LIMIT: i64 = 10_000;

/// Every user's watches that are not polling normally (throttled, allowance used up, failing,
/// waiting for a reconnect), for the admin console's connections; `truncated` when there were
/// more than [`UNWELL_LIMIT`].
async fn unwell<C: Connector>(
    State(state): State<ApiState<C>>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, HttpError> {
    authorised(&state, &headers, Scope::Status)?;
    let watches = state
        .store
        .unwell_watches(UNWELL_LIMIT + 1)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "unwell watches failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "unwell watches failed",
            )
        })?;
    let truncated = watches.len() as i64 > UNWELL_LIMIT;
    Ok(Json(json!({
        "side": state.connector.side(),
        "watches": watches.into_iter().take(UNWELL_LIMIT as usize).collect::<Vec<_>>(),
        "truncated": truncated,
    })))
}

/// Lists what the settings page offers to choose from (folders, lists, categories, the Zoho user
/// and organisation), live from the provider.
async fn discover<C: Connector>(
    State(state): State<ApiState<C>>,
    headers: HeaderMap,
    Path((user_id, what)): Path<(UserId, String)>,
) -> Result<Json<serde_json::Value>, HttpError> {
    authorised(&state, &headers, Scope::Discovery)?;
    if !state.connector.discoveries().contains(&what.as_str()) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "unknown_discovery",
            &format!(
                "`{what}` cannot be listed; available: {}",
                state.connector.discoveries().join(", ")
            ),
        ));
    }
    let token_error = |err: TokenError| match err {
        TokenError::ReconnectNeeded(_) => {
            error(StatusCode::CONFLICT, "reconnect_needed", &err.to_string())
        }
        TokenError::NotConnected(_) => {
            error(StatusCode::NOT_FOUND, "not_connected", &err.to_string())
        }
        TokenError::Unavailable(_) => error(
            StatusCode::BAD_GATEWAY,
            "auth_unavailable",
            &err.to_string(),
        ),
    };
    let mut ctx = CallContext {
        user_id,
        token: state.tokens.get(user_id).await.map_err(token_error)?,
        gate: state.gates.for_user(user_id),
    };
    let mut answer = state.connector.discover(&ctx, &what).await;
    if matches!(answer, Err(ApiError::Unauthorized)) {
        ctx.token = state.tokens.refresh(user_id).await.map_err(token_error)?;
        answer = state.connector.discover(&ctx, &what).await;
    }
    if let Err(err) = state.store.record_calls(user_id, ctx.gate.calls()).await {
        tracing::warn!(error = %err, "cannot record API calls");
    }
    match answer {
        Ok(value) => Ok(Json(value)),
        Err(ApiError::Unauthorized) => Err(error(
            StatusCode::CONFLICT,
            "reconnect_needed",
            "the provider refuses the account's token; reconnect it",
        )),
        Err(err @ (ApiError::Throttled { .. } | ApiError::Transient(_))) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "provider_unavailable",
            &err.to_string(),
        )),
        Err(ApiError::Permanent { code, message }) => {
            Err(error(StatusCode::BAD_GATEWAY, &code, &message))
        }
        Err(err @ ApiError::ResyncRequired) => Err(error(
            StatusCode::BAD_GATEWAY,
            "provider_error",
            &err.to_string(),
        )),
    }
}

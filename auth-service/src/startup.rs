//! Building and running the service: database (schema `auth`) and migrations, the listener
//! (port 0 picks a free one, for tests), the router and its state.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use service_kit::CancellationToken;
use service_kit::http::Dependencies;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

use crate::auth::jwt::Jwt;
use crate::auth::password::Passwords;
use crate::crypto::Vault;
use crate::providers::Providers;
use crate::settings::Settings;
use crate::tokens::RefreshGate;

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "auth";

pub static MIGRATOR: Migrator = sqlx::migrate!();

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub pool: PgPool,
    pub vault: Vault,
    pub callers: service_kit::auth::Callers,
    pub providers: Providers,
    pub refresh_gate: RefreshGate,
    pub passwords: Passwords,
    pub jwt: Jwt,
    /// How browsers reach this service (OAuth redirect URIs).
    pub public_url: String,
    pub connected_redirect_url: Option<String>,
    /// `POST /v1/users` is open to anyone.
    pub self_signup: bool,
    /// OpenID Connect sign-in providers.
    pub sso: crate::sso::Providers,
    pub sign_in_redirect_url: Option<String>,
}

pub struct Application {
    port: u16,
    listener: TcpListener,
    limits: service_kit::settings::ServerLimits,
    router: Router,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = connect_and_migrate(&settings).await?;
        let listener = service_kit::http::bind(&settings.http)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}:{}",
                    settings.http.host, settings.http.port
                )
            })?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(AppState {
            pool: pool.clone(),
            vault: Vault::new(&settings.encryption),
            callers: settings.callers.clone(),
            providers: Providers::new(&settings)?,
            refresh_gate: RefreshGate::default(),
            passwords: Passwords::new(&settings.passwords)?,
            jwt: Jwt::new(settings.sessions.clone()),
            public_url: settings.public_url.clone(),
            connected_redirect_url: settings.connected_redirect_url.clone(),
            self_signup: settings.self_signup,
            sso: crate::sso::Providers::new(&settings.oidc)?,
            sign_in_redirect_url: settings.sign_in_redirect_url.clone(),
        });
        // A signing key exists before the first sign-in, and the JWKS is never empty.
        crate::auth::jwt::ensure_active_key(&state.pool, &state.vault, &settings.sessions).await?;
        if let Some(admin) = &settings.admin {
            crate::auth::accounts::bootstrap_admin(&state, admin)
                .await
                .context("creating the first administrator")?;
        }
        let router = crate::routes::router(state).merge(service_kit::http::operational_routes(
            Dependencies {
                database: Some(pool),
                broker: None,
            },
        ));
        tracing::info!(port, "auth-service listening");
        Ok(Application {
            port,
            listener,
            limits: settings.http.limits.clone(),
            router,
            shutdown: CancellationToken::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Cancel it to stop the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves with service-kit's limits against slow clients; handlers see the peer's address
    /// (`ConnectInfo`): sign-in is throttled per client address.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let router = self.router.layer(axum::middleware::from_fn(request_span));
        service_kit::http::serve_with_limits(self.listener, router, self.limits, self.shutdown)
            .await
    }
}

/// A span per request with the path only: query strings can hold secrets (an OAuth `code`).
async fn request_span(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument;
    let span =
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    next.run(request).instrument(span).await
}

/// Connects to the service's schema and applies its migrations (also the `migrate` command).
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<PgPool> {
    let pool = service_kit::database::connect(&settings.database, SCHEMA).await?;
    service_kit::database::migrate(&pool, &MIGRATOR).await?;
    Ok(pool)
}

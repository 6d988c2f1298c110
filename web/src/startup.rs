//! Builds and runs `web`: binds its listener (port 0 in tests), wires the routes and serves until
//! shutdown.

use std::sync::Arc;

use auth_client::TokenVerifier;
use axum::Router;
use axum::routing::{any, get, post};
use secrecy::SecretString;
use service_kit::CancellationToken;
use service_kit::client_address::TrustedProxies;
use service_kit::http::{Dependencies, operational_routes, serve};
use tokio::net::TcpListener;

use crate::proxy::Upstream;
use crate::settings::{Settings, Upstreams};
use crate::{assets, bff, error, openapi, proxy, session, status};

#[derive(Clone)]
pub struct AppState {
    /// Never follows redirects: an OAuth redirect is for the browser.
    pub http: reqwest::Client,
    pub auth: Arc<Upstream>,
    pub sync: Arc<Upstream>,
    pub upstreams: Arc<Upstreams>,
    pub service_token: SecretString,
    pub verifier: Arc<TokenVerifier>,
    pub secure_cookies: bool,
    /// `WEB_PUBLIC_URL`: the one origin state-changing requests may come from (besides `Host`).
    pub public_url: String,
}

pub struct Application {
    listener: TcpListener,
    limits: service_kit::settings::ServerLimits,
    router: Router,
    shutdown: CancellationToken,
}

pub fn router(state: AppState, trusted_proxies: TrustedProxies) -> Router {
    // Served over HTTPS (`WEB_PUBLIC_URL=https://...`): browsers are told to never use plain
    // HTTP for this host again (HSTS).
    let https = state.secure_cookies;
    let api = Router::new()
        .route(
            "/api/session",
            post(session::sign_in).delete(session::sign_out),
        )
        .route("/api/session/refresh", post(session::refresh))
        .route("/api/totp", post(bff::start_totp))
        .route("/api/discovery/{side}/{what}", get(bff::discover))
        .route("/api/connectors/{side}/watches", get(bff::watches))
        .route("/api/status", get(status::once))
        .route("/api/status/events", get(status::events))
        .route(
            "/api/admin/connections",
            get(crate::admin_connections::list),
        )
        .route("/api/auth/{*rest}", any(proxy::auth))
        .route("/api/sync/{*rest}", any(proxy::sync))
        .route("/api/{*rest}", any(|| async { error::Error::NotFound }))
        .route("/openapi.json", get(openapi::serve))
        .with_state(state);
    api.merge(operational_routes(Dependencies::default()))
        .fallback(assets::serve)
        .layer(axum::middleware::map_response(assets::security_headers))
        .layer(axum::middleware::map_response(move |response| {
            assets::strict_transport_security(response, https)
        }))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(trusted_proxies),
            proxy::client_address,
        ))
}

impl Application {
    /// Binds the configured address.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = service_kit::http::bind(&settings.http).await?;
        Self::build_on(listener, settings)
    }

    /// Uses a listener bound beforehand: a test that must know `web`'s address before the
    /// services it points at exist (auth-service's OAuth redirect goes through `web`).
    pub fn build_on(listener: TcpListener, settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.upstream_timeout)
            .build()?;
        let verifier = Arc::new(TokenVerifier::new(
            http.clone(),
            &settings.upstreams.auth_url,
            &settings.jwt_issuer,
            &settings.jwt_audience,
        ));
        let state = AppState {
            http,
            auth: Arc::new(Upstream::new(
                "auth-service",
                &settings.upstreams.auth_url,
                "/api/auth",
            )?),
            sync: Arc::new(Upstream::new(
                "sync-service",
                &settings.upstreams.sync_url,
                "/api/sync",
            )?),
            upstreams: Arc::new(settings.upstreams.clone()),
            service_token: settings.service_token.clone(),
            verifier,
            secure_cookies: settings.secure_cookies(),
            public_url: settings.public_url.clone(),
        };
        Ok(Application {
            listener,
            limits: settings.http.limits.clone(),
            router: router(state, settings.trusted_proxies.clone()),
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

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        serve(self.listener, self.router, self.limits, self.shutdown).await
    }
}

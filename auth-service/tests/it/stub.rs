//! A stand-in for Zoho Accounts and the Microsoft identity platform token endpoints, with the
//! real error shapes (Zoho: HTTP 200 + `{"error":"invalid_code"}`; Microsoft: HTTP 400 +
//! `invalid_grant`). What it does depends on the refresh token's prefix:
//! `revoked…` is refused, `down…` answers 503, `short…` gets a 30-second access token, anything
//! else a one-hour one. Microsoft rotates the refresh token to `<old>-r<n>`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
pub struct Calls {
    pub zoho: AtomicUsize,
    pub microsoft: AtomicUsize,
    /// (path, form) of every call.
    pub seen: Mutex<Vec<(String, HashMap<String, String>)>>,
}

pub struct ProviderStub {
    pub base: String,
    pub calls: Arc<Calls>,
}

impl ProviderStub {
    pub async fn start() -> Self {
        let calls = Arc::new(Calls::default());
        let router = Router::new()
            .route("/zoho-accounts/{dc}/oauth/v2/token", post(zoho))
            .route("/login/{tenant}/oauth2/v2.0/token", post(microsoft))
            .with_state(calls.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        ProviderStub { base, calls }
    }

    pub fn zoho_calls(&self) -> usize {
        self.calls.zoho.load(Ordering::SeqCst)
    }

    pub fn microsoft_calls(&self) -> usize {
        self.calls.microsoft.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<(String, HashMap<String, String>)> {
        self.calls.seen.lock().unwrap().clone()
    }
}

// Slow enough that concurrent callers really overlap with the refresh.
const LATENCY: Duration = Duration::from_millis(150);

async fn zoho(
    State(calls): State<Arc<Calls>>,
    Path(dc): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let n = calls.zoho.fetch_add(1, Ordering::SeqCst) + 1;
    calls
        .seen
        .lock()
        .unwrap()
        .push((format!("zoho/{dc}"), form.clone()));
    tokio::time::sleep(LATENCY).await;
    if form.get("grant_type").map(String::as_str) == Some("authorization_code") {
        return match redeem(&form) {
            Some(suffix) => (
                StatusCode::OK,
                Json(json!({
                    "access_token": format!("1000.zoho-access-{n}"),
                    "refresh_token": format!("valid-zoho-from-code-{suffix}"),
                    "api_domain": format!("https://www.zohoapis.{dc}"),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                })),
            ),
            None => (StatusCode::OK, Json(json!({"error": "invalid_code"}))),
        };
    }
    let token = form.get("refresh_token").cloned().unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("client_id").map(String::as_str) != Some("sandbox-zoho-client")
        || form.get("client_secret").map(String::as_str) != Some("sandbox-zoho-secret")
    {
        return (StatusCode::OK, Json(json!({"error": "invalid_client"})));
    }
    if token.starts_with("revoked") {
        return (StatusCode::OK, Json(json!({"error": "invalid_code"})));
    }
    if token.starts_with("down") {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({})));
    }
    let expires_in = if token.starts_with("short") { 30 } else { 3600 };
    (
        StatusCode::OK,
        Json(json!({
            "access_token": format!("1000.zoho-access-{n}"),
            "api_domain": format!("https://www.zohoapis.{dc}"),
            "token_type": "Bearer",
            "expires_in": expires_in,
        })),
    )
}

async fn microsoft(
    State(calls): State<Arc<Calls>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let n = calls.microsoft.fetch_add(1, Ordering::SeqCst) + 1;
    calls
        .seen
        .lock()
        .unwrap()
        .push((format!("microsoft/{tenant}"), form.clone()));
    tokio::time::sleep(LATENCY).await;
    if form.get("grant_type").map(String::as_str) == Some("authorization_code") {
        return match redeem(&form) {
            Some(suffix) => (
                StatusCode::OK,
                Json(json!({
                    "token_type": "Bearer",
                    "scope": form.get("scope").cloned().unwrap_or_default(),
                    "expires_in": 3599,
                    "access_token": format!("eyJ0eXAi.graph-access-{n}"),
                    "refresh_token": format!("valid-ms-from-code-{suffix}"),
                })),
            ),
            None => (
                StatusCode::BAD_REQUEST,
                Json(
                    json!({"error": "invalid_grant", "error_description": "AADSTS70000: bad code"}),
                ),
            ),
        };
    }
    let token = form.get("refresh_token").cloned().unwrap_or_default();
    if form.get("client_id").map(String::as_str) != Some("sandbox-graph-client")
        || form.get("client_secret").map(String::as_str) != Some("sandbox-graph-secret")
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        );
    }
    if token.starts_with("revoked") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_grant",
                "error_description": "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: 0000\r\nCorrelation ID: 1111",
                "error_codes": [70008],
            })),
        );
    }
    if token.starts_with("down") {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({})));
    }
    let expires_in = if token.starts_with("short") { 30 } else { 3599 };
    (
        StatusCode::OK,
        Json(json!({
            "token_type": "Bearer",
            "scope": form.get("scope").cloned().unwrap_or_default(),
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": format!("eyJ0eXAi.graph-access-{n}"),
            "refresh_token": format!("{token}-r{n}"),
        })),
    )
}

/// An authorization code is `code.<PKCE challenge>` (what the test read from the authorization
/// URL); it redeems only with the verifier whose SHA-256 is that challenge, and with a
/// redirect URI. Returns a few characters of the challenge to tell grants apart.
fn redeem(form: &HashMap<String, String>) -> Option<String> {
    use base64::Engine;
    use sha2::Digest;
    let challenge = form.get("code")?.strip_prefix("code.")?;
    let verifier = form.get("code_verifier")?;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect_ok = form
        .get("redirect_uri")
        .is_some_and(|r| r.ends_with("/callback"));
    (computed == challenge && redirect_ok).then(|| challenge[..6].to_owned())
}

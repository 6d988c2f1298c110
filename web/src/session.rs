//! The browser's session: signing in, refreshing and signing out through `web`, so that the
//! refresh token lives in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind HTTPS) that
//! JavaScript never sees, while the short-lived access token stays in the page's memory.
//!
//! - `POST /api/session`: the sign-in body of auth-service's `POST /v1/sessions`; answers its
//!   answer without `refresh_token`, which goes into the cookie.
//! - `POST /api/session/refresh`: a new access token for the cookie's session (the refresh token
//!   rotates; the cookie follows).
//! - `DELETE /api/session`: signs out (ends the session at auth-service) and drops the cookie.
//!
//! The cookie's path is `/api/session`, so the browser sends it nowhere else. "Keep me signed in"
//! makes it persistent until the session's end; otherwise it is a browser-session cookie. Its
//! value is `L.<token>` or `S.<token>`, remembering which, because a refresh answer does not say.
//! State-changing calls must come from the page's own origin (`Origin` / `Sec-Fetch-Site`), on
//! top of `SameSite=Strict`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use service_kit::openapi::ErrorBody;

use crate::error::{Error, Result};
use crate::startup::AppState;

pub const SESSION_COOKIE: &str = "ozs_session";
pub const SESSION_COOKIE_PATH: &str = "/api/session";

/// What the cookie holds.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionCookie {
    pub long_lived: bool,
    pub refresh_token: String,
}

/// Never prints the refresh token (a log line or a panic message must not carry it).
impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookie")
            .field("long_lived", &self.long_lived)
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

impl SessionCookie {
    pub fn parse(headers: &HeaderMap) -> Option<Self> {
        let value = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value)?;
        let (flag, token) = value.split_once('.')?;
        let long_lived = match flag {
            "L" => true,
            "S" => false,
            _ => return None,
        };
        (!token.is_empty()).then(|| SessionCookie {
            long_lived,
            refresh_token: token.to_owned(),
        })
    }

    /// The `Set-Cookie` value; a long-lived cookie lasts until `expires_at`.
    pub fn set_cookie(&self, secure: bool, expires_at: Option<DateTime<Utc>>) -> String {
        let flag = if self.long_lived { "L" } else { "S" };
        let mut cookie = format!(
            "{SESSION_COOKIE}={flag}.{}; Path={SESSION_COOKIE_PATH}; HttpOnly; SameSite=Strict",
            self.refresh_token
        );
        if secure {
            cookie.push_str("; Secure");
        }
        if self.long_lived
            && let Some(expires_at) = expires_at
        {
            let seconds = (expires_at - Utc::now()).num_seconds().max(0);
            cookie.push_str(&format!("; Max-Age={seconds}"));
        }
        cookie
    }
}

pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path={SESSION_COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a state-changing request comes from a page of this origin. Browsers send `Origin` on
/// every POST and DELETE and `Sec-Fetch-Site` on every request; a client that sends neither is
/// not a browser, and cookies are no ambient authority for it. The origin must be the configured
/// public one (`WEB_PUBLIC_URL`) or the `Host` the request was sent to; `X-Forwarded-Host` is not
/// trusted: any client can set it.
pub fn same_origin(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Ok(origin) = url::Url::parse(origin) else {
        return false;
    };
    let Some(host) = origin.host_str() else {
        return false;
    };
    let origin_authority = match origin.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    if url::Url::parse(public_url).is_ok_and(|public| public.origin() == origin.origin()) {
        return true;
    }
    let expected = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // `Host` may carry the default port explicitly.
    let without_default_port = |authority: &str| -> String {
        authority
            .strip_suffix(":80")
            .or_else(|| authority.strip_suffix(":443"))
            .unwrap_or(authority)
            .to_ascii_lowercase()
    };
    without_default_port(&origin_authority) == without_default_port(expected)
}

fn with_cookie(mut response: Response, cookie: &str) -> Result<Response> {
    let value = HeaderValue::from_str(cookie).map_err(|e| Error::Unexpected(e.into()))?;
    response.headers_mut().append(header::SET_COOKIE, value);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// An auth-service answer carrying a token pair: the pair without the refresh token for the
/// page, and the cookie to set.
fn split_pair(body: &Bytes, long_lived: bool, secure: bool) -> Result<(Value, String)> {
    let mut pair: Value =
        serde_json::from_slice(body).map_err(|e| Error::Unexpected(anyhow::anyhow!(e)))?;
    let refresh_token = pair
        .as_object_mut()
        .and_then(|o| o.remove("refresh_token"))
        .and_then(|v| v.as_str().map(str::to_owned))
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("no refresh_token in the answer")))?;
    let expires_at = pair
        .get("session_expires_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    let cookie = SessionCookie {
        long_lived,
        refresh_token,
    }
    .set_cookie(secure, expires_at);
    if let Some(object) = pair.as_object_mut() {
        object.insert("keep_signed_in".into(), json!(long_lived));
    }
    Ok((pair, cookie))
}

async fn call_auth(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<reqwest::Response> {
    let mut request = state
        .http
        .post(format!("{}v1/sessions{path}", state.auth.base))
        .json(&body);
    for name in [
        header::USER_AGENT,
        header::HeaderName::from_static("x-forwarded-for"),
    ] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    request.send().await.map_err(|err| {
        tracing::warn!(error = %err, "auth-service call failed");
        Error::Unavailable("auth-service")
    })
}

/// `POST /api/session`: signs in.
#[utoipa::path(post, path = "/api/session", tag = "session",
    request_body(content = Object, description = "auth-service's sign-in body (`POST /v1/sessions`): email, password, totp_code or recovery_code; plus keep_signed_in"),
    responses(
        (status = 201, description = "auth-service's token pair without refresh_token, which goes into the HttpOnly session cookie (Set-Cookie)"),
        (status = 401, body = ErrorBody, description = "invalid_credentials, second_factor_required, invalid_second_factor (auth-service's answer)"),
        (status = 403, body = ErrorBody, description = "cross_origin: not from the page itself; app_password_not_allowed"),
        (status = 422, body = ErrorBody, description = "invalid_body, or auth-service's invalid input codes"),
        (status = 429, body = ErrorBody, description = "too_many_attempts (Retry-After)"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable: auth-service did not answer"),
        (status = 503, body = ErrorBody, description = "busy (Retry-After): auth-service's password-hashing queue is full"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    service_kit::extract::RawBody(body): service_kit::extract::RawBody,
) -> Result<Response> {
    if !same_origin(&headers, &state.public_url) {
        return Err(Error::CrossOrigin);
    }
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| service_kit::extract::BadInput::Body(format!("the body is not JSON: {e}")))?;
    let long_lived = body
        .get("keep_signed_in")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let answer = call_auth(&state, "", &headers, body).await?;
    if answer.status() != reqwest::StatusCode::CREATED {
        return crate::proxy::relay(answer, None).await;
    }
    let bytes = answer
        .bytes()
        .await
        .map_err(|_| Error::Unavailable("auth-service"))?;
    let (pair, cookie) = split_pair(&bytes, long_lived, state.secure_cookies)?;
    with_cookie((StatusCode::CREATED, Json(pair)).into_response(), &cookie)
}

/// Exchanges the cookie's refresh token for a new pair; `None` when auth-service ended the
/// session (the cookie is then worthless).
async fn refresh_pair(
    state: &AppState,
    headers: &HeaderMap,
    session: &SessionCookie,
) -> Result<Option<(Value, String)>> {
    let answer = call_auth(
        state,
        "/refresh",
        headers,
        json!({"refresh_token": session.refresh_token}),
    )
    .await?;
    match answer.status() {
        reqwest::StatusCode::OK => {
            let bytes = answer
                .bytes()
                .await
                .map_err(|_| Error::Unavailable("auth-service"))?;
            split_pair(&bytes, session.long_lived, state.secure_cookies).map(Some)
        }
        status if status.is_client_error() => Ok(None),
        status => {
            tracing::warn!(%status, "auth-service refused a refresh");
            Err(Error::Unavailable("auth-service"))
        }
    }
}

/// `POST /api/session/refresh`: a fresh access token for this browser's session.
#[utoipa::path(post, path = "/api/session/refresh", tag = "session",
    responses(
        (status = 200, description = "a new token pair without refresh_token; the cookie rotates (Set-Cookie)"),
        (status = 401, body = ErrorBody, description = "invalid_session: no session cookie, or its session ended (the cookie is dropped)"),
        (status = 403, body = ErrorBody, description = "cross_origin: not from the page itself"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable"),
    ))]
pub async fn refresh(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if !same_origin(&headers, &state.public_url) {
        return Err(Error::CrossOrigin);
    }
    let Some(session) = SessionCookie::parse(&headers) else {
        return Err(Error::NoSession);
    };
    match refresh_pair(&state, &headers, &session).await? {
        Some((pair, cookie)) => with_cookie(Json(pair).into_response(), &cookie),
        None => with_cookie(
            Error::NoSession.into_response(),
            &clear_cookie(state.secure_cookies),
        ),
    }
}

/// Ends the session of `token` at auth-service; `false` when auth-service no longer accepts the
/// token (expired).
async fn end_session(state: &AppState, token: &str) -> Result<bool> {
    let answer = state
        .http
        .delete(format!("{}v1/sessions/current", state.auth.base))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|_| Error::Unavailable("auth-service"))?;
    if answer.status().is_server_error() {
        return Err(Error::Unavailable("auth-service"));
    }
    Ok(answer.status() != reqwest::StatusCode::UNAUTHORIZED)
}

/// `DELETE /api/session`: ends the session at auth-service (with the page's access token, or,
/// when the page has none or it expired, one got from the cookie) and drops the cookie.
/// Succeeds even when the session had already ended.
#[utoipa::path(delete, path = "/api/session", tag = "session", security((), ("access_token" = [])),
    responses(
        (status = 204, description = "signed out (also when the session had already ended); the cookie is dropped"),
        (status = 403, body = ErrorBody, description = "cross_origin: not from the page itself"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable"),
    ))]
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if !same_origin(&headers, &state.public_url) {
        return Err(Error::CrossOrigin);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let mut ended = match bearer {
        Some(token) => end_session(&state, token).await?,
        None => false,
    };
    if !ended
        && let Some(session) = SessionCookie::parse(&headers)
        && let Some((pair, _)) = refresh_pair(&state, &headers, &session).await?
        && let Some(token) = pair.get("access_token").and_then(Value::as_str)
    {
        ended = end_session(&state, token).await?;
    }
    tracing::debug!(ended, "signed out");
    with_cookie(
        StatusCode::NO_CONTENT.into_response(),
        &clear_cookie(state.secure_cookies),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "https://sync.example.com";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_cookie_round_trips() {
        let cookie = SessionCookie {
            long_lived: true,
            refresh_token: "abc_DEF-123".into(),
        };
        let set = cookie.set_cookie(true, Some(Utc::now() + chrono::Duration::days(30)));
        assert!(set.starts_with("ozs_session=L.abc_DEF-123; Path=/api/session; HttpOnly; SameSite=Strict; Secure; Max-Age="));
        let parsed =
            SessionCookie::parse(&headers(&[("cookie", "x=1; ozs_session=L.abc_DEF-123")]));
        assert_eq!(parsed, Some(cookie));
        let short = SessionCookie {
            long_lived: false,
            refresh_token: "t".into(),
        };
        let set = short.set_cookie(false, Some(Utc::now()));
        assert!(!set.contains("Max-Age") && !set.contains("Secure"), "{set}");
        assert_eq!(
            SessionCookie::parse(&headers(&[("cookie", "ozs_session=X.t")])),
            None
        );
    }

    #[test]
    fn only_same_origin_requests_may_use_the_cookie() {
        assert!(same_origin(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ]),
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example"),
            ]),
            PUBLIC
        ));
        assert!(!same_origin(
            &headers(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site"),]),
            PUBLIC
        ));
        assert!(same_origin(
            &headers(&[
                ("host", "sync.example.com:443"),
                ("origin", "https://sync.example.com"),
            ]),
            PUBLIC
        ));
        assert!(same_origin(
            &headers(&[
                ("host", "internal:8080"),
                ("origin", "https://sync.example.com"),
            ]),
            "https://sync.example.com"
        ));
        assert!(
            !same_origin(
                &headers(&[
                    ("host", "internal:8080"),
                    ("x-forwarded-host", "evil.example"),
                    ("origin", "https://evil.example"),
                ]),
                PUBLIC
            ),
            "X-Forwarded-Host is not trusted"
        );
    }

    #[test]
    fn session_cookie_debug_never_prints_the_refresh_token() {
        let cookie = SessionCookie {
            long_lived: true,
            refresh_token: "secret-refresh-token".into(),
        };
        let printed = format!("{cookie:?} {cookie:#?}");
        assert!(!printed.contains("secret-refresh-token"), "{printed}");
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn the_refresh_token_never_reaches_the_page() {
        let body = Bytes::from_static(
            br#"{"access_token":"a","refresh_token":"r","session_expires_at":"2099-01-01T00:00:00Z"}"#,
        );
        let (pair, cookie) = split_pair(&body, true, false).unwrap();
        assert!(pair.get("refresh_token").is_none());
        assert_eq!(pair["access_token"], "a");
        assert_eq!(pair["keep_signed_in"], true);
        assert!(cookie.starts_with("ozs_session=L.r;"));
        assert!(cookie.contains("Max-Age="));
    }
}

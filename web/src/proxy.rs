//! Forwarding `/api/auth/...` to auth-service and `/api/sync/...` to sync-service as they are:
//! same method, path (without the prefix), query, body and the user's bearer token. Only the
//! services' public user API is reachable (`/v1/...`, the JWKS, the OpenAPI document), never
//! their internal endpoints. Redirects are handed to the browser, not followed, and auth-service's
//! cookies (the OAuth flow cookie) get their `Path` moved under the prefix so that the browser
//! sends them back through `web`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use service_kit::extract::{Path, RawBody};

use service_kit::client_address::TrustedProxies;

use crate::error::{Error, Result};
use crate::session::SESSION_COOKIE;
use crate::startup::AppState;

/// A service behind the page.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub name: &'static str,
    pub base: url::Url,
    /// Where `web` serves it: `/api/auth`, `/api/sync`.
    pub mount: &'static str,
}

impl Upstream {
    pub fn new(name: &'static str, base: &str, mount: &'static str) -> anyhow::Result<Self> {
        let mut base = url::Url::parse(base)?;
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Upstream { name, base, mount })
    }

    /// The upstream URL for `rest` (the path after the mount) and `query`; `None` for anything
    /// outside the public user API, including paths that normalise out of it (`v1/../internal`).
    pub fn target(&self, rest: &str, query: Option<&str>) -> Option<url::Url> {
        let mut url = self.base.join(rest.trim_start_matches('/')).ok()?;
        url.set_query(query);
        let path = url.path().strip_prefix(self.base.path())?;
        let allowed =
            path.starts_with("v1/") || path == ".well-known/jwks.json" || path == "openapi.json";
        let sneaky = rest.contains("..") || rest.to_ascii_lowercase().contains("%2e");
        (allowed && !sneaky && url.origin() == self.base.origin()).then_some(url)
    }
}

/// Request headers that travel to the service; everything else (hop-by-hop headers, `Host`,
/// our own session cookie) stays here.
const FORWARDED_REQUEST: [HeaderName; 6] = [
    header::AUTHORIZATION,
    X_FORWARDED_FOR,
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::ACCEPT_LANGUAGE,
    header::USER_AGENT,
];

/// Response headers that travel back to the browser.
const FORWARDED_RESPONSE: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::LOCATION,
    header::RETRY_AFTER,
    header::CACHE_CONTROL,
    header::WWW_AUTHENTICATE,
    header::ETAG,
];

/// Cookies the browser sends, less `web`'s own session cookie (it never needs to leave `web`).
fn forwarded_cookies(headers: &HeaderMap) -> Option<String> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty()
                && pair
                    .split_once('=')
                    .is_none_or(|(name, _)| name.trim() != SESSION_COOKIE)
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// Moves a `Set-Cookie`'s `Path` under `mount` (`Path=/v1/x` → `Path=/api/auth/v1/x`), as a
/// reverse proxy's cookie-path rewrite does; a cookie without a path gets the mount.
pub fn rewrite_cookie_path(set_cookie: &str, mount: &str) -> String {
    let mut parts: Vec<String> = set_cookie.split(';').map(|p| p.trim().to_owned()).collect();
    let mut found = false;
    for part in parts.iter_mut().skip(1) {
        if let Some((name, value)) = part.split_once('=')
            && name.trim().eq_ignore_ascii_case("path")
        {
            let value = value.trim();
            *part = format!("Path={mount}{}", if value == "/" { "" } else { value });
            found = true;
        }
    }
    if !found {
        parts.push(format!("Path={mount}"));
    }
    parts.join("; ")
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Tells the services who the client is: `X-Forwarded-For` becomes the browser's address as
/// this edge saw it: the connection's peer, or, when that peer is one of `WEB_TRUSTED_PROXIES`
/// (the operator's HTTPS proxy), the address that proxy vouches for (`service_kit::
/// client_address`, the rule auth-service follows too). Whatever else the header held is
/// dropped: a browser could have written it. (auth-service throttles sign-in per address with
/// it, believing it only from the addresses in `AUTH_TRUSTED_PROXIES`, i.e. this service's.)
pub async fn client_address(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<TrustedProxies>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let client = trusted.of_request(request.extensions(), request.headers());
    request.headers_mut().remove(&X_FORWARDED_FOR);
    if let Some(ip) = client
        && let Ok(value) = axum::http::HeaderValue::from_str(&ip.to_string())
    {
        request.headers_mut().insert(X_FORWARDED_FOR, value);
    }
    next.run(request).await
}

/// Sends one request to `upstream` and turns its answer into ours.
pub async fn forward(
    state: &AppState,
    upstream: &Upstream,
    method: Method,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response> {
    let url = upstream.target(rest, query).ok_or(Error::NotFound)?;
    let mut request = state.http.request(method, url);
    for name in FORWARDED_REQUEST {
        for value in headers.get_all(&name) {
            request = request.header(&name, value);
        }
    }
    if let Some(cookies) = forwarded_cookies(headers) {
        request = request.header(header::COOKIE, cookies);
    }
    if let Some(traceparent) = service_kit::telemetry::current_traceparent() {
        request = request.header("traceparent", traceparent);
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    let answer = request.send().await.map_err(|err| {
        tracing::warn!(upstream = upstream.name, error = %err, "upstream call failed");
        Error::Unavailable(upstream.name)
    })?;
    relay(answer, Some(upstream.mount)).await
}

/// An upstream answer as ours: status, the forwarded headers (cookie paths moved under
/// `cookie_mount`), the body; never cached by the browser unless the service says so.
pub async fn relay(answer: reqwest::Response, cookie_mount: Option<&str>) -> Result<Response> {
    let status =
        StatusCode::from_u16(answer.status().as_u16()).map_err(|e| Error::Unexpected(e.into()))?;
    let upstream_headers = answer.headers().clone();
    let body = answer
        .bytes()
        .await
        .map_err(|_| Error::Unavailable("a service"))?;
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for name in FORWARDED_RESPONSE {
        for value in upstream_headers.get_all(&name) {
            headers.append(&name, value.clone());
        }
    }
    if let Some(mount) = cookie_mount {
        for value in upstream_headers.get_all(header::SET_COOKIE) {
            if let Ok(raw) = value.to_str()
                && let Ok(rewritten) = HeaderValue::from_str(&rewrite_cookie_path(raw, mount))
            {
                headers.append(header::SET_COOKIE, rewritten);
            }
        }
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

pub async fn auth(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response> {
    let upstream = state.auth.clone();
    forward(
        &state,
        &upstream,
        method,
        &rest,
        uri.query(),
        &headers,
        body,
    )
    .await
}

pub async fn sync(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response> {
    let upstream = state.sync.clone();
    forward(
        &state,
        &upstream,
        method,
        &rest,
        uri.query(),
        &headers,
        body,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_user_api_is_reachable() {
        let auth = Upstream::new("auth-service", "http://127.0.0.1:8081", "/api/auth").unwrap();
        let ok = auth.target("v1/sessions", Some("a=b")).unwrap();
        assert_eq!(ok.as_str(), "http://127.0.0.1:8081/v1/sessions?a=b");
        assert!(auth.target(".well-known/jwks.json", None).is_some());
        assert!(auth.target("openapi.json", None).is_some());
        assert!(auth.target("internal/v1/users", None).is_none());
        assert!(auth.target("v1/../internal/v1/users", None).is_none());
        assert!(auth.target("v1/%2e%2e/internal/v1/users", None).is_none());
        assert!(auth.target("health/ready", None).is_none());
        assert!(auth.target("//evil.example/v1/x", None).is_none());
    }

    #[test]
    fn a_mounted_upstream_keeps_its_base_path() {
        let sync = Upstream::new("sync-service", "http://sync:8082/base", "/api/sync").unwrap();
        assert_eq!(
            sync.target("v1/status", None).unwrap().as_str(),
            "http://sync:8082/base/v1/status"
        );
    }

    #[test]
    fn cookie_paths_move_under_the_mount() {
        assert_eq!(
            rewrite_cookie_path(
                "ozs_oauth_zoho=abc; Path=/v1/connections/zoho; Max-Age=600; HttpOnly; SameSite=Lax",
                "/api/auth"
            ),
            "ozs_oauth_zoho=abc; Path=/api/auth/v1/connections/zoho; Max-Age=600; HttpOnly; SameSite=Lax"
        );
        assert_eq!(
            rewrite_cookie_path("a=b; path=/", "/api/auth"),
            "a=b; Path=/api/auth"
        );
        assert_eq!(
            rewrite_cookie_path("a=b", "/api/auth"),
            "a=b; Path=/api/auth"
        );
    }

    #[test]
    fn the_session_cookie_never_leaves() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("ozs_session=L.secret; ozs_oauth_zoho=flow"),
        );
        assert_eq!(
            forwarded_cookies(&headers).as_deref(),
            Some("ozs_oauth_zoho=flow")
        );
        headers.insert(header::COOKIE, HeaderValue::from_static("ozs_session=x"));
        assert_eq!(forwarded_cookies(&headers), None);
    }
}

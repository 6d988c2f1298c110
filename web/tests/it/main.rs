//! `web` against stub services: the session cookie, forwarding, the page's files and headers.
//! The whole system with a real browser is tested in `crates/system-tests/tests/browser/`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::any;
use serde_json::{Value, json};
use web::settings::Upstreams;

/// What a stub service saw: method, path and query, headers, body.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Stub {
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Stub {
    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a request")
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A stand-in for auth-service: sign-in, refresh (rotating `r1` → `r2`), sign-out, a redirect
/// with a flow cookie, and an echo of anything else.
async fn auth_stub(
    stub: axum::extract::State<Stub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    stub.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        uri: uri.to_string(),
        headers: headers.clone(),
        body: body.clone(),
    });
    let pair = |refresh: &str| {
        json!({
            "access_token": "access", "token_type": "Bearer", "expires_in": 900,
            "refresh_token": refresh, "session_id": "s", "user_id": "u",
            "session_expires_at": "2099-01-01T00:00:00Z",
        })
    };
    match (method.as_str(), uri.path()) {
        ("POST", "/v1/sessions") => {
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            if body["password"] == "right" {
                (StatusCode::CREATED, axum::Json(pair("r1"))).into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"code": "invalid_credentials", "message": "wrong"})),
                )
                    .into_response()
            }
        }
        ("POST", "/v1/sessions/refresh") => {
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            if body["refresh_token"] == "r1" {
                axum::Json(pair("r2")).into_response()
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"code": "invalid_session", "message": "ended"})),
                )
                    .into_response()
            }
        }
        ("DELETE", "/v1/sessions/current") => {
            if headers
                .get(header::AUTHORIZATION)
                .is_some_and(|v| v == "Bearer expired")
            {
                StatusCode::UNAUTHORIZED.into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        ("GET", "/v1/connections/zoho/authorize") => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "https://accounts.zoho.jp/oauth/v2/auth?x=1"),
                (
                    header::SET_COOKIE,
                    "ozs_oauth_zoho=flow; Path=/v1/connections/zoho; Max-Age=600; HttpOnly; SameSite=Lax",
                ),
            ],
        )
            .into_response(),
        _ => axum::Json(json!({"echo": uri.to_string()})).into_response(),
    }
}

struct TestWeb {
    url: String,
    auth: Stub,
    sync: Stub,
    http: reqwest::Client,
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn spawn_web() -> TestWeb {
    let auth = Stub::default();
    let sync = Stub::default();
    let auth_url = serve(
        Router::new()
            .fallback(any(auth_stub))
            .with_state(auth.clone()),
    )
    .await;
    let sync_url = serve(
        Router::new()
            .fallback(any(auth_stub))
            .with_state(sync.clone()),
    )
    .await;
    let settings = web::Settings::for_tests(
        Upstreams {
            auth_url,
            sync_url,
            outlook_url: "http://127.0.0.1:9".into(),
            zoho_url: "http://127.0.0.1:9".into(),
        },
        "service-token",
    );
    let app = web::Application::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestWeb {
        url,
        auth,
        sync,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_refresh_token_lives_in_an_http_only_cookie() {
    let web = spawn_web().await;
    let answer = web
        .http
        .post(format!("{}/api/session", web.url))
        .header(header::USER_AGENT, "TestBrowser/1.0")
        .json(&json!({"email": "a@b.c", "password": "right", "keep_signed_in": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let cookies = set_cookies(&answer);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("ozs_session=L.r1; Path=/api/session; HttpOnly; SameSite=Strict"));
    assert!(cookie.contains("Max-Age="), "kept signed in: persistent");
    assert_eq!(answer.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["access_token"], "access");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let seen = web.auth.last();
    assert_eq!(seen.uri, "/v1/sessions");
    assert_eq!(seen.headers[header::USER_AGENT], "TestBrowser/1.0");

    // The cookie gets a fresh access token, and rotates.
    let answer = web
        .http
        .post(format!("{}/api/session/refresh", web.url))
        .header(header::COOKIE, "ozs_session=L.r1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(set_cookies(&answer)[0].starts_with("ozs_session=L.r2;"));
    let body: Value = answer.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["keep_signed_in"], true);

    // A session that ended: 401 and the cookie goes.
    let answer = web
        .http
        .post(format!("{}/api/session/refresh", web.url))
        .header(header::COOKIE, "ozs_session=L.stale")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert!(set_cookies(&answer)[0].contains("Max-Age=0"));

    // No cookie at all: 401 without asking auth-service.
    let before = web.auth.count();
    let answer = web
        .http
        .post(format!("{}/api/session/refresh", web.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(web.auth.count(), before);
}

#[tokio::test]
async fn a_short_session_is_a_browser_session_cookie_and_errors_pass_through() {
    let web = spawn_web().await;
    let answer = web
        .http
        .post(format!("{}/api/session", web.url))
        .json(&json!({"email": "a@b.c", "password": "right"}))
        .send()
        .await
        .unwrap();
    let cookie = &set_cookies(&answer)[0];
    assert!(
        cookie.starts_with("ozs_session=S.r1;") && !cookie.contains("Max-Age"),
        "{cookie}"
    );

    let answer = web
        .http
        .post(format!("{}/api/session", web.url))
        .json(&json!({"email": "a@b.c", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert!(set_cookies(&answer).is_empty());
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "invalid_credentials");
}

#[tokio::test]
async fn the_cookie_only_works_from_the_page_itself() {
    let web = spawn_web().await;
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let answer = web
            .http
            .post(format!("{}/api/session/refresh", web.url))
            .header(header::COOKIE, "ozs_session=L.r1")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{name}: {value}");
    }
    let answer = web
        .http
        .post(format!("{}/api/session/refresh", web.url))
        .header(header::COOKIE, "ozs_session=L.r1")
        .header("origin", &web.url)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn signing_out_ends_the_session_and_drops_the_cookie() {
    let web = spawn_web().await;
    let answer = web
        .http
        .delete(format!("{}/api/session", web.url))
        .bearer_auth("access")
        .header(header::COOKIE, "ozs_session=S.r1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    assert!(set_cookies(&answer)[0].contains("Max-Age=0"));
    let seen = web.auth.last();
    assert_eq!(
        (seen.method, seen.uri.as_str()),
        (Method::DELETE, "/v1/sessions/current")
    );
    assert_eq!(seen.headers[header::AUTHORIZATION], "Bearer access");
    assert!(
        seen.headers.get(header::COOKIE).is_none(),
        "the refresh token never travels beyond web"
    );

    // With an expired access token, or none, the cookie's session is ended all the same.
    let before = web.auth.count();
    let answer = web
        .http
        .delete(format!("{}/api/session", web.url))
        .bearer_auth("expired")
        .header(header::COOKIE, "ozs_session=S.r1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let seen = web.auth.seen.lock().unwrap()[before..].to_vec();
    let calls: Vec<(String, String)> = seen
        .iter()
        .map(|s| {
            (
                s.uri.clone(),
                s.headers
                    .get(header::AUTHORIZATION)
                    .map(|v| v.to_str().unwrap().to_owned())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "/v1/sessions/current".to_owned(),
                "Bearer expired".to_owned()
            ),
            ("/v1/sessions/refresh".to_owned(), String::new()),
            (
                "/v1/sessions/current".to_owned(),
                "Bearer access".to_owned()
            ),
        ]
    );

    let answer = web
        .http
        .delete(format!("{}/api/session", web.url))
        .header(header::COOKIE, "ozs_session=S.r1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 204);
    let seen = web.auth.last();
    assert_eq!(seen.uri, "/v1/sessions/current");
    assert_eq!(seen.headers[header::AUTHORIZATION], "Bearer access");
}

#[tokio::test]
async fn the_services_public_apis_are_forwarded_as_they_are() {
    let web = spawn_web().await;
    let answer = web
        .http
        .put(format!("{}/api/sync/v1/settings?x=1", web.url))
        .bearer_auth("user-token")
        .header(header::COOKIE, "ozs_session=L.secret; other=1")
        .json(&json!({"paused": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let seen = web.sync.last();
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.uri, "/v1/settings?x=1");
    assert_eq!(seen.headers[header::AUTHORIZATION], "Bearer user-token");
    assert_eq!(seen.headers[header::COOKIE], "other=1");
    assert_eq!(
        serde_json::from_slice::<Value>(&seen.body).unwrap(),
        json!({"paused": true})
    );

    // Internal endpoints are not reachable through web, however the path is spelt.
    for path in [
        "/api/auth/internal/v1/users",
        "/api/sync/internal/v1/users/x/settings",
        "/api/auth/v1/..%2finternal/v1/users",
        "/api/auth/health/ready",
    ] {
        let answer = web
            .http
            .get(format!("{}{path}", web.url))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{path}");
    }
    assert_eq!(web.auth.count(), 0);

    // A redirect goes to the browser, with the flow cookie moved under /api/auth.
    let answer = web
        .http
        .get(format!(
            "{}/api/auth/v1/connections/zoho/authorize?data_centre=jp",
            web.url
        ))
        .bearer_auth("user-token")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303);
    assert_eq!(
        answer.headers()[header::LOCATION],
        "https://accounts.zoho.jp/oauth/v2/auth?x=1"
    );
    assert_eq!(
        set_cookies(&answer),
        vec![
            "ozs_oauth_zoho=flow; Path=/api/auth/v1/connections/zoho; Max-Age=600; HttpOnly; SameSite=Lax"
        ]
    );
    assert_eq!(
        web.auth.last().uri,
        "/v1/connections/zoho/authorize?data_centre=jp"
    );
}

#[tokio::test]
async fn the_page_is_served_with_strict_headers() {
    let web = spawn_web().await;
    let answer = web.http.get(format!("{}/", web.url)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let headers = answer.headers().clone();
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    let etag = headers[header::ETAG].clone();
    assert!(answer.text().await.unwrap().contains("/js/app.js"));

    let again = web
        .http
        .get(format!("{}/", web.url))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let script = web
        .http
        .get(format!("{}/js/app.js", web.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        script.headers()[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        web.http
            .get(format!("{}/nope.js", web.url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let api = web
        .http
        .get(format!("{}/api/nope", web.url))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    assert_eq!(api.json::<Value>().await.unwrap()["code"], "not_found");
    let health = web
        .http
        .get(format!("{}/health/ready", web.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn discovery_needs_a_valid_access_token() {
    let web = spawn_web().await;
    for token in [None, Some("not-a-jwt")] {
        let mut request = web
            .http
            .get(format!("{}/api/discovery/outlook/contact-folders", web.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status(), 401, "{token:?}");
        assert_eq!(
            answer.json::<Value>().await.unwrap()["code"],
            "unauthenticated"
        );
    }
}

#[tokio::test]
async fn the_services_learn_the_clients_address_never_what_the_client_claims() {
    let web = spawn_web().await;
    let answer = web
        .http
        .get(format!("{}/api/sync/v1/status", web.url))
        .bearer_auth("user-token")
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(web.sync.last().headers["x-forwarded-for"], "127.0.0.1");

    // Sign-in too: auth-service throttles failures per address with it.
    let _ = web
        .http
        .post(format!("{}/api/session", web.url))
        .header(header::ORIGIN, web.url.as_str())
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "a@example.com", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(web.auth.last().headers["x-forwarded-for"], "127.0.0.1");
}

/// Security audit (issue 15), HSTS: served over HTTPS, every answer tells browsers to keep to
/// HTTPS; over plain HTTP (a laptop) it does not.
#[tokio::test]
async fn hsts_is_sent_when_the_public_address_is_https() {
    for (public_url, expected) in [
        (
            "https://sync.example.com",
            Some("max-age=31536000; includeSubDomains"),
        ),
        ("http://127.0.0.1:8080", None),
    ] {
        let mut settings = web::Settings::for_tests(
            Upstreams {
                auth_url: "http://127.0.0.1:9".into(),
                sync_url: "http://127.0.0.1:9".into(),
                outlook_url: "http://127.0.0.1:9".into(),
                zoho_url: "http://127.0.0.1:9".into(),
            },
            "service-token",
        );
        settings.public_url = public_url.into();
        let app = web::Application::build(settings).await.unwrap();
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        for path in ["/", "/health/live", "/api/nothing"] {
            let answer = reqwest::get(format!("{url}{path}")).await.unwrap();
            assert_eq!(
                answer
                    .headers()
                    .get(header::STRICT_TRANSPORT_SECURITY)
                    .map(|v| v.to_str().unwrap()),
                expected,
                "{public_url}{path}"
            );
        }
    }
}

//! Connecting a provider with the authorization-code flow and PKCE.

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

async fn signed_in_user(app: &TestApp, email: &str) -> (uuid::Uuid, String) {
    let user = app.create_user_with_password(email, PASSWORD).await;
    let pair = app.signed_in(email, PASSWORD).await;
    (user, pair["access_token"].as_str().unwrap().to_owned())
}

struct Flow {
    url: url::Url,
    params: HashMap<String, String>,
    /// `name=value` of the browser cookie.
    cookie: String,
}

async fn start(app: &TestApp, token: &str, provider: &str, body: Value) -> Flow {
    let response = app
        .user_request(
            Method::POST,
            &format!("/v1/connections/{provider}/authorize"),
            token,
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let url = url::Url::parse(body["authorization_url"].as_str().unwrap()).unwrap();
    let params = url.query_pairs().into_owned().collect();
    Flow {
        url,
        params,
        cookie,
    }
}

/// The provider redirecting the browser back to us.
async fn callback(
    app: &TestApp,
    provider: &str,
    query: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut url = url::Url::parse(&format!(
        "{}/v1/connections/{provider}/callback",
        app.address
    ))
    .unwrap();
    url.query_pairs_mut().extend_pairs(query);
    let mut request = app.client.get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn zoho_connects_through_the_authorization_code_flow() {
    let app = spawn_app().await;
    let (user, token) = signed_in_user(&app, "flow@example.com").await;
    let flow = start(&app, &token, "zoho", json!({"data_centre": "eu"})).await;

    assert_eq!(flow.url.path(), "/zoho-accounts/eu/oauth/v2/auth");
    assert_eq!(flow.params["client_id"], "sandbox-zoho-client");
    assert_eq!(flow.params["response_type"], "code");
    assert_eq!(flow.params["access_type"], "offline");
    assert_eq!(flow.params["code_challenge_method"], "S256");
    assert_eq!(
        flow.params["redirect_uri"],
        "http://127.0.0.1:8081/v1/connections/zoho/callback"
    );
    assert!(flow.params["scope"].contains("ZohoCRM.modules.contacts.ALL"));

    // The account lives in Japan: Zoho says so with `location`, and the code is redeemed there.
    let code = format!("code.{}", flow.params["code_challenge"]);
    let query = [
        ("code", code.as_str()),
        ("state", flow.params["state"].as_str()),
        ("location", "jp"),
    ];
    let response = callback(&app, "zoho", &query, Some(&flow.cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "connected"
    );
    assert_eq!(app.stub.seen()[0].0, "zoho/jp");

    let status = app.status(user, "zoho").await;
    assert_eq!(status["status"], "connected");
    assert_eq!(status["data_centre"], "jp");
    // The access token from the exchange is served without another call.
    let response = app.token(user, "zoho").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(app.stub.zoho_calls(), 1);
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT refresh_token_sealed FROM provider_connections")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!sealed.windows(10).any(|w| w == b"valid-zoho"));

    // A state is good once.
    let replay = callback(&app, "zoho", &query, Some(&flow.cookie)).await;
    assert_error(replay, StatusCode::UNPROCESSABLE_ENTITY, "invalid_state").await;

    // The user's own view, and disconnecting.
    let mine: Value = app
        .user_request(Method::GET, "/v1/connections", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["connections"].as_array().unwrap().len(), 2);
    let gone = app
        .user_request(Method::DELETE, "/v1/connections/zoho", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.status(user, "zoho").await["status"], "not_connected");
    let again = app
        .user_request(Method::DELETE, "/v1/connections/zoho", &token)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "not_connected").await;
}

#[tokio::test]
async fn outlook_connects_and_redirects_to_the_settings_page() {
    let app = spawn_app_with(|s| {
        s.public_url = "https://sync.example.com".into();
        s.connected_redirect_url = Some("https://sync.example.com/settings".into());
    })
    .await;
    let (user, token) = signed_in_user(&app, "ms@example.com").await;

    // The GET form redirects the browser itself.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!(
            "{}/v1/connections/outlook/authorize?tenant=organizations",
            app.address
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.contains("; Secure"),
        "https public URL: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let url = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(url.path(), "/login/organizations/oauth2/v2.0/authorize");
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        params["redirect_uri"],
        "https://sync.example.com/v1/connections/outlook/callback"
    );
    assert!(params["scope"].starts_with("offline_access "));

    let code = format!("code.{}", params["code_challenge"]);
    let mut url =
        url::Url::parse(&format!("{}/v1/connections/outlook/callback", app.address)).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &params["state"]);
    let response = no_redirects
        .get(url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "https://sync.example.com/settings?provider=outlook&status=connected"
    );
    let status = app.status(user, "outlook").await;
    assert_eq!(status["status"], "connected");
    assert_eq!(status["tenant"], "organizations");
    assert_eq!(app.stub.seen()[0].0, "microsoft/organizations");
}

#[tokio::test]
async fn the_flow_refuses_strangers_and_bad_codes() {
    let app = spawn_app().await;
    let (user, token) = signed_in_user(&app, "sec@example.com").await;

    // Another browser (no cookie, or someone else's) cannot finish the flow.
    let flow = start(&app, &token, "zoho", json!({})).await;
    let code = format!("code.{}", flow.params["code_challenge"]);
    let query = [
        ("code", code.as_str()),
        ("state", flow.params["state"].as_str()),
    ];
    assert_error(
        callback(&app, "zoho", &query, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_state",
    )
    .await;
    let other = start(&app, &token, "zoho", json!({})).await;
    let query = [
        ("code", code.as_str()),
        ("state", other.params["state"].as_str()),
    ];
    assert_error(
        callback(&app, "zoho", &query, Some(&flow.cookie)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_state",
    )
    .await;

    // A code without the right PKCE verifier is refused by the provider.
    let flow = start(&app, &token, "outlook", json!({})).await;
    let query = [
        ("code", "code.not-the-challenge"),
        ("state", flow.params["state"].as_str()),
    ];
    let response = callback(&app, "outlook", &query, Some(&flow.cookie)).await;
    assert_error(response, StatusCode::CONFLICT, "invalid_authorization_code").await;

    // The user said no at the provider.
    let flow = start(&app, &token, "outlook", json!({})).await;
    let query = [
        ("error", "access_denied"),
        ("state", flow.params["state"].as_str()),
    ];
    let response = callback(&app, "outlook", &query, Some(&flow.cookie)).await;
    assert_error(response, StatusCode::CONFLICT, "authorization_denied").await;
    assert_eq!(app.status(user, "outlook").await["status"], "not_connected");

    // Expired flows are gone.
    let flow = start(&app, &token, "zoho", json!({})).await;
    sqlx::query("UPDATE oauth_states SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    let code = format!("code.{}", flow.params["code_challenge"]);
    let query = [
        ("code", code.as_str()),
        ("state", flow.params["state"].as_str()),
    ];
    assert_error(
        callback(&app, "zoho", &query, Some(&flow.cookie)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_state",
    )
    .await;

    // Input and authentication.
    let bad_dc = app
        .user_request(Method::POST, "/v1/connections/zoho/authorize", &token)
        .json(&json!({"data_centre": "mars"}))
        .send()
        .await
        .unwrap();
    assert_error(
        bad_dc,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_data_centre",
    )
    .await;
    let unknown = app
        .user_request(Method::POST, "/v1/connections/gmail/authorize", &token)
        .send()
        .await
        .unwrap();
    assert_error(unknown, StatusCode::NOT_FOUND, "unknown_provider").await;
    let anonymous = app
        .client
        .post(format!("{}/v1/connections/zoho/authorize", app.address))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(
        app.stub.zoho_calls(),
        0,
        "no code was redeemed without a valid flow"
    );
}

//! `POST /internal/v1/provider-tokens`: refresh, reuse, one refresh at a time, revoked grants,
//! provider outages.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, request_token, spawn_app};

async fn ok_token(app: &TestApp, user: Uuid, provider: &str) -> Value {
    let response = app.token(user, provider).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn expires_in_secs(body: &Value) -> i64 {
    let at: DateTime<Utc> = body["expires_at"].as_str().unwrap().parse().unwrap();
    (at - Utc::now()).num_seconds()
}

#[tokio::test]
async fn zoho_token_is_refreshed_in_the_right_data_centre_then_reused() {
    let app = spawn_app().await;
    let user = app
        .connected_user(
            "zoho",
            json!({"refresh_token": "valid-zoho", "data_centre": "jp"}),
        )
        .await;

    let first = ok_token(&app, user, "zoho").await;
    assert_eq!(first["access_token"], "1000.zoho-access-1");
    assert_eq!(first["api_domain"], "https://www.zohoapis.jp");
    assert!((3500..=3600).contains(&expires_in_secs(&first)), "{first}");
    let seen = app.stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "zoho/jp");
    assert_eq!(seen[0].1["refresh_token"], "valid-zoho");
    assert_eq!(seen[0].1["grant_type"], "refresh_token");

    let second = ok_token(&app, user, "zoho").await;
    assert_eq!(second, first, "the cached token is reused");
    assert_eq!(app.stub.zoho_calls(), 1);

    let status = app.status(user, "zoho").await;
    assert_eq!(status["status"], "connected");
    assert_eq!(status["data_centre"], "jp");
    assert_eq!(status["api_domain"], "https://www.zohoapis.jp");
    assert!(status["last_refresh_at"].is_string());
}

#[tokio::test]
async fn outlook_token_is_refreshed_and_the_rotated_refresh_token_kept() {
    let app = spawn_app().await;
    // `short…`: the stub issues 30-second tokens, below the 60-second reuse floor, so every call
    // refreshes.
    let user = app
        .connected_user(
            "outlook",
            json!({"refresh_token": "short-ms", "tenant": "organizations"}),
        )
        .await;

    let first = ok_token(&app, user, "outlook").await;
    assert_eq!(first["access_token"], "eyJ0eXAi.graph-access-1");
    assert!(first["api_domain"].is_null());
    let second = ok_token(&app, user, "outlook").await;
    assert_eq!(second["access_token"], "eyJ0eXAi.graph-access-2");

    let seen = app.stub.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].0, "microsoft/organizations");
    assert_eq!(seen[0].1["refresh_token"], "short-ms");
    assert_eq!(
        seen[1].1["refresh_token"], "short-ms-r1",
        "the rotated refresh token is used next"
    );
    let scope = &seen[0].1["scope"];
    for s in [
        "offline_access",
        "Contacts.ReadWrite",
        "Calendars.ReadWrite",
        "Tasks.ReadWrite",
        "MailboxSettings.ReadWrite",
    ] {
        assert!(scope.contains(s), "{scope}");
    }
}

#[tokio::test]
async fn outlook_token_with_an_hour_left_is_reused() {
    let app = spawn_app().await;
    let user = app
        .connected_user("outlook", json!({"refresh_token": "valid-ms"}))
        .await;
    let first = ok_token(&app, user, "outlook").await;
    assert!((3500..=3600).contains(&expires_in_secs(&first)));
    let second = ok_token(&app, user, "outlook").await;
    assert_eq!(first, second);
    assert_eq!(app.stub.microsoft_calls(), 1);
    assert_eq!(app.stub.seen()[0].0, "microsoft/common");
}

#[tokio::test]
async fn concurrent_requests_cause_exactly_one_refresh_per_connection() {
    let mut app = spawn_app().await;
    let replica = app.replica().await;
    let zoho_user = app
        .connected_user("zoho", json!({"refresh_token": "valid-zoho"}))
        .await;
    let outlook_user = app
        .connected_user("outlook", json!({"refresh_token": "valid-ms"}))
        .await;

    // 24 callers, split over two replicas and both providers, all at once.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..24 {
        let address = if i % 2 == 0 {
            app.address.clone()
        } else {
            replica.clone()
        };
        let (user, provider) = if i % 4 < 2 {
            (zoho_user, "zoho")
        } else {
            (outlook_user, "outlook")
        };
        let client = app.client.clone();
        calls.spawn(async move {
            (
                provider,
                request_token(&client, &address, user, provider).await,
            )
        });
    }
    let mut tokens = std::collections::HashMap::<&str, Vec<String>>::new();
    while let Some(joined) = calls.join_next().await {
        let (provider, response) = joined.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        tokens
            .entry(provider)
            .or_default()
            .push(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(app.stub.zoho_calls(), 1);
    assert_eq!(app.stub.microsoft_calls(), 1);
    for (provider, list) in tokens {
        assert_eq!(list.len(), 12);
        assert!(list.iter().all(|t| t == &list[0]), "{provider}: {list:?}");
    }
}

#[tokio::test]
async fn a_revoked_zoho_grant_needs_a_reconnect() {
    let app = spawn_app().await;
    let user = app
        .connected_user("zoho", json!({"refresh_token": "revoked-zoho"}))
        .await;

    let response = app.token(user, "zoho").await;
    let body = assert_error(response, StatusCode::CONFLICT, "reconnect_needed").await;
    assert!(
        body["message"].as_str().unwrap().contains("invalid_code"),
        "{body}"
    );

    let status = app.status(user, "zoho").await;
    assert_eq!(status["status"], "reconnect_needed");
    assert_eq!(status["reason"], "invalid_code");

    // Asking again does not hammer the provider.
    let again = app.token(user, "zoho").await;
    assert_error(again, StatusCode::CONFLICT, "reconnect_needed").await;
    assert_eq!(app.stub.zoho_calls(), 1);

    // Connecting again with a good grant heals it.
    assert_eq!(
        app.connect(user, "zoho", json!({"refresh_token": "valid-zoho"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(app.status(user, "zoho").await["status"], "connected");
    ok_token(&app, user, "zoho").await;

    let events: Vec<String> =
        sqlx::query_scalar("SELECT event FROM audit_log WHERE user_id = $1 ORDER BY id")
            .bind(user)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(
        events,
        [
            "user_created",
            "connection_stored",
            "reconnect_needed",
            "connection_stored",
            "token_refreshed"
        ]
    );
}

#[tokio::test]
async fn a_revoked_microsoft_grant_needs_a_reconnect() {
    let app = spawn_app().await;
    let user = app
        .connected_user("outlook", json!({"refresh_token": "revoked-ms"}))
        .await;
    let response = app.token(user, "outlook").await;
    let body = assert_error(response, StatusCode::CONFLICT, "reconnect_needed").await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("invalid_grant") && message.contains("AADSTS70008"),
        "{message}"
    );
    assert!(
        !message.contains("Trace ID"),
        "only the first line of the description: {message}"
    );

    let status = app.status(user, "outlook").await;
    assert_eq!(status["status"], "reconnect_needed");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid_grant")
    );
}

#[tokio::test]
async fn a_provider_outage_is_a_502_and_leaves_the_connection_alone() {
    let app = spawn_app().await;
    let user = app
        .connected_user("zoho", json!({"refresh_token": "down-zoho"}))
        .await;
    let response = app.token(user, "zoho").await;
    assert_error(response, StatusCode::BAD_GATEWAY, "provider_unavailable").await;
    assert_eq!(app.status(user, "zoho").await["status"], "connected");
    let failed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE event = 'token_refresh_failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn an_unreachable_provider_is_a_502() {
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    // Nothing listens on port 9 (discard) here.
    settings.microsoft.login_base = "http://127.0.0.1:9".into();
    let service = auth_service::Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", service.port());
    let shutdown = service.shutdown_token();
    tokio::spawn(service.run_until_stopped());

    let user = app
        .connected_user("outlook", json!({"refresh_token": "valid-ms"}))
        .await;
    let response = request_token(&app.client, &address, user, "outlook").await;
    assert_error(response, StatusCode::BAD_GATEWAY, "provider_unavailable").await;
    shutdown.cancel();
}

#[tokio::test]
async fn bad_token_requests_get_their_code() {
    let app = spawn_app().await;
    let user = app.create_user("n@example.com").await;

    let not_connected = app.token(user, "zoho").await;
    assert_error(not_connected, StatusCode::NOT_FOUND, "not_connected").await;
    let nobody = app.token(Uuid::new_v4(), "outlook").await;
    assert_error(nobody, StatusCode::NOT_FOUND, "not_connected").await;

    let unknown = app
        .client
        .post(format!("{}/internal/v1/provider-tokens", app.address))
        .bearer_auth(crate::helpers::connector_token("zoho"))
        .json(&json!({"user_id": user, "provider": "gmail"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(
        unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_provider",
    )
    .await;
    assert_eq!(body["field"], "provider");

    let bad_id = app
        .client
        .post(format!("{}/internal/v1/provider-tokens", app.address))
        .bearer_auth(crate::helpers::connector_token("zoho"))
        .json(&json!({"user_id": "x", "provider": "zoho"}))
        .send()
        .await
        .unwrap();
    assert_error(bad_id, StatusCode::UNPROCESSABLE_ENTITY, "invalid_user_id").await;

    let empty = app
        .client
        .post(format!("{}/internal/v1/provider-tokens", app.address))
        .bearer_auth(crate::helpers::connector_token("zoho"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_user_id").await;
}

async fn forced(app: &TestApp, user: Uuid, provider: &str) -> Value {
    let response = app
        .client
        .post(format!("{}/internal/v1/provider-tokens", app.address))
        .bearer_auth(crate::helpers::connector_token(provider))
        .json(&json!({"user_id": user, "provider": provider, "force_refresh": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_forced_refresh_replaces_a_refused_token_but_never_storms() {
    let app = spawn_app().await;
    let user = app
        .connected_user(
            "zoho",
            json!({"refresh_token": "valid-zoho", "data_centre": "jp"}),
        )
        .await;
    let first = ok_token(&app, user, "zoho").await;
    assert_eq!(app.stub.zoho_calls(), 1);

    // Refused right after a refresh (another caller's 401 already replaced it): no new refresh.
    let again = forced(&app, user, "zoho").await;
    assert_eq!(again, first);
    assert_eq!(app.stub.zoho_calls(), 1);

    // Refused a while after the last refresh: refreshed although it has not expired.
    sqlx::query("UPDATE provider_connections SET last_refresh_at = now() - interval '5 minutes'")
        .execute(&app.db)
        .await
        .unwrap();
    let renewed = forced(&app, user, "zoho").await;
    assert_ne!(renewed["access_token"], first["access_token"]);
    assert_eq!(app.stub.zoho_calls(), 2);
}

#[tokio::test]
async fn service_credentials_provider_tokens_only_for_that_providers_connector() {
    let app = spawn_app().await;
    let user = app
        .connected_user(
            "zoho",
            json!({"refresh_token": "valid-zoho", "data_centre": "jp"}),
        )
        .await;
    let ask = |token: &'static str| {
        app.client
            .post(format!("{}/internal/v1/provider-tokens", app.address))
            .bearer_auth(token)
            .json(&json!({"user_id": user, "provider": "zoho"}))
            .send()
    };
    let operator = ask(crate::helpers::SERVICE_TOKEN).await.unwrap();
    assert_error(operator, StatusCode::FORBIDDEN, "forbidden").await;
    let other_connector = ask(crate::helpers::connector_token("outlook"))
        .await
        .unwrap();
    assert_error(other_connector, StatusCode::FORBIDDEN, "forbidden").await;
    let own = ask(crate::helpers::connector_token("zoho")).await.unwrap();
    assert_eq!(own.status(), StatusCode::OK);

    // A connector's credential provisions nothing.
    let create = app
        .client
        .post(format!("{}/internal/v1/users", app.address))
        .bearer_auth(crate::helpers::connector_token("zoho"))
        .json(&json!({"email": "intruder@example.com", "is_admin": true}))
        .send()
        .await
        .unwrap();
    assert_error(create, StatusCode::FORBIDDEN, "forbidden").await;
}

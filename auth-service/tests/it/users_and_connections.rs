//! Provisioning users and storing connections: authentication, validation, encryption at rest.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn every_internal_route_needs_the_service_token() {
    let app = spawn_app().await;
    let user = app.create_user("owner@example.com").await;
    let routes = [
        ("POST", "/internal/v1/users".to_owned()),
        ("GET", format!("/internal/v1/users/{user}/connections")),
        ("PUT", format!("/internal/v1/users/{user}/connections/zoho")),
        ("POST", "/internal/v1/provider-tokens".to_owned()),
    ];
    for (method, path) in routes {
        let url = format!("{}{path}", app.address);
        let method: reqwest::Method = method.parse().unwrap();
        for auth in [
            None,
            Some("Bearer wrong-token"),
            Some("Bearer "),
            Some("Basic dGVzdA=="),
        ] {
            let mut request = app.client.request(method.clone(), &url).json(&json!({}));
            if let Some(auth) = auth {
                request = request.header("Authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        }
    }
}

#[tokio::test]
async fn health_is_served_without_authentication() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/health/ready", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "up");
}

#[tokio::test]
async fn users_are_created_once_per_email() {
    let app = spawn_app().await;
    let response = app
        .post("/internal/v1/users")
        .json(&json!({"email": "Anna.Smith@Example.com", "display_name": "Anna"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert!(body["user_id"].as_str().unwrap().parse::<Uuid>().is_ok());

    // Case does not make a new address.
    let again = app
        .post("/internal/v1/users")
        .json(&json!({"email": "anna.smith@example.com"}))
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::CONFLICT, "email_taken").await;

    let audit: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE event = 'user_created'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn bad_user_input_gets_its_code() {
    let app = spawn_app().await;
    for email in [json!("not-an-email"), json!(""), json!("a b@example.com")] {
        let response = app
            .post("/internal/v1/users")
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email").await;
        assert_eq!(body["field"], "email");
    }
    let missing = app
        .post("/internal/v1/users")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_email").await;

    let wrong_type = app
        .post("/internal/v1/users")
        .json(&json!({"email": 5}))
        .send()
        .await
        .unwrap();
    assert_error(wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let not_json = app
        .post("/internal/v1/users")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(not_json, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;

    let no_content_type = app
        .post("/internal/v1/users")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        no_content_type,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn bad_connection_input_gets_its_code() {
    let app = spawn_app().await;
    let user = app.create_user("c@example.com").await;

    let unknown = app
        .connect(user, "gmail", json!({"refresh_token": "x"}))
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "unknown_provider").await;

    let bad_dc = app
        .connect(
            user,
            "zoho",
            json!({"refresh_token": "x", "data_centre": "uk"}),
        )
        .await;
    let body = assert_error(
        bad_dc,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_data_centre",
    )
    .await;
    assert_eq!(body["field"], "data_centre");

    let bad_tenant = app
        .connect(
            user,
            "outlook",
            json!({"refresh_token": "x", "tenant": "../evil"}),
        )
        .await;
    assert_error(
        bad_tenant,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_tenant",
    )
    .await;

    for body in [
        json!({}),
        json!({"refresh_token": ""}),
        json!({"refresh_token": "   "}),
    ] {
        let response = app.connect(user, "zoho", body).await;
        assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_refresh_token",
        )
        .await;
    }

    let nobody = app
        .connect(Uuid::new_v4(), "zoho", json!({"refresh_token": "x"}))
        .await;
    assert_error(nobody, StatusCode::NOT_FOUND, "user_not_found").await;

    let bad_id = app
        .put("/internal/v1/users/not-a-uuid/connections/zoho")
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_error(bad_id, StatusCode::UNPROCESSABLE_ENTITY, "invalid_user_id").await;

    let bad_status = app
        .get("/internal/v1/users/nope/connections")
        .send()
        .await
        .unwrap();
    assert_error(
        bad_status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_user_id",
    )
    .await;
    let no_user = app
        .get(&format!(
            "/internal/v1/users/{}/connections",
            Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_error(no_user, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn refresh_tokens_are_encrypted_at_rest_and_never_audited() {
    let app = spawn_app().await;
    let secret = "1000.very-secret-zoho-refresh-token.abcdef";
    let user = app
        .connected_user(
            "zoho",
            json!({"refresh_token": secret, "data_centre": "eu"}),
        )
        .await;

    let (key_id, sealed, dc): (String, Vec<u8>, Option<String>) = sqlx::query_as(
        "SELECT refresh_token_key_id, refresh_token_sealed, data_centre FROM provider_connections WHERE user_id = $1",
    )
    .bind(user)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(key_id, "k1");
    assert_eq!(dc.as_deref(), Some("eu"));
    // 12-byte nonce + ciphertext + 16-byte tag.
    assert_eq!(sealed.len(), 12 + secret.len() + 16);
    assert!(!contains(&sealed, secret.as_bytes()));
    assert!(!contains(&sealed, b"very-secret"));

    // The access token is sealed too, once fetched.
    let response = app.token(user, "zoho").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let sealed_access: Vec<u8> = sqlx::query_scalar(
        "SELECT access_token_sealed FROM provider_connections WHERE user_id = $1",
    )
    .bind(user)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!contains(&sealed_access, access.as_bytes()));

    // The audit log has the events and no secret.
    let audit: Vec<(String, Value)> =
        sqlx::query_as("SELECT event, detail FROM audit_log ORDER BY id")
            .fetch_all(&app.db)
            .await
            .unwrap();
    let events: Vec<&str> = audit.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        ["user_created", "connection_stored", "token_refreshed"]
    );
    for (_, detail) in &audit {
        let text = detail.to_string();
        assert!(!text.contains(secret) && !text.contains(&access), "{text}");
    }
}

#[tokio::test]
async fn status_lists_every_provider() {
    let app = spawn_app().await;
    let user = app
        .connected_user("outlook", json!({"refresh_token": "valid-ms"}))
        .await;
    let outlook = app.status(user, "outlook").await;
    assert_eq!(outlook["status"], "connected");
    assert_eq!(outlook["tenant"], "common");
    assert!(outlook["last_refresh_at"].is_null());
    assert!(outlook["connected_at"].is_string());
    let zoho = app.status(user, "zoho").await;
    assert_eq!(zoho["status"], "not_connected");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_openapi_document_covers_the_api() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/internal/v1/users",
        "/internal/v1/users/{user_id}/connections/{provider}",
        "/internal/v1/provider-tokens",
        "/.well-known/jwks.json",
        "/v1/sessions",
        "/v1/sessions/refresh",
        "/v1/me/totp",
        "/v1/me/app-passwords",
        "/v1/connections/{provider}/authorize",
        "/v1/connections/{provider}/callback",
        "/v1/admin/users/{user_id}",
        "/v1/admin/audit",
        "/v1/admin/users/{user_id}/totp",
        "/v1/admin/connections",
        "/v1/users",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["access_token"]["bearerFormat"], "JWT");
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let client = &doc["components"]["schemas"]["SignInClient"]["enum"];
    assert_eq!(client, &json!(["browser", "api"]));
    // Secrets are documented as plain strings, not as a secrecy type.
    assert_eq!(
        doc["components"]["schemas"]["NewConnection"]["properties"]["refresh_token"]["type"],
        "string"
    );
}

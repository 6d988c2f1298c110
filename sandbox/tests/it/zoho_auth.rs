use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{keys, payload, read, spawn_app};

#[tokio::test]
async fn refresh_in_a_form_body_or_the_query_string() {
    let app = spawn_app().await;
    let org = app.org("eu").await;
    let token_url = format!("{}/oauth/v2/token", org.accounts_url);
    let params = [
        ("grant_type", "refresh_token"),
        ("client_id", "sandbox-zoho-client"),
        ("client_secret", "sandbox-zoho-secret"),
        ("refresh_token", org.refresh_token.as_str()),
    ];
    let (status, body) = read(
        app.http
            .post(&token_url)
            .form(&params)
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys(&body),
        keys(&payload("zoho_oauth_token_refresh_response"))
    );
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["api_domain"], format!("{}/zoho-api/eu", app.base));
    assert_eq!(org.dc, "eu");

    let (status, body) = read(
        app.http
            .post(&token_url)
            .query(&params)
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let access = body["access_token"].as_str().expect("token");
    let records = app
        .http
        .get(format!(
            "{}/crm/v8/Contacts?fields=Last_Name",
            body["api_domain"].as_str().expect("domain")
        ))
        .header("Authorization", format!("Zoho-oauthtoken {access}"))
        .send()
        .await
        .expect("records");
    assert_eq!(records.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn refresh_errors_are_http_200_with_an_error_key() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let call = |url: String, secret: &'static str, refresh: String| {
        let app = &app;
        async move {
            read(
                app.http
                    .post(url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", "sandbox-zoho-client"),
                        ("client_secret", secret),
                        ("refresh_token", refresh.as_str()),
                    ])
                    .send()
                    .await
                    .expect("token"),
            )
            .await
        }
    };
    let url = format!("{}/oauth/v2/token", org.accounts_url);
    let (status, body) = call(url.clone(), "sandbox-zoho-secret", "1000.nope".into()).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"error": "invalid_code"}))
    );
    let (status, body) = call(url, "wrong", org.refresh_token.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, payload("zoho_oauth_error_invalid_client"));
    // A refresh token of com is unknown to the eu accounts server.
    let eu = format!("{}/zoho-accounts/eu/oauth/v2/token", app.base);
    let (_, body) = call(eu, "sandbox-zoho-secret", org.refresh_token.clone()).await;
    assert_eq!(body, json!({"error": "invalid_code"}));
}

#[tokio::test]
async fn crm_refuses_missing_unknown_expired_and_foreign_dc_tokens() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let expected = payload("zoho_error_invalid_token");
    let url = format!("{}/crm/v8/Contacts?fields=Last_Name", org.api_domain);

    let (status, body) = read(app.http.get(&url).send().await.expect("call")).await;
    assert_eq!((status, &body), (StatusCode::UNAUTHORIZED, &expected));
    let (status, body) = read(
        app.http
            .get(&url)
            .header("Authorization", "Zoho-oauthtoken 1000.made.up")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!((status, &body), (StatusCode::UNAUTHORIZED, &expected));

    let jp_url = format!("{}/zoho-api/jp/crm/v8/Contacts?fields=Last_Name", app.base);
    let (status, body) = read(
        app.http
            .get(&jp_url)
            .header("Authorization", format!("Zoho-oauthtoken {}", org.token))
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!((status, &body), (StatusCode::UNAUTHORIZED, &expected));

    app.control(Method::POST, "/expire-access-tokens", json!({}))
        .await;
    let (status, body) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!((status, &body), (StatusCode::UNAUTHORIZED, &expected));
}

#[tokio::test]
async fn token_limits_answer_access_denied_when_enforced() {
    let app = crate::helpers::spawn_app().await;
    let (status, created) = app
        .control(
            reqwest::Method::POST,
            "/zoho/orgs",
            serde_json::json!({"dc": "in", "token_limits": true}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    assert_eq!(created["token_limits"], true);
    let accounts = created["accounts_url"].as_str().expect("url").to_owned();
    let refresh_token = created["refresh_token"].as_str().expect("rt").to_owned();
    let mut last = serde_json::Value::Null;
    for _ in 0..11 {
        let response = app
            .http
            .post(format!("{accounts}/oauth/v2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "sandbox-zoho-client"),
                ("client_secret", "sandbox-zoho-secret"),
                ("refresh_token", refresh_token.as_str()),
            ])
            .send()
            .await
            .expect("refresh");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        last = response.json().await.expect("json");
    }
    assert_eq!(last["error"], "Access Denied");
    assert_eq!(last["status"], "failure");
}

#[tokio::test]
async fn current_user_and_org_describe_the_account() {
    let app = spawn_app().await;
    let org = app.org("jp").await;
    let get = |path: &'static str| app.zoho(&org, Method::GET, path).send();
    let (status, users) = read(get("/users?type=CurrentUser").await.expect("users")).await;
    assert_eq!(status, StatusCode::OK, "{users}");
    assert_eq!(users["users"].as_array().map(Vec::len), Some(1));
    assert!(users["users"][0]["email"].is_string());
    let (status, answer) = read(get("/org").await.expect("org")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["org"][0]["id"], org.id.as_str());
    let (status, answer) = read(get("/users?type=Nobody").await.expect("users")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], "INVALID_DATA");
}

/// Zoho's accounts server documents its client credentials as parameters only (query string or
/// form body; no `Authorization: Basic`), so credentials in a Basic header alone are no client.
#[tokio::test]
async fn client_credentials_are_parameters_not_a_basic_header() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let (status, body) = read(
        app.http
            .post(format!("{}/oauth/v2/token", org.accounts_url))
            .basic_auth("sandbox-zoho-client", Some("sandbox-zoho-secret"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", org.refresh_token.as_str()),
            ])
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, payload("zoho_oauth_error_invalid_client"));
}

//! Against the sandbox emulator of Microsoft Graph and Zoho (in-process): its token endpoints
//! follow the real ones, and the tokens we hand out open its APIs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, request_token, spawn_app_with};

struct Sandbox {
    base: String,
    shutdown_task: tokio::task::JoinHandle<()>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown_task.abort();
    }
}

async fn start_sandbox() -> Sandbox {
    let sandbox = sandbox::startup::Application::build(sandbox::Settings::for_tests())
        .await
        .unwrap();
    let base = sandbox.base_url();
    let shutdown_task = tokio::spawn(async move {
        let _ = sandbox.run_until_stopped().await;
    });
    Sandbox {
        base,
        shutdown_task,
    }
}

async fn control(app: &TestApp, sandbox: &Sandbox, path: &str, body: Value) -> Value {
    let response = app
        .client
        .post(format!("{}/_sandbox{path}", sandbox.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

async fn token_calls(app: &TestApp, sandbox: &Sandbox) -> (u64, u64) {
    let stats: Value = app
        .client
        .get(format!("{}/_sandbox/stats", sandbox.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sum = |accounts: &Value, operation: &str| -> u64 {
        accounts.as_object().map_or(0, |m| {
            m.values()
                .map(|u| u["operations"][operation].as_u64().unwrap_or(0))
                .sum()
        })
    };
    (
        sum(&stats["graph"]["mailboxes"], "POST /oauth2/v2.0/token"),
        sum(&stats["zoho"]["orgs"], "POST /oauth/v2/token"),
    )
}

#[tokio::test]
async fn tokens_from_the_sandbox_open_its_apis_and_are_refreshed_once() {
    let sandbox = start_sandbox().await;
    let base = sandbox.base.clone();
    let mut app = spawn_app_with(move |s| {
        s.zoho.accounts_base_template = Some(format!("{base}/zoho-accounts/{{dc}}"));
        s.microsoft.login_base = format!("{base}/login");
    })
    .await;
    let replica = app.replica().await;

    let mailbox = control(
        &app,
        &sandbox,
        "/graph/mailboxes",
        json!({"display_name": "Ann"}),
    )
    .await;
    let org = control(&app, &sandbox, "/zoho/orgs", json!({"dc": "jp"})).await;
    let user = app.create_user("ann@example.com").await;
    let connected = app
        .connect(
            user,
            "outlook",
            json!({"refresh_token": mailbox["refresh_token"]}),
        )
        .await;
    assert_eq!(connected.status(), StatusCode::OK);
    let connected = app
        .connect(
            user,
            "zoho",
            json!({"refresh_token": org["refresh_token"], "data_centre": "jp"}),
        )
        .await;
    assert_eq!(connected.status(), StatusCode::OK);

    // Ten callers per provider over two replicas.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..20 {
        let address = if i % 2 == 0 {
            app.address.clone()
        } else {
            replica.clone()
        };
        let provider = if i % 4 < 2 { "outlook" } else { "zoho" };
        let client = app.client.clone();
        calls.spawn(async move {
            (
                provider,
                request_token(&client, &address, user, provider).await,
            )
        });
    }
    let mut answers = std::collections::HashMap::<&str, Vec<Value>>::new();
    while let Some(joined) = calls.join_next().await {
        let (provider, response) = joined.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        answers
            .entry(provider)
            .or_default()
            .push(response.json().await.unwrap());
    }
    assert_eq!(
        token_calls(&app, &sandbox).await,
        (1, 1),
        "one refresh per connection"
    );
    for list in answers.values() {
        assert!(list.iter().all(|a| a == &list[0]));
    }

    let graph = &answers["outlook"][0];
    assert!(graph["api_domain"].is_null());
    let me = app
        .client
        .get(format!("{}/graph/v1.0/me", sandbox.base))
        .bearer_auth(graph["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    let zoho = &answers["zoho"][0];
    assert_eq!(zoho["api_domain"], org["api_domain"]);
    let status = app.status(user, "zoho").await;
    assert_eq!(status["status"], "connected");
    assert!(status["last_refresh_at"].is_string());
}

#[tokio::test]
async fn unknown_grants_at_the_sandbox_need_a_reconnect() {
    let sandbox = start_sandbox().await;
    let base = sandbox.base.clone();
    let app = spawn_app_with(move |s| {
        s.zoho.accounts_base_template = Some(format!("{base}/zoho-accounts/{{dc}}"));
        s.microsoft.login_base = format!("{base}/login");
    })
    .await;
    // A Zoho token from another data centre is unknown there, as with the real Zoho.
    let org = control(&app, &sandbox, "/zoho/orgs", json!({"dc": "eu"})).await;
    let user = app.create_user("wrong-dc@example.com").await;
    app.connect(
        user,
        "zoho",
        json!({"refresh_token": org["refresh_token"], "data_centre": "com"}),
    )
    .await;
    app.connect(user, "outlook", json!({"refresh_token": "never-issued"}))
        .await;

    assert_error(
        app.token(user, "zoho").await,
        StatusCode::CONFLICT,
        "reconnect_needed",
    )
    .await;
    assert_error(
        app.token(user, "outlook").await,
        StatusCode::CONFLICT,
        "reconnect_needed",
    )
    .await;
    assert_eq!(app.status(user, "zoho").await["reason"], "invalid_code");
    assert!(
        app.status(user, "outlook").await["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid_grant")
    );
}

async fn revocation_recorded(app: &TestApp, user: uuid::Uuid, provider: &str) -> String {
    sqlx::query_scalar(
        "SELECT detail->>'provider_revocation' FROM audit_log \
         WHERE user_id = $1 AND provider = $2 AND event = 'connection_removed'",
    )
    .bind(user)
    .bind(provider)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// Disconnecting Zoho revokes the grant at Zoho: the refresh token we held, and the access token
/// made from it, stop working there. Outlook has no revocation an app may call; it is recorded.
#[tokio::test]
async fn disconnect_revokes_the_zoho_grant_at_the_provider() {
    let sandbox = start_sandbox().await;
    let base = sandbox.base.clone();
    let app = spawn_app_with(move |s| {
        s.zoho.accounts_base_template = Some(format!("{base}/zoho-accounts/{{dc}}"));
        s.microsoft.login_base = format!("{base}/login");
    })
    .await;
    let org = control(&app, &sandbox, "/zoho/orgs", json!({"dc": "eu"})).await;
    let mailbox = control(
        &app,
        &sandbox,
        "/graph/mailboxes",
        json!({"display_name": "Bea"}),
    )
    .await;
    let email = "bea@example.com";
    let user = app
        .create_user_with_password(email, "correct horse battery")
        .await;
    let access = app.signed_in(email, "correct horse battery").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh_token = org["refresh_token"].as_str().unwrap().to_owned();
    for (provider, body) in [
        (
            "zoho",
            json!({"refresh_token": refresh_token, "data_centre": "eu"}),
        ),
        (
            "outlook",
            json!({"refresh_token": mailbox["refresh_token"]}),
        ),
    ] {
        assert_eq!(
            app.connect(user, provider, body).await.status(),
            StatusCode::OK
        );
    }
    let zoho_access: Value = app.token(user, "zoho").await.json().await.unwrap();
    let zoho_access = zoho_access["access_token"].as_str().unwrap().to_owned();

    // The sandbox's token endpoint, as a client holding the old refresh token would call it.
    let redeem = |token: String| {
        let client = app.client.clone();
        let url = format!("{}/zoho-accounts/eu/oauth/v2/token", sandbox.base);
        async move {
            let answer: Value = client
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", "sandbox-zoho-client"),
                    ("client_secret", "sandbox-zoho-secret"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer
        }
    };
    assert!(
        redeem(refresh_token.clone()).await["access_token"].is_string(),
        "the grant works before the disconnect"
    );

    for provider in ["zoho", "outlook"] {
        let gone = app
            .user_request(
                reqwest::Method::DELETE,
                &format!("/v1/connections/{provider}"),
                &access,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::NO_CONTENT, "{provider}");
    }

    assert_eq!(redeem(refresh_token).await["error"], "invalid_code");
    let crm = app
        .client
        .get(format!(
            "{}/crm/v8/users?type=CurrentUser",
            org["api_domain"].as_str().unwrap()
        ))
        .header("Authorization", format!("Zoho-oauthtoken {zoho_access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        crm.status(),
        StatusCode::UNAUTHORIZED,
        "its access token went with it"
    );
    assert_eq!(revocation_recorded(&app, user, "zoho").await, "revoked");
    assert_eq!(
        revocation_recorded(&app, user, "outlook").await,
        "not_supported"
    );
}

/// A provider that cannot be reached does not keep the user connected: the connection is gone
/// and the failure is recorded under its stable code.
#[tokio::test]
async fn disconnect_goes_through_when_the_provider_cannot_revoke() {
    let app = spawn_app_with(|s| {
        // Nothing listens on port 9 (discard) here: the revoke call fails at once.
        s.zoho.accounts_base_template = Some("http://127.0.0.1:9/{dc}".to_owned());
    })
    .await;
    let email = "cid@example.com";
    let user = app
        .create_user_with_password(email, "correct horse battery")
        .await;
    let access = app.signed_in(email, "correct horse battery").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.connect(user, "zoho", json!({"refresh_token": "a-zoho-grant"}))
        .await;
    let gone = app
        .user_request(reqwest::Method::DELETE, "/v1/connections/zoho", &access)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.status(user, "zoho").await["status"], "not_connected");
    assert_eq!(
        revocation_recorded(&app, user, "zoho").await,
        "revoke_failed"
    );
}

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

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graph_batch::{batch, by_id};
use crate::helpers::{keys, payload, read, spawn_app};

#[tokio::test]
async fn graph_429_500_503_have_graph_shapes_and_are_counted() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let path = format!("/graph/mailboxes/{}/faults", mailbox.id);
    let (status, _) = app
        .control(
            Method::PUT,
            &path,
            json!({"share_429": 1.0, "retry_after_seconds": 2.128, "max_faults": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .graph(&mailbox, Method::GET, "/me/contacts")
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "2.128");
    let (_, body) = read(response).await;
    let published = payload("graph_429");
    assert_eq!(keys(&body["error"]), keys(&published["error"]));
    assert_eq!(
        keys(&body["error"]["innerError"]),
        keys(&published["error"]["innerError"])
    );
    assert_eq!(body["error"]["code"], "TooManyRequests");
    // max_faults reached: the next call passes.
    let (status, _) = read(
        app.graph(&mailbox, Method::GET, "/me/contacts")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    app.control(
        Method::PUT,
        &path,
        json!({"share_503": 1.0, "retry_after_seconds": 10}),
    )
    .await;
    let response = app
        .graph(&mailbox, Method::GET, "/me")
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "10");
    let (_, body) = read(response).await;
    assert_eq!(body["error"]["code"], "serviceNotAvailable");

    app.control(Method::PUT, &path, json!({"share_500": 1.0}))
        .await;
    let (status, body) = read(
        app.graph(&mailbox, Method::GET, "/me")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "generalException");

    let (status, _) = app.control(Method::DELETE, &path, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = read(
        app.graph(&mailbox, Method::GET, "/me")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    assert_eq!(
        stats["graph"]["mailboxes"][&mailbox.id]["faults"],
        json!({"429": 1, "500": 1, "503": 1})
    );
}

#[tokio::test]
async fn zoho_faults_have_zoho_shapes() {
    let app = spawn_app().await;
    let org = app.org("eu").await;
    let path = format!("/zoho/orgs/{}/faults", org.id);
    app.control(
        Method::PUT,
        &path,
        json!({"share_429": 1.0, "retry_after_seconds": 30}),
    )
    .await;
    let (status, body) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let published = payload("zoho_429_too_many_requests");
    assert_eq!(keys(&body), keys(&published));
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
    assert_eq!(body["status"], "error");
    assert_eq!(body["details"]["retry_after"], 30);
    assert!(keys(&body["details"]).is_subset(&keys(&published["details"])));

    app.control(Method::PUT, &path, json!({"share_500": 1.0}))
        .await;
    let (status, body) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["code"], "INTERNAL_ERROR");

    app.control(Method::PUT, &path, json!({"share_503": 1.0}))
        .await;
    let response = app
        .zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.text().await.expect("body").contains("<html>"));
}

#[tokio::test]
async fn a_dropped_connection_gets_no_answer_but_the_write_happened() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    app.control(
        Method::PUT,
        &format!("/graph/mailboxes/{}/faults", mailbox.id),
        json!({"share_drop": 1.0, "operations": ["POST /me/contacts"]}),
    )
    .await;
    let outcome = app
        .graph(&mailbox, Method::POST, "/me/contacts")
        .json(&json!({"givenName": "Lost"}))
        .send()
        .await;
    assert!(outcome.is_err(), "no answer expected: {outcome:?}");
    // Other operations are not covered by the setting.
    let (status, listed) = read(
        app.graph(&mailbox, Method::GET, "/me/contacts")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["value"][0]["givenName"], "Lost");
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    assert_eq!(
        stats["graph"]["mailboxes"][&mailbox.id]["faults"]["drop"],
        1
    );
}

#[tokio::test]
async fn a_malformed_body_is_truncated_json_with_200() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    app.insert(&org, json!([{"Last_Name": "Truncated"}])).await;
    app.control(
        Method::PUT,
        &format!("/zoho/orgs/{}/faults", org.id),
        json!({"share_malformed": 1.0, "max_faults": 1}),
    )
    .await;
    let response = app
        .zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("body");
    assert!(text.starts_with("{\"data\""), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let (status, body) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["Last_Name"], "Truncated");
}

#[tokio::test]
async fn latency_is_added_and_global_settings_apply_to_every_account() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let org = app.org("com").await;
    let (status, _) = app
        .control(Method::PUT, "/faults", json!({"latency_ms": 150}))
        .await;
    assert_eq!(status, StatusCode::OK);
    for request in [
        app.graph(&mailbox, Method::GET, "/me"),
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name"),
    ] {
        let started = Instant::now();
        let response = request.send().await.expect("call");
        assert!(response.status().is_success());
        assert!(started.elapsed() >= Duration::from_millis(150));
    }
    // An account's own setting wins over the global one.
    app.control(
        Method::PUT,
        &format!("/graph/mailboxes/{}/faults", mailbox.id),
        json!({}),
    )
    .await;
    let started = Instant::now();
    app.graph(&mailbox, Method::GET, "/me")
        .send()
        .await
        .expect("call");
    assert!(started.elapsed() < Duration::from_millis(150));
    let (_, described) = app.control(Method::GET, "/faults", Value::Null).await;
    assert_eq!(described["global"]["spec"]["latency_ms"], 150);
    assert!(described["mailboxes"][&mailbox.id].is_object());
    app.control(Method::DELETE, "/faults", Value::Null).await;
    let (_, described) = app.control(Method::GET, "/faults", Value::Null).await;
    assert_eq!(
        described,
        json!({"global": null, "mailboxes": {}, "orgs": {}})
    );
}

#[tokio::test]
async fn seeded_faults_repeat_exactly() {
    let app = spawn_app().await;
    let mut runs = Vec::new();
    for _ in 0..2 {
        let org = app.org("com").await;
        app.control(
            Method::PUT,
            &format!("/zoho/orgs/{}/faults", org.id),
            json!({"share_429": 0.3, "share_500": 0.2, "seed": 1234}),
        )
        .await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            let response = app
                .zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
                .send()
                .await
                .expect("call");
            statuses.push(response.status().as_u16());
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&429) && runs[0].contains(&500) && runs[0].contains(&204));
}

#[tokio::test]
async fn batch_items_are_throttled_one_by_one() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    app.control(
        Method::PUT,
        &format!("/graph/mailboxes/{}/faults", mailbox.id),
        json!({"share_429": 1.0, "retry_after_seconds": 3, "operations": ["GET /me/contacts*"]}),
    )
    .await;
    let (status, body) = batch(
        &app,
        &mailbox,
        json!({"requests": [
            {"id": "1", "method": "GET", "url": "/me/contacts"},
            {"id": "2", "method": "GET", "url": "/me"},
            {"id": "3", "method": "GET", "url": "/me/contactFolders", "dependsOn": ["1"]},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let responses = by_id(&body);
    assert_eq!(responses["1"]["status"], 429);
    assert_eq!(responses["1"]["headers"]["Retry-After"], "3");
    assert_eq!(responses["1"]["body"]["error"]["code"], "TooManyRequests");
    assert_eq!(responses["2"]["status"], 200);
    assert_eq!(responses["3"]["status"], 424);
}

#[tokio::test]
async fn zoho_credits_are_counted_and_the_budget_refuses_with_429() {
    let app = spawn_app().await;
    let (status, created) = app
        .control(Method::POST, "/zoho/orgs", json!({"credit_budget": 3}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["credit_budget"], 3);
    let org = app.org("com").await;
    let path = format!("/zoho/orgs/{}/credits", org.id);
    let (_, credits) = app.control(Method::PUT, &path, json!({"budget": 3})).await;
    assert_eq!(credits["budget"], 3);
    for _ in 0..3 {
        let response = app
            .zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let (status, body) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["code"], "TOO_MANY_REQUESTS");
    assert_eq!(body["details"]["limit"], 3);
    assert!(
        body["details"]["retry_after"]
            .as_i64()
            .is_some_and(|s| s > 0)
    );
    assert!(
        keys(&body["details"]).is_subset(&keys(&payload("zoho_429_too_many_requests")["details"]))
    );

    // Token refreshes are Zoho Accounts calls: they cost nothing.
    let refresh = app
        .http
        .post(format!("{}/oauth/v2/token", org.accounts_url))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-zoho-client"),
            ("client_secret", "sandbox-zoho-secret"),
            ("refresh_token", org.refresh_token.as_str()),
        ])
        .send()
        .await
        .expect("refresh");
    assert_eq!(refresh.status(), StatusCode::OK);

    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    assert_eq!(
        stats["zoho"]["credits"][&org.id],
        json!({"used": 3, "budget": 3, "remaining": 0, "window_seconds": 86400})
    );
    assert_eq!(stats["zoho"]["orgs"][&org.id]["faults"]["credits"], 1);

    let (_, credits) = app
        .control(Method::PUT, &path, json!({"budget": null, "used": 10}))
        .await;
    assert_eq!(credits["used"], 10);
    assert_eq!(credits["remaining"], Value::Null);
    let response = app
        .zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (_, credits) = app.control(Method::GET, &path, Value::Null).await;
    assert_eq!(credits["used"], 11);
}

#[tokio::test]
async fn per_account_token_expiry_and_control_errors() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let other = app.mailbox().await;
    let org = app.org("com").await;
    app.control(
        Method::POST,
        &format!("/graph/mailboxes/{}/expire-access-tokens", mailbox.id),
        Value::Null,
    )
    .await;
    let (status, body) = read(
        app.graph(&mailbox, Method::GET, "/me")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
    let (status, _) = read(
        app.graph(&other, Method::GET, "/me")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    app.control(
        Method::POST,
        &format!("/zoho/orgs/{}/expire-access-tokens", org.id),
        Value::Null,
    )
    .await;
    let (status, body) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "INVALID_TOKEN");

    for (path, body, expected) in [
        (
            "/faults",
            json!({"share_429": 1.5}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/faults",
            json!({"share_429": 0.6, "share_500": 0.6}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/faults",
            json!({"share_4299": 0.1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/graph/mailboxes/nope/faults",
            json!({}),
            StatusCode::NOT_FOUND,
        ),
        ("/zoho/orgs/nope/faults", json!({}), StatusCode::NOT_FOUND),
        ("/zoho/orgs/nope/credits", json!({}), StatusCode::NOT_FOUND),
    ] {
        let (status, answer) = app.control(Method::PUT, path, body).await;
        assert_eq!(status, expected, "{path}: {answer}");
        assert!(answer["error"].is_string());
    }
}

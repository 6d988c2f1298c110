//! Outlook's 4 concurrent requests per app and mailbox: a fifth request in flight is throttled
//! in Graph's shape, a `$batch` counts its requests (not itself), another app has its own 4, the
//! highest count is in the stats, and the limit can be switched off per mailbox.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graph_batch::{batch, by_id};
use crate::helpers::{Mailbox, TestApp, keys, payload, read, spawn_app};

/// Keeps every GET of the mailbox in flight for a while (not the `$batch` call itself, so its
/// requests start at once).
async fn slow(app: &TestApp, mailbox: &Mailbox, latency_ms: u64) {
    let (status, _) = app
        .control(
            Method::PUT,
            &format!("/graph/mailboxes/{}/faults", mailbox.id),
            json!({"latency_ms": latency_ms, "operations": ["GET /me*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Starts `n` slow `GET /me` calls and waits until the sandbox counts them all in flight.
async fn in_flight(
    app: &TestApp,
    mailbox: &Mailbox,
    n: u64,
) -> Vec<tokio::task::JoinHandle<StatusCode>> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let request = app.graph(mailbox, Method::GET, "/me");
            tokio::spawn(async move { request.send().await.expect("call").status() })
        })
        .collect();
    let path = format!("/graph/mailboxes/{}/concurrency", mailbox.id);
    for _ in 0..200 {
        let (_, described) = app.control(Method::GET, &path, Value::Null).await;
        if described["in_flight"]["control"]
            .as_u64()
            .unwrap_or_default()
            >= n
        {
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{n} calls never were in flight at once");
}

async fn statuses(calls: Vec<tokio::task::JoinHandle<StatusCode>>) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for call in calls {
        out.push(call.await.expect("call task"));
    }
    out
}

async fn mailbox_stats(app: &TestApp, mailbox: &Mailbox) -> Value {
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    stats["graph"]["mailboxes"][&mailbox.id].clone()
}

#[tokio::test]
async fn a_fifth_request_in_flight_is_throttled_and_the_highest_count_is_in_the_stats() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    slow(&app, &mailbox, 600).await;
    let four = in_flight(&app, &mailbox, 4).await;

    let response = app
        .graph(&mailbox, Method::GET, "/me/contacts")
        .send()
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let (_, body) = read(response).await;
    let published = payload("graph_429");
    assert_eq!(keys(&body["error"]), keys(&published["error"]));
    assert_eq!(
        keys(&body["error"]["innerError"]),
        keys(&published["error"]["innerError"])
    );
    assert_eq!(body["error"]["code"], "TooManyRequests");

    // Another app (the OAuth client, with a token from the token endpoint) has its own 4.
    let (status, token) = read(
        app.http
            .post(app.url("/login/common/oauth2/v2.0/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", mailbox.refresh_token.as_str()),
                ("client_id", "sandbox-graph-client"),
                ("client_secret", "sandbox-graph-secret"),
            ])
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let other_app = app
        .http
        .get(app.url("/graph/v1.0/me"))
        .bearer_auth(token["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("call");
    assert_eq!(other_app.status(), StatusCode::OK);

    assert_eq!(statuses(four).await, vec![StatusCode::OK; 4]);
    // Once they have answered, there is room again.
    let (status, _) = read(
        app.graph(&mailbox, Method::GET, "/me")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let stats = mailbox_stats(&app, &mailbox).await;
    assert_eq!(
        stats["max_in_flight"], 5,
        "the refused fifth included: {stats}"
    );
    assert_eq!(stats["faults"]["concurrency"], 1, "{stats}");
    // The refused call is counted as a call.
    assert_eq!(stats["operations"]["GET /me/contacts"], 1, "{stats}");
}

#[tokio::test]
async fn a_batch_counts_the_requests_it_runs_and_those_over_the_limit_are_throttled_alone() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let requests = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/me"},
        {"id": "2", "method": "GET", "url": "/me/contacts"},
        {"id": "3", "method": "GET", "url": "/me/contactFolders"},
        {"id": "4", "method": "GET", "url": "/me/todo/lists"},
    ]});
    // Alone, a batch of four runs them all at once: the batch call itself does not count.
    slow(&app, &mailbox, 300).await;
    let (status, body) = batch(&app, &mailbox, requests.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(by_id(&body).values().all(|r| r["status"] == 200), "{body}");
    assert_eq!(mailbox_stats(&app, &mailbox).await["max_in_flight"], 4);

    // With two calls in flight, two of the batch's requests run and two are throttled alone.
    slow(&app, &mailbox, 800).await;
    let two = in_flight(&app, &mailbox, 2).await;
    let (status, body) = batch(&app, &mailbox, requests).await;
    assert_eq!(status, StatusCode::OK);
    let answers = by_id(&body);
    let throttled: Vec<&Value> = answers.values().filter(|r| r["status"] == 429).collect();
    assert_eq!(throttled.len(), 2, "{body}");
    assert_eq!(
        answers.values().filter(|r| r["status"] == 200).count(),
        2,
        "{body}"
    );
    for answer in throttled {
        assert_eq!(answer["headers"]["Retry-After"], "1");
        assert_eq!(answer["body"]["error"]["code"], "TooManyRequests");
    }
    assert_eq!(statuses(two).await, vec![StatusCode::OK; 2]);
    let stats = mailbox_stats(&app, &mailbox).await;
    assert_eq!(
        stats["max_in_flight"], 5,
        "the refused ones included: {stats}"
    );
    assert_eq!(stats["faults"]["concurrency"], 2, "{stats}");
}

#[tokio::test]
async fn the_limit_can_be_changed_or_switched_off_per_mailbox() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let path = format!("/graph/mailboxes/{}/concurrency", mailbox.id);
    let (status, described) = app.control(Method::GET, &path, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(described["enabled"], true, "on by default: {described}");
    assert_eq!(described["max_in_flight"], 4);

    let (status, described) = app
        .control(Method::PUT, &path, json!({"enabled": false}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(described["enabled"], false);
    slow(&app, &mailbox, 400).await;
    let six = in_flight(&app, &mailbox, 6).await;
    assert_eq!(statuses(six).await, vec![StatusCode::OK; 6]);
    let stats = mailbox_stats(&app, &mailbox).await;
    assert_eq!(stats["max_in_flight"], 6, "counted even when off: {stats}");
    assert!(stats["faults"].get("concurrency").is_none(), "{stats}");

    // A lower limit, with a Retry-After of its own.
    app.control(
        Method::PUT,
        &path,
        json!({"max_in_flight": 1, "retry_after_seconds": 2.5}),
    )
    .await;
    let one = in_flight(&app, &mailbox, 1).await;
    let refused = app
        .graph(&mailbox, Method::GET, "/me")
        .send()
        .await
        .expect("call");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.headers()["retry-after"], "2.5");
    assert_eq!(statuses(one).await, vec![StatusCode::OK]);

    let (_, described) = app.control(Method::DELETE, &path, Value::Null).await;
    assert_eq!(described["enabled"], true);
    assert_eq!(described["max_in_flight"], 4);
    let (status, _) = app
        .control(Method::PUT, &path, json!({"max_in_flight": 0}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .control(
            Method::PUT,
            "/graph/mailboxes/nobody/concurrency",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

use std::collections::HashMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Mailbox, TestApp, keys, payload, read, spawn_app};

pub async fn batch(app: &TestApp, mailbox: &Mailbox, body: Value) -> (StatusCode, Value) {
    read(
        app.graph(mailbox, Method::POST, "/$batch")
            .json(&body)
            .send()
            .await
            .expect("batch"),
    )
    .await
}

/// The responses of a batch by id.
pub fn by_id(body: &Value) -> HashMap<String, Value> {
    body["responses"]
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| (r["id"].as_str().expect("id").to_owned(), r.clone()))
        .collect()
}

#[tokio::test]
async fn a_batch_runs_each_request_through_the_single_call_routes() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let existing = app
        .create_contact(&mailbox, json!({"givenName": "Åse", "surname": "Løvås"}))
        .await;
    let (status, body) = batch(
        &app,
        &mailbox,
        json!({"requests": [
            {"id": "1", "method": "POST", "url": "/me/contacts",
             "headers": {"Content-Type": "application/json"},
             "body": {"givenName": "山田", "surname": "太郎"}},
            {"id": "2", "method": "GET", "url": "/me/contactFolders", "dependsOn": ["1"]},
            {"id": "3", "method": "GET", "url": format!("me/contacts/{}?$select=surname", existing["id"].as_str().expect("id"))},
            {"id": "4", "method": "GET", "url": "/me/contacts/AAMkAnotThere="},
            {"id": "5", "method": "DELETE", "url": "/me/contacts/AAMkAnotThere=", "dependsOn": ["4"]},
            {"id": "6", "method": "GET", "url": "/me", "dependsOn": ["5"]},
            {"id": "7", "method": "GET", "url": "https://graph.microsoft.com/v1.0/me/contacts?$top=1"},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), keys(&payload("graph_batch_response")));
    let responses = by_id(&body);
    assert_eq!(responses.len(), 7);
    let published = &payload("graph_batch_response")["responses"][0];
    assert_eq!(keys(&responses["1"]), keys(published));
    assert_eq!(responses["1"]["status"], 201);
    assert_eq!(responses["1"]["body"]["displayName"], "山田 太郎");
    assert!(
        responses["1"]["headers"]["Content-Type"]
            .as_str()
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(responses["2"]["status"], 200);
    assert_eq!(
        responses["2"]["body"]["value"][0]["displayName"],
        "Contacts"
    );
    assert_eq!(responses["3"]["body"]["surname"], "Løvås");
    assert_eq!(responses["4"]["status"], 404);
    assert_eq!(responses["4"]["body"]["error"]["code"], "ErrorItemNotFound");
    // 5 depends on a failed request, 6 on a request that was never run.
    assert_eq!(responses["5"]["status"], 424);
    assert_eq!(responses["6"]["status"], 424);
    assert!(responses["6"]["body"]["error"]["code"].is_string());
    assert_eq!(responses["7"]["status"], 200);
    assert_eq!(
        responses["7"]["body"]["value"].as_array().map(Vec::len),
        Some(1)
    );

    // The created contact is really there, and every item was counted as its own call.
    let (_, all) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            Value::Null,
        )
        .await;
    assert_eq!(all["value"].as_array().map(Vec::len), Some(2));
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    let operations = &stats["graph"]["mailboxes"][&mailbox.id]["operations"];
    assert_eq!(operations["POST /$batch"], 1);
    assert_eq!(operations["POST /me/contacts"], 2);
    assert_eq!(operations["GET /me/contacts/{contact_id}"], 2);
    assert!(operations.get("DELETE /me/contacts/{contact_id}").is_none());
    // Which of them came inside the batch: not the contact made before it, not the batch.
    let in_batch = &stats["graph"]["mailboxes"][&mailbox.id]["in_batch"];
    assert_eq!(in_batch["POST /me/contacts"], 1, "{in_batch}");
    assert_eq!(in_batch["GET /me/contacts/{contact_id}"], 2);
    assert_eq!(in_batch["GET /me/contactFolders"], 1);
    assert!(in_batch.get("POST /$batch").is_none());
}

#[tokio::test]
async fn malformed_batches_fail_as_a_whole_with_400() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/me"});
    let too_many: Vec<Value> = (0..21).map(|n| get(&n.to_string())).collect();
    let cases = [
        (json!({"requests": too_many}), "Limit Exceeded"),
        (
            json!({"requests": [get("a"), get("A")]}),
            "has to be unique in a batch",
        ),
        (json!({"nope": []}), "Invalid batch payload format"),
        (
            json!({"requests": [{"method": "GET", "url": "/me"}]}),
            "'id' is missing",
        ),
        (
            json!({"requests": [{"id": "1", "method": "PATCH", "url": "/me/contacts/x", "body": {}}]}),
            "does not contain Content-Type header or body",
        ),
        (
            json!({"requests": [{"id": "1", "method": "POST", "url": "/me/contacts", "headers": {"Content-Type": "application/json"}}]}),
            "does not contain Content-Type header or body",
        ),
        (
            json!({"requests": [{"id": "1", "method": "GET", "url": "/me", "dependsOn": ["9"]}]}),
            "depends on id : 9",
        ),
        (
            json!({"requests": [
                {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]},
                {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
            ]}),
            "cycle",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = batch(&app, &mailbox, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["code"], "BadRequest");
        let text = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{text} should mention {message}");
    }
    let (status, _) = read(
        app.graph(&mailbox, Method::POST, "/$batch")
            .body("{not json")
            .send()
            .await
            .expect("batch"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Without a token the batch itself is refused.
    let (status, _) = read(
        app.http
            .post(app.url("/graph/v1.0/$batch"))
            .json(&json!({"requests": [get("1")]}))
            .send()
            .await
            .expect("batch"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Nothing was run by the refused batches.
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    let operations = &stats["graph"]["mailboxes"][&mailbox.id]["operations"];
    assert!(operations.get("GET /me").is_none(), "{operations}");
}

#[tokio::test]
async fn twenty_writes_in_one_batch_all_land() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let requests: Vec<Value> = (0..20)
        .map(|n| {
            json!({"id": format!("c{n}"), "method": "POST", "url": "/me/contacts",
                   "headers": {"Content-Type": "application/json"},
                   "body": {"givenName": format!("Søren {n}")}})
        })
        .collect();
    let (status, body) = batch(&app, &mailbox, json!({"requests": requests})).await;
    assert_eq!(status, StatusCode::OK);
    let responses = by_id(&body);
    assert_eq!(responses.len(), 20);
    assert!(responses.values().all(|r| r["status"] == 201));
    let (_, all) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            Value::Null,
        )
        .await;
    assert_eq!(all["value"].as_array().map(Vec::len), Some(20));
}

//! `delta` is an OData function: Microsoft's SDKs call `.../delta()`, older ones
//! `.../microsoft.graph.delta()` or `.../microsoft.graph.delta`, and Graph answers every spelling
//! as it answers `.../delta`, on every delta the sandbox emulates.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Mailbox, TestApp, read, spawn_app};

const SPELLINGS: [&str; 4] = [
    "delta()",
    "microsoft.graph.delta()",
    "microsoft.graph.delta",
    "Microsoft.Graph.Delta()",
];

async fn get(app: &TestApp, mailbox: &Mailbox, path: &str) -> (StatusCode, Value) {
    read(
        app.graph(mailbox, Method::GET, path)
            .send()
            .await
            .expect("get"),
    )
    .await
}

async fn post(app: &TestApp, mailbox: &Mailbox, path: &str, body: Value) -> Value {
    let (status, created) = read(
        app.graph(mailbox, Method::POST, path)
            .json(&body)
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// The ids of a whole round from `start`, and the round's delta link.
async fn round(app: &TestApp, mailbox: &Mailbox, start: &str) -> (Vec<String>, String) {
    let mut url = start.to_owned();
    let mut ids = Vec::new();
    loop {
        let (status, body) = get(app, mailbox, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        for item in body["value"].as_array().expect("value") {
            ids.push(item["id"].as_str().expect("id").to_owned());
        }
        match (
            body["@odata.nextLink"].as_str(),
            body["@odata.deltaLink"].as_str(),
        ) {
            (Some(next), _) => url = next.to_owned(),
            (None, Some(delta)) => return (ids, delta.to_owned()),
            (None, None) => panic!("{url}: a page without a link: {body}"),
        }
    }
}

#[tokio::test]
async fn every_delta_answers_as_a_function_in_each_spelling() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let contact = app
        .create_contact(&mailbox, json!({"givenName": "Ada", "surname": "Lovelace"}))
        .await;
    let (_, lists) = get(&app, &mailbox, "/me/todo/lists").await;
    let list = lists["value"][0]["id"].as_str().expect("a list").to_owned();
    let task = post(
        &app,
        &mailbox,
        &format!("/me/todo/lists/{list}/tasks"),
        json!({"title": "Call Ada"}),
    )
    .await;
    let event = post(
        &app,
        &mailbox,
        "/me/events",
        json!({"subject": "Lunch",
               "start": {"dateTime": "2024-03-04T12:00:00", "timeZone": "UTC"},
               "end": {"dateTime": "2024-03-04T13:00:00", "timeZone": "UTC"}}),
    )
    .await;
    let window = "?startDateTime=2024-03-01T00:00:00Z&endDateTime=2024-04-01T00:00:00Z";
    // Each delta: the path before the function, what follows it, and an item it must report.
    let deltas = [
        (
            format!("/me/contactFolders/{}/contacts", mailbox.folder_id),
            String::new(),
            contact["id"].clone(),
        ),
        ("/me/todo/lists".to_owned(), String::new(), json!(list)),
        (
            format!("/me/todo/lists/{list}/tasks"),
            String::new(),
            task["id"].clone(),
        ),
        (
            "/me/calendarView".to_owned(),
            window.to_owned(),
            event["id"].clone(),
        ),
    ];
    for (collection, query, item) in deltas {
        let (plain, _) = round(&app, &mailbox, &format!("{collection}/delta{query}")).await;
        assert!(
            plain.iter().any(|id| *id == item),
            "{collection}: {plain:?}"
        );
        for spelling in SPELLINGS {
            let start = format!("{collection}/{spelling}{query}");
            let (ids, delta_link) = round(&app, &mailbox, &start).await;
            assert_eq!(ids, plain, "{start}");
            // The delta link it hands back is followed like any other.
            let (status, body) = get(&app, &mailbox, &delta_link).await;
            assert_eq!(status, StatusCode::OK, "{delta_link}: {body}");
        }
    }
}

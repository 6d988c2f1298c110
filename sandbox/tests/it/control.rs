use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, read, spawn_app};

/// (name, primary e-mail) pairs of each side after seeding.
async fn seeded(
    app: &TestApp,
    seed: u64,
) -> (BTreeSet<(String, String)>, BTreeSet<(String, String)>) {
    let mailbox = app.mailbox().await;
    let org = app.org("com").await;
    let (status, answer) = app
        .control(
            Method::POST,
            "/seed",
            json!({"mailbox_id": mailbox.id, "org_id": org.id, "contacts": 30, "shared_share": 0.2, "seed": seed}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"seed": seed, "shared": 6, "outlook_contacts": 30, "zoho_contacts": 30})
    );

    let (_, contacts) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            Value::Null,
        )
        .await;
    let outlook = contacts["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|c| {
            (
                format!(
                    "{} {}",
                    c["givenName"].as_str().unwrap_or(""),
                    c["surname"].as_str().unwrap_or("")
                ),
                c["emailAddresses"][0]["address"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            )
        })
        .collect();
    let (_, records) = app
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/records/Contacts", org.id),
            Value::Null,
        )
        .await;
    let zoho = records["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| {
            (
                r["Full_Name"].as_str().unwrap_or("").to_owned(),
                r["Email"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    (outlook, zoho)
}

#[tokio::test]
async fn seeding_is_deterministic_and_shares_people() {
    let app = spawn_app().await;
    let (outlook_a, zoho_a) = seeded(&app, 42).await;
    let (outlook_b, zoho_b) = seeded(&app, 42).await;
    assert_eq!(outlook_a, outlook_b);
    assert_eq!(zoho_a, zoho_b);
    assert_eq!(outlook_a.intersection(&zoho_a).count(), 6);
    let (outlook_c, _) = seeded(&app, 43).await;
    assert_ne!(outlook_a, outlook_c);
    let non_ascii = outlook_a
        .iter()
        .filter(|(name, _)| !name.is_ascii())
        .count();
    assert!(non_ascii > 0, "seed data has non-ASCII names");
}

#[tokio::test]
async fn stats_count_calls_per_account_and_operation() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let org = app.org("com").await;
    for _ in 0..2 {
        app.graph(&mailbox, Method::GET, "/me/contactFolders")
            .send()
            .await
            .expect("call");
    }
    app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name")
        .send()
        .await
        .expect("call");
    app.http
        .get(app.url("/graph/v1.0/me/contacts"))
        .send()
        .await
        .expect("call");

    let (status, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let graph = &stats["graph"]["mailboxes"][&mailbox.id];
    assert_eq!(graph["total"], 2);
    assert_eq!(graph["operations"]["GET /me/contactFolders"], 2);
    let zoho = &stats["zoho"]["orgs"][&org.id];
    assert_eq!(zoho["operations"]["GET /Contacts"], 1);
    assert_eq!(stats["graph"]["unauthenticated"], 1);

    app.control(Method::POST, "/stats/reset", Value::Null).await;
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    assert_eq!(stats["graph"]["mailboxes"], json!({}));
}

#[tokio::test]
async fn health_and_control_errors() {
    let app = spawn_app().await;
    let live = app
        .http
        .get(app.url("/health/live"))
        .send()
        .await
        .expect("health");
    assert_eq!(live.status(), StatusCode::OK);
    let (status, body) = app
        .control(Method::POST, "/zoho/orgs", json!({"dc": "mars"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].is_string());
    let (status, _) = read(
        app.http
            .post(app.url("/_sandbox/graph/mailboxes"))
            .body("{oops")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn links_use_the_public_base_url_when_set() {
    let settings = sandbox::Settings {
        public_base_url: Some("https://sandbox.example".to_owned()),
        ..sandbox::Settings::for_tests()
    };
    let application = sandbox::Application::build(settings).await.expect("build");
    let base = application.base_url();
    tokio::spawn(application.run_until_stopped());
    let http = reqwest::Client::new();
    let (status, org) = read(
        http.post(format!("{base}/_sandbox/zoho/orgs"))
            .json(&json!({"dc": "jp"}))
            .send()
            .await
            .expect("org"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(org["api_domain"], "https://sandbox.example/zoho-api/jp");
    assert_eq!(
        org["accounts_url"],
        "https://sandbox.example/zoho-accounts/jp"
    );
}

#[tokio::test]
async fn seeding_tasks_and_events_on_both_sides() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let org = app.org("com").await;
    let body = json!({"mailbox_id": mailbox.id, "org_id": org.id, "contacts": 10, "tasks": 40,
                      "events": 40, "shared_share": 0.25, "seed": 7, "anchor": "2024-03-01"});
    let (status, answer) = app.control(Method::POST, "/seed", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"seed": 7, "shared": 3, "outlook_contacts": 10, "zoho_contacts": 10, "anchor": "2024-03-01",
               "outlook_tasks": 40, "zoho_tasks": 40, "shared_tasks": 10,
               "outlook_events": 40, "zoho_events": 40, "shared_events": 10})
    );

    let (_, tasks) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/tasks", mailbox.id),
            Value::Null,
        )
        .await;
    let outlook_titles: BTreeSet<String> = tasks["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(outlook_titles.len(), 40);
    let (_, zoho_tasks) = app
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/records/Tasks", org.id),
            Value::Null,
        )
        .await;
    let zoho_titles: BTreeSet<String> = zoho_tasks["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|t| t["Subject"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(outlook_titles.intersection(&zoho_titles).count(), 10);
    assert!(outlook_titles.iter().any(|t| !t.is_ascii()));

    let (_, events) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/events", mailbox.id),
            Value::Null,
        )
        .await;
    let events = events["value"].as_array().expect("value");
    assert_eq!(events.len(), 40);
    assert!(events.iter().any(|e| e["isAllDay"] == true));
    assert!(events.iter().any(|e| e["type"] == "seriesMaster"));
    let (_, zoho_events) = app
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/records/Events", org.id),
            Value::Null,
        )
        .await;
    let zoho_events = zoho_events["data"].as_array().expect("data");
    assert_eq!(zoho_events.len(), 40);
    assert!(
        zoho_events
            .iter()
            .any(|e| e["Recurring_Activity"].is_object())
    );
    // A shared event starts at the same instant on both sides.
    let subject = events[0]["subject"].as_str().expect("subject");
    let twin = zoho_events
        .iter()
        .find(|e| e["Event_Title"] == subject)
        .expect("shared event");
    let graph_start = format!(
        "{}+00:00",
        &events[0]["start"]["dateTime"].as_str().expect("start")[..19]
    );
    if events[0]["isAllDay"] == false {
        assert_eq!(twin["Start_DateTime"], graph_start.as_str());
    }

    // The same seed and anchor give the same activities; contacts do not depend on them.
    let again = app.mailbox().await;
    app.control(
        Method::POST,
        "/seed",
        json!({"mailbox_id": again.id, "contacts": 10, "tasks": 40, "events": 0, "seed": 7, "anchor": "2024-03-01"}),
    )
    .await;
    let (_, tasks_again) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/tasks", again.id),
            Value::Null,
        )
        .await;
    let titles_again: BTreeSet<String> = tasks_again["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(titles_again, outlook_titles);
    let (_, lists) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/todo-lists", again.id),
            Value::Null,
        )
        .await;
    assert_eq!(lists["value"][0]["wellknownListName"], "defaultList");
    let (_, categories) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/categories", again.id),
            Value::Null,
        )
        .await;
    assert_eq!(categories["value"].as_array().map(Vec::len), Some(6));
}

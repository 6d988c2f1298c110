use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use sandbox::{Application, Settings};
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, read, spawn_app};

/// A file name of its own in the temporary directory.
fn snapshot_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "sandbox-{name}-{}-{nanos}.json",
        std::process::id()
    ))
}

/// A sandbox on `path`, with the handle that stops it.
async fn start(
    path: &Path,
) -> (
    TestApp,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let settings = Settings {
        snapshot_file: Some(path.to_path_buf()),
        ..Settings::for_tests()
    };
    let application = Application::build(settings).await.expect("build");
    let base = application.base_url();
    let stop = application.shutdown_token();
    let running = tokio::spawn(application.run_until_stopped());
    (
        TestApp {
            base,
            http: reqwest::Client::new(),
        },
        stop,
        running,
    )
}

#[tokio::test]
async fn the_world_survives_a_restart_through_the_snapshot_file() {
    let path = snapshot_path("restart");
    let (app, stop, running) = start(&path).await;
    let mailbox = app.mailbox().await;
    let org = app.org("eu").await;
    let identity = json!([{"id": "String {8d1c0c53-6f4e-4b59-9d0e-2f4d6c1a7e21} Name SyncLinkId", "value": "link-1"}]);
    app.create_contact(
        &mailbox,
        json!({"givenName": "Åse", "surname": "Løvås", "singleValueExtendedProperties": identity}),
    )
    .await;
    let start_link = format!("/me/contactFolders/{}/contacts/delta", mailbox.folder_id);
    let (_, first) = read(
        app.graph(&mailbox, Method::GET, &start_link)
            .send()
            .await
            .expect("delta"),
    )
    .await;
    let delta_link = first["@odata.deltaLink"].as_str().expect("link").to_owned();
    let (_, series) = read(
        app.graph(&mailbox, Method::POST, "/me/events")
            .json(&json!({"subject": "週次定例", "transactionId": "tx-snapshot", "start": {"dateTime": "2024-01-01T10:00:00", "timeZone": "Tokyo Standard Time"},
                          "end": {"dateTime": "2024-01-01T11:00:00", "timeZone": "Tokyo Standard Time"},
                          "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                         "range": {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 4}}}))
            .send()
            .await
            .expect("event"),
    )
    .await;
    let series_id = series["id"].as_str().expect("id").to_owned();
    let instances = format!(
        "/me/events/{series_id}/instances?startDateTime=2024-01-01T00:00:00Z&endDateTime=2024-02-01T00:00:00Z"
    );
    let (_, before) = read(
        app.graph(&mailbox, Method::GET, &instances)
            .send()
            .await
            .expect("instances"),
    )
    .await;
    let second = before["value"][1]["id"].as_str().expect("id").to_owned();
    app.graph(&mailbox, Method::PATCH, &format!("/me/events/{second}"))
        .json(&json!({"subject": "振替"}))
        .send()
        .await
        .expect("patch");
    let (status, _) = read(
        app.zoho(&org, Method::POST, "/settings/fields?module=Tasks")
            .json(
                &json!({"fields": [{"field_label": "Sync Link Id", "data_type": "text",
                                      "external": {"type": "org", "show": true}}]}),
            )
            .send()
            .await
            .expect("field"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    app.insert_into(
        &org,
        "Tasks",
        json!([{"Subject": "Angebot", "Status": "In Progress", "Sync_Link_Id": "t-1"}]),
    )
    .await;
    app.control(
        Method::PUT,
        &format!("/zoho/orgs/{}/credits", org.id),
        json!({"budget": 1000}),
    )
    .await;

    let (status, written) = app.control(Method::POST, "/snapshot", Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert!(written["bytes"].as_u64().is_some_and(|b| b > 100));
    let (status, snapshot) = app.control(Method::GET, "/snapshot", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snapshot["version"], 1);

    // A change after the explicit write is saved on shutdown.
    app.create_contact(&mailbox, json!({"givenName": "Later"}))
        .await;
    stop.cancel();
    running.await.expect("join").expect("stopped cleanly");

    let (again, stop, running) = start(&path).await;
    let org = Org {
        api_domain: org.api_domain.replace(&app.base, &again.base),
        ..org
    };
    let (status, contacts) = read(
        again
            .graph(&mailbox, Method::GET, "/me/contacts")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "access tokens survive: {contacts}");
    assert_eq!(contacts["value"].as_array().map(Vec::len), Some(2));
    // The link identity survives: extended properties and the event's transactionId.
    let (_, kept) = again
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            Value::Null,
        )
        .await;
    assert_eq!(kept["value"][0]["singleValueExtendedProperties"], identity);
    let (status, repeated) = read(
        again
            .graph(&mailbox, Method::POST, "/me/events")
            .json(&json!({"subject": "x", "transactionId": "tx-snapshot",
                          "start": {"dateTime": "2024-01-01T10:00:00", "timeZone": "UTC"},
                          "end": {"dateTime": "2024-01-01T11:00:00", "timeZone": "UTC"}}))
            .send()
            .await
            .expect("event"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(repeated["id"], json!(series_id));
    let link = delta_link.replace(&app.base, &again.base);
    let (status, next) = read(
        again
            .graph(&mailbox, Method::GET, &link)
            .send()
            .await
            .expect("delta"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{next}");
    assert_eq!(next["value"][0]["givenName"], "Later");
    let (_, after) = read(
        again
            .graph(&mailbox, Method::GET, &instances)
            .send()
            .await
            .expect("instances"),
    )
    .await;
    assert_eq!(after["value"][1]["type"], "exception");
    assert_eq!(after["value"][1]["subject"], "振替");
    let (status, tasks) = read(
        again
            .zoho(
                &org,
                Method::GET,
                "/Tasks?fields=Subject,Status,Sync_Link_Id",
            )
            .send()
            .await
            .expect("tasks"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    assert_eq!(tasks["data"][0]["Status"], "In Progress");
    assert_eq!(
        tasks["data"][0]["Sync_Link_Id"], "t-1",
        "custom fields survive"
    );
    let (status, by_external) = read(
        again
            .zoho(&org, Method::GET, "/Tasks/t-1")
            .header("X-EXTERNAL", "Tasks.Sync_Link_Id")
            .send()
            .await
            .expect("by external id"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_external["data"][0]["Subject"], "Angebot");
    let (_, credits) = again
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/credits", org.id),
            Value::Null,
        )
        .await;
    assert_eq!(credits["budget"], 1000);
    // The refresh token still refreshes.
    let refreshed = again
        .http
        .post(format!("{}/zoho-accounts/eu/oauth/v2/token", again.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-zoho-client"),
            ("client_secret", "sandbox-zoho-secret"),
            ("refresh_token", org.refresh_token.as_str()),
        ])
        .send()
        .await
        .expect("refresh");
    let (_, token) = read(refreshed).await;
    assert!(token["access_token"].is_string(), "{token}");
    stop.cancel();
    running.await.expect("join").expect("stopped");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_corrupt_snapshot_refuses_to_start_and_none_configured_is_409() {
    let path = snapshot_path("corrupt");
    std::fs::write(&path, b"{not json").expect("write");
    let settings = Settings {
        snapshot_file: Some(path.clone()),
        ..Settings::for_tests()
    };
    assert!(Application::build(settings).await.is_err());
    let _ = std::fs::remove_file(&path);

    let app = spawn_app().await;
    let (status, body) = app.control(Method::POST, "/snapshot", Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("SANDBOX_SNAPSHOT_FILE"))
    );
}

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graph_batch::batch;
use crate::helpers::{Mailbox, TestApp, keys, payload, read, spawn_app};

async fn call(
    app: &TestApp,
    mailbox: &Mailbox,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.graph(mailbox, method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.expect("call")).await
}

async fn default_list(app: &TestApp, mailbox: &Mailbox) -> String {
    let (_, lists) = call(app, mailbox, Method::GET, "/me/todo/lists", None).await;
    lists["value"]
        .as_array()
        .expect("value")
        .iter()
        .find(|l| l["wellknownListName"] == "defaultList")
        .and_then(|l| l["id"].as_str())
        .expect("default list")
        .to_owned()
}

/// Creates `count` tasks through batches of 20.
pub async fn create_tasks(app: &TestApp, mailbox: &Mailbox, list: &str, count: usize) {
    let requests: Vec<Value> = (0..count)
        .map(|n| {
            json!({"id": n.to_string(), "method": "POST", "url": format!("/me/todo/lists/{list}/tasks"),
                   "headers": {"Content-Type": "application/json"}, "body": {"title": format!("タスク {n}")}})
        })
        .collect();
    for chunk in requests.chunks(20) {
        let (status, body) = batch(app, mailbox, json!({"requests": chunk})).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body["responses"]
                .as_array()
                .expect("responses")
                .iter()
                .all(|r| r["status"] == 201)
        );
    }
}

#[tokio::test]
async fn lists_have_a_default_and_can_be_created_renamed_and_deleted() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (status, lists) = call(&app, &mailbox, Method::GET, "/me/todo/lists", None).await;
    assert_eq!(status, StatusCode::OK);
    let published = &payload("graph_todo_lists")["value"][0];
    let default = &lists["value"][0];
    assert!(keys(published).is_subset(&keys(default)), "{default}");
    assert_eq!(default["displayName"], "Tasks");
    assert_eq!(default["wellknownListName"], "defaultList");
    assert_eq!(default["@odata.type"], "#microsoft.graph.todoTaskList");
    let default_id = default["id"].as_str().expect("id").to_owned();

    let (status, created) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/todo/lists",
        Some(json!({"displayName": "Monthly Tasks"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["wellknownListName"], "none");
    let list_id = created["id"].as_str().expect("id").to_owned();
    let (status, renamed) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/todo/lists/{list_id}"),
        Some(json!({"displayName": "月次タスク"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["displayName"], "月次タスク");

    let (status, _) = call(
        &app,
        &mailbox,
        Method::POST,
        &format!("/me/todo/lists/{list_id}/tasks"),
        Some(json!({"title": "in the list"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/todo/lists/{default_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/todo/lists/{list_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/todo/lists/{list_id}/tasks"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/todo/lists",
        Some(json!({"displayName": "x", "color": "red"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "RequestBodyRead");
}

#[tokio::test]
async fn task_crud_in_the_published_shape() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let list = default_list(&app, &mailbox).await;
    let tasks = format!("/me/todo/lists/{list}/tasks");
    let (status, created) = call(
        &app,
        &mailbox,
        Method::POST,
        &tasks,
        Some(json!({"title": "A new task", "linkedResources": [
            {"webUrl": "http://microsoft.com", "applicationName": "Microsoft", "displayName": "Microsoft"}
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let published = payload("graph_todo_task_create_response");
    assert!(keys(&published).is_subset(&keys(&created)), "{created}");
    assert_eq!(
        keys(&created["linkedResources"][0]),
        keys(&published["linkedResources"][0])
    );
    assert_eq!(created["status"], "notStarted");
    assert_eq!(
        created["body"],
        json!({"content": "", "contentType": "text"})
    );
    assert!(
        created["createdDateTime"]
            .as_str()
            .is_some_and(|t| t.len() == "2020-08-18T09:03:05.8339192Z".len())
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let etag = created["@odata.etag"].as_str().expect("etag").to_owned();

    // Due in Tokyo: answered in UTC, or in the zone the request prefers.
    let (status, updated) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("{tasks}/{id}"),
        Some(json!({"dueDateTime": {"dateTime": "2024-05-02T09:00:00", "timeZone": "Tokyo Standard Time"},
                    "importance": "high", "categories": ["Red category"]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        updated["dueDateTime"],
        json!({"dateTime": "2024-05-02T00:00:00.0000000", "timeZone": "UTC"})
    );
    let response = app
        .graph(&mailbox, Method::GET, &format!("{tasks}/{id}"))
        .header("Prefer", "outlook.timezone=\"Tokyo Standard Time\"")
        .send()
        .await
        .expect("get");
    assert_eq!(
        response.headers()["preference-applied"],
        "outlook.timezone=\"Tokyo Standard Time\""
    );
    let (_, got) = read(response).await;
    assert_eq!(
        got["dueDateTime"],
        json!({"dateTime": "2024-05-02T09:00:00.0000000", "timeZone": "Tokyo Standard Time"})
    );
    assert_eq!(got["importance"], "high");
    assert!(got.get("linkedResources").is_none());
    let (_, expanded) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("{tasks}/{id}?$expand=linkedResources"),
        None,
    )
    .await;
    assert_eq!(expanded["linkedResources"][0]["displayName"], "Microsoft");

    // The old etag is stale now.
    let response = app
        .graph(&mailbox, Method::PATCH, &format!("{tasks}/{id}"))
        .header("If-Match", &etag)
        .json(&json!({"status": "completed"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    let (status, completed) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("{tasks}/{id}"),
        Some(json!({"status": "completed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(completed["completedDateTime"]["timeZone"], "UTC");

    for (body, code) in [
        (json!({"status": "done"}), "RequestBodyRead"),
        (json!({"importance": 1}), "RequestBodyRead"),
        (json!({"color": "red"}), "RequestBodyRead"),
        (
            json!({"dueDateTime": {"dateTime": "2024-05-02T09:00:00", "timeZone": "Mars Standard Time"}}),
            "TimeZoneNotSupportedException",
        ),
        (
            json!({"recurrence": {"pattern": {"type": "weekly"}, "range": {"type": "noEnd", "startDate": "2024-01-01"}}}),
            "ErrorInvalidRequest",
        ),
    ] {
        let (status, error) = call(&app, &mailbox, Method::POST, &tasks, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"]["code"], code);
    }
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("{tasks}/AAMkAnope="),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        "/me/todo/lists/AAMkAnope=/tasks",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("{tasks}/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&app, &mailbox, Method::GET, &format!("{tasks}/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn plain_task_lists_page_with_top_and_skip() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let list = default_list(&app, &mailbox).await;
    create_tasks(&app, &mailbox, &list, 25).await;
    let mut url = format!("/me/todo/lists/{list}/tasks?$select=title");
    let mut titles = BTreeSet::new();
    let mut pages = 0;
    loop {
        let (status, body) = call(&app, &mailbox, Method::GET, &url, None).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        for task in body["value"].as_array().expect("value") {
            assert_eq!(
                keys(task),
                ["@odata.etag", "id", "title"]
                    .into_iter()
                    .map(String::from)
                    .collect()
            );
            titles.insert(task["title"].as_str().expect("title").to_owned());
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(titles.len(), 25);
}

#[tokio::test]
async fn task_delta_pages_and_reports_changes_and_removals() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let list = default_list(&app, &mailbox).await;
    create_tasks(&app, &mailbox, &list, 450).await;
    let start = format!("/me/todo/lists/{list}/tasks/delta");

    let mut url = start.clone();
    let mut seen = Vec::new();
    let mut pages = 0;
    let delta_link = loop {
        let response = app
            .graph(&mailbox, Method::GET, &url)
            .header("Prefer", "odata.maxpagesize=100")
            .send()
            .await
            .expect("delta");
        assert_eq!(
            response.headers()["preference-applied"],
            "odata.maxpagesize=100"
        );
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        seen.extend(body["value"].as_array().expect("value").iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            url = next.to_owned();
        } else {
            break body["@odata.deltaLink"]
                .as_str()
                .expect("delta link")
                .to_owned();
        }
    };
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 450);
    let published = &payload("graph_todo_task_delta")["value"][0];
    assert!(keys(published).is_subset(&keys(&seen[0])), "{}", seen[0]);
    assert!(delta_link.contains(&format!("/me/todo/lists/{list}/tasks/delta?$deltatoken=")));
    let unique: BTreeSet<&str> = seen.iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(unique.len(), 450);

    // $top on the initial request sets the page size too.
    let (_, first) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("{start}?$top=7"),
        None,
    )
    .await;
    assert_eq!(first["value"].as_array().map(Vec::len), Some(7));
    assert!(first["@odata.nextLink"].is_string());

    let ids: Vec<&str> = seen
        .iter()
        .take(2)
        .filter_map(|t| t["id"].as_str())
        .collect();
    call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/todo/lists/{list}/tasks/{}", ids[0]),
        Some(json!({"title": "changed"})),
    )
    .await;
    call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/todo/lists/{list}/tasks/{}", ids[1]),
        None,
    )
    .await;
    let (status, next) = call(&app, &mailbox, Method::GET, &delta_link, None).await;
    assert_eq!(status, StatusCode::OK);
    let value = next["value"].as_array().expect("value");
    assert_eq!(value.len(), 2);
    assert_eq!(value[0]["title"], "changed");
    assert_eq!(
        value[1],
        json!({"@odata.type": "#microsoft.graph.todoTask", "id": ids[1], "@removed": {"reason": "deleted"}})
    );

    // A contacts delta link is not a tasks delta link; an expired one is refused.
    let contacts_start = format!("/me/contactFolders/{}/contacts/delta", mailbox.folder_id);
    let (_, contacts) = call(&app, &mailbox, Method::GET, &contacts_start, None).await;
    let token = contacts["@odata.deltaLink"]
        .as_str()
        .and_then(|l| l.split("$deltatoken=").nth(1))
        .expect("token");
    let (status, body) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("{start}?$deltatoken={token}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["error"]["code"], "SyncStateNotFound");
    app.control(
        Method::POST,
        &format!("/graph/mailboxes/{}/expire-delta-tokens", mailbox.id),
        Value::Null,
    )
    .await;
    let (status, _) = call(&app, &mailbox, Method::GET, &delta_link, None).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn list_delta_reports_new_and_deleted_lists() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (_, first) = call(&app, &mailbox, Method::GET, "/me/todo/lists/delta", None).await;
    assert_eq!(first["value"].as_array().map(Vec::len), Some(1));
    let link = first["@odata.deltaLink"].as_str().expect("link").to_owned();
    let (_, created) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/todo/lists",
        Some(json!({"displayName": "Einkäufe"})),
    )
    .await;
    let (_, second) = call(&app, &mailbox, Method::GET, &link, None).await;
    assert_eq!(second["value"][0]["displayName"], "Einkäufe");
    let link = second["@odata.deltaLink"]
        .as_str()
        .expect("link")
        .to_owned();
    call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/todo/lists/{}", created["id"].as_str().expect("id")),
        None,
    )
    .await;
    let (_, third) = call(&app, &mailbox, Method::GET, &link, None).await;
    assert_eq!(third["value"][0]["@removed"]["reason"], "deleted");
}

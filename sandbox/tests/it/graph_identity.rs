//! The link identity a client keeps on Graph items (issue 12): single-value extended properties on
//! contacts, To Do tasks and events, their `$expand` and `$filter`, and the events'
//! `transactionId`, directly and through `$batch`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::graph_batch::{batch, by_id};
use crate::helpers::{Mailbox, TestApp, read, spawn_app};

const LINK: &str = "String {8d1c0c53-6f4e-4b59-9d0e-2f4d6c1a7e21} Name SyncLinkId";
const OTHER: &str = "String {00020329-0000-0000-c000-000000000046} Name Other";

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
    read(request.send().await.expect("graph call")).await
}

fn expand(id: &str) -> String {
    format!("$expand=singleValueExtendedProperties($filter=id eq '{id}')")
}

fn filter(id: &str, value: &str) -> String {
    format!(
        "$filter=singleValueExtendedProperties/any(ep: ep/id eq '{id}' and ep/value eq '{value}')"
    )
}

fn link(value: &str) -> Value {
    json!([{"id": LINK, "value": value}])
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .expect("value")
        .iter()
        .map(|v| v["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn contacts_keep_extended_properties_returned_only_when_expanded() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let created = app
        .create_contact(
            &mailbox,
            json!({"givenName": "Åse", "singleValueExtendedProperties": link("link-1")}),
        )
        .await;
    // The create answer, like every read not asking for them, leaves them out.
    assert!(created.get("singleValueExtendedProperties").is_none());
    let id = created["id"].as_str().expect("id");
    let (_, plain) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/contacts/{id}"),
        None,
    )
    .await;
    assert!(plain.get("singleValueExtendedProperties").is_none());

    // Type and GUID match whatever their case; the answer spells the id canonically.
    let asked = LINK.replace("String {8d1c0c53", "string {8D1C0C53");
    let (status, expanded) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/contactFolders/{}/contacts/{id}?{}",
            mailbox.folder_id,
            expand(&asked)
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{expanded}");
    assert_eq!(expanded["singleValueExtendedProperties"], link("link-1"));
    assert_eq!(expanded["givenName"], "Åse");

    // Another property expanded: the item has none of it, so the collection is left out.
    let (_, none) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/contacts/{id}?{}", expand(OTHER)),
        None,
    )
    .await;
    assert!(
        none.get("singleValueExtendedProperties").is_none(),
        "{none}"
    );

    // A PATCH adds and replaces, leaving the others.
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/contacts/{id}"),
        Some(json!({"singleValueExtendedProperties": [{"id": OTHER, "value": "x"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, both) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/contacts/{id}?$select=givenName&$expand=singleValueExtendedProperties($filter=id eq '{LINK}' or id eq '{OTHER}')"
        ),
        None,
    )
    .await;
    assert_eq!(
        both["singleValueExtendedProperties"],
        json!([{"id": LINK, "value": "link-1"}, {"id": OTHER, "value": "x"}])
    );
    assert!(
        both.get("surname").is_none(),
        "$select still applies: {both}"
    );

    // The control API shows every property, for an oracle.
    let (_, all) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/contacts", mailbox.id),
            json!({}),
        )
        .await;
    assert_eq!(
        all["value"][0]["singleValueExtendedProperties"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn a_filter_on_an_extended_property_finds_only_the_items_holding_that_value() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut made = Vec::new();
    for (n, value) in ["a", "b", "a", ""].iter().enumerate() {
        let mut body = json!({"givenName": format!("P{n}")});
        if !value.is_empty() {
            body["singleValueExtendedProperties"] = link(value);
        }
        made.push(
            app.create_contact(&mailbox, body).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    // Values compare case-insensitively; `Any` is accepted as Graph's own examples write it.
    let query = format!(
        "$filter=singleValueExtendedProperties/Any(ep:ep/id eq '{LINK}' and ep/value eq 'A')&{}&$top=1",
        expand(LINK)
    );
    let (status, page) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/contacts?{query}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), vec![made[0].clone()]);
    assert_eq!(page["value"][0]["singleValueExtendedProperties"], link("a"));
    // The next page keeps the filter and the expansion.
    let next = page["@odata.nextLink"]
        .as_str()
        .expect("next link")
        .to_owned();
    let (_, second) = call(&app, &mailbox, Method::GET, &next, None).await;
    assert_eq!(ids(&second), vec![made[2].clone()]);
    assert_eq!(
        second["value"][0]["singleValueExtendedProperties"],
        link("a")
    );
    assert!(second.get("@odata.nextLink").is_none());

    // Without `$expand` the matching items come without the property.
    let (_, found) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/contactFolders/{}/contacts?{}",
            mailbox.folder_id,
            filter(LINK, "b")
        ),
        None,
    )
    .await;
    assert_eq!(ids(&found), vec![made[1].clone()]);
    assert!(
        found["value"][0]
            .get("singleValueExtendedProperties")
            .is_none()
    );

    // The name of the id is case-sensitive; an unknown value finds nothing.
    let lower = LINK.replace("SyncLinkId", "synclinkid");
    for query in [filter(&lower, "a"), filter(LINK, "zzz")] {
        let (status, empty) = call(
            &app,
            &mailbox,
            Method::GET,
            &format!("/me/contacts?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&empty), Vec::<String>::new(), "{query}");
    }

    // A filter on extended properties in another form is refused rather than ignored; an
    // expansion without a filter too. Other filters are not emulated and still ignored.
    for query in [
        format!(
            "$filter=singleValueExtendedProperties/any(ep: ep/id eq '{LINK}' and startswith(ep/value, 'a'))"
        ),
        "$filter=singleValueExtendedProperties/any(ep: ep/id eq 'Integer 0x8005')".to_owned(),
        "$expand=singleValueExtendedProperties".to_owned(),
    ] {
        let (status, error) = call(
            &app,
            &mailbox,
            Method::GET,
            &format!("/me/contacts?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
    }
    let (_, all) = call(
        &app,
        &mailbox,
        Method::GET,
        "/me/contacts?$filter=givenName eq 'P0'",
        None,
    )
    .await;
    assert_eq!(ids(&all).len(), 4);

    // Bodies with a bad property are refused whole.
    for bad in [
        json!([{"id": "String 0x0037", "value": "x"}]),
        json!([{"id": LINK, "value": 5}]),
        json!({"id": LINK, "value": "x"}),
    ] {
        let (status, error) = call(
            &app,
            &mailbox,
            Method::POST,
            "/me/contacts",
            Some(json!({"givenName": "Bad", "singleValueExtendedProperties": bad})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    }
    let (_, all) = call(&app, &mailbox, Method::GET, "/me/contacts", None).await;
    assert_eq!(ids(&all).len(), 4);
}

#[tokio::test]
async fn todo_tasks_keep_extended_properties() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (_, lists) = call(&app, &mailbox, Method::GET, "/me/todo/lists", None).await;
    let list = lists["value"][0]["id"].as_str().expect("list").to_owned();
    let mut made = Vec::new();
    for value in ["t1", "t2"] {
        let (status, task) = call(
            &app,
            &mailbox,
            Method::POST,
            &format!("/me/todo/lists/{list}/tasks"),
            Some(json!({"title": value, "singleValueExtendedProperties": link(value)})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        assert!(task.get("singleValueExtendedProperties").is_none());
        made.push(task["id"].as_str().expect("id").to_owned());
    }
    let (_, one) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/todo/lists/{list}/tasks/{}?{}", made[1], expand(LINK)),
        None,
    )
    .await;
    assert_eq!(one["singleValueExtendedProperties"], link("t2"));
    let (status, found) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/todo/lists/{list}/tasks?{}&{}",
            filter(LINK, "t1"),
            expand(LINK)
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(ids(&found), vec![made[0].clone()]);
    assert_eq!(
        found["value"][0]["singleValueExtendedProperties"],
        link("t1")
    );
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/todo/lists/{list}/tasks/{}", made[0]),
        Some(json!({"singleValueExtendedProperties": link("t1-moved")})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tasks) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/tasks", mailbox.id),
            json!({}),
        )
        .await;
    assert_eq!(
        tasks["value"][0]["singleValueExtendedProperties"],
        link("t1-moved")
    );
}

fn event_body(subject: &str) -> Value {
    json!({
        "subject": subject,
        "start": {"dateTime": "2026-03-02T09:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-03-02T10:00:00", "timeZone": "W. Europe Standard Time"},
    })
}

#[tokio::test]
async fn events_keep_extended_properties_on_every_collection() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut body = event_body("Weekly");
    body["singleValueExtendedProperties"] = link("e1");
    body["recurrence"] = json!({
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 3},
    });
    let (status, series) = call(&app, &mailbox, Method::POST, "/me/events", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{series}");
    assert!(series.get("singleValueExtendedProperties").is_none());
    let (_, other) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/calendar/events",
        Some(event_body("Other")),
    )
    .await;
    let series_id = series["id"].as_str().expect("id").to_owned();

    let (_, one) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{series_id}?{}", expand(LINK)),
        None,
    )
    .await;
    assert_eq!(one["singleValueExtendedProperties"], link("e1"));
    for path in ["/me/events", "/me/calendar/events"] {
        let (status, found) = call(
            &app,
            &mailbox,
            Method::GET,
            &format!("{path}?{}&{}", filter(LINK, "e1"), expand(LINK)),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(ids(&found), vec![series_id.clone()], "{path}");
        assert_eq!(
            found["value"][0]["singleValueExtendedProperties"],
            link("e1")
        );
    }
    // Occurrences carry their series' properties.
    let (status, view) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/calendarView?startDateTime=2026-03-01T00:00:00Z&endDateTime=2026-04-01T00:00:00Z&{}&{}",
            filter(LINK, "e1"),
            expand(LINK)
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let occurrences = view["value"].as_array().expect("value");
    assert_eq!(occurrences.len(), 3);
    assert!(
        occurrences
            .iter()
            .all(|o| o["singleValueExtendedProperties"] == link("e1"))
    );
    assert!(!ids(&view).contains(&other["id"].as_str().expect("id").to_owned()));
    let (_, events) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/events", mailbox.id),
            json!({}),
        )
        .await;
    assert_eq!(
        events["value"][0]["singleValueExtendedProperties"],
        link("e1")
    );
}

#[tokio::test]
async fn a_repeated_transaction_id_makes_no_second_event() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut body = event_body("Once");
    body["transactionId"] = json!("tx-0001");
    let (status, first) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/events",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["transactionId"], "tx-0001");
    let id = first["id"].as_str().expect("id").to_owned();

    // The retry (even with another subject or calendar path) is answered the first event.
    let mut retry = body.clone();
    retry["subject"] = json!("Twice?");
    let (status, second) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/calendar/events",
        Some(retry),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["subject"], "Once");
    let (_, events) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/events", mailbox.id),
            json!({}),
        )
        .await;
    assert_eq!(events["value"].as_array().map(Vec::len), Some(1));

    // It cannot change; sending the same value is harmless.
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{id}"),
        Some(json!({"transactionId": "tx-0002"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{id}"),
        Some(json!({"transactionId": null})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, same) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{id}"),
        Some(json!({"transactionId": "tx-0001", "subject": "Renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["transactionId"], "tx-0001");

    // Once the event is deleted, the id makes a new one.
    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, again) = call(&app, &mailbox, Method::POST, "/me/events", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(again["id"], first["id"]);
}

#[tokio::test]
async fn batched_creates_keep_the_identity_and_repeat_safely() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut event = event_body("Batched");
    event["transactionId"] = json!("tx-batch");
    event["singleValueExtendedProperties"] = link("ev");
    let json_header = json!({"Content-Type": "application/json"});
    let requests = json!({"requests": [
        {"id": "1", "method": "POST", "url": "/me/events", "headers": json_header, "body": event},
        {"id": "2", "method": "POST", "url": "/me/events", "headers": json_header, "body": event},
        {"id": "3", "method": "POST", "url": "/me/contacts", "headers": json_header,
         "body": {"givenName": "Batch", "singleValueExtendedProperties": link("c1")}},
        {"id": "4", "method": "GET", "dependsOn": ["3"],
         "url": format!("/me/contacts?{}&{}", filter(LINK, "c1"), expand(LINK))},
    ]});
    let (status, body) = batch(&app, &mailbox, requests).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let responses = by_id(&body);
    assert_eq!(responses["1"]["status"], 201);
    assert_eq!(responses["2"]["status"], 201);
    assert_eq!(responses["1"]["body"]["id"], responses["2"]["body"]["id"]);
    assert_eq!(responses["4"]["status"], 200, "{}", responses["4"]);
    assert_eq!(
        responses["4"]["body"]["value"][0]["id"],
        responses["3"]["body"]["id"]
    );
    assert_eq!(
        responses["4"]["body"]["value"][0]["singleValueExtendedProperties"],
        link("c1")
    );
    let (_, events) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/events", mailbox.id),
            json!({}),
        )
        .await;
    assert_eq!(events["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        events["value"][0]["singleValueExtendedProperties"],
        link("ev")
    );
}

#[tokio::test]
async fn task_delta_expands_extended_properties_and_contact_delta_refuses_it() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (_, lists) = call(&app, &mailbox, Method::GET, "/me/todo/lists", None).await;
    let list = lists["value"][0]["id"].as_str().expect("list").to_owned();
    for n in 0..3 {
        let (status, _) = call(
            &app,
            &mailbox,
            Method::POST,
            &format!("/me/todo/lists/{list}/tasks"),
            Some(json!({"title": format!("t{n}"), "singleValueExtendedProperties": link(&format!("v{n}"))})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // The expansion is given once, on the initial request, and carried by the links.
    let (status, first) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/todo/lists/{list}/tasks/delta?$top=2&{}", expand(LINK)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["value"][0]["singleValueExtendedProperties"],
        link("v0")
    );
    let next = first["@odata.nextLink"].as_str().expect("next").to_owned();
    let (_, second) = call(&app, &mailbox, Method::GET, &next, None).await;
    assert_eq!(
        second["value"][0]["singleValueExtendedProperties"],
        link("v2")
    );
    let delta = second["@odata.deltaLink"]
        .as_str()
        .expect("delta")
        .to_owned();
    let (_, tasks) = app
        .control(
            Method::GET,
            &format!("/graph/mailboxes/{}/tasks", mailbox.id),
            json!({}),
        )
        .await;
    let id = tasks["value"][1]["id"].as_str().expect("id").to_owned();
    call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/todo/lists/{list}/tasks/{id}"),
        Some(json!({"title": "renamed"})),
    )
    .await;
    let (_, changed) = call(&app, &mailbox, Method::GET, &delta, None).await;
    assert_eq!(changed["value"][0]["title"], "renamed");
    assert_eq!(
        changed["value"][0]["singleValueExtendedProperties"],
        link("v1")
    );

    // Contact delta documents `$select` only: an extended-property expansion is refused.
    let (status, error) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/contactFolders/{}/contacts/delta?{}",
            mailbox.folder_id,
            expand(LINK)
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}

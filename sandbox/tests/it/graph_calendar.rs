use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Mailbox, TestApp, keys, payload, read, spawn_app};

async fn call(
    app: &TestApp,
    mailbox: &Mailbox,
    method: Method,
    path: &str,
    body: Option<Value>,
    zone: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.graph(mailbox, method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(zone) = zone {
        request = request.header("Prefer", format!("outlook.timezone=\"{zone}\""));
    }
    read(request.send().await.expect("call")).await
}

/// The published recurring-event request (graph_event_create_recurring_response.json).
fn lunch() -> Value {
    json!({
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does late morning work for you?"},
        "start": {"dateTime": "2017-09-04T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2017-09-04T14:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "Harry's Bar"},
        "attendees": [{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com", "name": "Adele Vance"}, "type": "required"}],
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
            "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"}
        }
    })
}

fn single(subject: &str, start: &str, end: &str) -> Value {
    json!({"subject": subject,
           "start": {"dateTime": start, "timeZone": "UTC"},
           "end": {"dateTime": end, "timeZone": "UTC"}})
}

async fn create(app: &TestApp, mailbox: &Mailbox, body: Value) -> Value {
    let (status, created) = call(app, mailbox, Method::POST, "/me/events", Some(body), None).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

fn starts(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            i["start"]["dateTime"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_recurring_event_is_created_in_the_published_shape() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (status, created) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/events",
        Some(lunch()),
        Some("Pacific Standard Time"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let published = payload("graph_event_create_recurring_response");
    let mut expected = keys(&published);
    expected.remove("OnlineMeeting"); // a capitalisation slip of the published example
    assert!(
        expected.is_subset(&keys(&created)),
        "missing {:?}",
        expected.difference(&keys(&created))
    );
    assert_eq!(created["type"], "seriesMaster");
    assert_eq!(created["recurrence"], published["recurrence"]);
    assert_eq!(created["start"], published["start"]);
    assert_eq!(created["end"], published["end"]);
    assert_eq!(created["originalStartTimeZone"], "Pacific Standard Time");
    assert_eq!(created["bodyPreview"], "Does late morning work for you?");
    assert_eq!(created["body"]["contentType"], "html");
    assert_eq!(
        keys(&created["attendees"][0]),
        keys(&published["attendees"][0])
    );
    assert_eq!(
        keys(&created["responseStatus"]),
        keys(&published["responseStatus"])
    );
    assert_eq!(created["location"]["displayName"], "Harry's Bar");
    assert_eq!(created["seriesMasterId"], Value::Null);
    assert_eq!(
        created["organizer"]["emailAddress"]["address"],
        mailbox_email(&app, &mailbox).await
    );

    // Without the preference, times come back in UTC (PDT is UTC-7 in September).
    let id = created["id"].as_str().expect("id");
    let response = app
        .graph(&mailbox, Method::GET, &format!("/me/events/{id}"))
        .send()
        .await
        .expect("get");
    assert!(response.headers().get("preference-applied").is_none());
    let (_, got) = read(response).await;
    assert_eq!(
        got["start"],
        json!({"dateTime": "2017-09-04T19:00:00.0000000", "timeZone": "UTC"})
    );
    let response = app
        .graph(&mailbox, Method::GET, &format!("/me/events/{id}"))
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
        got["start"],
        json!({"dateTime": "2017-09-05T04:00:00.0000000", "timeZone": "Tokyo Standard Time"})
    );
}

async fn mailbox_email(app: &TestApp, mailbox: &Mailbox) -> Value {
    let (_, me) = call(app, mailbox, Method::GET, "/me", None, None).await;
    me["mail"].clone()
}

#[tokio::test]
async fn instances_exceptions_and_cancellations() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let master = create(&app, &mailbox, lunch()).await;
    let id = master["id"].as_str().expect("id").to_owned();
    let window = "startDateTime=2017-10-30T00:00:00Z&endDateTime=2017-11-14T00:00:00Z";
    let instances = format!("/me/events/{id}/instances?{window}");
    let (status, body) = call(&app, &mailbox, Method::GET, &instances, None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["value"].as_array().expect("value").clone();
    // DST ends in Los Angeles on 2017-11-05: 12:00 local is 19:00Z, then 20:00Z.
    assert_eq!(
        starts(&items),
        [
            "2017-10-30T19:00:00.0000000",
            "2017-11-06T20:00:00.0000000",
            "2017-11-13T20:00:00.0000000"
        ]
    );
    assert!(
        items
            .iter()
            .all(|i| i["type"] == "occurrence" && i["seriesMasterId"] == id.as_str())
    );
    assert_eq!(items[0]["originalStart"], "2017-10-30T19:00:00Z");
    assert_eq!(items[0]["recurrence"], Value::Null);

    let occurrence = items[1]["id"].as_str().expect("id").to_owned();
    let (status, got) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{occurrence}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["type"], "occurrence");

    // Changing an occurrence makes it an exception, under the same id.
    let (status, changed) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{occurrence}"),
        Some(json!({"subject": "Lunch moved", "start": {"dateTime": "2017-11-07T12:00:00", "timeZone": "Pacific Standard Time"},
                    "end": {"dateTime": "2017-11-07T13:00:00", "timeZone": "Pacific Standard Time"}})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["type"], "exception");
    assert_eq!(changed["id"], occurrence.as_str());
    assert_eq!(changed["originalStart"], "2017-11-06T20:00:00Z");
    assert_eq!(changed["start"]["dateTime"], "2017-11-07T20:00:00.0000000");

    // Deleting an occurrence cancels it.
    let cancelled = items[2]["id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{cancelled}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{cancelled}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, body) = call(&app, &mailbox, Method::GET, &instances, None, None).await;
    let items = body["value"].as_array().expect("value").clone();
    let kinds: Vec<&str> = items.iter().filter_map(|i| i["type"].as_str()).collect();
    assert_eq!(kinds, ["occurrence", "exception"]);
    assert_eq!(items[1]["subject"], "Lunch moved");

    // /me/events lists the master only.
    let (_, listed) = call(&app, &mailbox, Method::GET, "/me/events", None, None).await;
    assert_eq!(listed["value"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["value"][0]["type"], "seriesMaster");

    // A new pattern drops exceptions and cancellations.
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{id}"),
        Some(json!({"recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                   "range": {"type": "noEnd", "startDate": "2017-09-04"}}})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = call(&app, &mailbox, Method::GET, &instances, None, None).await;
    let kinds: Vec<&str> = body["value"]
        .as_array()
        .expect("value")
        .iter()
        .filter_map(|i| i["type"].as_str())
        .collect();
    assert_eq!(kinds, ["occurrence", "occurrence", "occurrence"]);

    // Both window parameters are required.
    let (status, error) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{id}/instances?startDateTime=2017-10-30T00:00:00Z"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"]["code"], "ErrorInvalidParameter");
}

/// A GET that must succeed.
async fn get(app: &TestApp, mailbox: &Mailbox, path: String) -> Value {
    let (status, body) = call(app, mailbox, Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

#[tokio::test]
async fn cancelled_occurrences_only_on_a_selected_master_get() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let master = create(&app, &mailbox, lunch()).await;
    let id = master["id"].as_str().expect("id").to_owned();
    let window = "startDateTime=2017-10-01T00:00:00Z&endDateTime=2017-11-14T00:00:00Z";
    let (_, body) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{id}/instances?{window}"),
        None,
        None,
    )
    .await;
    let items = body["value"].as_array().expect("value").clone();
    let id_of = |n: usize| items[n]["id"].as_str().expect("id").to_owned();
    // 2 Oct: deleted (cancelled); 9 Oct: changed (an exception, not a cancellation); 16 Oct:
    // changed, then deleted (cancelled).
    call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{}", id_of(0)),
        None,
        None,
    )
    .await;
    for n in [1, 2] {
        let (status, _) = call(
            &app,
            &mailbox,
            Method::PATCH,
            &format!("/me/events/{}", id_of(n)),
            Some(json!({"subject": "Lunch moved"})),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{}", id_of(2)),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let selected = get(
        &app,
        &mailbox,
        format!("/me/events/{id}?$select=subject,cancelledOccurrences"),
    )
    .await;
    assert_eq!(
        selected["cancelledOccurrences"],
        json!([
            format!("OID.{id}.2017-10-02"),
            format!("OID.{id}.2017-10-16")
        ])
    );
    assert_eq!(selected["subject"], "Let's go for lunch");
    assert!(selected.get("start").is_none(), "{selected}");
    // The same through a calendar's path and through $batch.
    let (_, calendar) = call(&app, &mailbox, Method::GET, "/me/calendar", None, None).await;
    let in_calendar = get(
        &app,
        &mailbox,
        format!(
            "/me/calendars/{}/events/{id}?$select=cancelledOccurrences",
            calendar["id"].as_str().expect("calendar id")
        ),
    )
    .await;
    assert_eq!(
        in_calendar["cancelledOccurrences"],
        selected["cancelledOccurrences"]
    );
    let (status, batch) = call(
        &app,
        &mailbox,
        Method::POST,
        "/$batch",
        Some(json!({"requests": [{"id": "1", "method": "GET",
                                  "url": format!("/me/events/{id}?$select=id,cancelledOccurrences")}]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{batch}");
    assert_eq!(
        batch["responses"][0]["body"]["cancelledOccurrences"],
        selected["cancelledOccurrences"]
    );

    // Not without $select, not unless selected, and never on anything but the master by id.
    let plain = get(&app, &mailbox, format!("/me/events/{id}")).await;
    assert!(plain.get("cancelledOccurrences").is_none());
    assert_eq!(plain["type"], "seriesMaster");
    let other = get(&app, &mailbox, format!("/me/events/{id}?$select=subject")).await;
    assert!(other.get("cancelledOccurrences").is_none());
    for n in [1, 3] {
        let instance = get(
            &app,
            &mailbox,
            format!("/me/events/{}?$select=type,cancelledOccurrences", id_of(n)),
        )
        .await;
        assert!(instance["type"] == "exception" || instance["type"] == "occurrence");
        assert!(instance.get("cancelledOccurrences").is_none(), "{instance}");
    }
    let listed = get(
        &app,
        &mailbox,
        "/me/events?$select=type,cancelledOccurrences".into(),
    )
    .await;
    assert_eq!(listed["value"][0]["type"], "seriesMaster");
    assert!(listed["value"][0].get("cancelledOccurrences").is_none());
    let instances = get(
        &app,
        &mailbox,
        format!("/me/events/{id}/instances?{window}&$select=cancelledOccurrences"),
    )
    .await;
    assert!(
        instances["value"]
            .as_array()
            .expect("value")
            .iter()
            .all(|i| i.get("cancelledOccurrences").is_none())
    );

    // A new pattern drops the cancellations: an empty list, still rendered when selected.
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{id}"),
        Some(json!({"recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                   "range": {"type": "noEnd", "startDate": "2017-09-04"}}})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let reset = get(
        &app,
        &mailbox,
        format!("/me/events/{id}?$select=cancelledOccurrences"),
    )
    .await;
    assert_eq!(reset["cancelledOccurrences"], json!([]));
}

/// Follows a calendarView delta round; returns the items and the delta link.
async fn round(
    app: &TestApp,
    mailbox: &Mailbox,
    start: &str,
    max: u32,
) -> (Vec<Value>, String, usize) {
    let mut url = start.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let response = app
            .graph(mailbox, Method::GET, &url)
            .header("Prefer", format!("odata.maxpagesize={max}"))
            .send()
            .await
            .expect("delta");
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        items.extend(body["value"].as_array().expect("value").iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => {
                let link = body["@odata.deltaLink"].as_str().expect("delta link");
                assert!(link.contains("/me/calendarView/delta?$deltatoken="));
                return (items, link.to_owned(), pages);
            }
        }
    }
}

#[tokio::test]
async fn calendar_view_delta_rounds() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let master = create(&app, &mailbox, lunch()).await;
    let lone = create(
        &app,
        &mailbox,
        single("Pick up car", "2017-09-10T01:00:00", "2017-09-10T02:00:00"),
    )
    .await;
    create(
        &app,
        &mailbox,
        single("Outside", "2018-01-10T01:00:00", "2018-01-10T02:00:00"),
    )
    .await;
    let start = "/me/calendarView/delta?startDateTime=2017-09-01T00:00:00Z&endDateTime=2017-10-01T00:00:00Z";
    let (items, link, pages) = round(&app, &mailbox, start, 2).await;
    // Four Monday occurrences in September and the single event; never the master.
    assert_eq!(items.len(), 5, "{items:?}");
    assert_eq!(pages, 3);
    assert!(items.iter().all(|i| i["type"] != "seriesMaster"));
    assert!(
        items
            .iter()
            .all(|i| i["@odata.type"] == "#microsoft.graph.event")
    );
    let published = &payload("graph_calendarview_delta_page1")["value"][0];
    assert!(keys(published).is_subset(&keys(&items[0])));
    assert_eq!(
        items.iter().filter(|i| i["type"] == "occurrence").count(),
        4
    );

    // Nothing changed: an empty round.
    let (again, link, _) = round(&app, &mailbox, &link, 2).await;
    assert!(again.is_empty(), "{again:?}");

    // Change one occurrence, cancel another, delete the single event, add one outside.
    let occurrences: Vec<String> = items
        .iter()
        .filter(|i| i["type"] == "occurrence")
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{}", occurrences[0]),
        Some(json!({"subject": "Brunch"})),
        None,
    )
    .await;
    call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{}", occurrences[1]),
        None,
        None,
    )
    .await;
    call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{}", lone["id"].as_str().expect("id")),
        None,
        None,
    )
    .await;
    create(
        &app,
        &mailbox,
        single("Later", "2019-01-10T01:00:00", "2019-01-10T02:00:00"),
    )
    .await;
    let (changes, link, _) = round(&app, &mailbox, &link, 10).await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(changes[0]["type"], "exception");
    assert_eq!(changes[0]["subject"], "Brunch");
    let removed: BTreeSet<&str> = changes[1..]
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert!(removed.contains(occurrences[1].as_str()));
    assert!(removed.contains(lone["id"].as_str().expect("id")));
    let published = &payload("graph_event_delta_removed")["value"][0];
    assert_eq!(keys(&changes[1]), keys(published));
    assert_eq!(changes[1]["@removed"], json!({"reason": "deleted"}));

    // Moving the master's time changes every occurrence and drops the exception and the
    // cancellation: all four Mondays come back (the exception's date under the same id).
    call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{}", master["id"].as_str().expect("id")),
        Some(json!({"start": {"dateTime": "2017-09-04T13:00:00", "timeZone": "Pacific Standard Time"},
                    "end": {"dateTime": "2017-09-04T14:00:00", "timeZone": "Pacific Standard Time"}})),
        None,
    )
    .await;
    let (changes, _, _) = round(&app, &mailbox, &link, 10).await;
    let types: Vec<&str> = changes
        .iter()
        .map(|c| c["type"].as_str().unwrap_or("removed"))
        .collect();
    assert_eq!(
        types,
        ["occurrence", "occurrence", "occurrence", "occurrence"]
    );
    assert!(changes.iter().all(|c| {
        c["start"]["dateTime"]
            .as_str()
            .is_some_and(|s| s.ends_with("T20:00:00.0000000"))
    }));
}

#[tokio::test]
async fn calendar_view_delta_prefers_a_zone_and_refuses_bad_requests() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    create(
        &app,
        &mailbox,
        single("東京で会議", "2024-03-01T01:00:00", "2024-03-01T02:00:00"),
    )
    .await;
    let start =
        "/me/calendarView/delta?startdatetime=2024-03-01T00:00:00&enddatetime=2024-03-02T00:00:00";
    let response = app
        .graph(&mailbox, Method::GET, start)
        .header(
            "Prefer",
            "odata.maxpagesize=5, outlook.timezone=\"Tokyo Standard Time\"",
        )
        .send()
        .await
        .expect("delta");
    assert_eq!(
        response.headers()["preference-applied"],
        "odata.maxpagesize=5, outlook.timezone=\"Tokyo Standard Time\""
    );
    let (_, body) = read(response).await;
    assert_eq!(
        body["value"][0]["start"],
        json!({"dateTime": "2024-03-01T10:00:00.0000000", "timeZone": "Tokyo Standard Time"})
    );
    let link = body["@odata.deltaLink"].as_str().expect("link").to_owned();

    for (path, code) in [
        ("/me/calendarView/delta", "ErrorInvalidParameter"),
        (
            "/me/calendarView/delta?startDateTime=2024-03-01T00:00:00Z",
            "ErrorInvalidParameter",
        ),
        (
            "/me/calendarView/delta?startDateTime=2024-03-02T00:00:00Z&endDateTime=2024-03-01T00:00:00Z",
            "ErrorInvalidParameter",
        ),
        (
            "/me/calendarView/delta?startDateTime=2024-03-01T00:00:00Z&endDateTime=2024-03-02T00:00:00Z&$select=subject",
            "ErrorInvalidUrlQuery",
        ),
    ] {
        let (status, error) = call(&app, &mailbox, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {error}");
        assert_eq!(error["error"]["code"], code);
    }
    let (status, error) = call(
        &app,
        &mailbox,
        Method::GET,
        "/me/calendarView/delta?$deltatoken=nonsense",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(error["error"]["code"], "SyncStateNotFound");
    app.control(
        Method::POST,
        &format!("/graph/mailboxes/{}/expire-delta-tokens", mailbox.id),
        Value::Null,
    )
    .await;
    let (status, _) = call(&app, &mailbox, Method::GET, &link, None, None).await;
    assert_eq!(status, StatusCode::GONE);
    // Another mailbox cannot use the link either.
    let other = app.mailbox().await;
    let (status, _) = call(&app, &other, Method::GET, &link, None, None).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn all_day_events_float_and_times_are_checked() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let day = |start: &str, end: &str| {
        json!({"subject": "Jour férié", "isAllDay": true, "categories": ["Red category"],
               "start": {"dateTime": start, "timeZone": "Tokyo Standard Time"},
               "end": {"dateTime": end, "timeZone": "Tokyo Standard Time"}})
    };
    let created = create(
        &app,
        &mailbox,
        day("2024-05-03T00:00:00", "2024-05-04T00:00:00"),
    )
    .await;
    assert_eq!(created["isAllDay"], true);
    assert_eq!(created["categories"], json!(["Red category"]));
    assert_eq!(
        created["start"],
        json!({"dateTime": "2024-05-03T00:00:00.0000000", "timeZone": "UTC"})
    );
    let (_, pacific) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{}", created["id"].as_str().expect("id")),
        None,
        Some("Pacific Standard Time"),
    )
    .await;
    assert_eq!(
        pacific["end"],
        json!({"dateTime": "2024-05-04T00:00:00.0000000", "timeZone": "Pacific Standard Time"})
    );
    let (_, view) = call(
        &app,
        &mailbox,
        Method::GET,
        "/me/calendarView?startDateTime=2024-05-03T00:00:00Z&endDateTime=2024-05-03T12:00:00Z",
        None,
        None,
    )
    .await;
    assert_eq!(view["value"].as_array().map(Vec::len), Some(1));

    for (body, code) in [
        (
            day("2024-05-03T09:00:00", "2024-05-04T00:00:00"),
            "ErrorInvalidRequest",
        ),
        (
            single("Backwards", "2024-05-03T10:00:00", "2024-05-03T09:00:00"),
            "ErrorInvalidRequest",
        ),
        (
            json!({"subject": "x", "start": {"dateTime": "2024-05-03T10:00:00", "timeZone": "Mars Standard Time"},
                   "end": {"dateTime": "2024-05-03T11:00:00", "timeZone": "UTC"}}),
            "TimeZoneNotSupportedException",
        ),
        (json!({"subject": "no times"}), "ErrorInvalidRequest"),
        (json!({"subject": "x", "colour": "red"}), "RequestBodyRead"),
        (
            json!({"subject": "x", "showAs": "maybe"}),
            "RequestBodyRead",
        ),
    ] {
        let (status, error) =
            call(&app, &mailbox, Method::POST, "/me/events", Some(body), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"]["code"], code);
    }
}

#[tokio::test]
async fn events_crud_with_etags_and_other_calendars() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (_, calendars) = call(&app, &mailbox, Method::GET, "/me/calendars", None, None).await;
    assert_eq!(calendars["value"][0]["name"], "Calendar");
    assert_eq!(calendars["value"][0]["isDefaultCalendar"], true);
    let (status, other) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/calendars",
        Some(json!({"name": "Privat"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let other_id = other["id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/calendars",
        Some(json!({"name": "privat"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, elsewhere) = call(
        &app,
        &mailbox,
        Method::POST,
        &format!("/me/calendars/{other_id}/events"),
        Some(single(
            "Zahnarzt",
            "2024-06-01T08:00:00",
            "2024-06-01T09:00:00",
        )),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let elsewhere_id = elsewhere["id"].as_str().expect("id").to_owned();
    let (_, default_list) = call(&app, &mailbox, Method::GET, "/me/events", None, None).await;
    assert_eq!(default_list["value"].as_array().map(Vec::len), Some(0));
    let (_, other_list) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/calendars/{other_id}/events"),
        None,
        None,
    )
    .await;
    assert_eq!(other_list["value"][0]["subject"], "Zahnarzt");
    let (_, view) = call(
        &app,
        &mailbox,
        Method::GET,
        "/me/calendarView?startDateTime=2024-06-01T00:00:00Z&endDateTime=2024-06-02T00:00:00Z",
        None,
        None,
    )
    .await;
    assert_eq!(
        view["value"].as_array().map(Vec::len),
        Some(0),
        "calendarView is the default calendar"
    );
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{elsewhere_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, default_calendar) = call(&app, &mailbox, Method::GET, "/me/calendar", None, None).await;
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!(
            "/me/calendars/{}/events/{elsewhere_id}",
            default_calendar["id"].as_str().expect("id")
        ),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let etag = elsewhere["@odata.etag"].as_str().expect("etag").to_owned();
    let (status, _) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/events/{elsewhere_id}"),
        Some(json!({"importance": "high"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stale = app
        .graph(
            &mailbox,
            Method::DELETE,
            &format!("/me/events/{elsewhere_id}"),
        )
        .header("If-Match", etag)
        .send()
        .await
        .expect("delete");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/events/{elsewhere_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/events/{elsewhere_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn calendar_views_page_and_expand_only_the_window() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    create(
        &app,
        &mailbox,
        json!({"subject": "Standup", "start": {"dateTime": "2020-01-01T09:00:00", "timeZone": "W. Europe Standard Time"},
               "end": {"dateTime": "2020-01-01T09:15:00", "timeZone": "W. Europe Standard Time"},
               "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd", "startDate": "2020-01-01"}}}),
    )
    .await;
    create(
        &app,
        &mailbox,
        json!({"subject": "Board", "start": {"dateTime": "2024-01-01T15:00:00", "timeZone": "GMT Standard Time"},
               "end": {"dateTime": "2024-01-01T16:00:00", "timeZone": "GMT Standard Time"},
               "recurrence": {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"], "index": "last"},
                              "range": {"type": "numbered", "startDate": "2024-01-01", "numberOfOccurrences": 3}}}),
    )
    .await;
    let window = "startDateTime=2024-03-01T00:00:00Z&endDateTime=2024-04-01T00:00:00Z";
    let mut url = format!("/me/calendarView?{window}&$top=10&$select=subject,start");
    let mut items = Vec::new();
    loop {
        let (status, body) = call(&app, &mailbox, Method::GET, &url, None, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        items.extend(body["value"].as_array().expect("value").iter().cloned());
        match body["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    // 31 standups (09:00 CET is 08:00Z, 07:00Z after 2024-03-31) and the third board meeting.
    assert_eq!(items.len(), 32);
    let boards: Vec<&Value> = items.iter().filter(|i| i["subject"] == "Board").collect();
    assert_eq!(boards.len(), 1);
    assert_eq!(
        boards[0]["start"]["dateTime"],
        "2024-03-28T15:00:00.0000000"
    );
    assert!(
        keys(&items[0]).is_subset(
            &["@odata.etag", "id", "subject", "start"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    let last_standup = items
        .iter()
        .rev()
        .find(|i| i["subject"] == "Standup")
        .expect("standup");
    assert_eq!(
        last_standup["start"]["dateTime"],
        "2024-03-31T07:00:00.0000000"
    );
}

#[tokio::test]
async fn master_categories() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (status, body) = call(
        &app,
        &mailbox,
        Method::GET,
        "/me/outlook/masterCategories",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let published = payload("graph_master_categories");
    assert_eq!(keys(&body["value"][0]), keys(&published["value"][0]));
    let names = |v: &Value| -> Vec<(String, String)> {
        v["value"]
            .as_array()
            .expect("value")
            .iter()
            .map(|c| {
                (
                    c["displayName"].as_str().unwrap_or("").to_owned(),
                    c["color"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(names(&body), names(&published));

    let (status, created) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/outlook/masterCategories",
        Some(json!({"displayName": "プロジェクト", "color": "preset9"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["color"], "preset9");
    let id = created["id"].as_str().expect("id").to_owned();
    let (status, _) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/outlook/masterCategories",
        Some(json!({"displayName": "red CATEGORY"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/outlook/masterCategories",
        Some(json!({"displayName": "x", "color": "preset25"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, changed) = call(
        &app,
        &mailbox,
        Method::PATCH,
        &format!("/me/outlook/masterCategories/{id}"),
        Some(json!({"color": "none"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["color"], "none");
    let (status, _) = call(
        &app,
        &mailbox,
        Method::DELETE,
        &format!("/me/outlook/masterCategories/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &app,
        &mailbox,
        Method::GET,
        &format!("/me/outlook/masterCategories/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

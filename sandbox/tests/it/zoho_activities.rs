use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, keys, payload, read, spawn_app};

async fn send(
    app: &TestApp,
    org: &Org,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    read(
        app.zoho(org, method, path)
            .json(&body)
            .send()
            .await
            .expect("call"),
    )
    .await
}

async fn get(app: &TestApp, org: &Org, path: &str) -> (StatusCode, Value) {
    read(app.zoho(org, Method::GET, path).send().await.expect("call")).await
}

/// An account (through a contact's `Account_Name`) and a contact to point lookups at.
async fn targets(app: &TestApp, org: &Org) -> (String, String) {
    let contact = app
        .insert(org, json!([{"First_Name": "Kris", "Last_Name": "Marrier", "Email": "kris@zylker.example", "Account_Name": {"name": "Zylker"}}]))
        .await
        .remove(0);
    let (_, read_back) = get(
        app,
        org,
        &format!("/Contacts/{contact}?fields=Account_Name"),
    )
    .await;
    let account = read_back["data"][0]["Account_Name"]["id"]
        .as_str()
        .expect("account")
        .to_owned();
    (account, contact)
}

#[tokio::test]
async fn the_published_task_insert_works_once_its_lookups_exist() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let published = payload("zoho_tasks_insert_request");
    let (status, body) = send(&app, &org, Method::POST, "/Tasks", published.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["data"][0]["code"], "INVALID_DATA");
    assert_eq!(
        body["data"][0]["message"],
        "the related id given seems to be invalid"
    );

    let (account, contact) = targets(&app, &org).await;
    let mut request = published;
    request["data"][0]["What_Id"]["id"] = json!(account);
    request["data"][0]["Who_Id"]["id"] = json!(contact);
    let (status, body) = send(&app, &org, Method::POST, "/Tasks", request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        keys(&body["data"][0]),
        keys(&payload("zoho_insert_response")["data"][0])
    );
    let id = body["data"][0]["details"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (status, task) = get(&app, &org, &format!("/Tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let task = &task["data"][0];
    assert_eq!(task["Subject"], "Meeting1");
    assert_eq!(task["Status"], "In Progress");
    assert_eq!(task["Priority"], "High");
    assert_eq!(task["Due_Date"], "2020-05-02");
    assert_eq!(task["What_Id"], json!({"name": "Zylker", "id": account}));
    assert_eq!(task["$se_module"], "Accounts");
    assert_eq!(
        task["Who_Id"],
        json!({"name": "Kris Marrier", "id": contact})
    );
    assert_eq!(
        task["Recurring_Activity"]["RRULE"],
        "FREQ=WEEKLY;INTERVAL=1;UNTIL=2020-05-16;BYDAY=SA;DTSTART=2020-05-02"
    );
    assert!(task["Remind_At"]["ALARM"].is_string());
    assert_eq!(task["Closed_Time"], Value::Null);

    // Completing a task closes it; reopening clears Closed_Time.
    let (status, _) = send(
        &app,
        &org,
        Method::PUT,
        &format!("/Tasks/{id}"),
        json!({"data": [{"Status": "Completed"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, task) = get(
        &app,
        &org,
        &format!("/Tasks/{id}?fields=Status,Closed_Time"),
    )
    .await;
    assert!(
        task["data"][0]["Closed_Time"]
            .as_str()
            .is_some_and(|t| t.ends_with("+00:00"))
    );
    send(
        &app,
        &org,
        Method::PUT,
        "/Tasks",
        json!({"data": [{"id": id, "Status": "Deferred"}]}),
    )
    .await;
    let (_, task) = get(&app, &org, &format!("/Tasks/{id}?fields=Closed_Time")).await;
    assert_eq!(task["data"][0]["Closed_Time"], Value::Null);
}

#[tokio::test]
async fn task_fields_are_validated() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let cases = [
        (
            json!({"Status": "Not Started"}),
            "MANDATORY_NOT_FOUND",
            "Subject",
        ),
        (
            json!({"Subject": "x", "Status": "Done"}),
            "INVALID_DATA",
            "Status",
        ),
        (
            json!({"Subject": "x", "Status": "completed"}),
            "INVALID_DATA",
            "Status",
        ),
        (
            json!({"Subject": "x", "Priority": "Urgent"}),
            "INVALID_DATA",
            "Priority",
        ),
        (
            json!({"Subject": "x", "Due_Date": "2020/05/02"}),
            "INVALID_DATA",
            "Due_Date",
        ),
        (
            json!({"Subject": "x", "What_Id": {"id": "1"}}),
            "MANDATORY_NOT_FOUND",
            "$se_module",
        ),
        (
            json!({"Subject": "x", "What_Id": {"id": "1"}, "$se_module": "Deals"}),
            "INVALID_DATA",
            "$se_module",
        ),
        (
            json!({"Subject": "x", "Recurring_Activity": {"RRULE": "EVERY=DAY"}}),
            "INVALID_DATA",
            "Recurring_Activity",
        ),
        (
            json!({"Subject": "x", "Send_Notification_Email": "yes"}),
            "INVALID_DATA",
            "Send_Notification_Email",
        ),
    ];
    for (record, code, field) in cases {
        let (status, body) = send(
            &app,
            &org,
            Method::POST,
            "/Tasks",
            json!({"data": [record]}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["data"][0]["code"], code, "{body}");
        assert_eq!(body["data"][0]["details"]["api_name"], field, "{body}");
    }
    for status in [
        "Not Started",
        "Deferred",
        "In Progress",
        "Completed",
        "Waiting on someone else",
    ] {
        app.insert_into(
            &org,
            "Tasks",
            json!([{"Subject": status, "Status": status}]),
        )
        .await;
    }
    for priority in ["Highest", "High", "Normal", "Low", "Lowest"] {
        app.insert_into(
            &org,
            "Tasks",
            json!([{"Subject": priority, "Priority": priority}]),
        )
        .await;
    }
}

#[tokio::test]
async fn the_published_event_insert_and_event_rules() {
    let app = spawn_app().await;
    let org = app.org("jp").await;
    let (account, contact) = targets(&app, &org).await;
    // The org's user, as records name their Owner.
    let (_, read_back) = get(&app, &org, &format!("/Contacts/{contact}?fields=Owner")).await;
    let user_id = read_back["data"][0]["Owner"]["id"]
        .as_str()
        .expect("owner")
        .to_owned();
    let mut request = payload("zoho_events_insert_request");
    let record = &mut request["data"][0];
    record["Participants"][0]["participant"] = json!(contact);
    record["Participants"][2]["participant"] = json!(user_id);
    record["Who_Id"]["id"] = json!(contact);
    record["What_Id"] = json!(account);
    let (status, body) = send(&app, &org, Method::POST, "/Events", request).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"][0]["details"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, event) = get(&app, &org, &format!("/Events/{id}")).await;
    let event = &event["data"][0];
    assert_eq!(event["Event_Title"], "Kaizen_9_Weekly");
    assert_eq!(event["Start_DateTime"], "2020-02-02T04:30:00+00:00");
    assert_eq!(event["End_DateTime"], "2020-02-02T05:30:00+00:00");
    assert_eq!(
        event["All_day"], false,
        "All_Day (the sample's spelling) is not the field"
    );
    assert_eq!(event["Venue"], "Chennai");
    assert_eq!(event["Remind_At"], "2020-02-01T04:15:00+00:00");
    assert_eq!(
        event["Recurring_Activity"]["RRULE"],
        "FREQ=WEEKLY;BYDAY=SU;INTERVAL=2;UNTIL=2020-03-15"
    );
    assert_eq!(event["What_Id"]["name"], "Zylker");
    let participants = event["Participants"].as_array().expect("participants");
    assert_eq!(participants.len(), 3);
    assert_eq!(
        keys(&participants[0]),
        ["Email", "invited", "name", "participant", "status", "type"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(participants[0]["name"], "Kris Marrier");
    assert_eq!(participants[0]["Email"], "kris@zylker.example");
    assert_eq!(participants[2]["name"], "Patricia Boyle");

    let good = json!({"Event_Title": "会議", "Start_DateTime": "2024-05-01T10:00:00+09:00", "End_DateTime": "2024-05-01T11:00:00+09:00"});
    let with = |change: Value| {
        let mut record = good.clone();
        for (k, v) in change.as_object().expect("object") {
            if v.is_null() {
                record.as_object_mut().expect("object").remove(k);
            } else {
                record[k] = v.clone();
            }
        }
        json!({"data": [record]})
    };
    let too_many: Vec<Value> = (0..51)
        .map(|n| json!({"type": "email", "participant": format!("p{n}@example.com")}))
        .collect();
    let cases = [
        (
            with(json!({"Start_DateTime": null})),
            "MANDATORY_NOT_FOUND",
            "Start_DateTime",
        ),
        (
            with(json!({"Event_Title": null})),
            "MANDATORY_NOT_FOUND",
            "Event_Title",
        ),
        (
            with(json!({"Start_DateTime": "2024-05-01T10:00:00"})),
            "INVALID_DATA",
            "Start_DateTime",
        ),
        (
            with(json!({"End_DateTime": "2024-05-01T09:00:00+09:00"})),
            "INVALID_DATA",
            "End_DateTime",
        ),
        (
            with(json!({"Participants": too_many})),
            "LIMIT_EXCEEDED",
            "Participants",
        ),
        (
            with(json!({"Participants": [{"type": "robot", "participant": "1"}]})),
            "INVALID_DATA",
            "Participants",
        ),
        (
            with(json!({"Participants": [{"type": "contact", "participant": "1"}]})),
            "INVALID_DATA",
            "Participants",
        ),
        (with(json!({"All_day": "yes"})), "INVALID_DATA", "All_day"),
    ];
    for (body, code, field) in cases {
        let (status, answer) = send(&app, &org, Method::POST, "/Events", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["data"][0]["code"], code, "{answer}");
        assert_eq!(answer["data"][0]["details"]["api_name"], field, "{answer}");
    }
    let fifty: Vec<Value> = (0..50)
        .map(|n| json!({"type": "email", "participant": format!("p{n}@example.com")}))
        .collect();
    app.insert_into(
        &org,
        "Events",
        with(json!({"Participants": fifty}))["data"].clone(),
    )
    .await;
}

#[tokio::test]
async fn tasks_and_events_have_every_records_operation() {
    let app = spawn_app().await;
    let org = app.org("eu").await;
    for module in ["Tasks", "Events"] {
        let record = |n: usize| {
            if module == "Tasks" {
                json!({"Subject": format!("Aufgabe {n}"), "Due_Date": "2024-05-02"})
            } else {
                json!({"Event_Title": format!("Termin {n}"), "Start_DateTime": "2024-05-02T10:00:00+02:00",
                       "End_DateTime": "2024-05-02T11:00:00+02:00", "All_day": false})
            }
        };
        let title = if module == "Tasks" {
            "Subject"
        } else {
            "Event_Title"
        };
        let mut ids = Vec::new();
        for chunk in 0..5 {
            let records: Vec<Value> = (0..100).map(|n| record(chunk * 100 + n)).collect();
            ids.extend(app.insert_into(&org, module, json!(records)).await);
        }
        // Pages of 200 over 500 records, then a page token.
        let (status, first) = get(
            &app,
            &org,
            &format!("/{module}?fields={title}&per_page=200&sort_order=asc"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(first["info"]["count"], 200);
        assert_eq!(first["data"][0]["id"], ids[0].as_str());
        let token = first["info"]["next_page_token"].as_str().expect("token");
        let (_, second) = get(
            &app,
            &org,
            &format!("/{module}?fields={title}&per_page=200&sort_order=asc&page_token={token}"),
        )
        .await;
        assert_eq!(second["data"][0]["id"], ids[200].as_str());
        let (_, third) = get(
            &app,
            &org,
            &format!("/{module}?fields={title}&per_page=200&sort_order=asc&page=3"),
        )
        .await;
        assert_eq!(third["info"]["count"], 100);
        assert_eq!(third["info"]["more_records"], false);

        // Update, upsert on a named field, delete, deleted read, If-Modified-Since.
        let (status, _) = send(
            &app,
            &org,
            Method::PUT,
            &format!("/{module}"),
            json!({"data": [{"id": ids[0], title: "renamed"}]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let (status, upserted) = send(
            &app,
            &org,
            Method::POST,
            &format!("/{module}/upsert"),
            json!({"data": [record(1), record(9999)], "duplicate_check_fields": [title]}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{upserted}");
        assert_eq!(upserted["data"][0]["action"], "update");
        assert_eq!(upserted["data"][0]["duplicate_field"], title);
        assert_eq!(upserted["data"][1]["action"], "insert");
        // Without duplicate_check_fields nothing matches: Tasks and Events have no default.
        let (_, upserted) = send(
            &app,
            &org,
            Method::POST,
            &format!("/{module}/upsert"),
            json!({"data": [record(2)]}),
        )
        .await;
        assert_eq!(upserted["data"][0]["action"], "insert");

        let (status, deleted) = send(
            &app,
            &org,
            Method::DELETE,
            &format!("/{module}?ids={},{}", ids[0], ids[1]),
            Value::Null,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            keys(&deleted["data"][0]),
            keys(&payload("zoho_delete_response")["data"][0])
        );
        let (status, bin) = get(&app, &org, &format!("/{module}/deleted?type=recycle")).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = bin["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|d| d["display_name"].as_str())
            .collect();
        assert!(names.contains(&"renamed"), "{names:?}");
        let later = app
            .zoho(&org, Method::GET, &format!("/{module}?fields={title}"))
            .header("If-Modified-Since", "2999-01-01T00:00:00+00:00")
            .send()
            .await
            .expect("call");
        assert_eq!(later.status(), StatusCode::NOT_MODIFIED);
    }
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    let operations = &stats["zoho"]["orgs"][&org.id]["operations"];
    assert_eq!(operations["POST /Tasks"], 5);
    assert_eq!(operations["POST /Events/upsert"], 2);
    // Other modules are still refused.
    let (status, body) = get(&app, &org, "/Deals?fields=Deal_Name").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "INVALID_MODULE");
}

#[tokio::test]
async fn an_org_answers_in_its_users_zone_and_seeds_all_day_events_at_its_midnight() {
    let app = spawn_app().await;
    let (status, answer) = app
        .control(
            Method::POST,
            "/zoho/orgs",
            json!({"time_zone": "Mars/Olympus_Mons"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let org = app
        .org_made_with(json!({"dc": "jp", "time_zone": "Asia/Tokyo"}))
        .await;
    let (_, users) = get(&app, &org, "/users?type=CurrentUser").await;
    assert_eq!(users["users"][0]["time_zone"], "Asia/Tokyo");
    let (_, about) = get(&app, &org, "/org").await;
    assert_eq!(about["org"][0]["time_zone"], "Asia/Tokyo");

    // Written in UTC, answered with the user's offset: the same instants.
    let id = app
        .insert_into(
            &org,
            "Events",
            json!([{"Event_Title": "棚卸し", "Start_DateTime": "2026-01-03T15:00:00+00:00",
                    "End_DateTime": "2026-01-03T16:00:00+00:00",
                    "Remind_At": "2026-01-03T14:45:00+00:00"}]),
        )
        .await
        .remove(0);
    let (_, read_back) = get(
        &app,
        &org,
        &format!("/Events/{id}?fields=Start_DateTime,Remind_At,Modified_Time"),
    )
    .await;
    let record = &read_back["data"][0];
    assert_eq!(record["Start_DateTime"], "2026-01-04T00:00:00+09:00");
    assert_eq!(record["Remind_At"], "2026-01-03T23:45:00+09:00");
    assert!(
        record["Modified_Time"]
            .as_str()
            .is_some_and(|t| t.ends_with("+09:00")),
        "{record}"
    );

    // A seeded all-day event is what the Zoho user would have made: midnight in their zone.
    let (status, seeded) = app
        .control(
            Method::POST,
            "/seed",
            json!({"org_id": org.id, "events": 60, "seed": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{seeded}");
    let (_, listed) = get(
        &app,
        &org,
        "/Events?fields=All_day,Start_DateTime&per_page=200",
    )
    .await;
    let all_day: Vec<&str> = listed["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["All_day"] == true)
        .filter_map(|e| e["Start_DateTime"].as_str())
        .collect();
    assert!(!all_day.is_empty());
    assert!(
        all_day.iter().all(|s| s.ends_with("T00:00:00+09:00")),
        "{all_day:?}"
    );
}

//! Paging over thousands of records on every delta and list that pages.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{read, spawn_app};

#[tokio::test]
async fn thousands_of_contacts_page_through_graph_delta_and_zoho_page_tokens() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let org = app.org("com").await;
    let (status, _) = app
        .control(
            Method::POST,
            "/seed",
            json!({"mailbox_id": mailbox.id, "org_id": org.id, "contacts": 3000, "shared_share": 0.0, "seed": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Graph delta: 200 a page by default.
    let mut url = format!("/me/contactFolders/{}/contacts/delta", mailbox.folder_id);
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    loop {
        let (status, page) = read(
            app.graph(&mailbox, Method::GET, &url)
                .send()
                .await
                .expect("delta"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        for contact in page["value"].as_array().expect("value") {
            ids.insert(contact["id"].as_str().expect("id").to_owned());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, ids.len()), (15, 3000));

    // A plain list with $top=1000.
    let mut url = "/me/contacts?$top=1000&$select=displayName".to_owned();
    let mut listed = 0;
    let mut pages = 0;
    loop {
        let (_, page) = read(
            app.graph(&mailbox, Method::GET, &url)
                .send()
                .await
                .expect("list"),
        )
        .await;
        pages += 1;
        listed += page["value"].as_array().map_or(0, Vec::len);
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!((pages, listed), (3, 3000));

    // Zoho: pages reach 2,000 records; page tokens go on.
    let list = |query: String| {
        let app = &app;
        let org = &org;
        async move {
            read(
                app.zoho(
                    org,
                    Method::GET,
                    &format!("/Contacts?fields=Last_Name&per_page=200{query}"),
                )
                .send()
                .await
                .expect("list"),
            )
            .await
        }
    };
    let (status, tenth) = list("&page=10".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tenth["info"]["more_records"], true);
    let (status, eleventh) = list("&page=11".to_owned()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(eleventh["code"], "DISCRETE_PAGINATION_LIMIT_EXCEEDED");
    let mut records = BTreeSet::new();
    let mut query = String::new();
    let mut pages = 0;
    loop {
        let (status, page) = list(query.clone()).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        for record in page["data"].as_array().expect("data") {
            records.insert(record["id"].as_str().expect("id").to_owned());
        }
        match page["info"]["next_page_token"].as_str() {
            Some(token) => query = format!("&page_token={token}"),
            None => break,
        }
    }
    assert_eq!((pages, records.len()), (15, 3000));
}

#[tokio::test]
async fn thousands_of_occurrences_page_through_calendar_view_delta() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (status, _) = read(
        app.graph(&mailbox, Method::POST, "/me/events")
            .json(&json!({"subject": "毎日の朝会", "start": {"dateTime": "2020-01-01T09:00:00", "timeZone": "Tokyo Standard Time"},
                          "end": {"dateTime": "2020-01-01T09:15:00", "timeZone": "Tokyo Standard Time"},
                          "recurrence": {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd", "startDate": "2020-01-01"}}}))
            .send()
            .await
            .expect("event"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    // 2021-01-01 .. 2027-01-01: 2,191 days.
    let mut url = "/me/calendarView/delta?startDateTime=2021-01-01T00:00:00Z&endDateTime=2027-01-01T00:00:00Z".to_owned();
    let mut ids = BTreeSet::new();
    let mut pages = 0;
    let link = loop {
        let (status, page) = read(
            app.graph(&mailbox, Method::GET, &url)
                .send()
                .await
                .expect("delta"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for item in page["value"].as_array().expect("value") {
            assert_eq!(item["type"], "occurrence");
            ids.insert(item["id"].as_str().expect("id").to_owned());
        }
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => {
                break page["@odata.deltaLink"]
                    .as_str()
                    .expect("delta link")
                    .to_owned();
            }
        }
    };
    assert_eq!(ids.len(), 2191);
    assert_eq!(pages, 11);
    let (_, next) = read(
        app.graph(&mailbox, Method::GET, &link)
            .send()
            .await
            .expect("delta"),
    )
    .await;
    assert_eq!(next["value"], Value::Array(Vec::new()));
}

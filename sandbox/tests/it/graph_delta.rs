use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Mailbox, TestApp, keys, read, spawn_app};

/// One delta page.
async fn page(
    app: &TestApp,
    mailbox: &Mailbox,
    url: &str,
    max: Option<u32>,
) -> (StatusCode, Value) {
    let mut request = app.graph(mailbox, Method::GET, url);
    if let Some(max) = max {
        request = request.header("Prefer", format!("odata.maxpagesize={max}"));
    }
    read(request.send().await.expect("delta")).await
}

/// Follows a round to its delta link; returns the items and the delta link.
async fn round(
    app: &TestApp,
    mailbox: &Mailbox,
    start: &str,
    max: Option<u32>,
) -> (Vec<Value>, String, usize) {
    let mut url = start.to_owned();
    let mut items = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = page(app, mailbox, &url, max).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        pages += 1;
        items.extend(body["value"].as_array().expect("value").iter().cloned());
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(next.starts_with(&app.base), "absolute link: {next}");
            url = next.to_owned();
        } else {
            let delta = body["@odata.deltaLink"].as_str().expect("delta link");
            assert!(delta.starts_with(&app.base));
            return (items, delta.to_owned(), pages);
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn delta_rounds_page_select_and_report_changes_and_removals() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut created = Vec::new();
    for n in 0..5 {
        let contact = app
            .create_contact(
                &mailbox,
                json!({"givenName": format!("G{n}"), "surname": "Sæther"}),
            )
            .await;
        created.push(contact["id"].as_str().expect("id").to_owned());
    }
    // A contact in another folder never shows up in this folder's delta.
    let (_, other) = read(
        app.graph(&mailbox, Method::POST, "/me/contactFolders")
            .json(&json!({"displayName": "Other"}))
            .send()
            .await
            .expect("folder"),
    )
    .await;
    app.graph(
        &mailbox,
        Method::POST,
        &format!(
            "/me/contactFolders/{}/contacts",
            other["id"].as_str().expect("id")
        ),
    )
    .json(&json!({"givenName": "Elsewhere"}))
    .send()
    .await
    .expect("create");

    let start = format!(
        "/me/contactFolders/{}/contacts/delta?$select=displayName,givenName",
        mailbox.folder_id
    );
    let (items, delta_link, pages) = round(&app, &mailbox, &start, Some(2)).await;
    assert_eq!(pages, 3);
    assert_eq!(ids(&items), created);
    let expected_keys: std::collections::BTreeSet<String> = [
        "@odata.type",
        "@odata.etag",
        "id",
        "displayName",
        "givenName",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys(&items[0]), expected_keys);

    // Changes: one update, one delete, one creation.
    app.graph(
        &mailbox,
        Method::PATCH,
        &format!("/me/contacts/{}", created[1]),
    )
    .json(&json!({"givenName": "Renamed"}))
    .send()
    .await
    .expect("patch");
    app.graph(
        &mailbox,
        Method::DELETE,
        &format!("/me/contacts/{}", created[3]),
    )
    .send()
    .await
    .expect("delete");
    let fresh = app
        .create_contact(&mailbox, json!({"givenName": "New"}))
        .await;

    let (items, second_link, _) = round(&app, &mailbox, &delta_link, None).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[0]["id"], created[1].as_str());
    assert_eq!(items[0]["givenName"], "Renamed");
    assert_eq!(
        keys(&items[0]),
        expected_keys,
        "$select is kept in the links"
    );
    assert_eq!(
        items[1],
        json!({"@odata.type": "#microsoft.graph.contact", "id": created[3], "@removed": {"reason": "deleted"}})
    );
    assert_eq!(items[2]["id"], fresh["id"]);

    let (items, _, _) = round(&app, &mailbox, &second_link, None).await;
    assert!(items.is_empty());
}

#[tokio::test]
async fn writes_during_a_round_land_in_the_next_round() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut created = Vec::new();
    for n in 0..3 {
        let contact = app
            .create_contact(&mailbox, json!({"givenName": format!("C{n}")}))
            .await;
        created.push(contact["id"].as_str().expect("id").to_owned());
    }
    let start = format!("/me/contactFolders/{}/contacts/delta", mailbox.folder_id);
    let (status, first) = page(&app, &mailbox, &start, Some(1)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["value"][0]["id"], created[0].as_str());
    // Not yet served in this round: it moves to the next one.
    app.graph(
        &mailbox,
        Method::PATCH,
        &format!("/me/contacts/{}", created[2]),
    )
    .json(&json!({"jobTitle": "Moved on"}))
    .send()
    .await
    .expect("patch");
    let next = first["@odata.nextLink"].as_str().expect("next").to_owned();
    let (rest, delta_link, _) = round(&app, &mailbox, &next, Some(1)).await;
    assert_eq!(ids(&rest), vec![created[1].clone()]);
    let (later, _, _) = round(&app, &mailbox, &delta_link, None).await;
    assert_eq!(ids(&later), vec![created[2].clone()]);
    assert_eq!(later[0]["jobTitle"], "Moved on");
}

#[tokio::test]
async fn expired_and_garbled_tokens_answer_sync_state_not_found() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    app.create_contact(&mailbox, json!({"givenName": "A"}))
        .await;
    let start = format!("/me/contactFolders/{}/contacts/delta", mailbox.folder_id);
    let (_, delta_link, _) = round(&app, &mailbox, &start, None).await;

    let garbled = format!("{start}?$deltatoken=garbage");
    let (status, body) = page(&app, &mailbox, &garbled, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["error"]["code"], "SyncStateNotFound");

    let (status, _) = app
        .control(
            Method::POST,
            &format!("/graph/mailboxes/{}/expire-delta-tokens", mailbox.id),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = page(&app, &mailbox, &delta_link, None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["error"]["code"], "SyncStateNotFound");

    // A fresh initial round works again.
    let (items, _, _) = round(&app, &mailbox, &start, None).await;
    assert_eq!(items.len(), 1);

    // Another mailbox cannot use this mailbox's links.
    let (_, fresh_link, _) = round(&app, &mailbox, &start, None).await;
    let other = app.mailbox().await;
    let path = fresh_link.replace(&mailbox.folder_id, &other.folder_id);
    let (status, _) = page(&app, &other, &path, None).await;
    assert_eq!(status, StatusCode::GONE);
}

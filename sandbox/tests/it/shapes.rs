//! Published payloads not covered by the behaviour tests, checked against what the sandbox says.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{keys, payload, read, spawn_app};

#[tokio::test]
async fn graph_contact_update_and_delta_pages_have_the_published_keys() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let contact = app
            .create_contact(
                &mailbox,
                json!({"givenName": format!("Garth {n}"), "surname": "Fort"}),
            )
            .await;
        ids.push(contact["id"].as_str().expect("id").to_owned());
    }
    let (status, updated) = read(
        app.graph(&mailbox, Method::PATCH, &format!("/me/contacts/{}", ids[0]))
            .json(&json!({"homeAddress": {"street": "123 Some street", "city": "Seattle", "state": "WA", "postalCode": "98121"},
                          "birthday": "1974-07-22"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let published = payload("graph_contact_update_response");
    assert!(keys(&published).is_subset(&keys(&updated)));
    assert_eq!(updated["homeAddress"], published["homeAddress"]);

    let response = app
        .graph(
            &mailbox,
            Method::GET,
            &format!(
                "/me/contactFolders/{}/contacts/delta?$select=displayName",
                mailbox.folder_id
            ),
        )
        .header("Prefer", "odata.maxpagesize=2")
        .send()
        .await
        .expect("delta");
    let (_, page) = read(response).await;
    let published = payload("graph_contacts_delta_page");
    assert!(keys(&published).is_subset(&keys(&page)));
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .is_some_and(|l| l.contains(&format!(
                "/me/contactFolders/{}/contacts/delta?$skiptoken=",
                mailbox.folder_id
            )))
    );
}

#[tokio::test]
async fn zoho_page_token_pages_have_the_published_info() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let records: Vec<_> = (0..7)
        .map(|n| json!({"Last_Name": format!("test{n}000"), "First_Name": "John", "Email": format!("john{n}@zylker.example")}))
        .collect();
    app.insert(&org, json!(records)).await;
    let (_, first) = read(
        app.zoho(&org, Method::GET, "/Contacts?fields=Last_Name,Email,First_Name,Owner,Created_Time,Modified_Time&per_page=5")
            .send()
            .await
            .expect("list"),
    )
    .await;
    let leads = payload("zoho_records_get_v8_leads");
    assert_eq!(keys(&first["info"]), keys(&leads["info"]));
    assert_eq!(
        keys(&first["data"][0]["Owner"]),
        keys(&leads["data"][0]["Owner"])
    );
    let token = first["info"]["next_page_token"].as_str().expect("token");
    let (_, second) = read(
        app.zoho(&org, Method::GET, &format!("/Contacts?fields=Last_Name,Email,First_Name,Owner,Created_Time,Modified_Time&per_page=5&page_token={token}"))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(
        keys(&second["info"]),
        keys(&payload("zoho_records_get_page_token")["info"])
    );
    assert_eq!(second["info"]["count"], 2);
}

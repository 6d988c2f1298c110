use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{keys, payload, read, spawn_app};

#[tokio::test]
async fn contact_folders_list_create_and_children() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (status, list) = read(
        app.graph(&mailbox, Method::GET, "/me/contactFolders")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let folders = list["value"].as_array().expect("value");
    assert_eq!(folders.len(), 1);
    assert_eq!(folders[0]["displayName"], "Contacts");
    assert_eq!(folders[0]["id"], mailbox.folder_id.as_str());
    assert_eq!(
        keys(&folders[0]),
        keys(&payload("graph_contact_folders")["value"][0])
    );

    let create = |name: &'static str| {
        app.graph(&mailbox, Method::POST, "/me/contactFolders")
            .json(&json!({"displayName": name}))
            .send()
    };
    let (status, folder) = read(create("Zoho CRM").await.expect("create")).await;
    assert_eq!(status, StatusCode::CREATED, "{folder}");
    let (status, conflict) = read(create("Zoho CRM").await.expect("create")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(conflict["error"]["code"], "ErrorFolderExists");

    let folder_id = folder["id"].as_str().expect("id");
    let (status, children) = read(
        app.graph(
            &mailbox,
            Method::GET,
            &format!("/me/contactFolders/{folder_id}/childFolders"),
        )
        .send()
        .await
        .expect("children"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(children["value"], json!([]));

    // Graph path segments are case-insensitive.
    let lower = app
        .graph(&mailbox, Method::GET, "/me/contactfolders")
        .send()
        .await
        .expect("list");
    assert_eq!(lower.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_created_contact_has_every_documented_property() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let contact = app
        .create_contact(
            &mailbox,
            json!({"givenName": "太郎", "surname": "山田",
                   "emailAddresses": [{"address": "taro.yamada@contoso.example"}]}),
        )
        .await;
    assert_eq!(keys(&contact), keys(&payload("graph_contact_get")));
    assert_eq!(contact["displayName"], "太郎 山田");
    assert_eq!(contact["parentFolderId"], mailbox.folder_id.as_str());
    assert_eq!(contact["homeAddress"], json!({}));
    assert_eq!(contact["businessPhones"], json!([]));
    assert_eq!(contact["fileAs"], "");
    assert_eq!(contact["initials"], Value::Null);
    assert_eq!(
        contact["emailAddresses"][0]["name"],
        "taro.yamada@contoso.example"
    );
    let etag = format!("W/\"{}\"", contact["changeKey"].as_str().expect("ck"));
    assert_eq!(contact["@odata.etag"], etag.as_str());
    assert!(
        contact["lastModifiedDateTime"]
            .as_str()
            .expect("time")
            .ends_with('Z')
    );
}

#[tokio::test]
async fn contact_crud_with_etags() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let contact = app
        .create_contact(&mailbox, json!({"givenName": "Zoë", "surname": "Ødegaard"}))
        .await;
    let id = contact["id"].as_str().expect("id");
    let path = format!("/me/contacts/{id}");
    let old_etag = contact["@odata.etag"].as_str().expect("etag").to_owned();

    let (status, got) = read(
        app.graph(
            &mailbox,
            Method::GET,
            &format!("{path}?$select=displayName"),
        )
        .send()
        .await
        .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let selected: Vec<&str> = vec!["@odata.context", "@odata.etag", "displayName", "id"];
    assert_eq!(keys(&got), selected.into_iter().map(String::from).collect());

    let (status, updated) = read(
        app.graph(&mailbox, Method::PATCH, &path)
            .header("If-Match", &old_etag)
            .json(&json!({"jobTitle": "CFO", "businessAddress": {"city": "Oslo"}}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["jobTitle"], "CFO");
    assert_eq!(updated["businessAddress"], json!({"city": "Oslo"}));
    assert_eq!(updated["displayName"], "Zoë Ødegaard");
    assert_ne!(updated["changeKey"], contact["changeKey"]);
    assert!(updated["lastModifiedDateTime"].as_str() >= contact["lastModifiedDateTime"].as_str());

    let (status, conflict) = read(
        app.graph(&mailbox, Method::PATCH, &path)
            .header("If-Match", &old_etag)
            .json(&json!({"jobTitle": "CEO"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let expected = payload("graph_error_irresolvable_conflict_412");
    assert_eq!(conflict["error"]["code"], expected["error"]["code"]);
    assert_eq!(conflict["error"]["message"], expected["error"]["message"]);

    let (status, bad) = read(
        app.graph(&mailbox, Method::PATCH, &path)
            .json(&json!({"favouriteColour": "blue"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["code"], "RequestBodyRead");
    let malformed = app
        .graph(&mailbox, Method::PATCH, &path)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("patch");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);

    let stale_delete = app
        .graph(&mailbox, Method::DELETE, &path)
        .header("If-Match", &old_etag)
        .send()
        .await
        .expect("delete");
    assert_eq!(stale_delete.status(), StatusCode::PRECONDITION_FAILED);
    let deleted = app
        .graph(&mailbox, Method::DELETE, &path)
        .header("If-Match", updated["@odata.etag"].as_str().expect("etag"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, missing) = read(
        app.graph(&mailbox, Method::GET, &path)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["code"], "ErrorItemNotFound");
}

#[tokio::test]
async fn contacts_in_folders_are_reached_through_their_folder() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (_, folder) = read(
        app.graph(&mailbox, Method::POST, "/me/contactFolders")
            .json(&json!({"displayName": "Sync"}))
            .send()
            .await
            .expect("folder"),
    )
    .await;
    let folder_id = folder["id"].as_str().expect("id");
    let (status, contact) = read(
        app.graph(
            &mailbox,
            Method::POST,
            &format!("/me/contactFolders/{folder_id}/contacts"),
        )
        .json(&json!({"givenName": "José", "surname": "Müller"}))
        .send()
        .await
        .expect("create"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(contact["parentFolderId"], folder_id);
    let id = contact["id"].as_str().expect("id");

    let through_folder = app
        .graph(
            &mailbox,
            Method::GET,
            &format!("/me/contactFolders/{folder_id}/contacts/{id}"),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(through_folder.status(), StatusCode::OK);
    let through_other = app
        .graph(
            &mailbox,
            Method::GET,
            &format!("/me/contactFolders/{}/contacts/{id}", mailbox.folder_id),
        )
        .send()
        .await
        .expect("get");
    assert_eq!(through_other.status(), StatusCode::NOT_FOUND);
    let anywhere = app
        .graph(&mailbox, Method::GET, &format!("/me/contacts/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(anywhere.status(), StatusCode::OK);

    let (_, default_list) = read(
        app.graph(&mailbox, Method::GET, "/me/contacts")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(default_list["value"], json!([]));
}

#[tokio::test]
async fn mailboxes_are_isolated() {
    let app = spawn_app().await;
    let alice = app.mailbox().await;
    let bob = app.mailbox().await;
    let contact = app
        .create_contact(&alice, json!({"givenName": "Private"}))
        .await;
    let id = contact["id"].as_str().expect("id");
    let seen_by_bob = app
        .graph(&bob, Method::GET, &format!("/me/contacts/{id}"))
        .send()
        .await
        .expect("get");
    assert_eq!(seen_by_bob.status(), StatusCode::NOT_FOUND);
}

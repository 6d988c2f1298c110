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

#[tokio::test]
async fn insert_all_ok_mixed_and_all_failed() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        json!({"data": [{"Last_Name": "Ok"}], "trigger": []}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let expected = &payload("zoho_insert_response")["data"][0];
    assert_eq!(keys(&body["data"][0]), keys(expected));
    assert_eq!(
        keys(&body["data"][0]["details"]),
        keys(&expected["details"])
    );
    assert_eq!(body["data"][0]["message"], "record added");

    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        json!({"data": [{"Last_Name": "Fine"}, {"First_Name": "No last name"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    let mixed = payload("zoho_insert_207_mixed");
    assert_eq!(keys(&body["data"][1]), keys(&mixed["data"][1]));
    assert_eq!(body["data"][1]["code"], "MANDATORY_NOT_FOUND");
    assert_eq!(
        keys(&body["data"][1]["details"]),
        keys(&payload("zoho_error_mandatory_not_found")["data"][0]["details"])
    );
    assert_eq!(body["data"][1]["details"]["api_name"], "Last_Name");
    assert_eq!(
        body["data"][1]["details"]["json_path"],
        "$.data[1].Last_Name"
    );

    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        json!({"data": [{"Last_Name": "X", "Email": "not an email"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["data"][0]["code"], "INVALID_DATA");
    assert_eq!(
        body["data"][0]["details"],
        json!({"api_name": "Email", "json_path": "$.data[0].Email"})
    );

    let too_many: Vec<Value> = (0..101)
        .map(|n| json!({"Last_Name": format!("N{n}")}))
        .collect();
    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        json!({"data": too_many}),
    )
    .await;
    // Zoho reports too many records inside `data[]`, naming the limit (record.yaml).
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"data": [{"code": "LIMIT_EXCEEDED",
                         "details": {"maximum_length": 100, "api_name": "data"},
                         "message": "count of records in your request exceeds the limit",
                         "status": "error"}]})
    );

    let malformed = app
        .zoho(&org, Method::POST, "/Contacts")
        .body("{\"data\": [")
        .send()
        .await
        .expect("call");
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let (_, body) = read(malformed).await;
    assert_eq!(
        body,
        json!({"code": "INVALID_DATA",
               "details": {"expected_data_type": "jsonobject", "api_name": "body", "json_path": "$"},
               "message": "either the request body or parameters is in wrong format",
               "status": "error"})
    );
}

#[tokio::test]
async fn account_name_by_name_reuses_or_creates_the_account() {
    let app = spawn_app().await;
    let org = app.org("eu").await;
    let ids = app
        .insert(
            &org,
            json!([
                {"Last_Name": "A", "Account_Name": {"name": "Zylker Corp"}},
                {"Last_Name": "B", "Account_Name": {"name": "zylker corp"}},
            ]),
        )
        .await;
    let mut accounts = Vec::new();
    for id in &ids {
        let (_, body) = read(
            app.zoho(
                &org,
                Method::GET,
                &format!("/Contacts/{id}?fields=Account_Name"),
            )
            .send()
            .await
            .expect("get"),
        )
        .await;
        accounts.push(body["data"][0]["Account_Name"].clone());
    }
    assert_eq!(accounts[0], accounts[1]);
    assert_eq!(accounts[0]["name"], "Zylker Corp");

    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        json!({"data": [{"Last_Name": "C", "Account_Name": {"id": "1111111111111111111"}}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["data"][0]["details"]["api_name"], "Account_Name");
}

#[tokio::test]
async fn update_by_body_and_by_path_with_if_unmodified_since() {
    let app = spawn_app().await;
    let org = app.org("ca").await;
    let ids = app.insert(&org, json!([{"Last_Name": "Before"}])).await;
    let id = &ids[0];

    let (status, body) = send(
        &app,
        &org,
        Method::PUT,
        "/Contacts",
        json!({"data": [{"id": id, "Last_Name": "After"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let expected = &payload("zoho_update_response")["data"][0];
    assert_eq!(keys(&body["data"][0]), keys(expected));
    assert_eq!(
        keys(&body["data"][0]["details"]),
        keys(&expected["details"])
    );
    assert_eq!(body["data"][0]["message"], "record updated");

    let (status, body) = send(
        &app,
        &org,
        Method::PUT,
        "/Contacts",
        json!({"data": [{"id": "1234567890123456789", "Last_Name": "Ghost"}, {"Last_Name": "No id"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["data"][0]["message"],
        "the id given seems to be invalid"
    );
    assert_eq!(body["data"][1]["code"], "MANDATORY_NOT_FOUND");

    let (status, _) = send(
        &app,
        &org,
        Method::PUT,
        &format!("/Contacts/{id}"),
        json!({"data": [{"Title": "CFO"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let stale = "2001-01-01T00:00:00+00:00";
    let (status, body) = read(
        app.zoho(&org, Method::PUT, &format!("/Contacts/{id}"))
            .header("If-Unmodified-Since", stale)
            .json(&json!({"data": [{"Title": "CEO"}]}))
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let expected = &payload("zoho_update_412_already_modified")["data"][0];
    assert_eq!(keys(&body["data"][0]), keys(expected));
    assert_eq!(
        keys(&body["data"][0]["details"]),
        keys(&expected["details"])
    );
    assert_eq!(body["data"][0]["code"], "ALREADY_MODIFIED");

    let (_, record) = read(
        app.zoho(&org, Method::GET, &format!("/Contacts/{id}"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(record["data"][0]["Title"], "CFO");
    assert_eq!(record["data"][0]["Last_Name"], "After");
}

#[tokio::test]
async fn upsert_matches_on_email_by_default() {
    let app = spawn_app().await;
    let org = app.org("sa").await;
    let ids = app
        .insert(
            &org,
            json!([{"Last_Name": "Existing", "Email": "Ana@Example.com"}]),
        )
        .await;
    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts/upsert",
        json!({"data": [
            {"Last_Name": "Existing", "Email": "ana@example.com", "Title": "Updated"},
            {"Last_Name": "Newcomer", "Email": "new@example.com"},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let expected = payload("zoho_upsert_response");
    assert_eq!(keys(&body["data"][0]), keys(&expected["data"][0]));
    assert_eq!(body["data"][0]["action"], "update");
    assert_eq!(body["data"][0]["duplicate_field"], "Email");
    assert_eq!(body["data"][0]["details"]["id"], ids[0].as_str());
    assert_eq!(body["data"][1]["action"], "insert");
    assert_eq!(body["data"][1]["duplicate_field"], Value::Null);
    assert_eq!(body["data"][1]["message"], "record added");
}

#[tokio::test]
async fn delete_and_read_deleted_records() {
    let app = spawn_app().await;
    let org = app.org("com.cn").await;
    let (status, _) = read(
        app.zoho(&org, Method::GET, "/Contacts/deleted?type=all")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let ids = app
        .insert(&org, json!([{"Last_Name": "One", "First_Name": "Uno"}, {"Last_Name": "Two"}, {"Last_Name": "Three"}]))
        .await;
    let (status, body) = read(
        app.zoho(
            &org,
            Method::DELETE,
            &format!("/Contacts?ids={},{}&wf_trigger=false", ids[0], ids[1]),
        )
        .send()
        .await
        .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let expected = payload("zoho_delete_response");
    assert_eq!(keys(&body["data"][0]), keys(&expected["data"][0]));
    assert_eq!(body["data"][0]["details"], json!({"id": ids[0]}));

    let (status, body) = read(
        app.zoho(
            &org,
            Method::DELETE,
            &format!("/Contacts?ids={},{}", ids[0], ids[2]),
        )
        .send()
        .await
        .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(body["data"][0]["status"], "error");

    let (status, body) = read(
        app.zoho(&org, Method::DELETE, "/Contacts")
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "REQUIRED_PARAM_MISSING");

    let (status, deleted) = read(
        app.zoho(&org, Method::GET, "/Contacts/deleted?type=all")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let expected = payload("zoho_deleted_records");
    assert_eq!(keys(&deleted["info"]), keys(&expected["info"]));
    assert_eq!(keys(&deleted["data"][0]), keys(&expected["data"][0]));
    assert_eq!(deleted["info"]["count"], 3);
    let names: Vec<&Value> = deleted["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| &d["display_name"])
        .collect();
    assert!(names.contains(&&json!("Uno One")));

    let (status, _) = read(
        app.zoho(&org, Method::GET, "/Contacts/deleted?type=recycle")
            .header("If-Modified-Since", "2999-01-01T00:00:00+00:00")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = read(
        app.zoho(&org, Method::GET, &format!("/Contacts/{}", ids[0]))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let single = app.insert(&org, json!([{"Last_Name": "Four"}])).await;
    // The single-record delete: a success in `data[]`, and a record it cannot delete as a
    // top-level error naming the id's place in the path (record.yaml, deleteRecord).
    let (status, body) = read(
        app.zoho(&org, Method::DELETE, &format!("/Contacts/{}", single[0]))
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["details"], json!({"id": single[0]}));
    let (status, body) = read(
        app.zoho(&org, Method::DELETE, &format!("/Contacts/{}", single[0]))
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"code": "INVALID_DATA", "details": {"resource_path_index": 1},
               "message": "record not deleted", "status": "error"})
    );
}

#[tokio::test]
async fn unique_fields_answer_duplicate_data() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let path = format!("/zoho/orgs/{}/unique-fields", org.id);
    let (status, set) = app
        .control(Method::PUT, &path, json!({"Contacts": ["Email"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(set, json!({"Contacts": ["Email"]}));
    for bad in [json!({"Deals": ["Email"]}), json!({"Contacts": ["Tag"]})] {
        let (status, _) = app.control(Method::PUT, &path, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let ids = app
        .insert(
            &org,
            json!([{"Last_Name": "First", "Email": "dup@zylker.example"}, {"Last_Name": "Second"}]),
        )
        .await;
    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        json!({"data": [{"Last_Name": "Third", "Email": "DUP@zylker.example"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let published = payload("zoho_error_duplicate_data");
    assert_eq!(keys(&body["data"][0]), keys(&published["data"][0]));
    assert_eq!(
        keys(&body["data"][0]["details"]),
        keys(&published["data"][0]["details"])
    );
    assert_eq!(
        keys(&body["data"][0]["details"]["duplicate_record"]["Owner"]),
        keys(&published["data"][0]["details"]["duplicate_record"]["Owner"])
    );
    assert_eq!(body["data"][0]["code"], "DUPLICATE_DATA");
    assert_eq!(
        body["data"][0]["details"]["duplicate_record"]["id"],
        ids[0].as_str()
    );
    let (status, body) = send(
        &app,
        &org,
        Method::PUT,
        "/Contacts",
        json!({"data": [{"id": ids[1], "Email": "dup@zylker.example"}, {"id": ids[0], "Email": "dup@zylker.example"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    assert_eq!(body["data"][0]["code"], "DUPLICATE_DATA");
    assert_eq!(body["data"][1]["code"], "SUCCESS");
    let (status, body) = send(
        &app,
        &org,
        Method::POST,
        "/Contacts/upsert",
        json!({"data": [{"Last_Name": "Again", "Email": "dup@zylker.example"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"][0]["action"], "update");
}

//! The link identity a client keeps on Zoho records (issue 12): custom fields made through the
//! Fields API (an External ID among them), their values on records, `DUPLICATE_DATA` for a value
//! already used, records named by `X-EXTERNAL`, and upsert on the External ID.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, keys, payload, read, spawn_app};

async fn zoho(
    app: &TestApp,
    org: &Org,
    method: Method,
    path: &str,
    body: Option<Value>,
    external: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.zoho(org, method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(header) = external {
        request = request.header("X-EXTERNAL", header);
    }
    read(request.send().await.expect("zoho call")).await
}

/// The link field: an org-wide External ID.
fn link_field() -> Value {
    json!({"field_label": "Sync Link Id", "data_type": "text", "length": 64,
           "external": {"type": "org", "show": true}})
}

async fn org_with_link_field(app: &TestApp, module: &str) -> Org {
    let org = app.org("eu").await;
    let (status, created) = zoho(
        app,
        &org,
        Method::POST,
        &format!("/settings/fields?module={module}"),
        Some(json!({"fields": [link_field()]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    org
}

fn field<'a>(metadata: &'a Value, api_name: &str) -> &'a Value {
    metadata["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["api_name"] == api_name)
        .unwrap_or_else(|| panic!("no field {api_name} in {metadata}"))
}

#[tokio::test]
async fn field_metadata_lists_the_module_fields_and_the_custom_ones() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let (status, metadata) = zoho(
        &app,
        &org,
        Method::GET,
        "/settings/fields?module=Contacts",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{metadata}");
    let last_name = field(&metadata, "Last_Name");
    assert_eq!(last_name["field_label"], "Last Name");
    assert_eq!(last_name["data_type"], "text");
    assert_eq!(last_name["length"], 80);
    assert_eq!(last_name["custom_field"], false);
    assert_eq!(last_name["system_mandatory"], true);
    assert_eq!(field(&metadata, "Email")["data_type"], "email");
    for module in ["Tasks", "Events"] {
        let (status, _) = zoho(
            &app,
            &org,
            Method::GET,
            &format!("/settings/fields?module={module}"),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, error) = zoho(&app, &org, Method::GET, "/settings/fields", None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "REQUIRED_PARAM_MISSING");
    let (status, error) = zoho(
        &app,
        &org,
        Method::GET,
        "/settings/fields?module=Leads",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "INVALID_MODULE");

    // Made by API: an External ID and a unique field.
    let (status, created) = zoho(
        &app,
        &org,
        Method::POST,
        "/settings/fields?module=Contacts",
        Some(json!({"fields": [
            link_field(),
            {"field_label": "Outlook Key", "data_type": "text", "unique": {"case_sensitive": false}},
        ]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["fields"][0]["code"], "SUCCESS");
    assert_eq!(created["fields"][0]["message"], "field created");
    let id = created["fields"][0]["details"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, metadata) = zoho(
        &app,
        &org,
        Method::GET,
        "/settings/fields?module=Contacts",
        None,
        None,
    )
    .await;
    let link = field(&metadata, "Sync_Link_Id");
    assert_eq!(link["id"], json!(id));
    assert_eq!(link["custom_field"], true);
    assert_eq!(link["field_label"], "Sync Link Id");
    assert_eq!(link["length"], 64);
    assert_eq!(link["external"]["type"], "org");
    assert_eq!(
        field(&metadata, "Outlook_Key")["unique"],
        json!({"casesensitive": "false"})
    );
    assert_eq!(field(&metadata, "Last_Name")["unique"], json!({}));
    let (_, others) = zoho(
        &app,
        &org,
        Method::GET,
        "/settings/fields?module=Tasks",
        None,
        None,
    )
    .await;
    assert!(
        others["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .all(|f| f["custom_field"] == false)
    );

    // A label already used, a type the sandbox does not make: refused one by one.
    let (status, mixed) = zoho(
        &app,
        &org,
        Method::POST,
        "/settings/fields?module=Contacts",
        Some(json!({"fields": [
            {"field_label": "Second Key", "data_type": "text"},
            {"field_label": "sync link id", "data_type": "text"},
            {"field_label": "Score", "data_type": "formula"},
            {"data_type": "text"},
            {"field_label": "Long", "data_type": "text", "length": 256},
            {"field_label": "Ext mail", "data_type": "email", "external": {"type": "org", "show": true}},
        ]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{mixed}");
    let codes: Vec<&str> = mixed["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        codes,
        [
            "SUCCESS",
            "DUPLICATE_DATA",
            "INVALID_DATA",
            "MANDATORY_NOT_FOUND",
            "INVALID_DATA",
            "INVALID_DATA"
        ]
    );
    assert_eq!(
        mixed["fields"][2]["details"]["json_path"],
        "$.fields[2].data_type"
    );
}

#[tokio::test]
async fn a_user_who_may_not_customise_is_refused_and_the_control_api_still_makes_the_field() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let (status, _) = app
        .control(
            Method::PUT,
            &format!("/zoho/orgs/{}/permissions", org.id),
            json!({"customize_crm": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = zoho(
        &app,
        &org,
        Method::POST,
        "/settings/fields?module=Contacts",
        Some(json!({"fields": [link_field()]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        error,
        json!({"code": "NO_PERMISSION", "details": {"permissions": ["Crm_Implied_Customize_Zoho_CRM"]},
               "message": "permission denied", "status": "error"})
    );
    // Reading the metadata stays allowed; the field an administrator made is usable.
    let (status, created) = app
        .control(
            Method::POST,
            &format!("/zoho/orgs/{}/fields/Contacts", org.id),
            json!({"fields": [link_field()]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, metadata) = zoho(
        &app,
        &org,
        Method::GET,
        "/settings/fields?module=Contacts",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&metadata, "Sync_Link_Id")["custom_field"], true);
    let (_, listed) = app
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/fields/Contacts", org.id),
            Value::Null,
        )
        .await;
    assert_eq!(listed["fields"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn records_carry_custom_values_and_a_used_external_id_is_duplicate_data() {
    let app = spawn_app().await;
    let org = org_with_link_field(&app, "Contacts").await;
    let ids = app
        .insert(
            &org,
            json!([{"Last_Name": "Berg", "Sync_Link_Id": "link-1"}]),
        )
        .await;
    let first = ids[0].clone();
    let (_, one) = zoho(
        &app,
        &org,
        Method::GET,
        &format!("/Contacts/{first}"),
        None,
        None,
    )
    .await;
    assert_eq!(one["data"][0]["Sync_Link_Id"], "link-1");
    let (_, listed) = zoho(
        &app,
        &org,
        Method::GET,
        "/Contacts?fields=Last_Name,Sync_Link_Id",
        None,
        None,
    )
    .await;
    assert_eq!(
        listed["data"][0],
        json!({"id": first, "Last_Name": "Berg", "Sync_Link_Id": "link-1"})
    );

    // The same value again: the second record of the batch fails alone, in Zoho's shape.
    let (status, body) = zoho(
        &app,
        &org,
        Method::POST,
        "/Contacts",
        Some(json!({"data": [
            {"Last_Name": "Other", "Sync_Link_Id": "link-2"},
            {"Last_Name": "Again", "Sync_Link_Id": "link-1"},
        ]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    let error = &body["data"][1];
    let published = &payload("zoho_error_duplicate_data")["data"][0];
    assert_eq!(keys(error), keys(published));
    assert_eq!(keys(&error["details"]), keys(&published["details"]));
    assert_eq!(error["code"], "DUPLICATE_DATA");
    assert_eq!(error["details"]["api_name"], "Sync_Link_Id");
    assert_eq!(error["details"]["json_path"], "$.data[1].Sync_Link_Id");
    assert_eq!(error["details"]["id"], json!(first));
    assert_eq!(error["details"]["duplicate_record"]["id"], json!(first));
    // External ids compare exactly: another case is another id.
    app.insert(
        &org,
        json!([{"Last_Name": "Case", "Sync_Link_Id": "LINK-1"}]),
    )
    .await;
    // An update onto a used value fails too; its own value is fine.
    let (status, body) = zoho(
        &app,
        &org,
        Method::PUT,
        "/Contacts",
        Some(json!({"data": [{"id": first, "Sync_Link_Id": "link-2"}]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["data"][0]["code"], "DUPLICATE_DATA");
    let (status, _) = zoho(
        &app,
        &org,
        Method::PUT,
        &format!("/Contacts/{first}"),
        Some(json!({"data": [{"Sync_Link_Id": "link-1", "First_Name": "Åse"}]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let records = app
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/records/Contacts", org.id),
            Value::Null,
        )
        .await
        .1;
    assert_eq!(records["data"].as_array().map(Vec::len), Some(3));
    assert!(
        records["data"]
            .as_array()
            .expect("data")
            .iter()
            .any(|r| r["Sync_Link_Id"] == "link-1" && r["First_Name"] == "Åse")
    );
}

#[tokio::test]
async fn x_external_names_a_record_by_its_external_id() {
    let app = spawn_app().await;
    let org = org_with_link_field(&app, "Tasks").await;
    let ids = app
        .insert_into(
            &org,
            "Tasks",
            json!([{"Subject": "Angebot", "Sync_Link_Id": "t/1 ü"}]),
        )
        .await;
    let header = Some("Tasks.Sync_Link_Id");
    let path = "/Tasks/t%2F1%20%C3%BC";
    let (status, found) = zoho(&app, &org, Method::GET, path, None, header).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["data"][0]["id"], json!(ids[0]));
    let (status, _) = zoho(&app, &org, Method::GET, "/Tasks/nope", None, header).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A header that does not name an External ID of the module is refused.
    for wrong in ["Tasks.Subject", "Contacts.Sync_Link_Id", "Sync_Link_Id"] {
        let (status, error) = zoho(&app, &org, Method::GET, path, None, Some(wrong)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
        assert_eq!(error["details"]["param_name"], "X-EXTERNAL");
    }
    let (status, updated) = zoho(
        &app,
        &org,
        Method::PUT,
        path,
        Some(json!({"data": [{"Status": "Completed"}]})),
        header,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["data"][0]["details"]["id"], json!(ids[0]));
    let (status, unknown) = zoho(
        &app,
        &org,
        Method::PUT,
        "/Tasks/nope",
        Some(json!({"data": [{"Status": "Completed"}]})),
        header,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["data"][0]["code"], "INVALID_DATA");
    // Update many: a record without `id` is named by its External ID value.
    let (status, many) = zoho(
        &app,
        &org,
        Method::PUT,
        "/Tasks",
        Some(json!({"data": [{"Sync_Link_Id": "t/1 ü", "Priority": "High"}, {"Sync_Link_Id": "zz", "Priority": "Low"}]})),
        header,
    )
    .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{many}");
    assert_eq!(many["data"][0]["details"]["id"], json!(ids[0]));
    assert_eq!(many["data"][1]["code"], "INVALID_DATA");
    let (_, task) = zoho(
        &app,
        &org,
        Method::GET,
        &format!("/Tasks/{}", ids[0]),
        None,
        None,
    )
    .await;
    assert_eq!(task["data"][0]["Status"], "Completed");
    assert_eq!(task["data"][0]["Priority"], "High");
    let (status, deleted) = zoho(&app, &org, Method::DELETE, path, None, header).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["data"][0]["details"]["id"], json!(ids[0]));
    let (status, _) = zoho(&app, &org, Method::GET, path, None, header).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn upsert_on_the_external_id_updates_the_first_copy() {
    let app = spawn_app().await;
    let org = org_with_link_field(&app, "Events").await;
    let event = |title: &str| {
        json!({"Event_Title": title, "Start_DateTime": "2026-03-02T09:00:00+01:00",
               "End_DateTime": "2026-03-02T10:00:00+01:00", "Sync_Link_Id": "ev-1"})
    };
    let (status, first) = zoho(
        &app,
        &org,
        Method::POST,
        "/Events/upsert",
        Some(json!({"data": [event("One")]})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["data"][0]["action"], "insert");
    let id = first["data"][0]["details"]["id"].clone();
    // Named explicitly, by default (the org's External IDs follow the module's own checks), or
    // through the header: always the same record.
    for (body, header) in [
        (
            json!({"data": [event("Two")], "duplicate_check_fields": ["Sync_Link_Id"]}),
            None,
        ),
        (json!({"data": [event("Three")]}), None),
        (
            json!({"data": [event("Four")]}),
            Some("Events.Sync_Link_Id"),
        ),
    ] {
        let (status, again) = zoho(
            &app,
            &org,
            Method::POST,
            "/Events/upsert",
            Some(body),
            header,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["data"][0]["action"], "update");
        assert_eq!(again["data"][0]["duplicate_field"], "Sync_Link_Id");
        assert_eq!(again["data"][0]["details"]["id"], id);
    }
    let records = app
        .control(
            Method::GET,
            &format!("/zoho/orgs/{}/records/Events", org.id),
            Value::Null,
        )
        .await
        .1;
    assert_eq!(records["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(records["data"][0]["Event_Title"], "Four");
    assert_eq!(records["data"][0]["Sync_Link_Id"], "ev-1");
}

#[tokio::test]
async fn each_new_call_costs_one_credit() {
    let app = spawn_app().await;
    let org = org_with_link_field(&app, "Contacts").await;
    let ids = app
        .insert(&org, json!([{"Last_Name": "Berg", "Sync_Link_Id": "c-1"}]))
        .await;
    let used = |credits: Value| credits["used"].as_u64().expect("used");
    let credits = format!("/zoho/orgs/{}/credits", org.id);
    let before = used(app.control(Method::GET, &credits, Value::Null).await.1);
    zoho(
        &app,
        &org,
        Method::GET,
        "/settings/fields?module=Contacts",
        None,
        None,
    )
    .await;
    zoho(
        &app,
        &org,
        Method::POST,
        "/settings/fields?module=Contacts",
        Some(json!({"fields": [{"field_label": "Note Key", "data_type": "text"}]})),
        None,
    )
    .await;
    zoho(
        &app,
        &org,
        Method::GET,
        "/Contacts/c-1",
        None,
        Some("Contacts.Sync_Link_Id"),
    )
    .await;
    zoho(
        &app,
        &org,
        Method::PUT,
        "/Contacts/c-1",
        Some(json!({"data": [{"First_Name": "A"}]})),
        Some("Contacts.Sync_Link_Id"),
    )
    .await;
    zoho(
        &app,
        &org,
        Method::DELETE,
        "/Contacts/c-1",
        None,
        Some("Contacts.Sync_Link_Id"),
    )
    .await;
    let after = used(app.control(Method::GET, &credits, Value::Null).await.1);
    assert_eq!(after - before, 5);
    assert!(!ids.is_empty());
}

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Org, TestApp, keys, payload, read, spawn_app};

async fn get(app: &TestApp, org: &Org, path: &str) -> (StatusCode, Value) {
    read(app.zoho(org, Method::GET, path).send().await.expect("get")).await
}

async fn five_contacts(app: &TestApp, org: &Org) -> Vec<String> {
    app.insert(
        org,
        json!([
            {"Last_Name": "Yamada", "First_Name": "Taro", "Email": "taro@contoso.example"},
            {"Last_Name": "Müller", "First_Name": "José"},
            {"Last_Name": "Ødegaard", "First_Name": "Zoë"},
            {"Last_Name": "Smith"},
            {"Last_Name": "Lee", "Account_Name": {"name": "Zylker Corp"}},
        ]),
    )
    .await
}

#[tokio::test]
async fn list_pages_with_page_and_page_token() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let mut ids = five_contacts(&app, &org).await;
    ids.reverse(); // default order: id descending

    let (status, first) = get(&app, &org, "/Contacts?fields=Last_Name,Email&per_page=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        keys(&first["info"]),
        keys(&payload("zoho_records_get_first_page")["info"])
    );
    let info = &first["info"];
    assert_eq!(info["per_page"], 2);
    assert_eq!(info["count"], 2);
    assert_eq!(info["page"], 1);
    assert_eq!(info["more_records"], true);
    assert_eq!(info["sort_by"], "id");
    assert_eq!(info["sort_order"], "desc");
    assert_eq!(
        keys(&first["data"][0]),
        keys(&json!({"id": 1, "Last_Name": 1, "Email": 1}))
    );
    assert_eq!(first["data"][0]["id"], ids[0].as_str());
    assert_eq!(first["data"][1]["Email"], Value::Null);

    let token = info["next_page_token"].as_str().expect("token");
    assert!(token.len() <= 96);
    let (status, second) = get(
        &app,
        &org,
        &format!("/Contacts?fields=Last_Name,Email&per_page=2&page_token={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["data"][0]["id"], ids[2].as_str());
    assert_eq!(second["info"]["page"], 2);
    let token = second["info"]["next_page_token"].as_str().expect("token");
    let (_, third) = get(
        &app,
        &org,
        &format!("/Contacts?fields=Last_Name,Email&per_page=2&page_token={token}"),
    )
    .await;
    assert_eq!(third["data"].as_array().expect("data").len(), 1);
    assert_eq!(third["info"]["more_records"], false);
    assert_eq!(third["info"]["next_page_token"], Value::Null);

    let (_, by_page) = get(&app, &org, "/Contacts?fields=Last_Name&per_page=2&page=2").await;
    assert_eq!(by_page["data"][0]["id"], ids[2].as_str());

    let (status, body) = get(
        &app,
        &org,
        &format!("/Contacts?fields=Last_Name&per_page=3&page_token={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "TOKEN_BOUND_DATA_MISMATCH");
    let (status, body) = get(
        &app,
        &org,
        &format!("/Contacts?fields=Last_Name,Email&per_page=2&page=1&page_token={token}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let (_, ascending) = get(
        &app,
        &org,
        "/Contacts?fields=Last_Name&sort_by=Created_Time&sort_order=asc",
    )
    .await;
    assert_eq!(ascending["data"][0]["id"], ids[4].as_str());
    assert_eq!(ascending["info"]["sort_by"], "Created_Time");
}

#[tokio::test]
async fn list_parameter_errors() {
    let app = spawn_app().await;
    let org = app.org("in").await;
    let (status, body) = get(&app, &org, "/Contacts").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "REQUIRED_PARAM_MISSING");
    assert_eq!(body["details"]["param_name"], "fields");

    let many: Vec<String> = (0..51).map(|n| format!("F{n}")).collect();
    let (status, body) = get(&app, &org, &format!("/Contacts?fields={}", many.join(","))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "LIMIT_EXCEEDED");

    let (status, body) = get(&app, &org, "/Contacts?fields=Last_Name&page=11").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "DISCRETE_PAGINATION_LIMIT_EXCEEDED");

    // A token Zoho never issued: Zoho's answer for a token that does not fit the request.
    let (status, body) = get(&app, &org, "/Contacts?fields=Last_Name&page_token=unknown").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"code": "TOKEN_BOUND_DATA_MISMATCH", "details": {"param_name": "page_token"},
               "message": "The page_token given seems to be invalid or input param is added or altered or deleted",
               "status": "error"})
    );

    // The deleted-records read reports its errors inside `data[]` (record.yaml).
    let (status, body) = get(&app, &org, "/Contacts/deleted?type=everything").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"data": [{"code": "PATTERN_NOT_MATCHED", "details": {"param_name": "type"},
                         "message": "Please check whether the input values are correct",
                         "status": "error"}]})
    );
    let (status, body) = get(&app, &org, "/Leadz/deleted").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["data"][0]["code"], "INVALID_MODULE");

    let (status, body) = get(&app, &org, "/Leadz?fields=Last_Name").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "INVALID_MODULE");

    let (status, body) = get(&app, &org, "/Contacts?fields=Last_Name&sort_by=Last_Name").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["details"]["param_name"], "sort_by");
}

#[tokio::test]
async fn if_modified_since_204_and_304() {
    let app = spawn_app().await;
    let org = app.org("com.au").await;
    let (status, body) = get(&app, &org, "/Contacts?fields=Last_Name").await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));

    five_contacts(&app, &org).await;
    let (_, all) = get(&app, &org, "/Contacts?fields=Last_Name,Modified_Time").await;
    let latest = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|r| r["Modified_Time"].as_str().expect("time").to_owned())
        .max()
        .expect("some");
    assert!(latest.ends_with("+00:00"), "{latest}");

    let since = |value: String| {
        let app = &app;
        let org = &org;
        async move {
            read(
                app.zoho(org, Method::GET, "/Contacts?fields=Last_Name")
                    .header("If-Modified-Since", value)
                    .send()
                    .await
                    .expect("get"),
            )
            .await
        }
    };
    let (status, body) = since(latest.clone()).await;
    assert_eq!((status, body), (StatusCode::NOT_MODIFIED, Value::Null));
    let (status, body) = since("2019-07-25T15:26:49+05:30".to_owned()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["info"]["count"], 5);
}

#[tokio::test]
async fn get_one_returns_every_field() {
    let app = spawn_app().await;
    let org = app.org("jp").await;
    let ids = five_contacts(&app, &org).await;
    let (status, body) = get(&app, &org, &format!("/Contacts/{}", ids[4])).await;
    assert_eq!(status, StatusCode::OK);
    let record = &body["data"][0];
    assert_eq!(record["Full_Name"], "Lee");
    assert_eq!(record["Account_Name"]["name"], "Zylker Corp");
    assert_eq!(record["Owner"]["name"], "Patricia Boyle");
    assert_eq!(record["Email_Opt_Out"], false);
    assert_eq!(record["Tag"], json!([]));
    assert_eq!(record["Record_Status__s"], "Available");
    assert_eq!(record["id"].as_str().expect("id").len(), 19);

    let (status, _) = get(&app, &org, "/Contacts/1234567890123456789").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

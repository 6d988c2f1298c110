//! `spawn_app()` and small clients for the two APIs and the control API.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sandbox::{Application, Settings};
use serde_json::{Value, json};

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    let application = Application::build(Settings::for_tests())
        .await
        .expect("the sandbox builds");
    let base = application.base_url();
    tokio::spawn(application.run_until_stopped());
    TestApp {
        base,
        http: reqwest::Client::new(),
    }
}

/// A mailbox with an access token.
pub struct Mailbox {
    pub id: String,
    pub refresh_token: String,
    pub folder_id: String,
    pub token: String,
}

/// An org with an access token.
pub struct Org {
    pub id: String,
    pub dc: String,
    pub refresh_token: String,
    pub api_domain: String,
    pub accounts_url: String,
    pub token: String,
}

/// A response's status and JSON body (`Null` when empty).
pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text}"))
    };
    (status, body)
}

/// The keys of a JSON object.
pub fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A published example payload (copied from the shared API reference).
pub fn payload(name: &str) -> Value {
    let text = match name {
        "graph_429" => include_str!("payloads/graph_429.json"),
        "graph_batch_response" => include_str!("payloads/graph_batch_response.json"),
        "graph_calendarview_delta_page1" => {
            include_str!("payloads/graph_calendarview_delta_page1.json")
        }
        "graph_contact_folders" => include_str!("payloads/graph_contact_folders.json"),
        "graph_contact_get" => include_str!("payloads/graph_contact_get.json"),
        "graph_contact_update_response" => {
            include_str!("payloads/graph_contact_update_response.json")
        }
        "graph_contacts_delta_page" => include_str!("payloads/graph_contacts_delta_page.json"),
        "graph_error_irresolvable_conflict_412" => {
            include_str!("payloads/graph_error_irresolvable_conflict_412.json")
        }
        "graph_event_create_recurring_response" => {
            include_str!("payloads/graph_event_create_recurring_response.json")
        }
        "graph_event_delta_removed" => include_str!("payloads/graph_event_delta_removed.json"),
        "graph_master_categories" => include_str!("payloads/graph_master_categories.json"),
        "graph_oauth_token_error" => include_str!("payloads/graph_oauth_token_error.json"),
        "graph_oauth_token_refresh_response" => {
            include_str!("payloads/graph_oauth_token_refresh_response.json")
        }
        "graph_todo_lists" => include_str!("payloads/graph_todo_lists.json"),
        "graph_todo_task_create_response" => {
            include_str!("payloads/graph_todo_task_create_response.json")
        }
        "graph_todo_task_delta" => include_str!("payloads/graph_todo_task_delta.json"),
        "zoho_429_too_many_requests" => include_str!("payloads/zoho_429_too_many_requests.json"),
        "zoho_delete_response" => include_str!("payloads/zoho_delete_response.json"),
        "zoho_deleted_records" => include_str!("payloads/zoho_deleted_records.json"),
        "zoho_error_duplicate_data" => include_str!("payloads/zoho_error_duplicate_data.json"),
        "zoho_error_invalid_token" => include_str!("payloads/zoho_error_invalid_token.json"),
        "zoho_error_mandatory_not_found" => {
            include_str!("payloads/zoho_error_mandatory_not_found.json")
        }
        "zoho_error_oauth_scope_mismatch" => {
            include_str!("payloads/zoho_error_oauth_scope_mismatch.json")
        }
        "zoho_events_insert_request" => include_str!("payloads/zoho_events_insert_request.json"),
        "zoho_insert_207_mixed" => include_str!("payloads/zoho_insert_207_mixed.json"),
        "zoho_insert_response" => include_str!("payloads/zoho_insert_response.json"),
        "zoho_oauth_error_invalid_client" => {
            include_str!("payloads/zoho_oauth_error_invalid_client.json")
        }
        "zoho_oauth_token_refresh_response" => {
            include_str!("payloads/zoho_oauth_token_refresh_response.json")
        }
        "zoho_records_get_first_page" => include_str!("payloads/zoho_records_get_first_page.json"),
        "zoho_records_get_page_token" => include_str!("payloads/zoho_records_get_page_token.json"),
        "zoho_records_get_v8_leads" => include_str!("payloads/zoho_records_get_v8_leads.json"),
        "zoho_tasks_insert_request" => include_str!("payloads/zoho_tasks_insert_request.json"),
        "zoho_update_412_already_modified" => {
            include_str!("payloads/zoho_update_412_already_modified.json")
        }
        "zoho_update_response" => include_str!("payloads/zoho_update_response.json"),
        "zoho_upsert_response" => include_str!("payloads/zoho_upsert_response.json"),
        other => panic!("no payload {other}"),
    };
    serde_json::from_str(text).expect("payload JSON")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn control(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let request = self
            .http
            .request(method, self.url(&format!("/_sandbox{path}")))
            .json(&body);
        read(request.send().await.expect("control call")).await
    }

    pub async fn mailbox(&self) -> Mailbox {
        let (status, created) = self
            .control(
                Method::POST,
                "/graph/mailboxes",
                json!({"display_name": "Test"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let id = created["mailbox_id"].as_str().expect("id").to_owned();
        let (_, token) = self
            .control(
                Method::POST,
                &format!("/graph/mailboxes/{id}/access-token"),
                json!({}),
            )
            .await;
        Mailbox {
            refresh_token: created["refresh_token"].as_str().expect("rt").to_owned(),
            folder_id: created["default_contact_folder_id"]
                .as_str()
                .expect("folder")
                .to_owned(),
            token: token["access_token"].as_str().expect("token").to_owned(),
            id,
        }
    }

    pub async fn org(&self, dc: &str) -> Org {
        self.org_made_with(json!({"dc": dc, "user_name": "Patricia Boyle"}))
            .await
    }

    /// An org made with the control API's `body` (`dc`, `time_zone`, ...).
    pub async fn org_made_with(&self, body: Value) -> Org {
        let dc = body["dc"].as_str().unwrap_or("com").to_owned();
        let (status, created) = self.control(Method::POST, "/zoho/orgs", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["org_id"].as_str().expect("id").to_owned();
        let (_, token) = self
            .control(
                Method::POST,
                &format!("/zoho/orgs/{id}/access-token"),
                json!({}),
            )
            .await;
        Org {
            id,
            dc,
            refresh_token: created["refresh_token"].as_str().expect("rt").to_owned(),
            api_domain: created["api_domain"].as_str().expect("domain").to_owned(),
            accounts_url: created["accounts_url"].as_str().expect("url").to_owned(),
            token: token["access_token"].as_str().expect("token").to_owned(),
        }
    }

    /// A Graph request for `path` under `/graph/v1.0` (or an absolute link).
    pub fn graph(&self, mailbox: &Mailbox, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.url(&format!("/graph/v1.0{path}"))
        };
        self.http.request(method, url).bearer_auth(&mailbox.token)
    }

    /// A Zoho CRM request for `path` under `/crm/v8`.
    pub fn zoho(&self, org: &Org, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}/crm/v8{path}", org.api_domain))
            .header("Authorization", format!("Zoho-oauthtoken {}", org.token))
    }

    pub async fn create_contact(&self, mailbox: &Mailbox, body: Value) -> Value {
        let (status, contact) = read(
            self.graph(mailbox, Method::POST, "/me/contacts")
                .json(&body)
                .send()
                .await
                .expect("post"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{contact}");
        contact
    }

    /// Inserts Contacts records and returns their ids.
    pub async fn insert(&self, org: &Org, records: Value) -> Vec<String> {
        self.insert_into(org, "Contacts", records).await
    }

    /// Inserts records of `module` and returns their ids.
    pub async fn insert_into(&self, org: &Org, module: &str, records: Value) -> Vec<String> {
        let (status, body) = read(
            self.zoho(org, Method::POST, &format!("/{module}"))
                .json(&json!({"data": records}))
                .send()
                .await
                .expect("insert"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|r| r["details"]["id"].as_str().expect("id").to_owned())
            .collect()
    }
}

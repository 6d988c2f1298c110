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

/// A published example payload (`fixtures/api-payloads/<name>.json`).
pub fn payload(name: &str) -> Value {
    test_support::fixtures::api_payload(name)
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

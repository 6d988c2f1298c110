//! A client of the control API (`/_sandbox/...`, see [`crate::control`]) for the tests and the
//! benchmark: new mailboxes and organisations, seeding, tokens to call the emulated APIs as the
//! user would, every record of an account, and the call counters. Control calls are not counted
//! as API calls.

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

/// A sandbox with the tests' settings, served in-process on a free port, and its control API.
pub async fn start_in_process() -> anyhow::Result<Control> {
    let app = crate::Application::build(crate::Settings::for_tests()).await?;
    let base = app.base_url();
    tokio::spawn(app.run_until_stopped());
    Ok(Control::new(base, reqwest::Client::new()))
}

#[derive(Clone)]
pub struct Control {
    base: String,
    http: reqwest::Client,
}

impl Control {
    /// `base_url`: the sandbox's root (`http://127.0.0.1:7070`).
    pub fn new(base_url: impl Into<String>, http: reqwest::Client) -> Control {
        Control {
            base: base_url.into().trim_end_matches('/').to_owned(),
            http,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A control call (`path` after `/_sandbox`); an answer other than 2xx is an error with its
    /// status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/_sandbox{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| url.clone())?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {text}");
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| url.clone())?
        })
    }

    /// `POST /graph/mailboxes` with `body`: `{mailbox_id, refresh_token, default_contact_folder_id, ...}`.
    pub async fn new_mailbox(&self, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, "/graph/mailboxes", Some(body))
            .await
    }

    /// `POST /zoho/orgs` with `body`: `{org_id, refresh_token, api_domain, ...}`.
    pub async fn new_org(&self, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, "/zoho/orgs", Some(body)).await
    }

    /// `POST /seed` with `body` (`mailbox_id`, `org_id`, `contacts`, `tasks`, `events`, ...).
    pub async fn seed(&self, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, "/seed", Some(body)).await
    }

    /// An access token for the mailbox's Graph API.
    pub async fn graph_token(&self, mailbox_id: &str) -> anyhow::Result<String> {
        let path = format!("/graph/mailboxes/{mailbox_id}/access-token");
        let answer = self.call(Method::POST, &path, Some(json!({}))).await?;
        text(&answer, "access_token")
    }

    /// An access token and the API domain of the organisation's Zoho CRM.
    pub async fn zoho_token(&self, org_id: &str) -> anyhow::Result<(String, String)> {
        let path = format!("/zoho/orgs/{org_id}/access-token");
        let answer = self.call(Method::POST, &path, Some(json!({}))).await?;
        Ok((text(&answer, "access_token")?, text(&answer, "api_domain")?))
    }

    /// Every item of a mailbox's `collection` (`contacts`, `tasks`, `events`, ...).
    pub async fn mailbox_items(
        &self,
        mailbox_id: &str,
        collection: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let path = format!("/graph/mailboxes/{mailbox_id}/{collection}");
        Ok(list(self.call(Method::GET, &path, None).await?))
    }

    /// Every record of an organisation's Zoho `module`, all fields.
    pub async fn org_records(&self, org_id: &str, module: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!("/zoho/orgs/{org_id}/records/{module}");
        Ok(list(self.call(Method::GET, &path, None).await?))
    }

    /// The custom fields of an organisation's Zoho `module`, as Zoho's field metadata.
    pub async fn org_custom_fields(
        &self,
        org_id: &str,
        module: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let path = format!("/zoho/orgs/{org_id}/fields/{module}");
        let answer = self.call(Method::GET, &path, None).await?;
        Ok(answer["fields"].as_array().cloned().unwrap_or_default())
    }

    /// Makes custom fields in an organisation's Zoho `module` as its administrator would have
    /// (`fields`: the array of Zoho's Create Custom Fields body); returns Zoho's answer.
    pub async fn create_org_fields(
        &self,
        org_id: &str,
        module: &str,
        fields: Value,
    ) -> anyhow::Result<Value> {
        let path = format!("/zoho/orgs/{org_id}/fields/{module}");
        self.call(Method::POST, &path, Some(json!({"fields": fields})))
            .await
    }

    /// Whether the organisation's user may customise the CRM (create fields through the API).
    pub async fn set_org_customize(&self, org_id: &str, allowed: bool) -> anyhow::Result<()> {
        let path = format!("/zoho/orgs/{org_id}/permissions");
        self.call(Method::PUT, &path, Some(json!({"customize_crm": allowed})))
            .await
            .map(drop)
    }

    /// The call counters (`GET /stats`).
    pub async fn stats(&self) -> anyhow::Result<Value> {
        self.call(Method::GET, "/stats", None).await
    }

    pub async fn reset_stats(&self) -> anyhow::Result<()> {
        self.call(Method::POST, "/stats/reset", None)
            .await
            .map(drop)
    }
}

/// A string field of a control answer.
pub fn text(value: &Value, key: &str) -> anyhow::Result<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("`{key}` missing in {value}"))
}

/// A listing: a bare array, or an object with `value` (Graph) or `data` (Zoho).
pub fn list(answer: Value) -> Vec<Value> {
    match answer {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("value").or_else(|| map.remove("data")) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

//! The sandbox in-process, a mailbox, and the connector pointed at it.

use std::time::Duration;

use chrono::Utc;
use connector_kit::api::{ApiCaller, Gate, RetryPolicy};
use connector_kit::store::Watch;
use connector_kit::tokens::AccessToken;
use connector_kit::{ApiError, CallContext, Connector, Page};
use connector_outlook::connector::{CalendarWindow, OutlookConnector};
use connector_outlook::graph::GraphClient;
use secrecy::SecretString;
use serde_json::{Value, json};
use sync_model::{ItemKind, Side, UserId};
use sync_protocol::ChangeMessage;

pub struct Sandbox {
    pub base: String,
    pub http: reqwest::Client,
    control: sandbox::client::Control,
}

pub struct Mailbox {
    pub id: String,
    pub folder_id: String,
    pub token: String,
}

pub async fn sandbox() -> Sandbox {
    let control = sandbox::client::start_in_process()
        .await
        .expect("the sandbox starts");
    Sandbox {
        base: control.base_url().to_owned(),
        http: control.http().clone(),
        control,
    }
}

impl Sandbox {
    /// A control call; anything but 2xx fails the test.
    pub async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.control
            .call(method, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub async fn mailbox(&self) -> Mailbox {
        self.mailbox_made_with(json!({"display_name": "営業 Sales"}))
            .await
    }

    /// A mailbox made with the control API's `body` (`display_name`, `cancelled_occurrences`).
    pub async fn mailbox_made_with(&self, body: Value) -> Mailbox {
        let created = self
            .control(reqwest::Method::POST, "/graph/mailboxes", body)
            .await;
        let id = created["mailbox_id"].as_str().unwrap().to_owned();
        let token = self
            .control(
                reqwest::Method::POST,
                &format!("/graph/mailboxes/{id}/access-token"),
                json!({}),
            )
            .await;
        Mailbox {
            folder_id: created["default_contact_folder_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            token: token["access_token"].as_str().unwrap().to_owned(),
            id,
        }
    }

    /// Faults for one mailbox (`share_429`, `share_500`, ..., `seed`).
    pub async fn faults(&self, mailbox: &Mailbox, spec: Value) {
        self.control(
            reqwest::Method::PUT,
            &format!("/graph/mailboxes/{}/faults", mailbox.id),
            spec,
        )
        .await;
    }

    pub async fn clear_faults(&self, mailbox: &Mailbox) {
        self.control(
            reqwest::Method::DELETE,
            &format!("/graph/mailboxes/{}/faults", mailbox.id),
            json!({}),
        )
        .await;
    }

    /// A Graph call as the user would make it.
    pub async fn graph(
        &self,
        mailbox: &Mailbox,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/graph/v1.0{path}", self.base))
            .bearer_auth(&mailbox.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("Graph answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Quick retries, so fault tests finish fast; many attempts, so storms are ridden out.
pub fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn connector(sandbox: &Sandbox, page_size: u32) -> OutlookConnector {
    let graph = GraphClient::new(
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        format!("{}/graph/v1.0", sandbox.base),
        page_size,
        ApiCaller::new(Side::Outlook, policy()),
    );
    OutlookConnector::new(
        graph,
        CalendarWindow {
            days_back: 30,
            days_ahead: 365,
        },
    )
}

pub fn ctx(mailbox: &Mailbox) -> CallContext {
    CallContext {
        user_id: UserId(uuid::Uuid::new_v4()),
        token: AccessToken {
            secret: SecretString::from(mailbox.token.clone()),
            api_domain: None,
            expires_at: Utc::now() + chrono::Duration::hours(1),
        },
        gate: Gate::new(4),
    }
}

pub fn watch(kind: ItemKind, container: Option<&str>) -> Watch {
    Watch {
        user_id: UserId(uuid::Uuid::new_v4()),
        kind,
        container_id: container.map(str::to_owned),
        poll_interval: Duration::from_secs(60),
        cursor: None,
        full_read: false,
        identify: false,
        round_items: 0,
        resync_requested: false,
        round_id: None,
        generation: 0,
        rescope: None,
        answered: 0,
        report_due: false,
        claim: sync_protocol::PollClaim(1),
        calls_used: 0,
        calls_oldest: None,
    }
}

/// Reads a whole round from `cursor` the way the poll loop does: a failed page is read again
/// from the same cursor (nothing is skipped, nothing published twice). Returns the changes and
/// the cursor for the next round; gives up after `max_failures` failed pages.
pub async fn read_round(
    connector: &OutlookConnector,
    ctx: &CallContext,
    watch: &Watch,
    mut cursor: Option<Value>,
    max_failures: usize,
) -> Result<(Vec<ChangeMessage>, Value, usize), ApiError> {
    let mut changes = Vec::new();
    let mut failures = 0;
    loop {
        match connector.read_page(ctx, watch, cursor.as_ref()).await {
            Ok(Page {
                changes: page,
                cursor: next,
                more,
                ..
            }) => {
                changes.extend(page);
                cursor = Some(next);
                if !more {
                    return Ok((changes, cursor.unwrap(), failures));
                }
            }
            Err(err @ ApiError::ResyncRequired) => return Err(err),
            Err(err) if failures < max_failures => {
                failures += 1;
                let _ = err;
            }
            Err(err) => return Err(err),
        }
    }
}

pub fn external_id(change: &ChangeMessage) -> String {
    match change {
        ChangeMessage::ItemChanged { external_id, .. }
        | ChangeMessage::ItemDeleted { external_id, .. } => external_id.0.clone(),
        other => panic!("not an item change: {other:?}"),
    }
}

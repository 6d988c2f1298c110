//! The sandbox in-process, an org, and the connector pointed at it.

use std::time::Duration;

use chrono::Utc;
use connector_kit::api::{ApiCaller, Gate, RetryPolicy};
use connector_kit::store::Watch;
use connector_kit::tokens::AccessToken;
use connector_kit::{ApiError, CallContext, Connector, Page};
use connector_zoho::connector::ZohoConnector;
use connector_zoho::zoho::ZohoClient;
use secrecy::SecretString;
use serde_json::{Value, json};
use sync_model::{ItemKind, Side, UserId};
use sync_protocol::ChangeMessage;

pub struct Sandbox {
    pub http: reqwest::Client,
    control: sandbox::client::Control,
}

pub struct Org {
    pub id: String,
    pub token: String,
    pub api_domain: String,
}

pub async fn sandbox() -> Sandbox {
    let control = sandbox::client::start_in_process()
        .await
        .expect("the sandbox starts");
    Sandbox {
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

    pub async fn org(&self) -> Org {
        self.org_in("Etc/UTC").await
    }

    /// An org whose user works in `time_zone` (IANA): Zoho answers every date-time in it.
    pub async fn org_in(&self, time_zone: &str) -> Org {
        let created = self
            .control(
                reqwest::Method::POST,
                "/zoho/orgs",
                json!({"dc": "eu", "user_name": "Zoë Ærø", "time_zone": time_zone}),
            )
            .await;
        let id = created["org_id"].as_str().unwrap().to_owned();
        let token = self
            .control(
                reqwest::Method::POST,
                &format!("/zoho/orgs/{id}/access-token"),
                json!({}),
            )
            .await;
        Org {
            token: token["access_token"].as_str().unwrap().to_owned(),
            api_domain: token["api_domain"].as_str().unwrap().to_owned(),
            id,
        }
    }

    pub async fn faults(&self, org: &Org, spec: Value) {
        self.control(
            reqwest::Method::PUT,
            &format!("/zoho/orgs/{}/faults", org.id),
            spec,
        )
        .await;
    }

    pub async fn clear_faults(&self, org: &Org) {
        self.control(
            reqwest::Method::DELETE,
            &format!("/zoho/orgs/{}/faults", org.id),
            json!({}),
        )
        .await;
    }

    pub async fn records(&self, org: &Org, module: &str) -> Vec<Value> {
        let answer = self
            .control(
                reqwest::Method::GET,
                &format!("/zoho/orgs/{}/records/{module}", org.id),
                json!(null),
            )
            .await;
        answer["data"].as_array().cloned().unwrap_or_default()
    }

    /// A Zoho call as the user would make it.
    pub async fn zoho(
        &self,
        org: &Org,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/crm/v8{path}", org.api_domain))
            .header("Authorization", format!("Zoho-oauthtoken {}", org.token));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("Zoho answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

pub fn policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn connector() -> ZohoConnector {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    ZohoConnector::new(ZohoClient::new(http, ApiCaller::new(Side::Zoho, policy())))
}

pub fn ctx(org: &Org) -> CallContext {
    CallContext {
        user_id: UserId(uuid::Uuid::new_v4()),
        token: AccessToken {
            secret: SecretString::from(org.token.clone()),
            api_domain: Some(org.api_domain.clone()),
            expires_at: Utc::now() + chrono::Duration::hours(1),
        },
        gate: Gate::new(4),
    }
}

pub fn watch(kind: ItemKind) -> Watch {
    Watch {
        user_id: UserId(uuid::Uuid::new_v4()),
        kind,
        container_id: None,
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

/// Reads a whole round from `cursor` as the poll loop does: a failed page is read again from the
/// same cursor. Returns the changes and the next round's cursor.
pub async fn read_round(
    connector: &ZohoConnector,
    ctx: &CallContext,
    watch: &Watch,
    mut cursor: Option<Value>,
    max_failures: usize,
) -> Result<(Vec<ChangeMessage>, Value), ApiError> {
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
                    return Ok((changes, cursor.unwrap()));
                }
            }
            Err(err @ ApiError::ResyncRequired) => return Err(err),
            Err(_) if failures < max_failures => failures += 1,
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

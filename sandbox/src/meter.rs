//! The single door of every emulated API call. Each API's gate middleware authenticates the caller
//! and then calls [`admit`], which counts the call per account and operation, draws its fault
//! (see [`crate::faults`]) and charges Zoho credits (see [`crate::zoho::credits`]); [`pass`] then
//! waits the injected latency (without the world's lock), runs the handler or answers instead of
//! it, and drops or garbles the answer when the fault says so.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use crate::faults::{self, Outcome};
use crate::serve::DropConnection;
use crate::state::World;
use crate::time;
use crate::zoho::credits;

/// Who a call is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    Mailbox(String),
    Org(String),
}

/// Which API refused a call before it had an account (a missing or bad token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Graph,
    Zoho,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Usage {
    pub total: u64,
    pub operations: BTreeMap<String, u64>,
    /// Graph: the part of `operations` carried inside `$batch` calls (each counts against the
    /// mailbox's limits as Graph's throttling does, but is not an HTTP call of its own).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub in_batch: BTreeMap<String, u64>,
    /// Injected faults by kind (`429`, `500`, `503`, `drop`, `malformed`, `latency`), calls
    /// refused for want of Zoho credits (`credits`) and Graph calls refused for one too many in
    /// flight (`concurrency`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub faults: BTreeMap<String, u64>,
    /// Graph: the most requests of one app in flight against the mailbox at once, a refused one
    /// included (see [`crate::graph::concurrency`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub max_in_flight: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    fn add(&mut self, operation: &str) {
        self.total += 1;
        *self.operations.entry(operation.to_owned()).or_default() += 1;
    }
}

/// Call counts since start (or the last reset).
#[derive(Debug, Default)]
pub struct Meter {
    mailboxes: BTreeMap<String, Usage>,
    orgs: BTreeMap<String, Usage>,
    unauthenticated_graph: u64,
    unauthenticated_zoho: u64,
}

impl Meter {
    /// Counts one call. Token-endpoint calls are counted here too, under their own operation.
    pub fn record(&mut self, account: &Account, operation: &str) {
        let usage = match account {
            Account::Mailbox(id) => self.mailboxes.entry(id.clone()).or_default(),
            Account::Org(id) => self.orgs.entry(id.clone()).or_default(),
        };
        usage.add(operation);
    }

    /// Notes that a call already recorded was a request inside a `$batch` call.
    pub fn record_in_batch(&mut self, account: &Account, operation: &str) {
        let usage = match account {
            Account::Mailbox(id) => self.mailboxes.entry(id.clone()).or_default(),
            Account::Org(id) => self.orgs.entry(id.clone()).or_default(),
        };
        *usage.in_batch.entry(operation.to_owned()).or_default() += 1;
    }

    /// Counts an injected fault (or a refusal for credits) of a call already recorded.
    pub fn record_fault(&mut self, account: &Account, kind: &str) {
        let usage = match account {
            Account::Mailbox(id) => self.mailboxes.entry(id.clone()).or_default(),
            Account::Org(id) => self.orgs.entry(id.clone()).or_default(),
        };
        *usage.faults.entry(kind.to_owned()).or_default() += 1;
    }

    /// Notes how many requests are in flight against the account now.
    pub fn record_in_flight(&mut self, account: &Account, now: u64) {
        let usage = match account {
            Account::Mailbox(id) => self.mailboxes.entry(id.clone()).or_default(),
            Account::Org(id) => self.orgs.entry(id.clone()).or_default(),
        };
        usage.max_in_flight = usage.max_in_flight.max(now);
    }

    /// Counts a call refused for want of a valid access token.
    pub fn record_unauthenticated(&mut self, api: Api) {
        match api {
            Api::Graph => self.unauthenticated_graph += 1,
            Api::Zoho => self.unauthenticated_zoho += 1,
        }
    }

    pub fn usage(&self, account: &Account) -> Usage {
        let found = match account {
            Account::Mailbox(id) => self.mailboxes.get(id),
            Account::Org(id) => self.orgs.get(id),
        };
        found.cloned().unwrap_or_default()
    }

    pub fn snapshot(&self) -> Value {
        json!({
            "graph": {
                "mailboxes": self.mailboxes,
                "unauthenticated": self.unauthenticated_graph,
            },
            "zoho": {
                "orgs": self.orgs,
                "unauthenticated": self.unauthenticated_zoho,
            },
        })
    }

    pub fn reset(&mut self) {
        *self = Meter::default();
    }
}

/// What the gate does with an authenticated call.
#[derive(Debug)]
pub struct Admission {
    /// Sent instead of calling the handler.
    answer: Option<Response>,
    latency: Option<Duration>,
    outcome: Outcome,
}

/// Counts a call, draws its fault and charges its Zoho credits. `batch_item`: the call was made
/// by a `$batch` (it is then never dropped or garbled on its own).
pub fn admit(
    world: &mut World,
    api: Api,
    account: &Account,
    operation: &str,
    batch_item: bool,
) -> Admission {
    world.meter.record(account, operation);
    if batch_item {
        world.meter.record_in_batch(account, operation);
    }
    let decision = world.faults.decide(account, operation, batch_item);
    if decision.latency.is_some() {
        world.meter.record_fault(account, "latency");
    }
    if let Some(label) = decision.outcome.label() {
        world.meter.record_fault(account, label);
    }
    let mut admission = Admission {
        answer: None,
        latency: decision.latency,
        outcome: decision.outcome,
    };
    if let Outcome::Answer(status) = decision.outcome {
        admission.answer = Some(faults::answer(api, status, decision.retry_after));
        return admission;
    }
    // The handler will run: the call costs its credits, if there are enough.
    if let Account::Org(id) = account
        && let Some(org) = world.zoho.orgs.get_mut(id)
    {
        let budget = org.credits.budget;
        if let Err(wait) = org.credits.charge(credits::cost(operation), time::now()) {
            world.meter.record_fault(account, "credits");
            admission.outcome = Outcome::Pass;
            admission.answer = Some(faults::zoho_throttled(
                "number of API requests for the 24 hour period is exceeded",
                json!({"limit": budget, "window": credits::WINDOW_SECONDS, "retry_after": wait}),
            ));
        }
    }
    admission
}

/// Waits the injected latency, then answers instead of the handler or runs it, dropping or
/// garbling its answer when the fault says so. Never called with the world locked.
pub async fn pass(admission: Admission, request: Request, next: Next) -> Response {
    if let Some(latency) = admission.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(answer) = admission.answer {
        return answer;
    }
    let mut response = next.run(request).await;
    match admission.outcome {
        Outcome::Drop => {
            response.extensions_mut().insert(DropConnection);
            response
        }
        Outcome::Malformed => {
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.status = StatusCode::OK;
            parts.headers.remove(CONTENT_LENGTH);
            parts.headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            Response::from_parts(parts, Body::from(faults::malformed(&bytes)))
        }
        Outcome::Pass | Outcome::Answer(_) => response,
    }
}

/// The operation label of a call: the method and the route template relative to the API's base,
/// with the parameters named in `keep` replaced by their values (Zoho's `{module}`, so Contacts
/// and Tasks calls count apart).
pub fn operation(
    method: &str,
    template: &str,
    path: &str,
    base_segments: usize,
    keep: &[&str],
) -> String {
    let mut label = String::from(method);
    label.push(' ');
    let pairs = template
        .split('/')
        .zip(path.split('/'))
        .skip(base_segments + 1);
    for (template_segment, actual) in pairs {
        label.push('/');
        if keep.contains(&template_segment) {
            label.push_str(actual);
        } else {
            label.push_str(template_segment);
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_keep_only_named_parameters() {
        let label = operation(
            "GET",
            "/zoho-api/{dc}/crm/v8/{module}/{id}",
            "/zoho-api/eu/crm/v8/Contacts/123",
            4,
            &["{module}"],
        );
        assert_eq!(label, "GET /Contacts/{id}");
        let label = operation(
            "PATCH",
            "/graph/v1.0/me/contacts/{contact_id}",
            "/graph/v1.0/me/contacts/AAMk=",
            2,
            &[],
        );
        assert_eq!(label, "PATCH /me/contacts/{contact_id}");
    }
}

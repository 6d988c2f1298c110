//! Fault injection: per mailbox, per org, or global (a mailbox's or org's own setting wins over
//! the global one). Each emulated call draws once from the setting's random generator (seeded,
//! so a test with a seed gets the same sequence of faults for the same sequence of calls) and is
//! answered 429, 500 or 503, passed to the handler and then dropped without an answer or given a
//! truncated JSON body with 200, or passed untouched. Latency (fixed plus a seeded jitter) is
//! added to every call the setting covers. Every injected fault is counted in the stats.
//!
//! What the answers look like:
//! - Graph 429: api-reference 1.5 / `graph_429.json` with `Retry-After` (seconds, decimal);
//!   500: `generalException`; 503: `serviceNotAvailable` with `Retry-After` (the codes of Graph's
//!   error page).
//! - Zoho 429: `TOO_MANY_REQUESTS` shaped as `zoho_429_too_many_requests.json` (`retry_after`
//!   in `details`, no header: Zoho documents none); 500: `INTERNAL_ERROR`; 503: an HTML page, as
//!   a front-end proxy sends it (Zoho documents no 503 body).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::graph::error::GraphError;
use crate::meter::{Account, Api};
use crate::time;
use crate::zoho::error::ZohoError;

fn default_retry_after() -> f64 {
    1.0
}

/// A fault setting, as the control API takes it (`PUT /_sandbox/faults` and friends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Shares (0..1, summing to at most 1) of calls answered 429, 500, 503, dropped without an
    /// answer (after the handler ran: the change may have been applied), or answered 200 with a
    /// truncated JSON body (after the handler ran).
    #[serde(default)]
    pub share_429: f64,
    #[serde(default)]
    pub share_500: f64,
    #[serde(default)]
    pub share_503: f64,
    #[serde(default)]
    pub share_drop: f64,
    #[serde(default)]
    pub share_malformed: f64,
    /// Added to every covered call: `latency_ms` plus a uniform `0..=latency_jitter_ms`.
    #[serde(default)]
    pub latency_ms: u64,
    #[serde(default)]
    pub latency_jitter_ms: u64,
    /// `Retry-After` of injected 429/503 (Graph) and `details.retry_after` (Zoho 429).
    #[serde(default = "default_retry_after")]
    pub retry_after_seconds: f64,
    /// Seed of the draws; random when absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Stop injecting faults (not latency) after this many.
    #[serde(default)]
    pub max_faults: Option<u64>,
    /// Operation labels as the stats show them (`GET /me/contacts`, `POST /Contacts`); a trailing
    /// `*` matches a prefix. Empty: every operation.
    #[serde(default)]
    pub operations: Vec<String>,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        let shares = [
            ("share_429", self.share_429),
            ("share_500", self.share_500),
            ("share_503", self.share_503),
            ("share_drop", self.share_drop),
            ("share_malformed", self.share_malformed),
        ];
        for (name, share) in shares {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be within 0..=1"));
            }
        }
        if shares.iter().map(|(_, s)| s).sum::<f64>() > 1.0 + 1e-9 {
            return Err("the shares must sum to at most 1".to_owned());
        }
        if !(self.retry_after_seconds >= 0.0 && self.retry_after_seconds.is_finite()) {
            return Err("retry_after_seconds must be a non-negative number".to_owned());
        }
        Ok(())
    }

    fn covers(&self, operation: &str) -> bool {
        self.operations.is_empty()
            || self
                .operations
                .iter()
                .any(|wanted| match wanted.strip_suffix('*') {
                    Some(prefix) => operation.starts_with(prefix),
                    None => wanted == operation,
                })
    }
}

/// A setting in force: its generator and how many faults it injected.
#[derive(Debug)]
struct Active {
    spec: FaultSpec,
    rng: StdRng,
    injected: u64,
}

impl Active {
    fn new(spec: FaultSpec) -> Self {
        let rng = StdRng::seed_from_u64(spec.seed.unwrap_or_else(rand::random));
        Active {
            spec,
            rng,
            injected: 0,
        }
    }

    fn describe(&self) -> Value {
        json!({"spec": self.spec, "injected": self.injected})
    }
}

/// What happens to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Answer(StatusCode),
    Drop,
    Malformed,
}

impl Outcome {
    /// The label the stats count it under.
    pub fn label(self) -> Option<&'static str> {
        match self {
            Outcome::Pass => None,
            Outcome::Answer(StatusCode::TOO_MANY_REQUESTS) => Some("429"),
            Outcome::Answer(StatusCode::SERVICE_UNAVAILABLE) => Some("503"),
            Outcome::Answer(_) => Some("500"),
            Outcome::Drop => Some("drop"),
            Outcome::Malformed => Some("malformed"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub outcome: Outcome,
    pub latency: Option<Duration>,
    pub retry_after: f64,
}

/// Every fault setting.
#[derive(Debug, Default)]
pub struct Faults {
    global: Option<Active>,
    accounts: BTreeMap<String, Active>,
}

fn key(account: &Account) -> String {
    match account {
        Account::Mailbox(id) => format!("mailbox:{id}"),
        Account::Org(id) => format!("org:{id}"),
    }
}

impl Faults {
    pub fn set(&mut self, account: Option<&Account>, spec: FaultSpec) {
        match account {
            None => self.global = Some(Active::new(spec)),
            Some(account) => {
                self.accounts.insert(key(account), Active::new(spec));
            }
        }
    }

    pub fn clear(&mut self, account: Option<&Account>) {
        match account {
            None => {
                self.global = None;
                self.accounts.clear();
            }
            Some(account) => {
                self.accounts.remove(&key(account));
            }
        }
    }

    pub fn describe(&self) -> Value {
        let mut mailboxes = serde_json::Map::new();
        let mut orgs = serde_json::Map::new();
        for (key, active) in &self.accounts {
            if let Some(id) = key.strip_prefix("mailbox:") {
                mailboxes.insert(id.to_owned(), active.describe());
            } else if let Some(id) = key.strip_prefix("org:") {
                orgs.insert(id.to_owned(), active.describe());
            }
        }
        json!({
            "global": self.global.as_ref().map(Active::describe),
            "mailboxes": mailboxes,
            "orgs": orgs,
        })
    }

    /// Draws the fate of one call. Calls made by a `$batch` are never dropped or garbled (those
    /// faults apply to the batch call itself); such a draw lets the call pass.
    pub fn decide(&mut self, account: &Account, operation: &str, batch_item: bool) -> Decision {
        let active = match self.accounts.get_mut(&key(account)) {
            Some(active) => Some(active),
            None => self.global.as_mut(),
        };
        let Some(active) = active.filter(|a| a.spec.covers(operation)) else {
            return Decision {
                outcome: Outcome::Pass,
                latency: None,
                retry_after: default_retry_after(),
            };
        };
        let spec = &active.spec;
        let roll: f64 = active.rng.random();
        let jitter = if spec.latency_jitter_ms > 0 {
            active.rng.random_range(0..=spec.latency_jitter_ms)
        } else {
            0
        };
        let latency =
            (spec.latency_ms + jitter > 0).then(|| Duration::from_millis(spec.latency_ms + jitter));
        let exhausted = spec.max_faults.is_some_and(|max| active.injected >= max);
        let mut outcome = Outcome::Pass;
        if !exhausted {
            let mut bound = 0.0;
            let choices = [
                (
                    spec.share_429,
                    Outcome::Answer(StatusCode::TOO_MANY_REQUESTS),
                ),
                (
                    spec.share_500,
                    Outcome::Answer(StatusCode::INTERNAL_SERVER_ERROR),
                ),
                (
                    spec.share_503,
                    Outcome::Answer(StatusCode::SERVICE_UNAVAILABLE),
                ),
                (spec.share_drop, Outcome::Drop),
                (spec.share_malformed, Outcome::Malformed),
            ];
            for (share, candidate) in choices {
                bound += share;
                if roll < bound {
                    outcome = candidate;
                    break;
                }
            }
            if batch_item && matches!(outcome, Outcome::Drop | Outcome::Malformed) {
                outcome = Outcome::Pass;
            }
            if outcome != Outcome::Pass {
                active.injected += 1;
            }
        }
        Decision {
            outcome,
            latency,
            retry_after: spec.retry_after_seconds,
        }
    }
}

/// `2.128`, or `10` for a whole number, as Graph writes `Retry-After`.
pub fn retry_after_text(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{}", seconds as u64)
    } else {
        format!("{seconds}")
    }
}

/// Graph's throttling answer (api-reference 1.5, `graph_429.json`).
pub fn graph_throttled(retry_after: f64) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "error": {
            "code": "TooManyRequests",
            "innerError": {
                "code": "429",
                "date": time::graph_inner(time::now()),
                "message": "Please retry after",
                "request-id": request_id,
                "status": "429",
            },
            "message": "Please retry again later.",
        }
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after_text(retry_after)) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

/// Zoho's `TOO_MANY_REQUESTS` (`zoho_429_too_many_requests.json` shape).
pub fn zoho_throttled(message: &str, details: Value) -> Response {
    ZohoError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_REQUESTS",
        message,
        details,
    )
    .into_response()
}

/// The answer of an injected 429/500/503.
pub fn answer(api: Api, status: StatusCode, retry_after: f64) -> Response {
    match (api, status) {
        (Api::Graph, StatusCode::TOO_MANY_REQUESTS) => graph_throttled(retry_after),
        (Api::Graph, StatusCode::SERVICE_UNAVAILABLE) => {
            let mut response = GraphError::new(
                status,
                "serviceNotAvailable",
                "The service is temporarily unavailable for maintenance or is overloaded. You may \
                 repeat the request after a delay, which may be specified in a Retry-After header.",
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&retry_after_text(retry_after)) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        (Api::Graph, _) => GraphError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "generalException",
            "An unspecified error has occurred.",
        )
        .into_response(),
        (Api::Zoho, StatusCode::TOO_MANY_REQUESTS) => zoho_throttled(
            "Rate limit exceeded. Please retry after the specified time.",
            json!({"retry_after": retry_after.ceil() as u64}),
        ),
        (Api::Zoho, StatusCode::SERVICE_UNAVAILABLE) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
            "<html><head><title>503 Service Temporarily Unavailable</title></head><body>\
             <center><h1>503 Service Temporarily Unavailable</h1></center></body></html>",
        )
            .into_response(),
        (Api::Zoho, _) => ZohoError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal Server Error",
            json!({}),
        )
        .into_response(),
    }
}

/// Cuts a JSON body in half (so it never parses) and answers it with 200.
pub fn malformed(body: &[u8]) -> Vec<u8> {
    let body: &[u8] = if body.len() < 2 {
        br#"{"value":[{"id":"AAMk"#
    } else {
        body
    };
    body[..body.len() / 2].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(value: Value) -> FaultSpec {
        serde_json::from_value(value).expect("spec")
    }

    #[test]
    fn seeded_settings_draw_the_same_faults() {
        let account = Account::Mailbox("m".into());
        let draw = || {
            let mut faults = Faults::default();
            faults.set(
                None,
                spec(json!({"share_429": 0.3, "share_500": 0.2, "seed": 9})),
            );
            (0..200)
                .map(|_| faults.decide(&account, "GET /me", false).outcome)
                .collect::<Vec<_>>()
        };
        let first = draw();
        assert_eq!(first, draw());
        let throttled = first
            .iter()
            .filter(|o| **o == Outcome::Answer(StatusCode::TOO_MANY_REQUESTS))
            .count();
        assert!((40..80).contains(&throttled), "{throttled} of 200");
    }

    #[test]
    fn account_settings_win_and_limits_stop_faults() {
        let mut faults = Faults::default();
        let mine = Account::Org("1".into());
        let other = Account::Org("2".into());
        faults.set(None, spec(json!({"share_500": 1.0})));
        faults.set(
            Some(&mine),
            spec(json!({"share_429": 1.0, "max_faults": 2})),
        );
        let outcomes: Vec<Outcome> = (0..3)
            .map(|_| faults.decide(&mine, "GET /Contacts", false).outcome)
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Answer(StatusCode::TOO_MANY_REQUESTS),
                Outcome::Answer(StatusCode::TOO_MANY_REQUESTS),
                Outcome::Pass
            ]
        );
        assert_eq!(
            faults.decide(&other, "GET /Contacts", false).outcome,
            Outcome::Answer(StatusCode::INTERNAL_SERVER_ERROR)
        );
    }

    #[test]
    fn operations_filter_and_validation() {
        let only = spec(json!({"share_drop": 1.0, "operations": ["GET /me/contacts*"]}));
        assert!(only.covers("GET /me/contacts/{contact_id}"));
        assert!(!only.covers("POST /me/contacts"));
        assert!(
            spec(json!({"share_429": 0.7, "share_503": 0.5}))
                .validate()
                .is_err()
        );
        assert!(serde_json::from_value::<FaultSpec>(json!({"share_42": 1})).is_err());
        assert_eq!(retry_after_text(2.128), "2.128");
        assert_eq!(retry_after_text(10.0), "10");
        assert!(serde_json::from_slice::<Value>(&malformed(b"{\"a\":1}")).is_err());
    }
}

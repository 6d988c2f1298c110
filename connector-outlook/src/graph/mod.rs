//! A small Microsoft Graph client: the calls the connector makes, through the shared
//! [`ApiCaller`] (per-mailbox in-flight bound, retries, metrics), errors classified for the
//! caller. The base URL is configuration, so the same code talks to Graph or the sandbox.
//!
//! Writes go through [`GraphClient::batch`]: `POST /$batch` with up to 20 requests, answers
//! matched by id (Graph returns them in any order); items throttled on their own (429 inside the
//! batch) are sent again after the longest `Retry-After`. A batch counts as min(4, its requests)
//! against the mailbox's bound of requests in flight.

use std::collections::HashMap;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use connector_kit::api::{ApiCaller, ApiResponse, Idempotency, malformed};
use connector_kit::http::{classify, retry_after};
use connector_kit::{ApiError, CallContext};

/// Graph's limit of requests in one `$batch`.
pub const BATCH_SIZE: usize = 20;

/// Requests of one `$batch` Graph sends to Outlook at once (api-reference 1.5).
pub const BATCH_CONCURRENCY: usize = 4;

/// One page of a delta query.
#[derive(Debug, Deserialize)]
pub struct DeltaPage {
    #[serde(default)]
    pub value: Vec<Value>,
    #[serde(rename = "@odata.nextLink")]
    pub next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink")]
    pub delta_link: Option<String>,
}

/// A Graph error body; the docs spell the inner key `innererror`, the real answers `innerError`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
pub struct ErrorDetail {
    pub code: Option<String>,
    pub message: Option<String>,
    #[serde(rename = "innerError", alias = "innererror")]
    pub inner_error: Option<Value>,
}

/// Graph error codes that mean "the delta token is no longer valid" (api-reference 1.6).
const RESYNC_CODES: [&str; 2] = ["syncStateNotFound", "resyncRequired"];

/// One request of a `$batch`.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub id: String,
    pub method: Method,
    /// Relative to the API base: `/me/contacts/AAMk...`.
    pub url: String,
    pub body: Option<Value>,
    pub if_match: Option<String>,
    pub depends_on: Vec<String>,
}

/// One answer of a `$batch`.
#[derive(Debug, Clone)]
pub struct BatchAnswer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl BatchAnswer {
    /// The answer as a result: the body of a success (`None` for 204), or the classified error.
    pub fn into_result(self) -> Result<Option<Value>, ApiError> {
        if self.status.is_success() {
            return Ok(
                (self.status != StatusCode::NO_CONTENT && !self.body.is_null())
                    .then_some(self.body),
            );
        }
        Err(error_of(self.status, &self.headers, &self.body))
    }
}

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    page_size: u32,
    caller: ApiCaller,
}

impl GraphClient {
    pub fn new(http: reqwest::Client, base_url: String, page_size: u32, caller: ApiCaller) -> Self {
        GraphClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            page_size,
            caller,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Follows a delta URL (the initial one, or a next/delta link replayed verbatim).
    pub async fn delta(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        url: &str,
    ) -> Result<DeltaPage, ApiError> {
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                self.http
                    .get(url)
                    .bearer_auth(ctx.token.secret.expose_secret())
                    .header("Prefer", format!("odata.maxpagesize={}", self.page_size))
            })
            .await?;
        check(&response)?;
        response.json()
    }

    /// A GET relative to the base; `None` for 404.
    pub async fn get(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        path: &str,
    ) -> Result<Option<Value>, ApiError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                self.http
                    .get(&url)
                    .bearer_auth(ctx.token.secret.expose_secret())
            })
            .await?;
        if response.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        check(&response)?;
        response.json().map(Some)
    }

    /// Every page of a plain list (`value` + `@odata.nextLink`).
    pub async fn list_all(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        path: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let mut url = format!("{}{path}", self.base_url);
        let mut items = Vec::new();
        for _ in 0..1000 {
            let page = self.delta(ctx, operation, &url).await?;
            items.extend(page.value);
            match page.next_link {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
        Err(malformed("a list that never ends"))
    }

    /// Sends up to [`BATCH_SIZE`] requests as one `$batch`; answers by request id. Items that
    /// were throttled on their own are sent again (with those that depend on them) after the
    /// longest `Retry-After`; one still throttled after that answers its 429.
    pub async fn batch(
        &self,
        ctx: &CallContext,
        requests: &[BatchRequest],
    ) -> Result<HashMap<String, BatchAnswer>, ApiError> {
        let mut answers: HashMap<String, BatchAnswer> = HashMap::new();
        let mut todo: Vec<BatchRequest> = requests.to_vec();
        // Rounds of re-sending the items throttled on their own: as many as a call's attempts.
        let retries = self.caller.policy().max_attempts.saturating_sub(1);
        for round in 0..=retries {
            if todo.is_empty() {
                break;
            }
            let got = match self.batch_once(ctx, &todo).await {
                Ok(got) => got,
                Err(err) if round == 0 => return Err(err),
                // A re-send failed as a whole: the answers already received stand (those
                // writes happened and must not be sent again); only the items still pending
                // carry the error.
                Err(err) => {
                    for r in &todo {
                        answers.insert(r.id.clone(), synthetic_answer(&err));
                    }
                    break;
                }
            };
            let throttled: Vec<&String> = got
                .iter()
                .filter(|(_, a)| a.status == StatusCode::TOO_MANY_REQUESTS)
                .map(|(id, _)| id)
                .collect();
            // Requests that failed only because one they depend on was throttled (424) go again.
            let again: Vec<BatchRequest> = todo
                .iter()
                .filter(|r| {
                    throttled.contains(&&r.id)
                        || (got
                            .get(&r.id)
                            .is_some_and(|a| a.status == StatusCode::FAILED_DEPENDENCY)
                            && r.depends_on.iter().any(|d| throttled.contains(&d)))
                })
                .cloned()
                .collect();
            let wait = got
                .values()
                .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
                .filter_map(|a| retry_after(&a.headers))
                .max()
                .unwrap_or_else(|| self.caller.policy().backoff(round + 1))
                .min(self.caller.policy().max_retry_after);
            answers.extend(got);
            if again.is_empty() || round == retries {
                break;
            }
            metrics::counter!("connector_api_retries_total", "side" => "outlook", "operation" => "POST /$batch item", "reason" => "throttled").increment(again.len() as u64);
            tokio::time::sleep(wait).await;
            todo = again;
        }
        Ok(answers)
    }

    async fn batch_once(
        &self,
        ctx: &CallContext,
        requests: &[BatchRequest],
    ) -> Result<HashMap<String, BatchAnswer>, ApiError> {
        let items: Vec<Value> = requests
            .iter()
            .map(|r| {
                let mut item = json!({"id": r.id, "method": r.method.as_str(), "url": r.url});
                let mut headers = serde_json::Map::new();
                if let Some(body) = &r.body {
                    item["body"] = body.clone();
                    headers.insert("Content-Type".into(), json!("application/json"));
                }
                if let Some(tag) = &r.if_match {
                    headers.insert("If-Match".into(), json!(tag));
                }
                if !headers.is_empty() {
                    item["headers"] = Value::Object(headers);
                }
                if !r.depends_on.is_empty() {
                    item["dependsOn"] = json!(r.depends_on);
                }
                item
            })
            .collect();
        let body = json!({"requests": items});
        let url = format!("{}/$batch", self.base_url);
        // Only reads, updates and deletes are safe to send twice; a batch with a create is not.
        let idempotency = if requests.iter().any(|r| r.method == Method::POST) {
            Idempotency::NotIdempotent
        } else {
            Idempotency::Idempotent
        };
        // Graph runs up to 4 requests of a batch against the mailbox at once: the batch counts
        // as that many against the mailbox's 4 concurrent requests.
        let weight = requests.len().min(BATCH_CONCURRENCY);
        let response = self
            .caller
            .call_weighted(&ctx.gate, weight, "POST /$batch", idempotency, || {
                self.http
                    .post(&url)
                    .bearer_auth(ctx.token.secret.expose_secret())
                    .json(&body)
            })
            .await?;
        check(&response)?;
        let answer: Value = response.json()?;
        let responses = answer
            .get("responses")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("a $batch answer without responses"))?;
        let mut out = HashMap::new();
        for r in responses {
            let Some(id) = r.get("id").and_then(Value::as_str) else {
                continue;
            };
            let status = r
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| StatusCode::from_u16(s as u16).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut headers = HeaderMap::new();
            if let Some(h) = r.get("headers").and_then(Value::as_object) {
                for (name, value) in h {
                    if let (Ok(name), Some(Ok(value))) = (
                        reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                        value.as_str().map(reqwest::header::HeaderValue::from_str),
                    ) {
                        headers.insert(name, value);
                    }
                }
            }
            out.insert(
                id.to_owned(),
                BatchAnswer {
                    status,
                    body: r.get("body").cloned().unwrap_or(Value::Null),
                    headers,
                },
            );
        }
        Ok(out)
    }
}

/// An answer standing for an error of the whole call, so the item classifies the same way.
fn synthetic_answer(err: &ApiError) -> BatchAnswer {
    let (status, code) = match err {
        ApiError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests".to_owned()),
        ApiError::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken".to_owned(),
        ),
        ApiError::ResyncRequired => (StatusCode::GONE, "resyncRequired".to_owned()),
        ApiError::Permanent { code, .. } => (StatusCode::BAD_REQUEST, code.clone()),
        ApiError::Transient(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable".to_owned(),
        ),
    };
    BatchAnswer {
        status,
        body: json!({"error": {"code": code, "message": err.to_string()}}),
        headers: HeaderMap::new(),
    }
}

/// A non-success answer as an error.
fn check(response: &ApiResponse) -> Result<(), ApiError> {
    if response.status.is_success() {
        return Ok(());
    }
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    Err(error_of(response.status, &response.headers, &body))
}

/// Classifies a Graph error answer (top-level or a batch item).
pub fn error_of(status: StatusCode, headers: &HeaderMap, body: &Value) -> ApiError {
    let parsed: Option<ErrorBody> = serde_json::from_value(body.clone()).ok();
    let (code, message) = match parsed {
        Some(ErrorBody { error }) => (
            error.code.filter(|c| !c.is_empty()),
            error.message.unwrap_or_default(),
        ),
        None => (None, String::new()),
    };
    // Outlook spells the code `SyncStateNotFound`, the docs `syncStateNotFound`.
    let resync = status == StatusCode::GONE
        || code
            .as_deref()
            .is_some_and(|c| RESYNC_CODES.iter().any(|r| r.eq_ignore_ascii_case(c)));
    classify(status, headers, code, message, resync)
}

/// Whether an error says the item does not exist.
pub fn is_not_found(err: &ApiError) -> bool {
    matches!(err, ApiError::Permanent { code, .. }
        if matches!(code.as_str(), "ErrorItemNotFound" | "itemNotFound" | "ResourceNotFound" | "404"))
}

/// Whether an error is a failed `If-Match` (the item changed since the version we hold).
pub fn is_precondition_failed(err: &ApiError) -> bool {
    matches!(err, ApiError::Permanent { code, .. }
        if matches!(code.as_str(), "ErrorIrresolvableConflict" | "resourceModified" | "412"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    #[test]
    fn errors_are_classified() {
        let h = HeaderMap::new();
        let err = error_of(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            &payload("graph_429.json"),
        );
        assert!(matches!(err, ApiError::Throttled { .. }));
        let err = error_of(
            StatusCode::PRECONDITION_FAILED,
            &h,
            &payload("graph_error_irresolvable_conflict_412.json"),
        );
        assert!(is_precondition_failed(&err), "{err:?}");
        let err = error_of(
            StatusCode::GONE,
            &h,
            &json!({"error": {"code": "SyncStateNotFound", "message": "gone"}}),
        );
        assert!(matches!(err, ApiError::ResyncRequired));
        let err = error_of(
            StatusCode::BAD_REQUEST,
            &h,
            &json!({"error": {"code": "syncStateNotFound"}}),
        );
        assert!(matches!(err, ApiError::ResyncRequired));
    }

    #[test]
    fn batch_answers_parse_with_their_errors() {
        let answer = payload("graph_batch_response.json");
        let mut seen = 0;
        for r in answer["responses"].as_array().unwrap() {
            let status = StatusCode::from_u16(r["status"].as_u64().unwrap() as u16).unwrap();
            let a = BatchAnswer {
                status,
                body: r["body"].clone(),
                headers: HeaderMap::new(),
            };
            match a.into_result() {
                Ok(Some(body)) => assert!(body["value"].is_array()),
                Ok(None) => panic!("no body"),
                // An empty code is no code: the status stands in.
                Err(ApiError::Permanent { code, .. }) => {
                    assert!(
                        ["403", "Authorization_RequestDenied", "Request_BadRequest"]
                            .contains(&code.as_str())
                    )
                }
                Err(other) => panic!("{other:?}"),
            }
            seen += 1;
        }
        assert_eq!(seen, 5);
    }
}

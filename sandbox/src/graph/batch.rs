//! `POST /$batch` (api-reference 1.5): up to 20 requests in one call, each sent through the same
//! routes, gate (authentication, counting, faults) and handlers as a single call, so an item can
//! be throttled on its own (429 inside a 200 batch).
//!
//! Checks that fail the whole batch with 400 `BadRequest`: a body that is not
//! `{"requests": [...]}`, more than 20 requests, an item without a string `id`, `method` or
//! `url`, a duplicate `id` (compared case-insensitively, as the docs say ids are),
//! a write (POST/PATCH/PUT) without a `body` or without a `Content-Type` header, a `dependsOn`
//! naming an unknown id, and a dependency cycle.
//!
//! Execution: requests whose dependencies are all done run together, at most 4 at a time (what
//! Graph sends to Outlook at once); a request whose dependency failed (status ≥ 400) is not run
//! and answers 424. Responses are returned in no particular order (shuffled), as Graph warns
//! they may be, so clients have to match them by `id`.

use std::collections::{HashMap, HashSet};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine;
use futures_util::StreamExt;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::BASE_PATH;
use super::error::GraphError;
use crate::state::AppState;

/// Most requests in one batch.
pub const MAX_REQUESTS: usize = 20;
/// Requests of one batch run at the same time (Graph sends at most 4 to Outlook at once).
const CONCURRENCY: usize = 4;
/// Largest item response the batch reads back.
const MAX_ITEM_BODY: usize = 64 * 1024 * 1024;

/// Marks a request made by a batch: the gate then never drops the connection or garbles the
/// body for it (those faults apply to the batch call as a whole).
#[derive(Debug, Clone, Copy)]
pub struct BatchItem;

#[derive(Clone)]
struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Bytes>,
    depends_on: Vec<String>,
}

fn bad_batch(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn invalid_format() -> GraphError {
    bad_batch("Invalid batch payload format.")
}

/// The path and query of an item's `url`: relative (`/me/contacts`, `me/contacts`) or absolute
/// (`https://graph.microsoft.com/v1.0/me/contacts`, the sandbox's own base included).
fn item_target(url: &str) -> String {
    let url = url.trim();
    let relative = match url.find("://") {
        Some(scheme_end) => {
            let after_host = url[scheme_end + 3..]
                .find('/')
                .map_or("", |i| &url[scheme_end + 3 + i..]);
            after_host
                .strip_prefix(BASE_PATH)
                .or_else(|| after_host.strip_prefix("/v1.0"))
                .unwrap_or(after_host)
                .to_owned()
        }
        None => url.to_owned(),
    };
    format!("{BASE_PATH}/{}", uri_safe(relative.trim_start_matches('/')))
}

/// An item's `url` as a request target: Graph takes it as written, spaces and all (the JSON
/// batching page's own example has `$filter=city eq null`), so the characters a URI may not
/// hold are percent-encoded; everything else, `%` escapes included, is kept.
fn uri_safe(target: &str) -> String {
    let mut safe = String::with_capacity(target.len());
    for c in target.chars() {
        let allowed =
            c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '|');
        if allowed {
            safe.push(c);
        } else {
            let mut bytes = [0; 4];
            for byte in c.encode_utf8(&mut bytes).bytes() {
                safe.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    safe
}

fn parse_item(value: &Value) -> Result<Item, GraphError> {
    let Value::Object(fields) = value else {
        return Err(invalid_format());
    };
    let text = |name: &str| -> Result<String, GraphError> {
        fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                bad_batch(format!(
                    "Invalid batch payload format: '{name}' is missing."
                ))
            })
    };
    let id = text("id")?;
    let method_name = text("method")?.to_ascii_uppercase();
    let method = match method_name.as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PATCH" => Method::PATCH,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        _ => {
            return Err(bad_batch(format!(
                "Invalid method '{method_name}' in request id : {id}."
            )));
        }
    };
    let url = text("url")?;
    let mut headers = Vec::new();
    match fields.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (name, value) in given {
                let value = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_str(&value),
                ) else {
                    return Err(invalid_format());
                };
                headers.push((name, value));
            }
        }
        Some(_) => return Err(invalid_format()),
    }
    let content_type = headers
        .iter()
        .find(|(n, _)| *n == CONTENT_TYPE)
        .and_then(|(_, v)| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let body = match fields.get("body") {
        None | Some(Value::Null) => None,
        // A string body is base64 unless the request says it is JSON.
        Some(Value::String(s)) if !content_type.as_deref().is_some_and(|c| c.contains("json")) => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(s)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
                .map_err(|_| invalid_format())?;
            Some(Bytes::from(decoded))
        }
        Some(other) => Some(Bytes::from(other.to_string())),
    };
    let is_write = matches!(method, Method::POST | Method::PATCH | Method::PUT);
    if is_write && (body.is_none() || content_type.is_none()) {
        return Err(bad_batch(format!(
            "Write request id : {id} does not contain Content-Type header or body."
        )));
    }
    let depends_on = match fields.get("dependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(ids)) => ids
            .iter()
            .map(|d| d.as_str().map(str::to_owned).ok_or_else(invalid_format))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid_format()),
    };
    Ok(Item {
        id,
        method,
        url,
        headers,
        body,
        depends_on,
    })
}

/// The items, checked as a whole: unique ids, known dependencies, no cycle. Returns them in an
/// order where every item comes after its dependencies.
fn parse_batch(body: &Bytes) -> Result<Vec<Item>, GraphError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| invalid_format())?;
    let Some(Value::Array(requests)) = value.get("requests") else {
        return Err(invalid_format());
    };
    if requests.is_empty() {
        return Err(bad_batch(
            "Invalid batch payload format: 'requests' is empty.",
        ));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(bad_batch(format!(
            "Limit Exceeded: the batch contains {} requests; at most {MAX_REQUESTS} are allowed.",
            requests.len()
        )));
    }
    let items: Vec<Item> = requests.iter().map(parse_item).collect::<Result<_, _>>()?;
    let mut seen = HashSet::new();
    for item in &items {
        if !seen.insert(item.id.to_lowercase()) {
            return Err(bad_batch(format!(
                "Request Id {} has to be unique in a batch.",
                item.id
            )));
        }
    }
    for item in &items {
        for dependency in &item.depends_on {
            if !seen.contains(&dependency.to_lowercase())
                || dependency.eq_ignore_ascii_case(&item.id)
            {
                return Err(bad_batch(format!(
                    "Request id : {} depends on id : {dependency}, which is not a request of this \
                     batch.",
                    item.id
                )));
            }
        }
    }
    // Kahn's algorithm: the order of execution, or a cycle.
    let mut ordered = Vec::with_capacity(items.len());
    let mut done: HashSet<String> = HashSet::new();
    let mut pending = items;
    while !pending.is_empty() {
        let (ready, waiting): (Vec<Item>, Vec<Item>) = pending.into_iter().partition(|item| {
            item.depends_on
                .iter()
                .all(|d| done.contains(&d.to_lowercase()))
        });
        if ready.is_empty() {
            return Err(bad_batch(
                "Invalid batch payload format: the dependsOn chain has a cycle.",
            ));
        }
        for item in &ready {
            done.insert(item.id.to_lowercase());
        }
        ordered.extend(ready);
        pending = waiting;
    }
    Ok(ordered)
}

/// Header names as Graph writes them in batch responses (`Content-Type`, `Retry-After`).
fn canonical_header(name: &str) -> String {
    match name {
        "etag" => "ETag".to_owned(),
        "odata-version" => "OData-Version".to_owned(),
        "request-id" | "client-request-id" => name.to_owned(),
        _ => name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

async fn run_item(router: Router, outer: HeaderMap, item: Item) -> Value {
    let mut builder = Request::builder()
        .method(item.method.clone())
        .uri(item_target(&item.url));
    for passed in [AUTHORIZATION, HOST] {
        if let Some(value) = outer.get(&passed) {
            builder = builder.header(passed, value.clone());
        }
    }
    for (name, value) in &item.headers {
        builder = builder.header(name.clone(), value.clone());
    }
    let body = item.body.clone().map_or_else(Body::empty, Body::from);
    let response = match builder.body(body) {
        Ok(mut request) => {
            request.extensions_mut().insert(BatchItem);
            if item.url.trim_start_matches('/').starts_with("$batch") {
                bad_batch("Nested batch requests are not supported.").into_response()
            } else {
                let request = super::normalise_path(request);
                match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        }
        Err(_) => bad_batch(format!("Invalid URL '{}'.", item.url)).into_response(),
    };
    item_json(&item.id, response).await
}

async fn item_json(id: &str, response: Response) -> Value {
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for (name, value) in response.headers() {
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "date"
        ) {
            continue;
        }
        if let Ok(text) = value.to_str() {
            headers.insert(canonical_header(name.as_str()), json!(text));
        }
    }
    headers
        .entry("Cache-Control")
        .or_insert_with(|| json!("no-cache"));
    let bytes = axum::body::to_bytes(response.into_body(), MAX_ITEM_BODY)
        .await
        .unwrap_or_default();
    let mut answer = json!({"id": id, "status": status, "headers": headers});
    if !bytes.is_empty() {
        answer["body"] = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(base64::engine::general_purpose::STANDARD.encode(&bytes)));
    }
    answer
}

fn failed_dependency(id: &str) -> Value {
    let error = GraphError::new(
        StatusCode::FAILED_DEPENDENCY,
        "FailedDependency",
        "The request was not run because a request it depends on failed.",
    );
    json!({
        "id": id,
        "status": 424,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-cache"},
        "body": error.body(),
    })
}

pub async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let items = match parse_batch(&body) {
        Ok(items) => items,
        Err(error) => return error.into_response(),
    };
    let Some(router) = state.router() else {
        return GraphError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "serviceNotAvailable",
            "The service is shutting down.",
        )
        .into_response();
    };
    let mut statuses: HashMap<String, u16> = HashMap::new();
    let mut responses: Vec<Value> = Vec::with_capacity(items.len());
    let mut remaining: Vec<&Item> = items.iter().collect();
    while !remaining.is_empty() {
        // Every item whose dependencies have all answered runs in this wave.
        let (wave, later): (Vec<&Item>, Vec<&Item>) = remaining.into_iter().partition(|item| {
            item.depends_on
                .iter()
                .all(|d| statuses.contains_key(&d.to_lowercase()))
        });
        remaining = later;
        let mut runnable = Vec::new();
        for item in wave {
            let failed = item.depends_on.iter().any(|d| {
                statuses
                    .get(&d.to_lowercase())
                    .is_some_and(|status| *status >= 400)
            });
            if failed {
                statuses.insert(item.id.to_lowercase(), 424);
                responses.push(failed_dependency(&item.id));
            } else {
                runnable.push(item.clone());
            }
        }
        let results: Vec<Value> = futures_util::stream::iter(runnable)
            .map(|item| run_item(router.clone(), headers.clone(), item))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for result in results {
            let id = result["id"].as_str().unwrap_or_default().to_lowercase();
            let status = result["status"].as_u64().unwrap_or(500) as u16;
            statuses.insert(id, status);
            responses.push(result);
        }
    }
    responses.shuffle(&mut rand::rng());
    Json(json!({"responses": responses})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_urls_become_sandbox_paths() {
        assert_eq!(
            item_target("/me/contacts?$top=1"),
            "/graph/v1.0/me/contacts?$top=1"
        );
        assert_eq!(item_target("me"), "/graph/v1.0/me");
        assert_eq!(
            item_target("https://graph.microsoft.com/v1.0/me/events"),
            "/graph/v1.0/me/events"
        );
        assert_eq!(
            item_target("http://127.0.0.1:7070/graph/v1.0/me/events"),
            "/graph/v1.0/me/events"
        );
        assert_eq!(
            item_target("me/contacts?$filter=a eq 'ü'&$x=%20"),
            "/graph/v1.0/me/contacts?$filter=a%20eq%20'%C3%BC'&$x=%20"
        );
    }

    #[test]
    fn batches_are_checked_as_a_whole() {
        let parse = |v: Value| parse_batch(&Bytes::from(v.to_string()));
        assert!(parse(json!({"requests": [{"id": "1", "method": "GET", "url": "/me"}]})).is_ok());
        let duplicate = parse(json!({"requests": [
            {"id": "a", "method": "GET", "url": "/me"},
            {"id": "A", "method": "GET", "url": "/me"},
        ]}));
        assert!(duplicate.is_err_and(|e| e.message.contains("has to be unique")));
        let cycle = parse(json!({"requests": [
            {"id": "1", "method": "GET", "url": "/me", "dependsOn": ["2"]},
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
        ]}));
        assert!(cycle.is_err());
        let no_type = parse(json!({"requests": [
            {"id": "1", "method": "POST", "url": "/me/contacts", "body": {}},
        ]}));
        assert!(no_type.is_err_and(|e| e.message.contains("Content-Type")));
        let ordered = parse(json!({"requests": [
            {"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]},
            {"id": "1", "method": "GET", "url": "/me"},
        ]}))
        .expect("valid");
        assert_eq!(ordered[0].id, "1");
    }
}

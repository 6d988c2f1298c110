//! A small Zoho CRM v8 client: records reads with `If-Modified-Since` and page tokens, and
//! batched writes with a result per record. The API domain comes with each access token (Zoho
//! answers it per data centre), so the same code serves every data centre and the sandbox.

use chrono::{DateTime, FixedOffset};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use connector_kit::ApiError;
use connector_kit::http::classify;
use connector_kit::tokens::AccessToken;

/// Zoho's limit of records per write call.
pub const WRITE_BATCH: usize = 100;
/// Zoho's largest page.
pub const PAGE_SIZE: u32 = 200;

#[derive(Debug, Deserialize)]
pub struct RecordsPage {
    #[serde(default)]
    pub data: Vec<Value>,
    pub info: PageInfo,
}

#[derive(Debug, Deserialize)]
pub struct PageInfo {
    #[serde(default)]
    pub more_records: bool,
    pub next_page_token: Option<String>,
    pub page: Option<u32>,
}

/// One record's outcome of a write call.
#[derive(Debug, Clone, Deserialize)]
pub struct RecordResult {
    pub code: String,
    #[serde(default)]
    pub details: Value,
    #[serde(default)]
    pub message: String,
    pub status: String,
}

impl RecordResult {
    pub fn is_success(&self) -> bool {
        self.status == "success"
    }
}

/// Error codes of a records read that mean "start the round again".
const RESTART_CODES: [&str; 3] = [
    "EXPIRED_VALUE",
    "TOKEN_BOUND_DATA_MISMATCH",
    "PAGINATION_LIMIT_EXCEEDED",
];

#[derive(Clone)]
pub struct ZohoClient {
    http: reqwest::Client,
}

impl ZohoClient {
    pub fn new(http: reqwest::Client) -> Self {
        ZohoClient { http }
    }

    fn url(token: &AccessToken, path: &str) -> Result<String, ApiError> {
        let domain = token
            .api_domain
            .as_deref()
            .ok_or_else(|| ApiError::Permanent {
                code: "no_api_domain".into(),
                message: "the Zoho token came without an api_domain".into(),
            })?;
        Ok(format!("{}/crm/v8{path}", domain.trim_end_matches('/')))
    }

    fn request(&self, token: &AccessToken, method: Method, url: String) -> reqwest::RequestBuilder {
        self.http.request(method, url).header(
            "Authorization",
            format!("Zoho-oauthtoken {}", token.secret.expose_secret()),
        )
    }

    /// Reads one page of `module`, oldest change first. `None` when nothing changed (304) or
    /// nothing matched (204).
    pub async fn records(
        &self,
        token: &AccessToken,
        module: &str,
        fields: &[&str],
        modified_since: Option<DateTime<FixedOffset>>,
        page_token: Option<&str>,
        page: u32,
    ) -> Result<Option<RecordsPage>, ApiError> {
        let mut query: Vec<(&str, String)> = vec![
            ("fields", fields.join(",")),
            ("per_page", PAGE_SIZE.to_string()),
            ("sort_by", "Modified_Time".into()),
            ("sort_order", "asc".into()),
        ];
        match page_token {
            Some(t) => query.push(("page_token", t.to_owned())),
            None => query.push(("page", page.to_string())),
        }
        let mut request = self
            .request(token, Method::GET, Self::url(token, &format!("/{module}"))?)
            .query(&query);
        if let Some(since) = modified_since {
            request = request.header(
                "If-Modified-Since",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            );
        }
        let response = request.send().await.map_err(ApiError::transport)?;
        match response.status() {
            StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT => Ok(None),
            s if s.is_success() => response.json().await.map(Some).map_err(malformed),
            _ => Err(error(response).await),
        }
    }

    /// Inserts, updates (`PUT`, each record with its `id`) up to [`WRITE_BATCH`] records.
    pub async fn write(
        &self,
        token: &AccessToken,
        method: Method,
        module: &str,
        records: Vec<Value>,
    ) -> Result<Vec<RecordResult>, ApiError> {
        // `trigger: []` runs no workflow rules: a sync write is not a user's action.
        let body = json!({"data": records, "trigger": []});
        let response = self
            .request(token, method, Self::url(token, &format!("/{module}"))?)
            .json(&body)
            .send()
            .await
            .map_err(ApiError::transport)?;
        results(response).await
    }

    pub async fn delete(
        &self,
        token: &AccessToken,
        module: &str,
        ids: &[String],
    ) -> Result<Vec<RecordResult>, ApiError> {
        let response = self
            .request(
                token,
                Method::DELETE,
                Self::url(token, &format!("/{module}"))?,
            )
            .query(&[("ids", ids.join(",")), ("wf_trigger", "false".into())])
            .send()
            .await
            .map_err(ApiError::transport)?;
        results(response).await
    }
}

/// Per-record results: Zoho answers 200/201/207, and 400 when every record failed, all with
/// `data[]`; a request-level error has no `data`.
async fn results(response: reqwest::Response) -> Result<Vec<RecordResult>, ApiError> {
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.map_err(malformed)?;
    if let Some(data) = body.get("data") {
        return serde_json::from_value(data.clone()).map_err(malformed);
    }
    let code = body.get("code").and_then(Value::as_str).map(str::to_owned);
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Err(classify(status, &headers, code, message, false))
}

async fn error(response: reqwest::Response) -> ApiError {
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body.get("code").and_then(Value::as_str).map(str::to_owned);
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let restart = code.as_deref().is_some_and(|c| RESTART_CODES.contains(&c))
        || (code.as_deref() == Some("INVALID_DATA")
            && body.pointer("/details/param_name").and_then(Value::as_str) == Some("page_token"));
    classify(status, &headers, code, message, restart)
}

fn malformed(err: impl std::fmt::Display) -> ApiError {
    ApiError::Permanent {
        code: "malformed_response".into(),
        message: format!("Zoho's answer could not be read: {err}"),
    }
}

//! A small Microsoft Graph client: the calls the connector makes, errors classified for the
//! caller. The base URL is configuration, so the same code talks to Graph or the sandbox.

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;

use connector_kit::ApiError;
use connector_kit::http::classify;
use connector_kit::tokens::AccessToken;

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

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: Option<String>,
    message: Option<String>,
}

/// Graph error codes that mean "the delta token is no longer valid" (api-reference 1.6).
const RESYNC_CODES: [&str; 2] = ["syncStateNotFound", "resyncRequired"];

#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base_url: String,
    page_size: u32,
}

impl GraphClient {
    pub fn new(http: reqwest::Client, base_url: String, page_size: u32) -> Self {
        GraphClient {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            page_size,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Follows a delta URL (the initial one, or a next/delta link replayed verbatim).
    pub async fn delta(&self, token: &AccessToken, url: &str) -> Result<DeltaPage, ApiError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.secret.expose_secret())
            .header("Prefer", format!("odata.maxpagesize={}", self.page_size))
            .send()
            .await
            .map_err(ApiError::transport)?;
        let response = check(response).await?;
        response.json().await.map_err(|e| ApiError::Permanent {
            code: "malformed_response".into(),
            message: format!("the delta page could not be read: {e}"),
        })
    }

    /// Sends a JSON request; `None` for a 204.
    pub async fn send(
        &self,
        token: &AccessToken,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ApiError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(token.secret.expose_secret());
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = check(request.send().await.map_err(ApiError::transport)?).await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        response
            .json()
            .await
            .map(Some)
            .map_err(|e| ApiError::Permanent {
                code: "malformed_response".into(),
                message: format!("the answer could not be read: {e}"),
            })
    }
}

async fn check(response: reqwest::Response) -> Result<reqwest::Response, ApiError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body: Option<ErrorBody> = response.json().await.ok();
    let (code, message) = match body {
        Some(ErrorBody { error }) => (error.code, error.message.unwrap_or_default()),
        None => (None, String::new()),
    };
    // Outlook spells the code `SyncStateNotFound`, the docs `syncStateNotFound`.
    let resync = status == StatusCode::GONE
        || code
            .as_deref()
            .is_some_and(|c| RESYNC_CODES.iter().any(|r| r.eq_ignore_ascii_case(c)));
    Err(classify(status, &headers, code, message, resync))
}

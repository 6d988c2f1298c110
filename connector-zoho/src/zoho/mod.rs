//! A small Zoho CRM v8 client: records reads with `If-Modified-Since` and page tokens, the
//! deleted-records read, and batched writes with a result per record, all through the shared
//! [`ApiCaller`] (per-user in-flight bound, retries, metrics, the call count behind the credit
//! budget). The API domain comes with each access token (Zoho answers it per data centre), so
//! the same code serves every data centre and the sandbox.

use chrono::{DateTime, FixedOffset};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use connector_kit::api::{ApiCaller, ApiResponse, Idempotency, malformed};
use connector_kit::http::classify;
use connector_kit::{ApiError, CallContext};

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

/// A records read: the page (`None`: nothing modified since), and Zoho's clock when it answered
/// (its `Date` header, to the second).
#[derive(Debug)]
pub struct Read {
    pub page: Option<RecordsPage>,
    pub server_time: Option<DateTime<FixedOffset>>,
}

fn server_time(headers: &HeaderMap) -> Option<DateTime<FixedOffset>> {
    let raw = headers.get(reqwest::header::DATE)?.to_str().ok()?;
    DateTime::parse_from_rfc2822(raw).ok()
}

#[derive(Debug, Deserialize)]
pub struct PageInfo {
    #[serde(default)]
    pub more_records: bool,
    pub next_page_token: Option<String>,
    pub page: Option<u32>,
}

/// One entry of the deleted-records read.
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub deleted_time: DateTime<FixedOffset>,
}

#[derive(Debug, Deserialize)]
pub struct DeletedPage {
    #[serde(default)]
    pub data: Vec<DeletedRecord>,
    pub info: PageInfo,
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
    caller: ApiCaller,
}

fn since_header(since: DateTime<FixedOffset>) -> String {
    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

impl ZohoClient {
    pub fn new(http: reqwest::Client, caller: ApiCaller) -> Self {
        ZohoClient { http, caller }
    }

    fn url(ctx: &CallContext, path: &str) -> Result<String, ApiError> {
        let domain = ctx
            .token
            .api_domain
            .as_deref()
            .ok_or_else(|| ApiError::Permanent {
                code: "no_api_domain".into(),
                message: "the Zoho token came without an api_domain".into(),
            })?;
        Ok(format!("{}/crm/v8{path}", domain.trim_end_matches('/')))
    }

    fn request(&self, ctx: &CallContext, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.http.request(method, url).header(
            "Authorization",
            format!("Zoho-oauthtoken {}", ctx.token.secret.expose_secret()),
        )
    }

    /// Reads one page of `module`, oldest change first. `None` when nothing changed (304) or
    /// nothing matched (204).
    #[allow(clippy::too_many_arguments)]
    pub async fn records(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        module: &str,
        fields: &[&str],
        modified_since: Option<DateTime<FixedOffset>>,
        page_token: Option<&str>,
        page: u32,
    ) -> Result<Read, ApiError> {
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
        let url = Self::url(ctx, &format!("/{module}"))?;
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                let mut request = self.request(ctx, Method::GET, &url).query(&query);
                if let Some(since) = modified_since {
                    request = request.header("If-Modified-Since", since_header(since));
                }
                request
            })
            .await?;
        let page = match response.status {
            StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT => None,
            s if s.is_success() => Some(response.json()?),
            _ => return Err(error(&response)),
        };
        Ok(Read {
            page,
            server_time: server_time(&response.headers),
        })
    }

    /// One record by id; `None` when Zoho has no such record.
    pub async fn record(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        module: &str,
        id: &str,
    ) -> Result<Option<Value>, ApiError> {
        let url = Self::url(ctx, &format!("/{module}/{id}"))?;
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                self.request(ctx, Method::GET, &url)
            })
            .await?;
        match response.status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let page: Value = response.json()?;
                Ok(page.get("data").and_then(|d| d.get(0)).cloned())
            }
            _ => Err(error(&response)),
        }
    }

    /// One page of the records deleted since `since` (recycle bin and permanent).
    pub async fn deleted(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        module: &str,
        since: Option<DateTime<FixedOffset>>,
        page: u32,
    ) -> Result<Option<DeletedPage>, ApiError> {
        let url = Self::url(ctx, &format!("/{module}/deleted"))?;
        let query = [
            ("type", "all".to_owned()),
            ("page", page.to_string()),
            ("per_page", PAGE_SIZE.to_string()),
        ];
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                let mut request = self.request(ctx, Method::GET, &url).query(&query);
                if let Some(since) = since {
                    request = request.header("If-Modified-Since", since_header(since));
                }
                request
            })
            .await?;
        match response.status {
            StatusCode::NOT_MODIFIED | StatusCode::NO_CONTENT => Ok(None),
            s if s.is_success() => response.json().map(Some),
            _ => Err(error(&response)),
        }
    }

    /// Inserts (`POST`) or updates (`PUT`, each record with its `id`) up to [`WRITE_BATCH`]
    /// records; `unmodified_since` makes the update conditional (Zoho answers `ALREADY_MODIFIED`
    /// for a record changed after it).
    pub async fn write(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        method: Method,
        module: &str,
        records: Vec<Value>,
        unmodified_since: Option<&str>,
    ) -> Result<Vec<RecordResult>, ApiError> {
        let sent = records.len();
        // `trigger: []` runs no workflow rules: a sync write is not a user's action.
        let body = json!({"data": records, "trigger": []});
        let url = Self::url(ctx, &format!("/{module}"))?;
        let idempotency = if method == Method::POST {
            Idempotency::NotIdempotent
        } else {
            Idempotency::Idempotent
        };
        let response = self
            .caller
            .call(&ctx.gate, operation, idempotency, || {
                let mut request = self.request(ctx, method.clone(), &url).json(&body);
                if let Some(since) = unmodified_since {
                    request = request.header("If-Unmodified-Since", since);
                }
                request
            })
            .await?;
        results(&response, sent)
    }

    /// Inserts up to [`WRITE_BATCH`] records that each carry a value of `module`'s unique
    /// identity field: sent again, a record creates nothing, and Zoho answers `DUPLICATE_DATA`
    /// naming the record that holds the value (`details.duplicate_record.id`). So, unlike a
    /// plain insert, the call may be repeated after a lost answer.
    pub async fn insert_identified(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        module: &str,
        records: Vec<Value>,
    ) -> Result<Vec<RecordResult>, ApiError> {
        let sent = records.len();
        let body = json!({"data": records, "trigger": []});
        let url = Self::url(ctx, &format!("/{module}"))?;
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                self.request(ctx, Method::POST, &url).json(&body)
            })
            .await?;
        results(&response, sent)
    }

    /// Creates a custom field in `module` (`POST /settings/fields`).
    pub async fn create_field(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        module: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let url = Self::url(ctx, &format!("/settings/fields?module={module}"))?;
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::NotIdempotent, || {
                self.request(ctx, Method::POST, &url).json(body)
            })
            .await?;
        if !response.status.is_success() {
            return Err(error(&response));
        }
        // Per-field results, like records' (`fields[]` with `status`).
        let answer: Value = response.json()?;
        match answer.pointer("/fields/0") {
            Some(result) if result.get("status").and_then(Value::as_str) != Some("success") => {
                Err(ApiError::Permanent {
                    code: result
                        .get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("FIELD_NOT_CREATED")
                        .to_owned(),
                    message: result
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    pub async fn delete(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        module: &str,
        ids: &[String],
    ) -> Result<Vec<RecordResult>, ApiError> {
        let url = Self::url(ctx, &format!("/{module}"))?;
        let query = [("ids", ids.join(",")), ("wf_trigger", "false".into())];
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                self.request(ctx, Method::DELETE, &url).query(&query)
            })
            .await?;
        results(&response, ids.len())
    }

    /// A GET of any path under `/crm/v8` (the current user, the organisation).
    pub async fn get(
        &self,
        ctx: &CallContext,
        operation: &'static str,
        path_and_query: &str,
    ) -> Result<Value, ApiError> {
        let url = Self::url(ctx, path_and_query)?;
        let response = self
            .caller
            .call(&ctx.gate, operation, Idempotency::Idempotent, || {
                self.request(ctx, Method::GET, &url)
            })
            .await?;
        if !response.status.is_success() {
            return Err(error(&response));
        }
        if response.status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        response.json()
    }
}

/// Per-record results of a call that sent `sent` records (or ids): Zoho answers 200/201/207, and
/// 400 when every record failed, all with one `data[]` entry per record. A request-level error
/// comes top-level, or as the only `data[]` entry whatever the number sent (too many records:
/// `LIMIT_EXCEEDED` `{maximum_length, api_name: "data"}`, record.yaml); either is the call's
/// error, never the first record's.
pub fn results(response: &ApiResponse, sent: usize) -> Result<Vec<RecordResult>, ApiError> {
    let body: Value = response.json()?;
    let Some(data) = body.get("data") else {
        return Err(error_of(response.status, &response.headers, &body));
    };
    let results: Vec<RecordResult> = serde_json::from_value(data.clone()).map_err(malformed)?;
    if let [only] = results.as_slice()
        && sent != 1
        && !only.is_success()
    {
        return Err(error_of(response.status, &response.headers, &data[0]));
    }
    Ok(results)
}

fn error(response: &ApiResponse) -> ApiError {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    error_of(response.status, &response.headers, &body)
}

/// Classifies a Zoho request-level error body: a top-level error, or one inside `data[]` (the
/// deleted-records read gives its errors so, record.yaml `DeletedRecordsErrorResponse`).
pub fn error_of(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) -> ApiError {
    let body = match (body.get("code"), body.pointer("/data/0")) {
        (None, Some(first)) => first,
        _ => body,
    };
    let code = body.get("code").and_then(Value::as_str).map(str::to_owned);
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let restart = code.as_deref().is_some_and(|c| RESTART_CODES.contains(&c))
        || (code.as_deref() == Some("INVALID_DATA")
            && body.pointer("/details/param_name").and_then(Value::as_str) == Some("page_token"));
    classify(status, headers, code, message, restart)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderMap;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    /// How many records the call answered by a published payload sent: one per `data[]` entry.
    fn sent(name: &str) -> usize {
        payload(name)["data"].as_array().map_or(0, Vec::len)
    }

    fn response(status: u16, name: &str) -> ApiResponse {
        ApiResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&payload(name)).unwrap(),
        }
    }

    #[test]
    fn write_results_parse_per_record() {
        let ok = results(
            &response(201, "zoho_insert_response.json"),
            sent("zoho_insert_response.json"),
        )
        .unwrap();
        assert!(ok.iter().all(RecordResult::is_success));
        let mixed = results(
            &response(207, "zoho_insert_207_mixed.json"),
            sent("zoho_insert_207_mixed.json"),
        )
        .unwrap();
        assert!(mixed.iter().any(RecordResult::is_success));
        assert!(mixed.iter().any(|r| !r.is_success()));
        for (status, name) in [
            (200, "zoho_update_response.json"),
            (200, "zoho_upsert_response.json"),
            (200, "zoho_delete_response.json"),
        ] {
            let all = results(&response(status, name), sent(name)).unwrap();
            assert!(
                !all.is_empty() && all.iter().all(RecordResult::is_success),
                "{name}"
            );
        }
        for (status, name, code) in [
            (400, "zoho_error_duplicate_data.json", "DUPLICATE_DATA"),
            (
                400,
                "zoho_error_mandatory_not_found.json",
                "MANDATORY_NOT_FOUND",
            ),
            (
                412,
                "zoho_update_412_already_modified.json",
                "ALREADY_MODIFIED",
            ),
        ] {
            let all = results(&response(status, name), sent(name)).unwrap();
            assert_eq!(all[0].code, code, "{name}");
            assert!(!all[0].is_success());
        }
    }

    #[test]
    fn request_errors_are_classified() {
        let h = HeaderMap::new();
        for name in [
            "zoho_error_invalid_token.json",
            "zoho_error_oauth_scope_mismatch.json",
        ] {
            assert!(matches!(
                error_of(StatusCode::UNAUTHORIZED, &h, &payload(name)),
                ApiError::Unauthorized
            ));
        }
        assert!(matches!(
            error_of(
                StatusCode::TOO_MANY_REQUESTS,
                &h,
                &payload("zoho_429_too_many_requests.json")
            ),
            ApiError::Throttled { .. }
        ));
        assert!(matches!(
            error_of(
                StatusCode::BAD_REQUEST,
                &h,
                &json!({"code": "EXPIRED_VALUE"})
            ),
            ApiError::ResyncRequired
        ));
        assert_eq!(
            connector_kit::api::body_retry_after(
                &serde_json::to_vec(&payload("zoho_429_too_many_requests.json")).unwrap()
            ),
            Some(std::time::Duration::from_secs(60))
        );
    }

    #[test]
    fn read_pages_parse() {
        for name in [
            "zoho_records_get_first_page.json",
            "zoho_records_get_page_token.json",
            "zoho_records_get_v8_leads.json",
        ] {
            let page: RecordsPage = serde_json::from_value(payload(name)).unwrap();
            assert!(!page.data.is_empty(), "{name}");
        }
        let leads: RecordsPage =
            serde_json::from_value(payload("zoho_records_get_v8_leads.json")).unwrap();
        assert!(leads.info.more_records);
        assert_eq!(leads.info.next_page_token.as_deref(), Some("c8582xx9e7c7"));
        let deleted: DeletedPage =
            serde_json::from_value(payload("zoho_deleted_records.json")).unwrap();
        assert_eq!(deleted.data.len(), 4);
        assert_eq!(deleted.data[2].kind.as_deref(), Some("permanent"));
        assert!(!deleted.info.more_records);
    }

    fn answer(status: u16, body: Value) -> ApiResponse {
        ApiResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&body).unwrap(),
        }
    }

    /// Too many records: Zoho answers one `data[]` entry (record.yaml, updateRecords example
    /// `LimitExceededError`), which is the call's error, not the first record's.
    #[test]
    fn a_lone_error_in_data_for_many_records_is_the_calls_error() {
        let body = json!({"data": [{"code": "LIMIT_EXCEEDED",
                                    "details": {"maximum_length": 100, "api_name": "data"},
                                    "message": "count of records in your request exceeds the limit",
                                    "status": "error"}]});
        match results(&answer(400, body.clone()), 101) {
            Err(ApiError::Permanent { code, .. }) => assert_eq!(code, "LIMIT_EXCEEDED"),
            other => panic!("{other:?}"),
        }
        // For a lone record the entry is that record's result.
        let one = results(&answer(400, body), 1).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].code, "LIMIT_EXCEEDED");
        // Several entries are per-record results, whatever they say.
        let per_record = json!({"data": [
            {"code": "INVALID_DATA", "details": {"id": "1"}, "message": "record not deleted", "status": "error"},
            {"code": "INVALID_DATA", "details": {"id": "2"}, "message": "record not deleted", "status": "error"}]});
        assert_eq!(results(&answer(400, per_record), 2).unwrap().len(), 2);
    }

    /// Request-level errors top-level or inside `data[]` (the deleted-records read, record.yaml
    /// `DeletedRecordsErrorResponse`) are classified alike.
    #[test]
    fn request_errors_inside_data_are_classified_by_their_code() {
        let h = HeaderMap::new();
        let wrapped = json!({"data": [{"code": "PATTERN_NOT_MATCHED", "details": {"param_name": "type"},
                                       "message": "Please check whether the input values are correct",
                                       "status": "error"}]});
        match error_of(StatusCode::BAD_REQUEST, &h, &wrapped) {
            ApiError::Permanent { code, message } => {
                assert_eq!(code, "PATTERN_NOT_MATCHED");
                assert_eq!(message, "Please check whether the input values are correct");
            }
            other => panic!("{other:?}"),
        }
        let token = json!({"code": "TOKEN_BOUND_DATA_MISMATCH", "details": {"param_name": "page_token"},
                           "message": "The page_token given seems to be invalid or input param is added or altered or deleted",
                           "status": "error"});
        assert!(matches!(
            error_of(
                StatusCode::BAD_REQUEST,
                &h,
                &json!({"data": [token.clone()]})
            ),
            ApiError::ResyncRequired
        ));
        assert!(matches!(
            error_of(StatusCode::BAD_REQUEST, &h, &token),
            ApiError::ResyncRequired
        ));
        // A top-level error of a write is the call's error.
        let single_delete = json!({"code": "INVALID_DATA", "details": {"resource_path_index": 1},
                                   "message": "record not deleted", "status": "error"});
        match results(&answer(400, single_delete), 1) {
            Err(ApiError::Permanent { code, .. }) => assert_eq!(code, "INVALID_DATA"),
            other => panic!("{other:?}"),
        }
    }
}

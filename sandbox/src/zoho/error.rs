//! Zoho's error shapes: `{"code","details":{},"message","status":"error"}` at the top level for a
//! request-level error, and the same object inside `data[]` for a per-record error
//! (api-reference 2.4). Some request-level errors also come inside `data[]`, as Zoho's own
//! description of the records API (`v8.0/record/record.yaml`) gives them: too many records in a
//! write, and every error of the deleted-records read. `tests/it/conformance.rs` validates every
//! answer against that description.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A request-level error.
#[derive(Debug, Clone)]
pub struct ZohoError {
    pub status: StatusCode,
    pub body: Value,
}

impl ZohoError {
    pub fn new(status: StatusCode, code: &str, message: &str, details: Value) -> Self {
        ZohoError {
            status,
            body: json!({"code": code, "details": details, "message": message, "status": "error"}),
        }
    }

    pub fn invalid_token() -> Self {
        ZohoError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_TOKEN",
            "invalid oauth token",
            json!({}),
        )
    }

    /// A token whose scopes do not cover the call (`zoho_error_oauth_scope_mismatch.json`).
    pub fn scope_mismatch() -> Self {
        ZohoError::new(
            StatusCode::UNAUTHORIZED,
            "OAUTH_SCOPE_MISMATCH",
            "Unauthorized",
            json!({}),
        )
    }

    pub fn invalid_module() -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"resource_path_index": 0}),
        )
    }

    pub fn invalid_url() -> Self {
        ZohoError::new(
            StatusCode::NOT_FOUND,
            "INVALID_URL_PATTERN",
            "Please check if the URL trying to access is a correct one",
            json!({}),
        )
    }

    pub fn required_param(name: &str) -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "REQUIRED_PARAM_MISSING",
            "required param is missing",
            json!({"param_name": name}),
        )
    }

    /// A query parameter or header with a value Zoho would not take.
    pub fn invalid_param(name: &str, message: &str) -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            message,
            json!({"param_name": name}),
        )
    }

    pub fn limit_exceeded(details: Value) -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "limit exceeded",
            details,
        )
    }

    /// A page token past its 24 hours.
    pub fn page_token_expired() -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "EXPIRED_VALUE",
            "Page token expired",
            json!({"api_name": "page_token", "json_path": "$.query.page_token"}),
        )
    }

    /// A page token that has served its 100,000 records.
    pub fn page_token_limit() -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "PAGINATION_LIMIT_EXCEEDED",
            "You can only get upto 100000 records using page_token param",
            json!({"param_name": "page_token"}),
        )
    }

    /// More records in a write than it takes: Zoho answers inside `data[]`, naming the limit
    /// (record.yaml, `LimitExceededError`).
    pub fn too_many_records(maximum: usize) -> Self {
        ZohoError::in_data(
            StatusCode::BAD_REQUEST,
            ItemError::new(
                "LIMIT_EXCEEDED",
                "count of records in your request exceeds the limit",
                json!({"maximum_length": maximum, "api_name": "data"}),
            ),
        )
    }

    /// A body that is not a JSON object. Zoho documents no answer for an unparseable body; this
    /// is its documented shape of a value of the wrong type (record.yaml,
    /// `InvalidDataTypeError`), for the body as a whole, with Zoho's own words for input it
    /// cannot parse (the `UnableToParseDataType` examples).
    pub fn invalid_body() -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "either the request body or parameters is in wrong format",
            json!({"expected_data_type": "jsonobject", "api_name": "body", "json_path": "$"}),
        )
    }

    /// A request-level error that Zoho reports inside `data[]`.
    pub fn in_data(status: StatusCode, error: ItemError) -> Self {
        ZohoError {
            status,
            body: json!({"data": [error.to_json()]}),
        }
    }

    /// The same error, inside `data[]` (the deleted-records read reports its errors so).
    pub fn into_data(self) -> Self {
        ZohoError {
            status: self.status,
            body: json!({"data": [self.body]}),
        }
    }
}

impl IntoResponse for ZohoError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A per-record error, reported inside `data[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ItemError {
    pub fn new(code: &'static str, message: impl Into<String>, details: Value) -> Self {
        ItemError {
            code,
            message: message.into(),
            details,
        }
    }

    /// A bad value in field `api_name` of record `index`.
    pub fn invalid_field(api_name: &str, index: usize, extra: Value) -> Self {
        let mut details =
            json!({"api_name": api_name, "json_path": format!("$.data[{index}].{api_name}")});
        if let (Some(target), Value::Object(more)) = (details.as_object_mut(), extra) {
            target.extend(more);
        }
        ItemError::new("INVALID_DATA", "invalid data", details)
    }

    pub fn mandatory(api_name: &str, index: usize) -> Self {
        ItemError::new(
            "MANDATORY_NOT_FOUND",
            "required field not found",
            json!({"api_name": api_name, "json_path": format!("$.data[{index}].{api_name}")}),
        )
    }

    pub fn invalid_id(index: usize) -> Self {
        ItemError::new(
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"api_name": "id", "json_path": format!("$.data[{index}].id")}),
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        })
    }
}

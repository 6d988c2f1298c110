//! Zoho's error shapes: `{"code","details":{},"message","status":"error"}` at the top level for a
//! request-level error, and the same object inside `data[]` for a per-record error
//! (api-reference 2.4).

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

    /// A body that is not the JSON object the call expects.
    pub fn invalid_body() -> Self {
        ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "body",
            json!({"expected_data_type": "jsonobject"}),
        )
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

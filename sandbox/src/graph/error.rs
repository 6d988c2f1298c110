//! Graph's error envelope: `{"error":{"code","message","innerError":{"date","request-id",
//! "client-request-id"}}}` (api-reference 1.1), with the same request id in a `request-id` header.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::time;

#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GraphError {
            status,
            code,
            message: message.into(),
        }
    }

    /// An unknown item id, as Exchange answers it.
    pub fn item_not_found() -> Self {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }

    /// A request body that is not JSON.
    pub fn unreadable_body() -> Self {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and \
             payload is of valid JSON format.",
        )
    }

    /// A JSON body that does not fit the entity type.
    pub fn body_read(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "RequestBodyRead", message)
    }

    /// `$select` or another query option naming something that does not exist.
    pub fn parse_uri(message: impl Into<String>) -> Self {
        GraphError::new(StatusCode::BAD_REQUEST, "RequestBroker--ParseUri", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
        )
    }

    /// A stale `If-Match` (graph_error_irresolvable_conflict_412.json).
    pub fn irresolvable_conflict() -> Self {
        GraphError::new(
            StatusCode::PRECONDITION_FAILED,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed \
             in the request does not match the current change key for the item.",
        )
    }

    /// An expired, foreign or garbled delta/skip token. Outlook answers 410 Gone with
    /// `SyncStateNotFound` (seen in microsoftgraph/microsoft-graph-docs#2350).
    pub fn sync_state_not_found() -> Self {
        GraphError::new(
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state generation is not found; generation=0;[highest=1][1].",
        )
    }
}

impl GraphError {
    /// The JSON body with a fresh request id.
    pub fn body(&self) -> serde_json::Value {
        self.body_with_id(&uuid::Uuid::new_v4().to_string())
    }

    fn body_with_id(&self, request_id: &str) -> serde_json::Value {
        json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": time::graph_inner(time::now()),
                    "request-id": request_id,
                    "client-request-id": request_id,
                }
            }
        })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = self.body_with_id(&request_id);
        let mut response = (self.status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("request-id", value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"",
                ),
            );
        }
        response
    }
}

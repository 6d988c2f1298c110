//! `Json`, `Path` and `Query` extractors whose rejection is [`BadInput`]: a request whose body,
//! path or query does not parse gets the usual JSON error body with a stable code, not axum's
//! plain-text rejection, on every service alike. Each crate's error enum takes a `BadInput`
//! (`From`), so handlers that parse by hand answer the same way.
//!
//! Every text value is also refused when it holds a NUL character: Postgres text cannot store
//! one and no field has a use for it, so it is a 400 here rather than a 500 deep down.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Input refused before a handler runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInput {
    /// A path parameter does not parse (`/v1/links/not-a-uuid`).
    #[error("{0}")]
    Path(String),
    /// The query string does not parse (`?limit=abc`).
    #[error("{0}")]
    Query(String),
    /// The body is not JSON, not sent as JSON, or not the shape this operation takes.
    #[error("{0}")]
    Body(String),
    /// The body is larger than the server takes (axum's limit, 2 MiB by default).
    #[error("the request body is too large")]
    BodyTooLarge,
    /// A text value holds a NUL character; `field` is the body's top-level field holding it.
    #[error("text values must not contain NUL characters")]
    NulCharacter { field: Option<String> },
}

impl BadInput {
    /// The stable code of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            BadInput::Path(_) => "invalid_path",
            BadInput::Query(_) => "invalid_query",
            BadInput::Body(_) => "invalid_body",
            BadInput::BodyTooLarge => "body_too_large",
            BadInput::NulCharacter { .. } => "nul_character",
        }
    }

    /// 422 for what does not parse as the operation takes (as auth-service always answered),
    /// 413 for a body over the limit, 400 for a NUL character.
    pub fn status(&self) -> StatusCode {
        match self {
            BadInput::Path(_) | BadInput::Query(_) | BadInput::Body(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            BadInput::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BadInput::NulCharacter { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The error body: `{"code", "message", "field"}`.
    pub fn body(&self) -> Value {
        let field = match self {
            BadInput::NulCharacter { field } => field.clone(),
            _ => None,
        };
        json!({"code": self.code(), "message": self.to_string(), "field": field})
    }
}

impl IntoResponse for BadInput {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}

impl From<axum::extract::rejection::JsonRejection> for BadInput {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            BadInput::BodyTooLarge
        } else {
            BadInput::Body(rejection.body_text())
        }
    }
}

/// `axum::Json` answering [`BadInput`] on rejection; refuses NUL characters anywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = BadInput;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await?;
        from_json_value(value).map(Json)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A parsed JSON body as `T`, after refusing NUL characters anywhere in it.
pub fn from_json_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, BadInput> {
    if let Some(field) = field_with_nul(&value) {
        return Err(BadInput::NulCharacter { field });
    }
    serde_json::from_value(value).map_err(|e| BadInput::Body(e.to_string()))
}

/// `Some` when the value holds a NUL character: the top-level field holding it, if an object.
fn field_with_nul(value: &Value) -> Option<Option<String>> {
    match value {
        Value::Object(fields) => fields
            .iter()
            .find(|(k, v)| k.contains('\0') || holds_nul(v))
            .map(|(k, _)| (!k.contains('\0')).then(|| k.clone())),
        other => holds_nul(other).then_some(None),
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(fields) => fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// The raw body (`axum::body::Bytes`) answering [`BadInput`] on rejection: a body over the
/// limit is 413 `body_too_large` in the JSON error body, as for [`Json`].
#[derive(Debug, Clone, Default)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = BadInput;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    BadInput::BodyTooLarge
                } else {
                    BadInput::Body(r.body_text())
                }
            })
    }
}

/// `axum::extract::Path` answering [`BadInput`] on rejection; refuses an encoded NUL.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    axum::extract::Path<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::PathRejection>,
    S: Send + Sync,
{
    type Rejection = BadInput;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.path().contains("%00") {
            return Err(BadInput::NulCharacter { field: None });
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|r| BadInput::Path(r.body_text()))
    }
}

/// `axum::extract::Query` answering [`BadInput`] on rejection; refuses a NUL character.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    axum::extract::Query<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = BadInput;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if let Some((key, _)) = url_pairs(query).find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            let field = (!key.contains('\0')).then_some(key);
            return Err(BadInput::NulCharacter { field });
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|r| BadInput::Query(r.body_text()))
    }
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    url::form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_is_found_anywhere_and_named_by_its_top_level_field() {
        let value = json!({"name": "ok", "categories": {"chosen": ["a", "b\u{0}"]}});
        assert_eq!(field_with_nul(&value), Some(Some("categories".into())));
        assert_eq!(field_with_nul(&json!(["x\u{0}"])), Some(None));
        assert_eq!(field_with_nul(&json!({"a\u{0}": 1})), Some(None));
        assert_eq!(
            field_with_nul(&json!({"name": "fine", "n": [1, "x"]})),
            None
        );
        let refused = from_json_value::<Value>(json!({"x": "\u{0}"})).unwrap_err();
        assert_eq!(refused.code(), "nul_character");
        assert_eq!(refused.body()["field"], "x");
    }

    #[test]
    fn each_kind_has_its_code_and_status() {
        for (input, code, status) in [
            (BadInput::Path("p".into()), "invalid_path", 422),
            (BadInput::Query("q".into()), "invalid_query", 422),
            (BadInput::Body("b".into()), "invalid_body", 422),
            (BadInput::BodyTooLarge, "body_too_large", 413),
            (BadInput::NulCharacter { field: None }, "nul_character", 400),
        ] {
            assert_eq!(input.code(), code);
            assert_eq!(input.status().as_u16(), status);
            assert_eq!(input.body()["code"], code);
        }
    }
}

//! Extractors whose rejections are our [`Error`], so bad input gets the usual JSON error body
//! with a stable code instead of axum's plain-text rejection.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// `axum::Json` with our error body on rejection, refusing any string with a NUL character
/// (400 `nul_character`): Postgres text cannot hold one, and no field has a use for it.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        from_json_value(value).map(Json)
    }
}

/// A parsed JSON body as `T`, after refusing NUL characters anywhere in it.
pub fn from_json_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, Error> {
    if holds_nul(&value) {
        return Err(Error::NulCharacter);
    }
    serde_json::from_value(value).map_err(|e| Error::InvalidBody(e.to_string()))
}

fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(fields) => {
            fields.iter().any(|(k, v)| k.contains('\0') || holds_nul(v))
        }
        _ => false,
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path` with our error body on rejection.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    axum::extract::Path<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::PathRejection>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        if parts.uri.path().contains("%00") {
            return Err(Error::NulCharacter);
        }
        Ok(Path(value))
    }
}

/// A signed-in user, from `Authorization: Bearer <access token>`. Besides the token's signature
/// and expiry, its session must still be active and the account enabled: signing out or being
/// disabled takes effect here at once.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: crate::domain::UserId,
    pub session_id: uuid::Uuid,
    pub is_admin: bool,
    pub amr: Vec<String>,
}

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(Error::Unauthenticated)?;
        let claims = state
            .jwt
            .verify(&state.pool, &state.vault, token.trim())
            .await?;
        let user_id = crate::domain::UserId(claims.sub);
        let is_admin = crate::store::sessions::check_active(&state.pool, user_id, claims.sid)
            .await?
            .ok_or(Error::Unauthenticated)?;
        Ok(AuthUser {
            user_id,
            session_id: claims.sid,
            is_admin,
            amr: claims.amr,
        })
    }
}

impl AuthUser {
    /// Whether this session was opened with an app password.
    pub fn by_app_password(&self) -> bool {
        self.amr
            .iter()
            .any(|m| m == crate::auth::sessions::AMR_APP_PASSWORD)
    }
}

/// A signed-in user whose session was opened with the account's password (and second factor),
/// not with an app password: only such a session may change how the account is secured or
/// connected (password, two-factor sign-in, recovery codes, app passwords, connections).
#[derive(Debug, Clone)]
pub struct OwnerUser(pub AuthUser);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for OwnerUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.by_app_password() {
            Err(Error::AppPasswordNotAllowed)
        } else {
            Ok(OwnerUser(user))
        }
    }
}

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct AdminUser(pub AuthUser);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for AdminUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.is_admin {
            Ok(AdminUser(user))
        } else {
            Err(Error::Forbidden)
        }
    }
}

/// The `User-Agent` header, if any (shown in the session list).
pub fn user_agent(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The client's IP address: the connection's peer, or, when that peer is one of
/// `AUTH_TRUSTED_PROXIES`, the address its `X-Forwarded-For` names (decisions #64). `None` when
/// the peer is unknown.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<std::sync::Arc<crate::startup::AppState>> for ClientAddress {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<crate::startup::AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientAddress(peer.map(|peer| {
            state
                .jwt
                .settings()
                .trusted_proxies
                .client_address(peer, forwarded)
        })))
    }
}

/// `axum::extract::Query` with our error body on rejection.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    axum::extract::Query<T>:
        FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(Error::NulCharacter);
        }
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await
                .map_err(|r| Error::InvalidInput {
                    code: "invalid_query",
                    field: None,
                    message: r.body_text(),
                })?;
        Ok(Query(value))
    }
}

//! What the page needs beyond forwarding: the lists it offers to choose from (Outlook contact
//! folders, To Do lists and categories; the Zoho user and organisation) and the connectors' poll
//! health, asked from the connectors' internal endpoints with the service token for the user of
//! a verified access token; and two-factor enrolment with the QR code drawn here.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use secrecy::ExposeSecret;
use serde_json::Value;
use service_kit::extract::Path;
use sync_model::UserId;

use service_kit::openapi::ErrorBody;

use crate::error::{Error, Result};
use crate::startup::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The user of the request's access token, verified against auth-service's keys.
pub(crate) async fn verified_user(state: &AppState, headers: &HeaderMap) -> Result<UserId> {
    let token = bearer(headers).ok_or(Error::Unauthenticated)?;
    match state.verifier.verify(token).await {
        Ok(caller) => Ok(caller.user_id),
        Err(err) if err.is_unavailable() => {
            tracing::warn!(error = %err, "cannot verify an access token with auth-service");
            Err(Error::Unavailable("auth-service"))
        }
        Err(_) => Err(Error::Unauthenticated),
    }
}

/// The connectors' lists, by side.
pub fn discoveries(side: &str) -> Option<&'static [&'static str]> {
    match side {
        "outlook" => Some(&["contact-folders", "todo-lists", "categories", "mailbox"]),
        "zoho" => Some(&["user", "org"]),
        _ => None,
    }
}

fn connector_base<'a>(state: &'a AppState, side: &str) -> Result<&'a str> {
    match side {
        "outlook" => Ok(&state.upstreams.outlook_url),
        "zoho" => Ok(&state.upstreams.zoho_url),
        _ => Err(Error::NotFound),
    }
}

async fn call_connector(state: &AppState, side: &str, path: String) -> Result<Response> {
    let base = connector_base(state, side)?.trim_end_matches('/');
    let name = if side == "outlook" {
        "connector-outlook"
    } else {
        "connector-zoho"
    };
    let answer = state
        .http
        .get(format!("{base}{path}"))
        .bearer_auth(state.service_token.expose_secret())
        .send()
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, connector = name, "connector call failed");
            Error::Unavailable(name)
        })?;
    crate::proxy::relay(answer, None).await
}

/// `GET /api/discovery/{side}/{what}`: e.g. `/api/discovery/outlook/contact-folders`.
#[utoipa::path(get, path = "/api/discovery/{side}/{what}", tag = "page", security(("access_token" = [])),
    params(("side" = String, Path, description = "outlook or zoho"), ("what" = String, Path, description = "outlook: contact-folders, todo-lists, categories, mailbox; zoho: user, org")),
    responses(
        (status = 200, description = "the connector's list"),
        (status = 404, body = ErrorBody, description = "not_found: an unknown side or list; the connector's own 404s"),
        (status = 409, body = ErrorBody, description = "the connector's answer, e.g. reconnect_needed or not_connected"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable: auth-service or the connector did not answer; the provider failed"),
        (status = 503, body = ErrorBody, description = "the connector's answer when the provider throttles"),
    ))]
pub async fn discover(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((side, what)): Path<(String, String)>,
) -> Result<Response> {
    let user = verified_user(&state, &headers).await?;
    let known = discoveries(&side).ok_or(Error::NotFound)?;
    if !known.contains(&what.as_str()) {
        return Err(Error::NotFound);
    }
    call_connector(
        &state,
        &side,
        format!("/internal/v1/users/{user}/discovery/{what}"),
    )
    .await
}

/// `GET /api/connectors/{side}/watches`: what the connector polls for the user and how that
/// goes (`ok`, `throttled`, `reconnect_needed`, ...), for each connection's health.
#[utoipa::path(get, path = "/api/connectors/{side}/watches", tag = "page", security(("access_token" = [])),
    params(("side" = String, Path, description = "outlook or zoho")),
    responses(
        (status = 200, description = "what the connector polls for the user and how it goes"),
        (status = 404, body = ErrorBody, description = "not_found: an unknown side"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable"),
        (status = 503, body = ErrorBody, description = "the connector's answer when it cannot tell"),
    ))]
pub async fn watches(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(side): Path<String>,
) -> Result<Response> {
    let user = verified_user(&state, &headers).await?;
    call_connector(&state, &side, format!("/internal/v1/users/{user}/watches")).await
}

/// An `otpauth://` URI as an SVG QR code (black on white, with the quiet zone scanners need).
pub fn qr_svg(data: &str) -> Result<String> {
    let code = QrCode::new(data.as_bytes()).map_err(|e| Error::Unexpected(e.into()))?;
    Ok(code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

/// `POST /api/totp`: starts two-factor enrolment at auth-service (`POST /v1/me/totp`) and adds
/// `qr_svg`, the `otpauth_url` as a QR code, to its answer. The secret never leaves this
/// request: the QR code is drawn here rather than by a third-party service.
#[utoipa::path(post, path = "/api/totp", tag = "page", security(("access_token" = [])),
    responses(
        (status = 200, description = "auth-service's secret and otpauth_url, plus qr_svg (an SVG QR code drawn here)"),
        (status = 403, body = ErrorBody, description = "app_password_not_allowed (auth-service's answer)"),
        (status = 409, body = ErrorBody, description = "totp_already_enabled"),
        (status = 502, body = ErrorBody, description = "upstream_unavailable"),
    ))]
pub async fn start_totp(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let token = bearer(&headers).ok_or(Error::Unauthenticated)?;
    let answer = state
        .http
        .post(format!("{}v1/me/totp", state.auth.base))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|_| Error::Unavailable("auth-service"))?;
    if !answer.status().is_success() {
        return crate::proxy::relay(answer, None).await;
    }
    let mut body: Value = answer
        .json()
        .await
        .map_err(|_| Error::Unavailable("auth-service"))?;
    let url = body
        .get("otpauth_url")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("no otpauth_url in the answer")))?;
    let svg = qr_svg(url)?;
    if let Some(object) = body.as_object_mut() {
        object.insert("qr_svg".into(), Value::String(svg));
    }
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_an_svg() {
        let svg =
            qr_svg("otpauth://totp/Sync:a%40b.c?secret=JBSWY3DPEHPK3PXP&issuer=Sync").unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
    }

    #[test]
    fn discoveries_are_listed_per_side() {
        assert!(discoveries("outlook").unwrap().contains(&"categories"));
        assert!(discoveries("zoho").unwrap().contains(&"org"));
        assert!(discoveries("gmail").is_none());
    }
}

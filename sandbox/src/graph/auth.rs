//! The Microsoft identity platform token endpoint, `POST /login/{tenant}/oauth2/v2.0/token`
//! (api-reference 1.7), refresh-token grant only. Every refresh returns a new refresh token; the
//! redeemed one stays valid, as Microsoft's do (they are not single-use), so a client that lost
//! the answer of a refresh can retry.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::meter::Account;
use crate::state::AppState;
use crate::time;

/// The operation label token refreshes are counted under.
pub const OPERATION: &str = "POST /oauth2/v2.0/token";

/// Scopes the sandbox grants (short forms; `https://graph.microsoft.com/` forms are accepted too).
const GRAPH_SCOPES: &[&str] = &[
    "Contacts.Read",
    "Contacts.ReadWrite",
    "Calendars.Read",
    "Calendars.ReadWrite",
    "Tasks.Read",
    "Tasks.ReadWrite",
    "MailboxSettings.Read",
    "MailboxSettings.ReadWrite",
    "User.Read",
    ".default",
];
const OIDC_SCOPES: &[&str] = &["offline_access", "openid", "profile", "email"];
const DEFAULT_GRANTED: &[&str] = &[
    "Contacts.ReadWrite",
    "Calendars.ReadWrite",
    "Tasks.ReadWrite",
    "MailboxSettings.Read",
    "User.Read",
];

/// Microsoft's token error body: `{error, error_description: "AADSTSnnnn: ...", error_codes,
/// timestamp, trace_id, correlation_id, error_uri}`.
fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let timestamp = time::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: \
             {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

fn missing(parameter: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{parameter}'."),
    )
}

/// Checks a space-separated scope list; returns the Graph scopes in full form.
fn granted_scopes(requested: Option<&str>) -> Result<Vec<String>, String> {
    let requested: Vec<&str> = match requested {
        Some(raw) if !raw.trim().is_empty() => raw.split_whitespace().collect(),
        _ => DEFAULT_GRANTED.to_vec(),
    };
    let mut granted = Vec::new();
    for scope in requested {
        if OIDC_SCOPES.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
            continue;
        }
        let short = scope
            .strip_prefix("https://graph.microsoft.com/")
            .unwrap_or(scope);
        match GRAPH_SCOPES.iter().find(|s| s.eq_ignore_ascii_case(short)) {
            Some(known) => granted.push(format!("https://graph.microsoft.com/{known}")),
            None => return Err(scope.to_owned()),
        }
    }
    Ok(granted)
}

pub async fn token(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());

    let Some(grant_type) = field("grant_type") else {
        return missing("grant_type");
    };
    if grant_type != "refresh_token" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. The sandbox supports 'refresh_token'.",
        );
    }
    let Some(client_id) = field("client_id") else {
        return missing("client_id");
    };
    let settings = state.settings();
    if client_id != settings.graph_client_id {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 'sandbox'."
            ),
        );
    }
    if field("client_secret") != Some(settings.graph_client_secret.as_str()) {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the \
             client secret value, not the client secret ID, for a secret added to app \
             'sandbox-graph-client'.",
        );
    }
    let Some(refresh_token) = field("refresh_token") else {
        return missing("refresh_token");
    };
    let scopes = match granted_scopes(field("scope")) {
        Ok(scopes) => scopes,
        Err(bad) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                &format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope \
                     {bad} is not valid."
                ),
            );
        }
    };

    let mut world = state.world();
    let Some(mailbox_id) = world.graph.refresh_tokens.get(refresh_token).cloned() else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            "The provided value for the input parameter 'refresh_token' or 'assertion' is not \
             valid.",
        );
    };
    world
        .meter
        .record(&Account::Mailbox(mailbox_id.clone()), OPERATION);
    let (access_token, expires_in) = world.graph.issue_access_token(&mailbox_id);
    let new_refresh_token = world.graph.issue_refresh_token(&mailbox_id);
    Json(json!({
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
        "refresh_token": new_refresh_token,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_accept_short_and_full_forms() {
        let granted = granted_scopes(Some(
            "offline_access https://graph.microsoft.com/Contacts.ReadWrite tasks.readwrite",
        ))
        .expect("valid");
        assert_eq!(
            granted,
            [
                "https://graph.microsoft.com/Contacts.ReadWrite",
                "https://graph.microsoft.com/Tasks.ReadWrite"
            ]
        );
        assert_eq!(
            granted_scopes(Some("Mail.Send")),
            Err("Mail.Send".to_owned())
        );
    }
}

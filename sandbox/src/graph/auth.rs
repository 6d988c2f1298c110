//! The Microsoft identity platform (api-reference 1.7): `GET /login/{tenant}/oauth2/v2.0/authorize`
//! (consents at once, see [`crate::oauth`]) and `POST /login/{tenant}/oauth2/v2.0/token` with the
//! authorization-code grant (PKCE checked) and the refresh-token grant. Every grant returns a new
//! refresh token (the code grant only with `offline_access`); a redeemed refresh token stays
//! valid, as Microsoft's do (they are not single-use), so a client that lost the answer of a
//! refresh can retry. Authorization codes are single-use and live 10 minutes.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use crate::meter::Account;
use crate::oauth::{self, CodeProblem};
use crate::state::AppState;
use crate::{ids, time};

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

/// Codes live 10 minutes, as Microsoft's do.
const CODE_SECONDS: i64 = 600;

fn invalid_grant(code: u32, description: &str) -> Response {
    aad_error(StatusCode::BAD_REQUEST, "invalid_grant", code, description)
}

/// The client credentials of an `Authorization: Basic` header (RFC 6749 2.3.1: the id and the
/// secret are form-encoded, joined by `:`, then base64-encoded); `None` without one, `Err` when
/// it cannot be read.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = |part: &str| -> String {
        url::form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (id, secret) = text.split_once(':')?;
                Some((decode(id), decode(secret)))
            })
            .ok_or(()),
    )
}

fn malformed_client_authentication(detail: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        9002313,
        &format!("Invalid request. Request is malformed or invalid. {detail}"),
    )
}

/// The token endpoint. The client authenticates with `client_id` and `client_secret` in the form
/// body or in an `Authorization: Basic` header, as Microsoft's accepts both; a header and a body
/// that name different clients or secrets are refused.
pub async fn token(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut form: HashMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    match basic_credentials(&headers) {
        None => {}
        Some(Err(())) => {
            return malformed_client_authentication(
                "The Authorization header does not hold Basic client credentials.",
            );
        }
        Some(Ok((id, secret))) => {
            for (name, value) in [("client_id", id), ("client_secret", secret)] {
                match form.get(name).filter(|v| !v.is_empty()) {
                    Some(given) if *given != value => {
                        return malformed_client_authentication(&format!(
                            "The {name} of the body and of the Authorization header differ."
                        ));
                    }
                    _ => {
                        form.insert(name.to_owned(), value);
                    }
                }
            }
        }
    }
    let field = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());

    let Some(grant_type) = field("grant_type") else {
        return missing("grant_type");
    };
    if grant_type != "refresh_token" && grant_type != "authorization_code" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. The sandbox supports \
             'authorization_code' and 'refresh_token'.",
        );
    }
    let Some(client_id) = field("client_id") else {
        return missing("client_id");
    };
    let settings = state.settings();
    if client_id != settings.graph_client_id {
        return unknown_client(client_id);
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
    let grant = if grant_type == "refresh_token" {
        let Some(refresh_token) = field("refresh_token") else {
            return missing("refresh_token");
        };
        Grant::Refresh(refresh_token.to_owned())
    } else {
        let Some(code) = field("code") else {
            return missing("code");
        };
        Grant::Code {
            code: code.to_owned(),
            redirect_uri: field("redirect_uri").map(str::to_owned),
            verifier: field("code_verifier").map(str::to_owned),
        }
    };
    let scopes = match granted_scopes(field("scope")) {
        Ok(scopes) => scopes,
        Err(bad) => return invalid_scope(&bad),
    };

    let mut world = state.world();
    let (mailbox_id, with_refresh) = match grant {
        Grant::Refresh(refresh_token) => {
            let Some(mailbox_id) = world.graph.refresh_tokens.get(&refresh_token).cloned() else {
                return invalid_grant(
                    70000,
                    "The provided value for the input parameter 'refresh_token' or 'assertion' \
                     is not valid.",
                );
            };
            (mailbox_id, true)
        }
        Grant::Code {
            code,
            redirect_uri,
            verifier,
        } => {
            let redeemed = oauth::redeem(
                &mut world.graph.codes,
                &code,
                redirect_uri.as_deref(),
                verifier.as_deref(),
                time::now(),
            );
            match redeemed {
                Ok(pending) => (pending.account_id, pending.offline),
                Err(problem) => return code_error(problem),
            }
        }
    };
    world
        .meter
        .record(&Account::Mailbox(mailbox_id.clone()), OPERATION);
    let (access_token, expires_in) = world.graph.issue_access_token(&mailbox_id, Some(client_id));
    let mut answer = json!({
        "token_type": "Bearer",
        "scope": scopes.join(" "),
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    });
    if with_refresh {
        answer["refresh_token"] = json!(world.graph.issue_refresh_token(&mailbox_id));
    }
    Json(answer).into_response()
}

enum Grant {
    Refresh(String),
    Code {
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    },
}

fn unknown_client(client_id: &str) -> Response {
    aad_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700016,
        &format!(
            "Application with identifier '{client_id}' was not found in the directory 'sandbox'."
        ),
    )
}

fn invalid_scope(bad: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
        &format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {bad} is \
             not valid."
        ),
    )
}

fn code_error(problem: CodeProblem) -> Response {
    match problem {
        CodeProblem::Unknown => invalid_grant(
            70000,
            "The provided value for the input parameter 'code' is not valid.",
        ),
        CodeProblem::Expired => invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        ),
        CodeProblem::Redeemed => invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
             or use an existing refresh token.",
        ),
        CodeProblem::RedirectMismatch => invalid_grant(
            70000,
            "The redirect_uri does not match the one the authorization code was issued for.",
        ),
        CodeProblem::VerifierMissing => missing("code_verifier"),
        CodeProblem::VerifierMismatch => invalid_grant(
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization \
             request.",
        ),
    }
}

/// `GET /login/{tenant}/oauth2/v2.0/authorize`: no sign-in page; the mailbox named by
/// `login_hint` (its id or e-mail) consents at once, else a new mailbox is made (with the hint
/// as its e-mail when it is one). Answers 302 to `redirect_uri` with `code` and `state`, or with
/// `error` and `error_description` as Microsoft redirects errors.
pub async fn authorize(
    State(state): State<AppState>,
    Path(_tenant): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(raw_query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let Some(client_id) = param("client_id") else {
        return missing("client_id");
    };
    if client_id != state.settings().graph_client_id {
        return unknown_client(client_id);
    }
    let Some(redirect_uri) = param("redirect_uri") else {
        return missing("redirect_uri");
    };
    let state_param = param("state").unwrap_or_default();
    let refuse = |error: &str, description: &str| {
        redirect(
            redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", state_param),
            ],
        )
    };
    if param("response_type") != Some("code") {
        return refuse(
            "unsupported_response_type",
            "AADSTS70005: The sandbox supports response_type 'code' only.",
        );
    }
    let Some(scope) = param("scope") else {
        return refuse(
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'scope'.",
        );
    };
    if let Err(bad) = granted_scopes(Some(scope)) {
        return refuse(
            "invalid_scope",
            &format!("AADSTS70011: The scope {bad} is not valid."),
        );
    }
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (None, _) => None,
        (Some(c), None | Some("plain")) => Some(("plain".to_owned(), c.to_owned())),
        (Some(c), Some(m)) if m.eq_ignore_ascii_case("S256") => {
            Some(("S256".to_owned(), c.to_owned()))
        }
        (Some(_), Some(_)) => {
            return refuse(
                "invalid_request",
                "AADSTS501491: Invalid code_challenge_method.",
            );
        }
    };
    let offline = scope
        .split_whitespace()
        .any(|s| s.eq_ignore_ascii_case("offline_access"));
    let code = {
        let mut world = state.world();
        let hint = param("login_hint");
        let known = hint.and_then(|hint| {
            world
                .graph
                .mailboxes
                .values()
                .find(|m| m.id == hint || m.email.eq_ignore_ascii_case(hint))
                .map(|m| m.id.clone())
        });
        let mailbox_id = known.unwrap_or_else(|| {
            let email = hint.filter(|h| h.contains('@')).map(str::to_owned);
            world.graph.create_mailbox(None, email)
        });
        let code = ids::token("0.sbx-code.");
        world.graph.codes.insert(
            code.clone(),
            oauth::PendingCode {
                account_id: mailbox_id,
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                scope: scope.to_owned(),
                offline,
                expires_at: time::in_seconds(CODE_SECONDS),
                redeemed: false,
            },
        );
        code
    };
    redirect(redirect_uri, &[("code", &code), ("state", state_param)])
}

fn redirect(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    match oauth::redirect_to(redirect_uri, params) {
        Some(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        None => aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            "The redirect URI specified in the request is not a valid URL.",
        ),
    }
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

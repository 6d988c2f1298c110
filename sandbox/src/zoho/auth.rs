//! Zoho Accounts (api-reference 2.1): `GET /zoho-accounts/{dc}/oauth/v2/auth` (consents at once,
//! see [`crate::oauth`]) and `POST /zoho-accounts/{dc}/oauth/v2/token` with
//! `grant_type=authorization_code` (PKCE checked; a refresh token only with
//! `access_type=offline`) or `grant_type=refresh_token`, and `POST .../oauth/v2/token/revoke`. Parameters may come in the query string
//! or a form body, as the real endpoint takes them. Errors are HTTP 200 with `{"error": ...}`, as
//! real captures show. Codes are single-use and live 2 minutes.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Dc;
use super::error::ZohoError;
use crate::links::BaseUrl;
use crate::meter::Account;
use crate::oauth::{self, CodeProblem};
use crate::state::AppState;
use crate::{ids, time};

/// The operation label token refreshes are counted under.
pub const OPERATION: &str = "POST /oauth/v2/token";

fn error(code: &str) -> Response {
    Json(json!({"error": code})).into_response()
}

pub async fn token(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(dc): Path<String>,
    RawQuery(raw_query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(dc) = Dc::parse(&dc) else {
        return ZohoError::invalid_url().into_response();
    };
    let mut params: HashMap<String, String> = HashMap::new();
    if let Some(query) = raw_query {
        params.extend(url::form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    params.extend(url::form_urlencoded::parse(&body).into_owned());
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();

    let grant_type = param("grant_type");
    if grant_type != "refresh_token" && grant_type != "authorization_code" {
        return error("unsupported_grant_type");
    }
    let settings = state.settings();
    if param("client_id") != settings.zoho_client_id
        || param("client_secret") != settings.zoho_client_secret
    {
        return error("invalid_client");
    }
    let mut world = state.world();
    let (org_id, refresh_token, scope) = if grant_type == "refresh_token" {
        let org_id = world
            .zoho
            .refresh_tokens
            .get(param("refresh_token"))
            .filter(|org_id| world.zoho.orgs.get(*org_id).is_some_and(|o| o.dc == dc))
            .cloned();
        // A refresh token of another data centre is unknown here, as it is to the real one.
        let Some(org_id) = org_id else {
            return error("invalid_code");
        };
        (org_id, None, None)
    } else {
        let redirect_uri = Some(param("redirect_uri")).filter(|r| !r.is_empty());
        let verifier = Some(param("code_verifier")).filter(|v| !v.is_empty());
        let redeemed = oauth::redeem(
            &mut world.zoho.codes,
            param("code"),
            redirect_uri,
            verifier,
            time::now(),
        );
        let pending = match redeemed {
            Ok(pending) => pending,
            Err(CodeProblem::RedirectMismatch) => return error("invalid_redirect_uri"),
            Err(_) => return error("invalid_code"),
        };
        if world
            .zoho
            .orgs
            .get(&pending.account_id)
            .is_none_or(|o| o.dc != dc)
        {
            return error("invalid_code");
        }
        let refresh = pending.offline.then(|| {
            let token = world.zoho.issue_refresh_token(&pending.account_id);
            world
                .zoho
                .refresh_scopes
                .insert(token.clone(), pending.scope.clone());
            token
        });
        (pending.account_id, refresh, Some(pending.scope))
    };
    world.meter.record(&Account::Org(org_id.clone()), OPERATION);
    let issued = if grant_type == "refresh_token" {
        world.zoho.refresh(&org_id, param("refresh_token"))
    } else {
        world.zoho.issue_scoped_access_token(&org_id, scope.clone())
    };
    let Some((access_token, expires_in)) = issued else {
        // Past the per-refresh-token limit: what Zoho Accounts answers (HTTP 200).
        return Json(json!({
            "error_description": "You have made too many requests continuously. Please try \
                                  again after some time.",
            "error": "Access Denied",
            "status": "failure",
        }))
        .into_response();
    };
    let mut answer = json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "api_domain": dc.api_domain(&base),
        "token_type": "Bearer",
    });
    if let Some(refresh_token) = refresh_token {
        answer["refresh_token"] = json!(refresh_token);
    }
    if let Some(scope) = scope {
        answer["scope"] = json!(scope);
    }
    Json(answer).into_response()
}

/// `POST /zoho-accounts/{dc}/oauth/v2/token/revoke?token=` (Zoho Accounts' "Revoke OAuth
/// tokens"): `{"status":"success"}`, or HTTP 400 when the token is invalid (unknown, revoked or
/// of another data centre). A revoked refresh token is then refused by the token endpoint with
/// `invalid_code`, as any unknown one.
pub async fn revoke(
    State(state): State<AppState>,
    Path(dc): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    let Some(dc) = Dc::parse(&dc) else {
        return ZohoError::invalid_url().into_response();
    };
    let token = raw_query
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(name, _)| name == "token")
                .map(|(_, value)| value.into_owned())
        })
        .unwrap_or_default();
    if state.world().zoho.revoke(dc, &token) {
        Json(json!({"status": "success"})).into_response()
    } else {
        (StatusCode::BAD_REQUEST, Json(json!({"status": "failure"}))).into_response()
    }
}

/// Zoho's `location` parameter of a data centre.
fn location(dc: Dc) -> &'static str {
    match dc {
        Dc::Com => "us",
        Dc::Eu => "eu",
        Dc::In => "in",
        Dc::ComAu => "au",
        Dc::Jp => "jp",
        Dc::Ca => "ca",
        Dc::Sa => "sa",
        Dc::ComCn => "cn",
    }
}

/// `GET /zoho-accounts/{dc}/oauth/v2/auth`: no sign-in page; the org named by `login_hint` (its
/// id or its user's e-mail; a sandbox extension) consents at once, else a new org is made in
/// this data centre. Answers 302 to `redirect_uri` with `state`, `code`, `location` and
/// `accounts-server`, as Zoho redirects; errors go back as `error=...`.
pub async fn authorize(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(dc): Path<String>,
    RawQuery(raw_query): RawQuery,
) -> Response {
    let Some(dc) = Dc::parse(&dc) else {
        return ZohoError::invalid_url().into_response();
    };
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
    if param("client_id") != Some(state.settings().zoho_client_id.as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(redirect_uri) = param("redirect_uri") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_redirect_uri"})),
        )
            .into_response();
    };
    let state_param = param("state").unwrap_or_default();
    let accounts_server = dc.accounts_url(&base);
    let answer = |params: &[(&str, &str)]| match oauth::redirect_to(redirect_uri, params) {
        Some(to) => (StatusCode::FOUND, [(header::LOCATION, to)]).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_redirect_uri"})),
        )
            .into_response(),
    };
    if param("response_type") != Some("code") {
        return answer(&[
            ("error", "unsupported_response_type"),
            ("state", state_param),
        ]);
    }
    let Some(scope) = param("scope") else {
        return answer(&[("error", "invalid_scope"), ("state", state_param)]);
    };
    let challenge = match (param("code_challenge"), param("code_challenge_method")) {
        (None, _) => None,
        (Some(c), Some(m)) if m.eq_ignore_ascii_case("S256") => {
            Some(("S256".to_owned(), c.to_owned()))
        }
        (Some(c), _) => Some(("plain".to_owned(), c.to_owned())),
    };
    let code = {
        let mut world = state.world();
        let hint = param("login_hint");
        let known = hint.and_then(|hint| {
            world
                .zoho
                .orgs
                .values()
                .find(|o| o.dc == dc && (o.id == hint || o.user.email.eq_ignore_ascii_case(hint)))
                .map(|o| o.id.clone())
        });
        let org_id = known.unwrap_or_else(|| {
            let email = hint.filter(|h| h.contains('@')).map(str::to_owned);
            world.zoho.create_org(dc, None, email)
        });
        let code = format!("1000.{}.{}", ids::hex(16), ids::hex(16));
        world.zoho.codes.insert(
            code.clone(),
            oauth::PendingCode {
                account_id: org_id,
                redirect_uri: redirect_uri.to_owned(),
                challenge,
                scope: scope.to_owned(),
                offline: param("access_type") == Some("offline"),
                expires_at: time::in_seconds(CODE_SECONDS),
                redeemed: false,
            },
        );
        code
    };
    answer(&[
        ("state", state_param),
        ("code", &code),
        ("location", location(dc)),
        ("accounts-server", &accounts_server),
    ])
}

/// Grant codes live 2 minutes.
const CODE_SECONDS: i64 = 120;

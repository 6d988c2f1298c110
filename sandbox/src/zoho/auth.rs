//! Zoho Accounts: `POST /zoho-accounts/{dc}/oauth/v2/token` with `grant_type=refresh_token`
//! (api-reference 2.1). Parameters may come in the query string or a form body, as the real
//! endpoint takes them. Errors are HTTP 200 with `{"error": ...}`, as real captures show.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Dc;
use super::error::ZohoError;
use crate::links::BaseUrl;
use crate::meter::Account;
use crate::state::AppState;

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

    if param("grant_type") != "refresh_token" {
        return error("unsupported_grant_type");
    }
    let settings = state.settings();
    if param("client_id") != settings.zoho_client_id
        || param("client_secret") != settings.zoho_client_secret
    {
        return error("invalid_client");
    }
    let mut world = state.world();
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
    world.meter.record(&Account::Org(org_id.clone()), OPERATION);
    let Some((access_token, expires_in)) = world.zoho.issue_access_token(&org_id) else {
        return error("invalid_code");
    };
    Json(json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "api_domain": dc.api_domain(&base),
        "token_type": "Bearer",
    }))
    .into_response()
}

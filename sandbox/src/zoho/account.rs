//! The signed-in user (`GET /users?type=CurrentUser`) and the organisation (`GET /org`), as
//! Zoho CRM v8 answers them. Both report the user's zone (`Etc/UTC` unless the org was made with
//! another), the zone every date-time is answered in.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::error::ZohoError;
use super::{Caller, Query, org_of};
use crate::state::AppState;

pub async fn users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    RawQuery(raw_query): RawQuery,
) -> Result<Json<Value>, ZohoError> {
    let query = Query::parse(raw_query.as_deref());
    let kind = query.get("type").unwrap_or("AllUsers");
    if !matches!(
        kind,
        "CurrentUser" | "AllUsers" | "ActiveUsers" | "AdminUsers"
    ) {
        return Err(ZohoError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "the given type is invalid",
            json!({"param_name": "type"}),
        ));
    }
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    let user = json!({
        "id": org.user.id.to_string(),
        "full_name": org.user.name,
        "email": org.user.email,
        "role": {"name": "CEO", "id": format!("{}1", org.id)},
        "profile": {"name": "Administrator", "id": format!("{}2", org.id)},
        "time_zone": org.user.time_zone,
        "locale": "en_US",
        "status": "active",
        "confirm": true,
    });
    Ok(Json(json!({
        "users": [user],
        "info": {"per_page": 200, "count": 1, "page": 1, "more_records": false},
    })))
}

pub async fn org(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ZohoError> {
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    Ok(Json(json!({
        "org": [{
            "id": org.id,
            "company_name": format!("{} (sandbox)", org.user.name),
            "domain_name": format!("org{}", org.id),
            "time_zone": org.user.time_zone,
            "currency": "USD",
            "country": null,
            "zgid": org.id,
            "primary_email": org.user.email,
        }],
    })))
}

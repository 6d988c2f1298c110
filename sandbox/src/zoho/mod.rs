//! Zoho CRM v8 under `{base}/zoho-api/{dc}/crm/v8` and Zoho Accounts under
//! `{base}/zoho-accounts/{dc}/oauth/v2/token`, for every data centre.
//!
//! - [`auth`]: the token endpoint and access tokens;
//! - [`read`]: list, get one, deleted records; [`paging`]: page/page_token rules;
//! - [`write`]: insert, update, upsert, delete;
//! - [`modules`]: the module and field table; [`store`]: orgs and records;
//! - [`error`]: Zoho's error shapes.

mod account;
pub mod auth;
pub mod credits;
pub mod custom;
pub mod error;
mod index;
pub mod modules;
pub mod paging;
pub mod read;
pub mod store;
pub mod write;

use axum::Router;
use axum::extract::{MatchedPath, OriginalUri, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::meter::{self, Account, Api};
use crate::state::AppState;
use crate::time;
use error::ZohoError;

/// Where each data centre's CRM API is mounted: `/zoho-api/{dc}/crm/v8`.
pub const API_PATH: &str = "/zoho-api/{dc}/crm/v8";

/// Zoho's data centres (api-reference 2.1), by the domain suffix the sandbox uses as `{dc}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dc {
    #[serde(rename = "com")]
    Com,
    #[serde(rename = "eu")]
    Eu,
    #[serde(rename = "in")]
    In,
    #[serde(rename = "com.au")]
    ComAu,
    #[serde(rename = "jp")]
    Jp,
    #[serde(rename = "ca")]
    Ca,
    #[serde(rename = "sa")]
    Sa,
    #[serde(rename = "com.cn")]
    ComCn,
}

impl Dc {
    pub const ALL: [Dc; 8] = [
        Dc::Com,
        Dc::Eu,
        Dc::In,
        Dc::ComAu,
        Dc::Jp,
        Dc::Ca,
        Dc::Sa,
        Dc::ComCn,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Dc::Com => "com",
            Dc::Eu => "eu",
            Dc::In => "in",
            Dc::ComAu => "com.au",
            Dc::Jp => "jp",
            Dc::Ca => "ca",
            Dc::Sa => "sa",
            Dc::ComCn => "com.cn",
        }
    }

    pub fn parse(code: &str) -> Option<Dc> {
        Dc::ALL.into_iter().find(|dc| dc.code() == code)
    }

    /// The API domain of this data centre as seen through the sandbox at `base`.
    pub fn api_domain(self, base: &str) -> String {
        format!("{base}/zoho-api/{}", self.code())
    }

    pub fn accounts_url(self, base: &str) -> String {
        format!("{base}/zoho-accounts/{}", self.code())
    }
}

/// The org an access token belongs to, set by the gate for the handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    pub org_id: String,
}

#[derive(Debug, Deserialize)]
pub struct ModulePath {
    pub module: String,
}

#[derive(Debug, Deserialize)]
pub struct RecordPath {
    pub module: String,
    pub id: String,
}

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/{module}",
            get(read::list)
                .post(write::insert)
                .put(write::update_many)
                .delete(write::delete_many),
        )
        .route("/users", get(account::users))
        .route(
            "/settings/fields",
            get(custom::list).post(custom::create_fields),
        )
        .route("/org", get(account::org))
        .route("/{module}/upsert", post(write::upsert))
        .route("/{module}/deleted", get(read::deleted))
        .route(
            "/{module}/{id}",
            get(read::get_one)
                .put(write::update_one)
                .delete(write::delete_one),
        )
        .route_layer(middleware::from_fn_with_state(state, gate))
        .fallback(unknown_url)
}

async fn unknown_url() -> ZohoError {
    ZohoError::invalid_url()
}

/// Authenticates `Authorization: Zoho-oauthtoken <token>` for this data centre and passes the
/// call through the meter.
async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Zoho-oauthtoken "))
        .map(|t| t.trim().to_owned());
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    // Nested routers see the path without their prefix; the template is the full one.
    let full_path = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path().to_owned(), |u| u.path().to_owned());
    let Some(dc) = full_path.split('/').nth(2).and_then(Dc::parse) else {
        return ZohoError::invalid_url().into_response();
    };
    let operation = meter::operation(
        request.method().as_str(),
        &template,
        &full_path,
        4,
        &["{module}"],
    );
    let method = request.method().as_str().to_owned();
    let module_name = full_path.split('/').nth(5).unwrap_or_default();
    let upsert = template.ends_with("/upsert");
    let settings = template.ends_with("/settings/fields");

    let admitted = {
        let mut world = state.world();
        let grant = token
            .and_then(|t| world.zoho.access_tokens.get(&t))
            .filter(|grant| grant.dc == dc && grant.expires_at > time::now())
            .map(|grant| (grant.org_id.clone(), grant.scope.clone()));
        match grant {
            None => {
                world.meter.record_unauthenticated(Api::Zoho);
                Err(ZohoError::invalid_token())
            }
            Some((_, Some(scope)))
                if !if settings {
                    store::settings_scope_allows(&scope, "fields", &method)
                } else {
                    store::scope_allows(&scope, module_name, &method, upsert)
                } =>
            {
                world.meter.record_unauthenticated(Api::Zoho);
                Err(ZohoError::scope_mismatch())
            }
            Some((org_id, _)) => {
                let account = Account::Org(org_id.clone());
                let admission = meter::admit(&mut world, Api::Zoho, &account, &operation, false);
                Ok((org_id, admission))
            }
        }
    };
    let (org_id, admission) = match admitted {
        Ok(pair) => pair,
        Err(error) => return error.into_response(),
    };
    request.extensions_mut().insert(Caller { org_id });
    meter::pass(admission, request, next).await
}

/// Decoded query parameters.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    /// A parameter's value; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// A positive number within `1..=max`, `default` when absent.
    pub fn number(&self, name: &str, default: usize, max: usize) -> Result<usize, ZohoError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ZohoError::invalid_param(name, "invalid data")),
        }
    }
}

/// The org of the caller (always present: orgs are never deleted).
pub fn org_of<'a>(
    world: &'a mut crate::state::World,
    caller: &Caller,
) -> Result<&'a mut store::Org, ZohoError> {
    world
        .zoho
        .orgs
        .get_mut(&caller.org_id)
        .ok_or_else(ZohoError::invalid_token)
}

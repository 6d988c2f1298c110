//! Record reads: `GET /{module}` (list), `GET /{module}/{id}`, `GET /{module}/deleted`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::custom;
use super::error::ZohoError;
use super::modules::{self, Field, Kind, Module, System};
use super::paging::{
    DISCRETE_LIMIT, MAX_FIELDS, PER_PAGE_MAX, PageToken, SortBy, SortOrder, TOKEN_LIFETIME_SECONDS,
    TOKEN_LIMIT,
};
use super::store::Record;
use super::{Caller, ModulePath, Query, RecordPath, org_of};
use crate::state::AppState;
use crate::{ids, time};

fn module(name: &str) -> Result<&'static Module, ZohoError> {
    modules::find(name).ok_or_else(ZohoError::invalid_module)
}

/// `If-Modified-Since` as an instant; an unreadable value is refused rather than ignored.
pub fn if_modified_since(headers: &HeaderMap) -> Result<Option<DateTime<Utc>>, ZohoError> {
    match headers.get("if-modified-since") {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(time::parse_offset)
            .map(Some)
            .ok_or_else(|| ZohoError::invalid_param("If-Modified-Since", "invalid data")),
    }
}

/// `fields`: required, at most 50.
fn field_names(raw: Option<&str>) -> Result<Vec<&str>, ZohoError> {
    let names: Vec<&str> = raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(ZohoError::required_param("fields"));
    }
    if names.len() > MAX_FIELDS {
        return Err(ZohoError::limit_exceeded(
            json!({"limit": MAX_FIELDS, "param_name": "fields"}),
        ));
    }
    Ok(names)
}

/// The fields `names` asks for among the module's and the org's custom ones (`extra`); unknown
/// names are skipped, `id` always comes back.
fn requested_fields(
    module: &'static Module,
    extra: &[&'static Field],
    names: &[&str],
) -> Vec<&'static Field> {
    let mut fields: Vec<&'static Field> = Vec::new();
    for name in names {
        if let Some(field) = module.field_or(extra, name)
            && field.kind != Kind::System(System::Id)
            && !fields.iter().any(|f| f.api_name == field.api_name)
        {
            fields.push(field);
        }
    }
    fields
}

/// The list parameters a page token is bound to.
struct Listing {
    fields: String,
    sort_by: SortBy,
    sort_order: SortOrder,
    per_page: usize,
}

/// Where a page starts.
enum Start {
    Offset(usize),
    After((i64, u64)),
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ModulePath>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ZohoError> {
    let module = module(&path.module)?;
    let query = Query::parse(raw_query.as_deref());
    let names = field_names(query.get("fields"))?;
    let per_page = query.number("per_page", PER_PAGE_MAX, PER_PAGE_MAX)?;
    let sort_by = match query.get("sort_by") {
        None => SortBy::Id,
        Some(raw) => SortBy::parse(raw).ok_or_else(|| {
            ZohoError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"param_name": "sort_by", "supported_values": SortBy::SUPPORTED}),
            )
        })?,
    };
    let sort_order = match query.get("sort_order") {
        None => SortOrder::Desc,
        Some(raw) => SortOrder::parse(raw).ok_or_else(|| {
            ZohoError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                "invalid data",
                json!({"param_name": "sort_order", "supported_values": ["asc", "desc"]}),
            )
        })?,
    };
    let since_header = if_modified_since(&headers)?;
    let page_param = query.get("page");
    let token_param = query.get("page_token");
    if page_param.is_some() && token_param.is_some() {
        return Err(ZohoError::new(
            StatusCode::BAD_REQUEST,
            "AMBIGUITY_DURING_PROCESSING",
            "ambiguity while processing the request",
            json!({"ambiguity_due_to": [{"param_name": "page"}, {"param_name": "page_token"}]}),
        ));
    }

    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    let fields = requested_fields(module, &org.extra_fields(module), &names);
    let listing = Listing {
        fields: fields
            .iter()
            .map(|f| f.api_name)
            .collect::<Vec<_>>()
            .join(","),
        sort_by,
        sort_order,
        per_page,
    };
    let now = time::now();
    org.page_tokens
        .retain(|_, t| t.expires_at > now - chrono::Duration::days(1));

    let (start, page, served, since) = match token_param {
        Some(raw) => {
            // A token Zoho never issued is "invalid" in Zoho's own message for a token that
            // does not fit the request (record.yaml, `TokenBoundDataMismatchGETError`).
            let token = org.page_tokens.get(raw.trim()).ok_or_else(token_mismatch)?;
            if token.expires_at <= now {
                return Err(ZohoError::page_token_expired());
            }
            let bound = token.module == module.api_name
                && token.fields == listing.fields
                && token.sort_by == listing.sort_by
                && token.sort_order == listing.sort_order
                && token.per_page == listing.per_page
                && since_header.is_none_or(|s| token.since == Some(s));
            if !bound {
                return Err(token_mismatch());
            }
            if token.served >= TOKEN_LIMIT {
                return Err(ZohoError::page_token_limit());
            }
            (
                Start::After(token.cursor),
                token.page,
                token.served,
                token.since,
            )
        }
        None => {
            let page = match page_param {
                None => 1,
                Some(raw) => raw
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or_else(|| ZohoError::invalid_param("page", "invalid data"))?,
            };
            if page * per_page > DISCRETE_LIMIT {
                return Err(ZohoError::new(
                    StatusCode::BAD_REQUEST,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "You can only get the first 2000 records without using page_token param",
                    json!({"limit": DISCRETE_LIMIT}),
                ));
            }
            let offset = (page - 1) * per_page;
            (Start::Offset(offset), page, offset, since_header)
        }
    };

    let mut records: Vec<&Record> = org
        .data(module)
        .records
        .values()
        .filter(|r| since.is_none_or(|s| r.modified_time > s))
        .collect();
    records.sort_by_key(|r| sort_by.key(r));
    if sort_order == SortOrder::Desc {
        records.reverse();
    }
    let remaining: Vec<&Record> = match start {
        Start::Offset(offset) => records.into_iter().skip(offset).collect(),
        Start::After(cursor) => records
            .into_iter()
            .filter(|r| sort_order.after(sort_by.key(r), cursor))
            .collect(),
    };
    if remaining.is_empty() {
        // Nothing modified since the header's time is 304; nothing at all is 204.
        let status = if since.is_some() {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::NO_CONTENT
        };
        return Ok(status.into_response());
    }
    let more = remaining.len() > per_page;
    let page_records = &remaining[..per_page.min(remaining.len())];
    let data: Vec<Value> = page_records
        .iter()
        .map(|r| org.render(module, r, Some(fields.as_slice())))
        .collect();
    let count = page_records.len();
    let cursor = page_records
        .last()
        .map(|r| sort_by.key(r))
        .unwrap_or_default();

    let (next_token, expiry) = if more {
        let key = ids::hex(20);
        let expires_at = now + chrono::Duration::seconds(TOKEN_LIFETIME_SECONDS);
        let expiry = org.time(expires_at);
        org.page_tokens.insert(
            key.clone(),
            PageToken {
                module: module.api_name,
                fields: listing.fields,
                sort_by,
                sort_order,
                per_page,
                since,
                cursor,
                page: page + 1,
                served: served + count,
                expires_at,
            },
        );
        (Some(key), Some(expiry))
    } else {
        (None, None)
    };
    let body = json!({
        "data": data,
        "info": {
            "call": false,
            "per_page": per_page,
            "next_page_token": next_token,
            "count": count,
            "sort_by": sort_by.name(),
            "page": page,
            "previous_page_token": null,
            "page_token_expiry": expiry,
            "sort_order": sort_order.name(),
            "email": false,
            "more_records": more,
        }
    });
    Ok(Json(body).into_response())
}

/// `GET /{module}/{id}`: `{"data":[record]}` with every field (or `fields`); an unknown id is
/// 204, as Zoho answers an empty result.
pub async fn get_one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<RecordPath>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ZohoError> {
    let module = module(&path.module)?;
    let query = Query::parse(raw_query.as_deref());
    let names = query
        .get("fields")
        .map(|raw| field_names(Some(raw)))
        .transpose()?;
    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    // `X-EXTERNAL: {module}.{field}`: the path holds the record's External ID.
    let Some(id) = custom::record_in_path(org, module, &headers, &path.id)? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let fields = names.map(|names| requested_fields(module, &org.extra_fields(module), &names));
    let Some(record) = org.record(module, id) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let rendered = org.render(module, record, fields.as_deref());
    Ok(Json(json!({"data": [rendered]})).into_response())
}

/// `GET /{module}/deleted?type=all|recycle|permanent`: newest deletion first; 204 when none.
/// The sandbox only moves records to the recycle bin, so `permanent` is always empty.
pub async fn deleted(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(path): Path<ModulePath>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ZohoError> {
    // This read reports its errors inside `data[]` (record.yaml, `DeletedRecordsErrorResponse`).
    let module = module(&path.module).map_err(ZohoError::into_data)?;
    let query = Query::parse(raw_query.as_deref());
    let kind = query.get("type").unwrap_or("all");
    if !["all", "recycle", "permanent"].contains(&kind) {
        return Err(ZohoError::new(
            StatusCode::BAD_REQUEST,
            "PATTERN_NOT_MATCHED",
            "Please check whether the input values are correct",
            json!({"param_name": "type"}),
        )
        .into_data());
    }
    let per_page = query
        .number("per_page", PER_PAGE_MAX, PER_PAGE_MAX)
        .map_err(ZohoError::into_data)?;
    let page = query
        .number("page", 1, usize::MAX)
        .map_err(ZohoError::into_data)?;
    let since = if_modified_since(&headers).map_err(ZohoError::into_data)?;

    let mut world = state.world();
    let org = org_of(&mut world, &caller)?;
    let mut entries: Vec<_> = org
        .data(module)
        .deleted
        .iter()
        .filter(|_| kind != "permanent")
        .filter(|d| since.is_none_or(|s| d.deleted_time > s))
        .collect();
    entries.sort_by_key(|d| std::cmp::Reverse((d.deleted_time, d.id)));
    let offset = (page - 1).saturating_mul(per_page);
    let page_entries: Vec<_> = entries.iter().skip(offset).take(per_page).collect();
    if page_entries.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let more = entries.len() > offset + page_entries.len();
    let data: Vec<Value> = page_entries
        .iter()
        .map(|d| {
            json!({
                "deleted_by": org.user_ref(),
                "id": d.id.to_string(),
                "display_name": d.display_name,
                "type": "recycle",
                "created_by": org.user_ref(),
                "deleted_time": org.time(d.deleted_time),
            })
        })
        .collect();
    let body = json!({
        "data": data,
        "info": {"per_page": per_page, "count": data.len(), "page": page, "more_records": more},
    });
    Ok(Json(body).into_response())
}

/// A page token that Zoho did not issue for this request.
fn token_mismatch() -> ZohoError {
    ZohoError::new(
        StatusCode::BAD_REQUEST,
        "TOKEN_BOUND_DATA_MISMATCH",
        "The page_token given seems to be invalid or input param is added or altered or deleted",
        json!({"param_name": "page_token"}),
    )
}

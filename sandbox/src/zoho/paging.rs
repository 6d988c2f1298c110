//! Paging of record reads (api-reference 2.2): `page`/`per_page` reach the first 2,000 records;
//! beyond that `page_token` from `info.next_page_token`, good for 24 hours and 100,000 records.
//!
//! Page tokens are short opaque keys (Zoho caps them at 96 characters) into the org's table of
//! issued tokens. A token remembers the parameters it was issued for (a changed one is
//! `TOKEN_BOUND_DATA_MISMATCH`) and the sort key of the last record served: the next page starts
//! after that key, so records inserted or deleted meanwhile do not shift pages.

use chrono::{DateTime, Utc};

use super::store::Record;

pub const PER_PAGE_MAX: usize = 200;
pub const DISCRETE_LIMIT: usize = 2_000;
pub const TOKEN_LIMIT: usize = 100_000;
pub const TOKEN_LIFETIME_SECONDS: i64 = 24 * 3600;
pub const MAX_FIELDS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Id,
    CreatedTime,
    ModifiedTime,
}

impl SortBy {
    pub const SUPPORTED: [&'static str; 3] = ["id", "Created_Time", "Modified_Time"];

    pub fn parse(raw: &str) -> Option<SortBy> {
        match raw {
            "id" => Some(SortBy::Id),
            "Created_Time" => Some(SortBy::CreatedTime),
            "Modified_Time" => Some(SortBy::ModifiedTime),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortBy::Id => "id",
            SortBy::CreatedTime => "Created_Time",
            SortBy::ModifiedTime => "Modified_Time",
        }
    }

    /// The total order a listing follows: the sort field, then the id.
    pub fn key(self, record: &Record) -> (i64, u64) {
        match self {
            SortBy::Id => (0, record.id),
            SortBy::CreatedTime => (record.created_time.timestamp(), record.id),
            SortBy::ModifiedTime => (record.modified_time.timestamp(), record.id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn parse(raw: &str) -> Option<SortOrder> {
        match raw {
            "asc" => Some(SortOrder::Asc),
            "desc" => Some(SortOrder::Desc),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }

    /// Whether `key` comes after `cursor` in this order.
    pub fn after(self, key: (i64, u64), cursor: (i64, u64)) -> bool {
        match self {
            SortOrder::Asc => key > cursor,
            SortOrder::Desc => key < cursor,
        }
    }
}

/// An issued page token.
#[derive(Debug, Clone)]
pub struct PageToken {
    pub module: &'static str,
    /// The `fields`, `sort_by`, `sort_order` and `per_page` it was issued for.
    pub fields: String,
    pub sort_by: SortBy,
    pub sort_order: SortOrder,
    pub per_page: usize,
    /// The `If-Modified-Since` of the listing, kept for the following pages.
    pub since: Option<DateTime<Utc>>,
    /// Sort key of the last record served.
    pub cursor: (i64, u64),
    /// Number of the page this token fetches, and records served before it.
    pub page: usize,
    pub served: usize,
    pub expires_at: DateTime<Utc>,
}

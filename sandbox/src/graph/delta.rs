//! Delta of item collections (api-reference 1.2, 1.4, 1.6): contacts of a folder
//! (`GET /me/contactFolders/{id}/contacts/delta`), tasks of a To Do list
//! (`GET /me/todo/lists/{id}/tasks/delta`) and the To Do lists (`GET /me/todo/lists/delta`).
//!
//! A round covers the changes with sequence numbers in `(lo, hi]`: `lo` is where the previous
//! round ended (0 for the first round) and `hi` is the mailbox's sequence number when the round's
//! first page was served. Pages walk that range in sequence order; a contact written during the
//! round gets a sequence number above `hi` and so lands in the next round: never lost, at worst
//! seen twice. The first round lists the folder's contacts only; later rounds add `@removed`
//! entries from the tombstones.
//!
//! Tokens are self-describing (base64url JSON): the collection kind, mailbox, folder or list,
//! `$select`, page size, range, cursor and the mailbox's delta epoch. Anything that does not decode, belongs elsewhere or
//! carries an old epoch is answered like an expired Outlook sync state: 410 `SyncStateNotFound`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::extended::{self, Expand};
use super::folders::mailbox;
use super::store::{Item, Mailbox};
use super::{BASE_PATH, Caller, query_pairs, query_value, schema};
use crate::ids;
use crate::links::BaseUrl;
use crate::state::AppState;

/// Page size without `Prefer: odata.maxpagesize`, and the largest honoured. Microsoft documents
/// neither for contacts; a Microsoft Q&A answer (learn.microsoft.com/answers/a/2052165) and
/// observed behaviour give 200 for both.
pub const DEFAULT_PAGE_SIZE: usize = 200;
pub const MAX_PAGE_SIZE: usize = 200;

const TOKEN_VERSION: u8 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Token {
    v: u8,
    /// The kind of collection (`contacts`, `tasks`, `todoLists`).
    #[serde(default)]
    k: String,
    /// Mailbox and folder the round belongs to.
    m: String,
    f: String,
    /// The mailbox's delta epoch at issue.
    e: u64,
    /// `$select` of the initial request.
    s: Option<Vec<String>>,
    /// Page size asked for on the initial request.
    n: Option<usize>,
    /// The extended-property `$expand` of the initial request, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    /// Range `(lo, hi]` and cursor (the last sequence number served). A delta token only uses
    /// `lo` (the next round starts there).
    lo: u64,
    hi: u64,
    c: u64,
    /// The first round of a sync (no `@removed` entries).
    i: bool,
}

impl Token {
    fn encode(&self) -> String {
        ids::b64(&serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(raw: &str) -> Option<Token> {
        let token: Token = serde_json::from_slice(&ids::unb64(raw.trim())?).ok()?;
        (token.v == TOKEN_VERSION).then_some(token)
    }
}

/// `Prefer: odata.maxpagesize=N`, possibly among other preferences.
pub fn preferred_page_size(headers: &HeaderMap) -> Option<usize> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|pref| {
            let (name, value) = pref.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| value.trim().trim_matches('"').parse::<usize>().ok())
                .flatten()
        })
        .next()
}

enum Entry<'a> {
    Changed(&'a Item),
    Removed(&'a str),
}

/// Renders an item with a round's `$select`.
pub type Render<'a> = &'a dyn Fn(&Item, Option<&[String]>) -> Map<String, Value>;

/// One delta-enabled collection of a mailbox: what a round walks and how its items look.
pub struct DeltaSpec<'a> {
    /// Tokens carry it, so a contacts token is refused by a tasks collection.
    pub kind: &'static str,
    /// The folder (contacts), list (tasks) or [`super::store::TODO_LISTS`].
    pub container: String,
    /// Path of the links after `/graph/v1.0/`.
    pub link_path: String,
    /// `#microsoft.graph.contact`, ...
    pub odata_type: &'static str,
    /// `@odata.context` of the pages.
    pub context: String,
    /// The container's items (any order).
    pub items: Vec<&'a Item>,
    /// An item as the collection renders it, with the round's `$select`.
    pub render: Render<'a>,
    /// Checks `$select`.
    pub parse_select: fn(&str) -> Result<Vec<String>, GraphError>,
    /// Whether `$top` on the initial request sets the page size (To Do documents it).
    pub top_sets_page_size: bool,
    /// Whether `$expand=singleValueExtendedProperties(...)` is documented for this delta (To Do
    /// tasks); elsewhere it is refused (see [`super::extended`]).
    pub expands_extended: bool,
    /// Extra `Preference-Applied` values (e.g. `outlook.timezone`).
    pub applied: Vec<String>,
}

/// One page of a delta round of `spec` in `mailbox` (see the module documentation).
pub fn page(
    mailbox: &Mailbox,
    spec: DeltaSpec<'_>,
    base: &str,
    raw_query: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let pairs = query_pairs(raw_query);
    let preferred = preferred_page_size(headers);
    let container = spec.container.as_str();
    let valid = |raw: &str| -> Result<Token, GraphError> {
        Token::decode(raw)
            .filter(|t| {
                t.m == mailbox.id
                    && t.f == container
                    && t.k == spec.kind
                    && t.e == mailbox.delta_epoch
                    && t.lo <= mailbox.current_seq()
            })
            .ok_or_else(GraphError::sync_state_not_found)
    };
    let round = match (
        query_value(&pairs, "$skiptoken"),
        query_value(&pairs, "$deltatoken"),
    ) {
        (Some(skip), _) => {
            let token = valid(skip)?;
            if token.c > token.hi || token.hi > mailbox.current_seq() {
                return Err(GraphError::sync_state_not_found());
            }
            token
        }
        (None, Some(delta)) => {
            let token = valid(delta)?;
            Token {
                hi: mailbox.current_seq(),
                c: token.lo,
                i: false,
                ..token
            }
        }
        (None, None) => {
            let top = if spec.top_sets_page_size {
                match query_value(&pairs, "$top") {
                    None => None,
                    Some(raw) => Some(raw.trim().parse::<usize>().map_err(|_| {
                        GraphError::parse_uri(format!(
                            "Invalid value '{raw}' for query option '$top'."
                        ))
                    })?),
                }
            } else {
                None
            };
            let expand_raw = query_value(&pairs, "$expand");
            let (expand, _) = extended::parse_expand(expand_raw)?;
            if expand.is_some() && !spec.expands_extended {
                return Err(GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidUrlQuery",
                    format!(
                        "The query option '$expand={}' is not supported on this delta.",
                        extended::PROPERTY
                    ),
                ));
            }
            Token {
                v: TOKEN_VERSION,
                k: spec.kind.to_owned(),
                x: expand.and(expand_raw.map(str::to_owned)),
                m: mailbox.id.clone(),
                f: container.to_owned(),
                e: mailbox.delta_epoch,
                s: query_value(&pairs, "$select")
                    .map(spec.parse_select)
                    .transpose()?,
                n: preferred.or(top),
                lo: 0,
                hi: mailbox.current_seq(),
                c: 0,
                i: true,
            }
        }
    };
    let page_size = preferred
        .or(round.n)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);

    let in_range = |seq: u64| seq > round.c && seq <= round.hi;
    let mut entries: Vec<(u64, Entry)> = spec
        .items
        .iter()
        .filter(|c| in_range(c.seq))
        .map(|c| (c.seq, Entry::Changed(c)))
        .collect();
    if !round.i {
        entries.extend(
            mailbox
                .tombstones
                .iter()
                .filter(|t| t.folder_id == container && in_range(t.seq))
                .map(|t| (t.seq, Entry::Removed(t.id.as_str()))),
        );
    }
    entries.sort_unstable_by_key(|(seq, _)| *seq);
    let more = entries.len() > page_size;
    entries.truncate(page_size);

    let (expand, _) = extended::parse_expand(round.x.as_deref())?;
    let value: Vec<Value> = entries
        .iter()
        .map(|(_, entry)| match entry {
            Entry::Changed(item) => {
                let mut rendered = Map::new();
                rendered.insert("@odata.type".into(), json!(spec.odata_type));
                rendered.extend((spec.render)(item, round.s.as_deref()));
                Expand::apply(expand.as_ref(), &item.props, &mut rendered);
                Value::Object(rendered)
            }
            Entry::Removed(id) => json!({
                "@odata.type": spec.odata_type,
                "id": id,
                "@removed": {"reason": "deleted"},
            }),
        })
        .collect();

    let link_base = format!("{base}{BASE_PATH}/{}", spec.link_path);
    let mut body = json!({"@odata.context": spec.context});
    if more {
        let last = entries.last().map_or(round.c, |(seq, _)| *seq);
        let next = Token {
            c: last,
            ..round.clone()
        };
        body["@odata.nextLink"] = json!(format!("{link_base}?$skiptoken={}", next.encode()));
    } else {
        let next_round = Token {
            lo: round.hi,
            c: round.hi,
            i: false,
            ..round.clone()
        };
        body["@odata.deltaLink"] =
            json!(format!("{link_base}?$deltatoken={}", next_round.encode()));
    }
    body["value"] = Value::Array(value);

    let mut response = Json(body).into_response();
    let mut applied = spec.applied;
    if let Some(size) = preferred {
        applied.insert(0, format!("odata.maxpagesize={}", size.min(MAX_PAGE_SIZE)));
    }
    if !applied.is_empty()
        && let Ok(value) = HeaderValue::from_str(&applied.join(", "))
    {
        response.headers_mut().insert("preference-applied", value);
    }
    Ok(response)
}

pub async fn contacts_delta(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let world = state.world();
    let mailbox = mailbox(&world, &caller)?;
    mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;
    let render = |item: &Item, select: Option<&[String]>| schema::render(item, select);
    let spec = DeltaSpec {
        kind: "contacts",
        container: folder_id.clone(),
        link_path: format!("me/contactFolders/{folder_id}/contacts/delta"),
        odata_type: "#microsoft.graph.contact",
        context: format!("{base}{BASE_PATH}/$metadata#Collection(contact)"),
        items: mailbox
            .contacts
            .values()
            .filter(|c| c.folder_id == folder_id)
            .collect(),
        render: &render,
        parse_select: schema::parse_select,
        top_sets_page_size: false,
        expands_extended: false,
        applied: Vec::new(),
    };
    page(mailbox, spec, &base, raw_query.as_deref(), &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbled_tokens_do_not_decode() {
        assert!(Token::decode("not-base64!").is_none());
        assert!(Token::decode(&ids::b64(b"{\"v\":1}")).is_none());
    }

    #[test]
    fn prefer_header_is_read_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "prefer",
            HeaderValue::from_static("outlook.timezone=\"UTC\", odata.maxpagesize=5"),
        );
        assert_eq!(preferred_page_size(&headers), Some(5));
    }
}

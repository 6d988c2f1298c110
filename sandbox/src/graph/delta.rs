//! `GET /me/contactFolders/{id}/contacts/delta` (api-reference 1.2, 1.6).
//!
//! A round covers the changes with sequence numbers in `(lo, hi]`: `lo` is where the previous
//! round ended (0 for the first round) and `hi` is the mailbox's sequence number when the round's
//! first page was served. Pages walk that range in sequence order; a contact written during the
//! round gets a sequence number above `hi` and so lands in the next round: never lost, at worst
//! seen twice. The first round lists the folder's contacts only; later rounds add `@removed`
//! entries from the tombstones.
//!
//! Tokens are self-describing (base64url JSON): the mailbox, folder, `$select`, page size, range,
//! cursor and the mailbox's delta epoch. Anything that does not decode, belongs elsewhere or
//! carries an old epoch is answered like an expired Outlook sync state: 410 `SyncStateNotFound`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::folders::mailbox;
use super::store::Contact;
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
    /// Mailbox and folder the round belongs to.
    m: String,
    f: String,
    /// The mailbox's delta epoch at issue.
    e: u64,
    /// `$select` of the initial request.
    s: Option<Vec<String>>,
    /// Page size asked for on the initial request.
    n: Option<usize>,
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
fn preferred_page_size(headers: &HeaderMap) -> Option<usize> {
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
    Changed(&'a Contact),
    Removed(&'a str),
}

pub async fn contacts_delta(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    BaseUrl(base): BaseUrl,
    Path(folder_id): Path<String>,
    RawQuery(raw_query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let pairs = query_pairs(raw_query.as_deref());
    let preferred = preferred_page_size(&headers);
    let world = state.world().await;
    let mailbox = mailbox(&world, &caller)?;
    mailbox
        .folder(&folder_id)
        .ok_or_else(GraphError::item_not_found)?;

    let valid = |raw: &str| -> Result<Token, GraphError> {
        Token::decode(raw)
            .filter(|t| {
                t.m == mailbox.id
                    && t.f == folder_id
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
        (None, None) => Token {
            v: TOKEN_VERSION,
            m: mailbox.id.clone(),
            f: folder_id.clone(),
            e: mailbox.delta_epoch,
            s: query_value(&pairs, "$select")
                .map(schema::parse_select)
                .transpose()?,
            n: preferred,
            lo: 0,
            hi: mailbox.current_seq(),
            c: 0,
            i: true,
        },
    };
    let page_size = preferred
        .or(round.n)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, MAX_PAGE_SIZE);

    let in_range = |seq: u64| seq > round.c && seq <= round.hi;
    let mut entries: Vec<(u64, Entry)> = mailbox
        .contacts_in(&folder_id)
        .into_iter()
        .filter(|c| in_range(c.seq))
        .map(|c| (c.seq, Entry::Changed(c)))
        .collect();
    if !round.i {
        entries.extend(
            mailbox
                .tombstones
                .iter()
                .filter(|t| t.folder_id == folder_id && in_range(t.seq))
                .map(|t| (t.seq, Entry::Removed(t.id.as_str()))),
        );
    }
    entries.sort_by_key(|(seq, _)| *seq);
    let more = entries.len() > page_size;
    entries.truncate(page_size);

    let value: Vec<Value> = entries
        .iter()
        .map(|(_, entry)| match entry {
            Entry::Changed(contact) => {
                let mut item = Map::new();
                item.insert("@odata.type".into(), json!("#microsoft.graph.contact"));
                item.extend(schema::render(contact, round.s.as_deref()));
                Value::Object(item)
            }
            Entry::Removed(id) => json!({
                "@odata.type": "#microsoft.graph.contact",
                "id": id,
                "@removed": {"reason": "deleted"},
            }),
        })
        .collect();

    let link_base = format!("{base}{BASE_PATH}/me/contactFolders/{folder_id}/contacts/delta");
    let mut body = json!({
        "@odata.context": format!("{base}{BASE_PATH}/$metadata#Collection(contact)"),
    });
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
    if let Some(size) = preferred
        && let Ok(applied) =
            HeaderValue::from_str(&format!("odata.maxpagesize={}", size.min(MAX_PAGE_SIZE)))
    {
        response.headers_mut().insert("preference-applied", applied);
    }
    Ok(response)
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

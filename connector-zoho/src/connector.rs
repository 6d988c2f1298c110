//! [`ZohoConnector`]: modified-since reads and deleted-records reads into change events;
//! batched writes (100 records a call) with a result per record.
//!
//! A round reads the module's records changed since the watermark (sorted by `Modified_Time`,
//! page tokens), then the records deleted since the deleted-records watermark, which become
//! `ItemDeleted`.
//!
//! `Modified_Time` has whole seconds: a record saved later in the second of the watermark would
//! be missed by a read strictly after it, so the next round re-reads that second (the overlap,
//! de-duplicated in the cursor) — but only when the round ended within that second by Zoho's
//! clock (its `Date` header). Otherwise no later save can carry that time, and re-reading it
//! would cost every record of a bulk import or mass update (all in one second) each round.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, FixedOffset};
use chrono_tz::Tz;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_model::{ExternalId, Item, ItemKind, Modified, Side, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, FailureCode, LinkIdentity};

use connector_kit::api::is_unconfirmed;
use connector_kit::store::Watch;
use connector_kit::{ApiError, ApplyRequest, CallContext, Connector, Page};

use crate::identity::{LinkField, LinkFields};
use crate::mapping::{contact, event, task};
use crate::user_zone::UserZones;
use crate::zoho::{RecordResult, WRITE_BATCH, ZohoClient};

/// Seconds re-read at the start of a round when its watermark's second may still get records.
const OVERLAP: Duration = Duration::seconds(1);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Phase {
    #[default]
    Records,
    Deleted,
}

/// A published record as the overlap remembers it: its id and what it held. (Entries of
/// cursors saved before hold the id alone: they match nothing, so a record in the overlap may
/// be published once more after an upgrade, which changes nothing.)
fn recent_key(id: &str, item: &Item) -> String {
    format!("{id}#{}", item.content_hash().0)
}

/// Where the next read starts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// `If-Modified-Since` of the current round (`None`: a full read).
    since: Option<DateTime<FixedOffset>>,
    page_token: Option<String>,
    page: u32,
    /// The newest `Modified_Time` published so far.
    high_water: Option<DateTime<FixedOffset>>,
    /// Records published within [`OVERLAP`] of `high_water` (id and content, [`recent_key`]),
    /// not to be published again.
    recent: Vec<(String, DateTime<FixedOffset>)>,
    /// Zoho's clock at the round's last records read.
    #[serde(default)]
    read_at: Option<DateTime<FixedOffset>>,
    /// Whether the next round re-reads the second of `since` (see the module's comment).
    #[serde(default = "yes")]
    overlap: bool,
    #[serde(default)]
    phase: Phase,
    /// Deletions before this were read (set at the first round: older ones were never synced).
    #[serde(default)]
    deleted_since: Option<DateTime<FixedOffset>>,
    #[serde(default)]
    deleted_page: u32,
    /// The newest `deleted_time` of the deleted-records read in progress.
    #[serde(default)]
    deleted_high: Option<DateTime<FixedOffset>>,
    /// The identity field the round's first page asked for: its later pages ask for the same
    /// fields (Zoho binds a `page_token` to the query it was given for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link_field: Option<LinkField>,
}

fn yes() -> bool {
    true
}

pub struct ZohoConnector {
    client: ZohoClient,
    zones: UserZones,
    link_fields: LinkFields,
}

use crate::identity::module;

fn fields(kind: ItemKind) -> &'static [&'static str] {
    match kind {
        ItemKind::Contact => contact::FIELDS,
        ItemKind::Task => task::FIELDS,
        ItemKind::Event => event::FIELDS,
    }
}

/// Metric labels of the calls, per module.
fn operation(kind: ItemKind, what: &str) -> &'static str {
    match (kind, what) {
        (ItemKind::Contact, "read") => "GET /Contacts",
        (ItemKind::Task, "read") => "GET /Tasks",
        (ItemKind::Event, "read") => "GET /Events",
        (ItemKind::Contact, "deleted") => "GET /Contacts/deleted",
        (ItemKind::Task, "deleted") => "GET /Tasks/deleted",
        (ItemKind::Event, "deleted") => "GET /Events/deleted",
        (ItemKind::Contact, "get") => "GET /Contacts/{id}",
        (ItemKind::Task, "get") => "GET /Tasks/{id}",
        (ItemKind::Event, "get") => "GET /Events/{id}",
        (ItemKind::Contact, "insert") => "POST /Contacts",
        (ItemKind::Task, "insert") => "POST /Tasks",
        (ItemKind::Event, "insert") => "POST /Events",
        (ItemKind::Contact, "update") => "PUT /Contacts",
        (ItemKind::Task, "update") => "PUT /Tasks",
        (ItemKind::Event, "update") => "PUT /Events",
        (ItemKind::Contact, _) => "DELETE /Contacts",
        (ItemKind::Task, _) => "DELETE /Tasks",
        (ItemKind::Event, _) => "DELETE /Events",
    }
}

/// `zone`: the Zoho user's, which event times are read in (see [`UserZones`]).
fn parse_item(kind: ItemKind, value: &Value, zone: Tz) -> Result<Item, String> {
    Ok(match kind {
        ItemKind::Contact => Item::Contact(contact::from_zoho(value)?),
        ItemKind::Task => Item::Task(task::from_zoho(value)?),
        ItemKind::Event => Item::Event(event::from_zoho(value, zone)?),
    })
}

/// The record as Zoho would hold it after the write: what the content hash is taken of.
fn render(
    item: &Item,
    base: Option<&Item>,
    zone: Tz,
) -> Result<serde_json::Map<String, Value>, String> {
    Ok(match (item, base) {
        (Item::Contact(c), Some(Item::Contact(b))) => contact::patch(c, Some(b)),
        (Item::Contact(c), _) => contact::to_zoho(c),
        (Item::Task(t), Some(Item::Task(b))) => task::patch(t, Some(b)),
        (Item::Task(t), _) => task::to_zoho(t),
        (Item::Event(e), Some(Item::Event(b))) => event::patch(e, Some(b), zone),
        (Item::Event(e), _) => event::to_zoho(e, zone),
    })
}

fn unreadable(reason: &str) {
    metrics::counter!("connector_unreadable_items_total", "side" => "zoho").increment(1);
    tracing::warn!(%reason, "skipping an unreadable Zoho record");
}

impl ZohoConnector {
    pub fn new(client: ZohoClient) -> Self {
        ZohoConnector {
            client,
            zones: UserZones::default(),
            link_fields: LinkFields::default(),
        }
    }

    /// The zone event times are in: the Zoho user's (other kinds have none).
    async fn zone_for(&self, ctx: &CallContext, kind: ItemKind) -> Result<Tz, ApiError> {
        match kind {
            ItemKind::Event => self.zones.of(&self.client, ctx).await,
            ItemKind::Contact | ItemKind::Task => Ok(Tz::UTC),
        }
    }

    fn to_change(
        kind: ItemKind,
        value: &Value,
        zone: Tz,
        link_field: Option<&LinkField>,
    ) -> Result<(ChangeMessage, DateTime<FixedOffset>), String> {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .ok_or("a record without an id")?;
        let modified = value
            .get("Modified_Time")
            .and_then(Value::as_str)
            .ok_or("a record without Modified_Time")?;
        let modified_at =
            DateTime::parse_from_rfc3339(modified).map_err(|e| format!("Modified_Time: {e}"))?;
        let change = ChangeMessage::ItemChanged {
            side: Side::Zoho,
            external_id: ExternalId(id.to_owned()),
            version: Version(modified.to_owned()),
            item: parse_item(kind, value, zone)?,
            identity: link_field.and_then(|f| f.identity_of(value)),
            modified: Some(Modified(modified_at.with_timezone(&chrono::Utc))),
        };
        Ok((change, modified_at))
    }

    async fn read_records(
        &self,
        ctx: &CallContext,
        kind: ItemKind,
        cursor: &mut Cursor,
        changes: &mut Vec<ChangeMessage>,
        skipped: &mut usize,
    ) -> Result<bool, ApiError> {
        let since = cursor
            .since
            .map(|s| if cursor.overlap { s - OVERLAP } else { s });
        // The identity field, where the org has it: every record read says whether it is a copy
        // we made (a links rebuild pairs by it). A read never fails for want of it, and a round
        // keeps what its first page chose.
        let first_page = cursor.page_token.is_none() && cursor.page <= 1;
        if first_page {
            cursor.link_field = match self.link_fields.of(&self.client, ctx, kind).await {
                Ok(field) => field,
                Err(err) => {
                    tracing::debug!(error = %err, "reading without the identity field");
                    None
                }
            };
        }
        let link_field = cursor.link_field.clone();
        let mut wanted: Vec<&str> = fields(kind).to_vec();
        if let Some(field) = &link_field {
            wanted.push(&field.api_name);
        }
        let read = self
            .client
            .records(
                ctx,
                operation(kind, "read"),
                module(kind),
                &wanted,
                since,
                cursor.page_token.as_deref(),
                cursor.page.max(1),
            )
            .await?;
        cursor.read_at = read.server_time;
        let Some(page) = read.page else {
            return Ok(false);
        };
        let zone = self.zone_for(ctx, kind).await?;
        for value in &page.data {
            let (change, modified_at) =
                match Self::to_change(kind, value, zone, link_field.as_ref()) {
                    Ok(parsed) => parsed,
                    Err(reason) => {
                        unreadable(&reason);
                        *skipped += 1;
                        continue;
                    }
                };
            let ChangeMessage::ItemChanged {
                external_id, item, ..
            } = &change
            else {
                continue;
            };
            // Two saves of a record in one second carry the same `Modified_Time`: what was
            // published is told apart by its content too, so the second save is read.
            let seen = recent_key(&external_id.0, item);
            if cursor
                .recent
                .iter()
                .any(|(key, at)| key == &seen && *at == modified_at)
            {
                continue;
            }
            if cursor.high_water.is_none_or(|hw| modified_at > hw) {
                cursor.high_water = Some(modified_at);
            }
            cursor.recent.push((seen, modified_at));
            changes.push(change);
        }
        if let Some(hw) = cursor.high_water {
            cursor.recent.retain(|(_, at)| *at >= hw - OVERLAP);
        }
        Ok(page.info.more_records
            && match page.info.next_page_token {
                Some(token) => {
                    cursor.page_token = Some(token);
                    true
                }
                None => {
                    cursor.page_token = None;
                    cursor.page = page.info.page.unwrap_or(cursor.page.max(1)) + 1;
                    true
                }
            })
    }

    async fn read_deleted(
        &self,
        ctx: &CallContext,
        kind: ItemKind,
        cursor: &mut Cursor,
        changes: &mut Vec<ChangeMessage>,
    ) -> Result<bool, ApiError> {
        let since = cursor.deleted_since.map(|s| s - OVERLAP);
        let page = self
            .client
            .deleted(
                ctx,
                operation(kind, "deleted"),
                module(kind),
                since,
                cursor.deleted_page.max(1),
            )
            .await?;
        let Some(page) = page else { return Ok(false) };
        for record in &page.data {
            if since.is_some_and(|s| record.deleted_time < s) {
                continue;
            }
            if cursor.deleted_high.is_none_or(|h| record.deleted_time > h) {
                cursor.deleted_high = Some(record.deleted_time);
            }
            changes.push(ChangeMessage::ItemDeleted {
                side: Side::Zoho,
                kind,
                external_id: ExternalId(record.id.clone()),
                left_scope: false,
            });
        }
        if page.info.more_records {
            cursor.deleted_page = page.info.page.unwrap_or(cursor.deleted_page.max(1)) + 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// One write call's outcomes, by request index.
    async fn write_batch(
        &self,
        ctx: &CallContext,
        mode: Write<'_>,
        kind: ItemKind,
        batch: &[(usize, Value, Item)],
        zone: Tz,
    ) -> Vec<(usize, ApplyOutcome)> {
        let records: Vec<Value> = batch.iter().map(|(_, record, _)| record.clone()).collect();
        let blind_create = matches!(mode, Write::Insert);
        let written = match mode {
            Write::InsertIdentified { .. } => {
                self.client
                    .insert_identified(ctx, operation(kind, "insert"), module(kind), records)
                    .await
            }
            Write::Insert => {
                self.client
                    .write(
                        ctx,
                        operation(kind, "insert"),
                        Method::POST,
                        module(kind),
                        records,
                        None,
                    )
                    .await
            }
            Write::Update { unmodified_since } => {
                self.client
                    .write(
                        ctx,
                        operation(kind, "update"),
                        Method::PUT,
                        module(kind),
                        records,
                        unmodified_since,
                    )
                    .await
            }
        };
        match written {
            Ok(results) => {
                let mut out = Vec::with_capacity(batch.len());
                for (n, (index, record, item)) in batch.iter().enumerate() {
                    let mut result = outcome(results.get(n), item);
                    match (results.get(n), mode) {
                        (Some(r), Write::Update { .. }) if r.code == "ALREADY_MODIFIED" => {
                            let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
                            result = self.stale(ctx, kind, id, zone).await;
                        }
                        // A repeated create: its first copy holds the link's identity. Answered
                        // as it is now, never written over (a person may have edited it since).
                        (Some(r), Write::InsertIdentified { link_field })
                            if r.code == "DUPLICATE_DATA"
                                && r.details.get("api_name").and_then(Value::as_str)
                                    == Some(link_field) =>
                        {
                            if let Some(id) = r.details["duplicate_record"]["id"]
                                .as_str()
                                .or_else(|| r.details["id"].as_str())
                            {
                                result = self.stale(ctx, kind, id, zone).await;
                            }
                        }
                        _ => {}
                    }
                    out.push((*index, result));
                }
                out
            }
            Err(err) => {
                // A create whose answer was lost may have happened: never sent again blindly;
                // the next poll reads it back and sync-service adopts it.
                let failed = if blind_create && is_unconfirmed(&err) {
                    ApplyOutcome::Failed {
                        code: FailureCode::CreateUnconfirmed,
                        message: format!(
                            "the create may or may not have happened ({err}); the next poll tells"
                        ),
                        retryable: false,
                    }
                } else {
                    err.into_outcome()
                };
                batch
                    .iter()
                    .map(|(index, ..)| (*index, failed.clone()))
                    .collect()
            }
        }
    }

    /// Whether the record is still at `expected` (its `Modified_Time`); otherwise the outcome
    /// to answer: stale with the current record, or gone.
    async fn still_at(
        &self,
        ctx: &CallContext,
        kind: ItemKind,
        id: &str,
        expected: &Version,
        zone: Tz,
    ) -> Result<(), ApplyOutcome> {
        let current = self
            .client
            .record(ctx, operation(kind, "get"), module(kind), id)
            .await;
        match current {
            Ok(Some(value)) => {
                let modified = value
                    .get("Modified_Time")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let same = match (
                    DateTime::parse_from_rfc3339(modified),
                    DateTime::parse_from_rfc3339(&expected.0),
                ) {
                    (Ok(a), Ok(b)) => a == b,
                    _ => modified == expected.0,
                };
                if same {
                    Ok(())
                } else {
                    Err(Self::stale_outcome(kind, &value, zone))
                }
            }
            Ok(None) => Err(ApplyOutcome::Gone {
                external_id: Some(ExternalId(id.to_owned())),
            }),
            Err(err) => Err(err.into_outcome()),
        }
    }

    /// The record as Zoho holds it now ([`ApplyOp::Probe`]), or gone.
    async fn probe(&self, ctx: &CallContext, kind: ItemKind, id: &str, zone: Tz) -> ApplyOutcome {
        match self
            .client
            .record(ctx, operation(kind, "get"), module(kind), id)
            .await
        {
            Ok(Some(value)) => Self::stale_outcome(kind, &value, zone),
            Ok(None) => ApplyOutcome::Gone {
                external_id: Some(ExternalId(id.to_owned())),
            },
            Err(err) => err.into_outcome(),
        }
    }

    /// The stale outcome for the record as Zoho holds it now.
    fn stale_outcome(kind: ItemKind, value: &Value, zone: Tz) -> ApplyOutcome {
        match Self::to_change(kind, value, zone, None) {
            Ok((
                ChangeMessage::ItemChanged {
                    external_id,
                    version,
                    item,
                    modified,
                    ..
                },
                _,
            )) => ApplyOutcome::Stale {
                external_id,
                version,
                item,
                modified,
            },
            Ok(_) | Err(_) => ApplyOutcome::Failed {
                code: FailureCode::MalformedResponse,
                message: "the current record could not be read".into(),
                retryable: true,
            },
        }
    }

    /// A conditional update found the record changed: what Zoho holds now.
    async fn stale(&self, ctx: &CallContext, kind: ItemKind, id: &str, zone: Tz) -> ApplyOutcome {
        match self
            .client
            .record(ctx, operation(kind, "get"), module(kind), id)
            .await
        {
            Ok(Some(value)) => Self::stale_outcome(kind, &value, zone),
            Ok(None) => ApplyOutcome::Gone {
                external_id: Some(ExternalId(id.to_owned())),
            },
            Err(err) => err.into_outcome(),
        }
    }
}

/// The outcome of deleting the `n`th of `sent` ids, from the delete call's answer. A record Zoho
/// cannot delete (`INVALID_DATA`: it is not there) is gone. Zoho answers that inside `data[]`
/// per id on the many-record delete, and as a top-level error on the single-record one
/// (record.yaml, `RecordDeleteByIdInvalidDataError`): a top-level `INVALID_DATA` for a lone id
/// means the same.
fn delete_outcome(
    results: &Result<Vec<RecordResult>, ApiError>,
    n: usize,
    sent: usize,
    id: &str,
) -> ApplyOutcome {
    if let Err(ApiError::Permanent { code, .. }) = results
        && code == "INVALID_DATA"
        && sent == 1
    {
        return ApplyOutcome::Gone {
            external_id: Some(ExternalId(id.to_owned())),
        };
    }
    match results {
        Ok(results) => match results.get(n) {
            Some(r) if r.is_success() || r.code == "INVALID_DATA" => ApplyOutcome::Gone {
                external_id: Some(ExternalId(id.to_owned())),
            },
            Some(r) => ApplyOutcome::Failed {
                code: FailureCode::provider(r.code.clone()),
                message: r.message.clone(),
                retryable: false,
            },
            None => ApplyOutcome::Failed {
                code: FailureCode::NoResult,
                message: "no result for this id".into(),
                retryable: true,
            },
        },
        Err(ApiError::Transient(e)) => ApplyOutcome::Failed {
            code: FailureCode::Transient,
            message: format!("{e:#}"),
            retryable: true,
        },
        Err(ApiError::Throttled { .. }) => ApplyOutcome::Failed {
            code: FailureCode::Throttled,
            message: "throttled by Zoho".into(),
            retryable: true,
        },
        Err(ApiError::Unauthorized) => ApplyOutcome::Failed {
            code: FailureCode::Unauthorized,
            message: "Zoho refused the access token".into(),
            retryable: false,
        },
        Err(err) => ApplyOutcome::Failed {
            code: FailureCode::DeleteFailed,
            message: err.to_string(),
            retryable: false,
        },
    }
}

/// How a batch is written.
#[derive(Clone, Copy)]
enum Write<'a> {
    /// Creates with the link's identity: repeated, they find their first copy (decision 94).
    InsertIdentified {
        link_field: &'a str,
    },
    /// Creates without it (the org does not allow the field).
    Insert,
    Update {
        unmodified_since: Option<&'a str>,
    },
}

/// A record's write result as an outcome.
fn outcome(result: Option<&RecordResult>, item: &Item) -> ApplyOutcome {
    let Some(result) = result else {
        return ApplyOutcome::Failed {
            code: FailureCode::NoResult,
            message: "Zoho returned fewer results than records".into(),
            retryable: true,
        };
    };
    if !result.is_success() {
        if result.code == "INVALID_DATA" && result.message.contains("id given seems to be invalid")
        {
            return ApplyOutcome::Gone { external_id: None };
        }
        let field = result
            .details
            .get("api_name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let message = if field.is_empty() {
            result.message.clone()
        } else {
            format!("{} ({field})", result.message)
        };
        return ApplyOutcome::Failed {
            code: FailureCode::provider(result.code.clone()),
            message,
            retryable: false,
        };
    }
    let id = result.details.get("id").and_then(Value::as_str);
    let version = result.details.get("Modified_Time").and_then(Value::as_str);
    match (id, version) {
        (Some(id), Some(version)) => ApplyOutcome::Applied {
            external_id: ExternalId(id.to_owned()),
            version: Version(version.to_owned()),
            content_hash: item.project_for(Side::Zoho).content_hash(),
            modified: DateTime::parse_from_rfc3339(version)
                .ok()
                .map(|at| Modified(at.with_timezone(&chrono::Utc))),
        },
        _ => ApplyOutcome::Failed {
            code: FailureCode::MalformedResponse,
            message: "a success without id or Modified_Time".into(),
            retryable: false,
        },
    }
}

#[async_trait]
impl Connector for ZohoConnector {
    fn side(&self) -> Side {
        Side::Zoho
    }

    async fn read_page(
        &self,
        ctx: &CallContext,
        watch: &Watch,
        cursor: Option<&Value>,
    ) -> Result<Page, ApiError> {
        let mut cursor: Cursor = cursor
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        if cursor.deleted_since.is_none() {
            // A full re-read after a resync keeps the deleted-records watermark of the cursor
            // it replaces: deletions in between are still reported. The very first round has
            // none and reads every deleted record there is: a watermark of "now" would be
            // taken again if the connector died before saving its first page, after
            // publishing it, and the deletions in between would never be told (the crash test
            // found such). Deletions from before the first sync concern nothing synced.
            cursor.deleted_since = watch
                .cursor
                .as_ref()
                .and_then(|c| serde_json::from_value::<Cursor>(c.clone()).ok())
                .and_then(|c| c.deleted_since);
        }
        let mut changes = Vec::new();
        let mut unreadable = 0;
        let more = match cursor.phase {
            Phase::Records => {
                let more = self
                    .read_records(ctx, watch.kind, &mut cursor, &mut changes, &mut unreadable)
                    .await?;
                if !more {
                    cursor.since = cursor.high_water.or(cursor.since);
                    // Zoho's clock may lag its record times a little: a second of margin.
                    cursor.overlap = match (cursor.read_at, cursor.since) {
                        (Some(read_at), Some(since)) => read_at <= since + OVERLAP,
                        _ => true,
                    };
                    cursor.page_token = None;
                    cursor.page = 1;
                    cursor.phase = Phase::Deleted;
                    cursor.deleted_page = 1;
                    cursor.deleted_high = None;
                }
                // The round goes on with the deleted records.
                true
            }
            Phase::Deleted => {
                let more = self
                    .read_deleted(ctx, watch.kind, &mut cursor, &mut changes)
                    .await?;
                if !more {
                    if let Some(high) = cursor.deleted_high.take() {
                        cursor.deleted_since = Some(high);
                    }
                    cursor.deleted_page = 1;
                    cursor.phase = Phase::Records;
                }
                more
            }
        };
        let cursor = serde_json::to_value(cursor).map_err(|e| ApiError::Transient(e.into()))?;
        Ok(Page {
            changes,
            cursor,
            more,
            unreadable,
        })
    }

    async fn apply(&self, ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        let zone = if requests.iter().any(|r| r.kind == ItemKind::Event) {
            match self.zone_for(ctx, ItemKind::Event).await {
                Ok(zone) => zone,
                Err(err) => return vec![err.into_outcome(); requests.len()],
            }
        } else {
            Tz::UTC
        };
        let mut outcomes: Vec<Option<ApplyOutcome>> = vec![None; requests.len()];
        // Grouped per kind (the consumer sends one user and kind per call; nothing relies on it).
        let mut creates: BTreeMap<ItemKind, Vec<(usize, Value, Item)>> = BTreeMap::new();
        // Updates per kind and `If-Unmodified-Since` (one header per call).
        let mut updates: BTreeMap<(ItemKind, Option<String>), Vec<(usize, Value, Item)>> =
            BTreeMap::new();
        let mut deletes: BTreeMap<ItemKind, Vec<(usize, String)>> = BTreeMap::new();
        let mut checks: Vec<(usize, ItemKind, String, Version)> = Vec::new();
        let mut probes: Vec<(usize, ItemKind, String)> = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            let kind = request.kind;
            match &request.op {
                ApplyOp::Create { item, .. } if item.kind() == kind => {
                    match render(item, None, zone) {
                        Ok(record) => creates.entry(kind).or_default().push((
                            index,
                            Value::Object(record),
                            item.clone(),
                        )),
                        Err(reason) => {
                            outcomes[index] = Some(ApplyOutcome::Failed {
                                code: FailureCode::UnsupportedValue,
                                message: reason,
                                retryable: false,
                            })
                        }
                    }
                }
                ApplyOp::Update {
                    external_id,
                    item,
                    base,
                    expected_version,
                } if item.kind() == kind => match render(item, base.as_ref(), zone) {
                    Ok(mut record) => {
                        record.insert("id".into(), json!(external_id.0));
                        updates
                            .entry((kind, expected_version.as_ref().map(|v| v.0.clone())))
                            .or_default()
                            .push((index, Value::Object(record), item.clone()));
                    }
                    Err(reason) => {
                        outcomes[index] = Some(ApplyOutcome::Failed {
                            code: FailureCode::UnsupportedValue,
                            message: reason,
                            retryable: false,
                        })
                    }
                },
                ApplyOp::Delete {
                    external_id,
                    expected_version: Some(expected),
                } => checks.push((index, kind, external_id.0.clone(), expected.clone())),
                ApplyOp::Delete { external_id, .. } => deletes
                    .entry(kind)
                    .or_default()
                    .push((index, external_id.0.clone())),
                ApplyOp::Probe { external_id } => probes.push((index, kind, external_id.0.clone())),
                ApplyOp::Create { .. } | ApplyOp::Update { .. } => {
                    outcomes[index] = Some(ApplyOutcome::Failed {
                        code: FailureCode::KindMismatch,
                        message: "the item is not of the command's kind".into(),
                        retryable: false,
                    });
                }
            }
        }
        for (kind, mut records) in creates {
            let link_field = match self.link_fields.of(&self.client, ctx, kind).await {
                Ok(field) => field,
                Err(err) => {
                    let failed = err.into_outcome();
                    for (index, ..) in records {
                        outcomes[index] = Some(failed.clone());
                    }
                    continue;
                }
            };
            let mode = match &link_field {
                Some(field) => {
                    for (index, record, _) in &mut records {
                        let request = &requests[*index];
                        let origin = match &request.op {
                            ApplyOp::Create { origin, .. } => origin.clone(),
                            _ => None,
                        };
                        let identity = LinkIdentity {
                            link: request.link_id,
                            origin,
                        };
                        if let Value::Object(record) = record {
                            record.insert(field.api_name.clone(), json!(field.value(&identity)));
                        }
                    }
                    Write::InsertIdentified {
                        link_field: &field.api_name,
                    }
                }
                None => {
                    // No identity in this org: a create an earlier attempt may have made is not
                    // sent again; sync-service adopts it when it is read, or retries.
                    records.retain(|(index, ..)| {
                        let repeated = requests[*index].repeated;
                        if repeated {
                            outcomes[*index] = Some(ApplyOutcome::Failed {
                                code: FailureCode::CreateUnconfirmed,
                                message:
                                    "an earlier attempt may have created it; the next poll tells"
                                        .into(),
                                retryable: false,
                            });
                        }
                        !repeated
                    });
                    Write::Insert
                }
            };
            for batch in records.chunks(WRITE_BATCH) {
                for (index, outcome) in self.write_batch(ctx, mode, kind, batch, zone).await {
                    outcomes[index] = Some(outcome);
                }
            }
        }
        for ((kind, since), records) in &updates {
            for batch in records.chunks(WRITE_BATCH) {
                let mode = Write::Update {
                    unmodified_since: since.as_deref(),
                };
                for (index, outcome) in self.write_batch(ctx, mode, *kind, batch, zone).await {
                    outcomes[index] = Some(outcome);
                }
            }
        }
        // Zoho has no conditional delete: a record edited since the version sync-service holds
        // is answered as stale (with what Zoho has now) instead of being deleted unseen.
        for (index, kind, id) in probes {
            outcomes[index] = Some(self.probe(ctx, kind, &id, zone).await);
        }
        for (index, kind, id, expected) in checks {
            match self.still_at(ctx, kind, &id, &expected, zone).await {
                Ok(()) => deletes.entry(kind).or_default().push((index, id)),
                Err(outcome) => outcomes[index] = Some(outcome),
            }
        }
        for (kind, ids) in &deletes {
            for batch in ids.chunks(WRITE_BATCH) {
                let list: Vec<String> = batch.iter().map(|(_, id)| id.clone()).collect();
                let results = self
                    .client
                    .delete(ctx, operation(*kind, "delete"), module(*kind), &list)
                    .await;
                for (n, (index, id)) in batch.iter().enumerate() {
                    outcomes[*index] = Some(delete_outcome(&results, n, batch.len(), id));
                }
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(ApplyOutcome::Failed {
                    code: FailureCode::NoResult,
                    message: "not carried out".into(),
                    retryable: true,
                })
            })
            .collect()
    }

    fn discoveries(&self) -> &'static [&'static str] {
        &["user", "org"]
    }

    async fn discover(&self, ctx: &CallContext, what: &str) -> Result<Value, ApiError> {
        match what {
            "user" => {
                let answer = self
                    .client
                    .get(ctx, "GET /users", "/users?type=CurrentUser")
                    .await?;
                let user = answer
                    .get("users")
                    .and_then(|u| u.get(0))
                    .cloned()
                    .unwrap_or(Value::Null);
                let pick = |key: &str| user.get(key).cloned().unwrap_or(Value::Null);
                Ok(json!({
                    "id": pick("id"),
                    "full_name": pick("full_name"),
                    "email": pick("email"),
                    "time_zone": pick("time_zone"),
                    "locale": pick("locale"),
                    "role": user.pointer("/role/name").cloned().unwrap_or(Value::Null),
                    "profile": user.pointer("/profile/name").cloned().unwrap_or(Value::Null),
                }))
            }
            "org" => {
                let answer = self.client.get(ctx, "GET /org", "/org").await?;
                let org = answer
                    .get("org")
                    .and_then(|o| o.get(0))
                    .cloned()
                    .unwrap_or(Value::Null);
                let pick = |key: &str| org.get(key).cloned().unwrap_or(Value::Null);
                Ok(json!({
                    "id": pick("id"),
                    "company_name": pick("company_name"),
                    "domain_name": pick("domain_name"),
                    "time_zone": pick("time_zone"),
                    "currency": pick("currency"),
                    "country": pick("country"),
                    "zgid": pick("zgid"),
                }))
            }
            other => Err(ApiError::Permanent {
                code: "unknown_discovery".into(),
                message: format!("`{other}` cannot be listed"),
            }),
        }
    }
}

#[cfg(test)]
mod payload_tests {
    //! Every published Zoho payload (`fixtures/api-payloads/zoho_*.json`) is read by the parser
    //! the connector uses for it; a new payload without one fails here.

    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;
    use crate::zoho::{DeletedPage, RecordsPage, error_of};

    fn results(value: &Value) -> Vec<RecordResult> {
        serde_json::from_value(value["data"].clone()).unwrap()
    }

    fn check(name: &str, value: &Value) {
        let h = HeaderMap::new();
        match name {
            "zoho_429_too_many_requests.json" => assert!(matches!(
                error_of(StatusCode::TOO_MANY_REQUESTS, &h, value),
                ApiError::Throttled { .. }
            )),
            "zoho_error_invalid_token.json" | "zoho_error_oauth_scope_mismatch.json" => {
                assert!(matches!(
                    error_of(StatusCode::UNAUTHORIZED, &h, value),
                    ApiError::Unauthorized
                ))
            }
            // auth-service's business (Zoho answers them with 200), parsed here as JSON only.
            "zoho_oauth_error_invalid_client.json" => assert!(value["error"].is_string()),
            "zoho_oauth_token_refresh_response.json" => {
                assert!(value["access_token"].is_string() && value["api_domain"].is_string())
            }
            "zoho_deleted_records.json" => {
                let page: DeletedPage = serde_json::from_value(value.clone()).unwrap();
                assert_eq!(page.data.len(), 4);
            }
            "zoho_records_get_first_page.json"
            | "zoho_records_get_page_token.json"
            | "zoho_records_get_v8_leads.json" => {
                let page: RecordsPage = serde_json::from_value(value.clone()).unwrap();
                for record in &page.data {
                    if record.get("Modified_Time").is_some() {
                        ZohoConnector::to_change(ItemKind::Contact, record, Tz::UTC, None).unwrap();
                    } else {
                        // A docs sample read without `Modified_Time` (we always ask for it):
                        // such a record is skipped (and counted), its content still maps.
                        assert!(
                            ZohoConnector::to_change(ItemKind::Contact, record, Tz::UTC, None)
                                .is_err()
                        );
                        parse_item(ItemKind::Contact, record, Tz::UTC).unwrap();
                    }
                }
            }
            "zoho_tasks_insert_request.json" => {
                task::from_zoho(&value["data"][0]).unwrap();
            }
            "zoho_events_insert_request.json" => {
                event::from_zoho(&value["data"][0], Tz::UTC).unwrap();
            }
            "zoho_insert_response.json"
            | "zoho_update_response.json"
            | "zoho_upsert_response.json"
            | "zoho_delete_response.json" => {
                let item = Item::Contact(sync_model::Contact::default());
                for r in results(value) {
                    assert!(r.is_success());
                    if !name.contains("delete") {
                        assert!(matches!(
                            outcome(Some(&r), &item),
                            ApplyOutcome::Applied { .. }
                        ));
                    }
                }
            }
            "zoho_insert_207_mixed.json"
            | "zoho_error_duplicate_data.json"
            | "zoho_error_mandatory_not_found.json"
            | "zoho_update_412_already_modified.json" => {
                let item = Item::Contact(sync_model::Contact::default());
                let all = results(value);
                assert!(all.iter().any(|r| !r.is_success()));
                for r in &all {
                    let o = outcome(Some(r), &item);
                    if !r.is_success() {
                        assert!(
                            matches!(&o, ApplyOutcome::Failed { code, retryable: false, .. } if code.as_str() == r.code),
                            "{o:?}"
                        );
                    }
                }
            }
            other => panic!("{other}: a published payload without a parser test"),
        }
    }

    #[test]
    fn every_published_zoho_payload_parses() {
        let mut seen = 0;
        for name in test_support::fixtures::api_payload_names("zoho_") {
            let value = test_support::fixtures::api_payload(&name);
            check(&format!("{name}.json"), &value);
            seen += 1;
        }
        assert_eq!(seen, 19, "{seen} payloads");
    }
}

#[cfg(test)]
mod delete_tests {
    //! What a delete call's answer means for each id, in the shapes Zoho's description of the
    //! records API (record.yaml) gives.

    use connector_kit::api::ApiResponse;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;

    use super::*;
    use crate::zoho::results;

    /// The answer to a delete of `sent` ids, as the client parses it.
    fn answer(status: u16, body: Value, sent: usize) -> Result<Vec<RecordResult>, ApiError> {
        let response = ApiResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&body).unwrap(),
        };
        results(&response, sent)
    }

    fn gone(outcome: &ApplyOutcome, id: &str) -> bool {
        matches!(outcome, ApplyOutcome::Gone { external_id: Some(ExternalId(x)) } if x == id)
    }

    #[test]
    fn a_record_zoho_cannot_delete_is_gone_in_either_shape() {
        // The many-record delete: one entry per id (deleteRecords 207 example).
        let mixed = answer(
            207,
            json!({"data": [
                {"status": "success", "code": "SUCCESS", "message": "record deleted", "details": {"id": "1"}},
                {"status": "error", "code": "INVALID_DATA", "message": "record not deleted", "details": {"id": "2"}}]}),
            2,
        );
        assert!(gone(&delete_outcome(&mixed, 0, 2, "1"), "1"));
        assert!(gone(&delete_outcome(&mixed, 1, 2, "2"), "2"));
        // A lone id answered as the single-record delete answers (deleteRecord 400
        // `RecordNotDeleted`): top-level, with the id's place in the path.
        let top_level = answer(
            400,
            json!({"code": "INVALID_DATA", "details": {"resource_path_index": 1},
                   "message": "record not deleted", "status": "error"}),
            1,
        );
        assert!(gone(&delete_outcome(&top_level, 0, 1, "3"), "3"));
    }

    #[test]
    fn a_request_level_error_fails_every_id_and_says_why() {
        // A top-level INVALID_DATA for several ids cannot say which: none is taken as gone.
        let top_level = Err(ApiError::Permanent {
            code: "INVALID_DATA".into(),
            message: "record not deleted".into(),
        });
        for n in 0..2 {
            assert!(matches!(
                delete_outcome(&top_level, n, 2, "4"),
                ApplyOutcome::Failed {
                    retryable: false,
                    ..
                }
            ));
        }
        // Too many ids: one `data[]` entry for the whole call.
        let too_many = answer(
            400,
            json!({"data": [{"code": "LIMIT_EXCEEDED",
                             "details": {"maximum_length": 100, "api_name": "data"},
                             "message": "count of records in your request exceeds the limit",
                             "status": "error"}]}),
            101,
        );
        for n in [0, 50, 100] {
            match delete_outcome(&too_many, n, 101, "5") {
                ApplyOutcome::Failed {
                    message,
                    retryable: false,
                    ..
                } => {
                    assert!(message.contains("LIMIT_EXCEEDED"), "{message}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

//! [`ZohoConnector`]: modified-since reads into change events; batched writes.

use async_trait::async_trait;
use chrono::{DateTime, Duration, FixedOffset};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_model::{ExternalId, Item, ItemKind, Side, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};

use connector_kit::store::Watch;
use connector_kit::{ApiError, ApplyRequest, CallContext, Connector, Page};

use crate::mapping::contact;
use crate::zoho::{RecordResult, WRITE_BATCH, ZohoClient};

/// Seconds re-read at the start of each round: `Modified_Time` has one-second resolution, so a
/// record saved in the same second as the last one read would otherwise be missed.
const OVERLAP: Duration = Duration::seconds(1);

/// Where the next read starts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Cursor {
    /// `If-Modified-Since` of the current round (`None`: a full read).
    since: Option<DateTime<FixedOffset>>,
    page_token: Option<String>,
    page: u32,
    /// The newest `Modified_Time` published so far.
    high_water: Option<DateTime<FixedOffset>>,
    /// Records published within [`OVERLAP`] of `high_water`, not to be published again.
    recent: Vec<(String, DateTime<FixedOffset>)>,
}

pub struct ZohoConnector {
    client: ZohoClient,
}

fn module(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Contact => "Contacts",
        ItemKind::Task => "Tasks",
        ItemKind::Event => "Events",
    }
}

impl ZohoConnector {
    pub fn new(client: ZohoClient) -> Self {
        ZohoConnector { client }
    }

    fn to_change(value: &Value) -> Result<(ChangeMessage, DateTime<FixedOffset>), String> {
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
        let item = Item::Contact(contact::from_zoho(value)?);
        let change = ChangeMessage::ItemChanged {
            side: Side::Zoho,
            external_id: ExternalId(id.to_owned()),
            version: Version(modified.to_owned()),
            item,
        };
        Ok((change, modified_at))
    }

    async fn write_batch(
        &self,
        ctx: &CallContext,
        method: Method,
        kind: ItemKind,
        batch: &[(usize, Value, Item)],
    ) -> Vec<(usize, ApplyOutcome)> {
        let records = batch.iter().map(|(_, record, _)| record.clone()).collect();
        match self
            .client
            .write(&ctx.token, method, module(kind), records)
            .await
        {
            Ok(results) => batch
                .iter()
                .enumerate()
                .map(|(n, (index, _, item))| (*index, outcome(results.get(n), item)))
                .collect(),
            Err(err) => {
                let failed = err.into_outcome();
                batch
                    .iter()
                    .map(|(index, ..)| (*index, failed.clone()))
                    .collect()
            }
        }
    }
}

/// A record's write result as an outcome.
fn outcome(result: Option<&RecordResult>, item: &Item) -> ApplyOutcome {
    let Some(result) = result else {
        return ApplyOutcome::Failed {
            code: "no_result".into(),
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
            code: result.code.clone(),
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
        },
        _ => ApplyOutcome::Failed {
            code: "malformed_response".into(),
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
        if watch.kind != ItemKind::Contact {
            return Err(ApiError::Permanent {
                code: "unsupported_kind".into(),
                message: format!("{} sync is not available yet", watch.kind),
            });
        }
        let mut cursor: Cursor = cursor
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        let since = cursor.since.map(|s| s - OVERLAP);
        let page = self
            .client
            .records(
                &ctx.token,
                module(watch.kind),
                contact::FIELDS,
                since,
                cursor.page_token.as_deref(),
                cursor.page.max(1),
            )
            .await?;
        let mut changes = Vec::new();
        let more = match page {
            None => false,
            Some(page) => {
                for value in &page.data {
                    let (change, modified_at) = match Self::to_change(value) {
                        Ok(parsed) => parsed,
                        Err(reason) => {
                            metrics::counter!("connector_unreadable_items_total", "side" => "zoho")
                                .increment(1);
                            tracing::warn!(%reason, "skipping an unreadable Zoho record");
                            continue;
                        }
                    };
                    let ChangeMessage::ItemChanged { external_id, .. } = &change else {
                        continue;
                    };
                    if cursor
                        .recent
                        .iter()
                        .any(|(id, at)| id == &external_id.0 && *at == modified_at)
                    {
                        continue;
                    }
                    if cursor.high_water.is_none_or(|hw| modified_at > hw) {
                        cursor.high_water = Some(modified_at);
                    }
                    cursor.recent.push((external_id.0.clone(), modified_at));
                    changes.push(change);
                }
                if let Some(hw) = cursor.high_water {
                    cursor.recent.retain(|(_, at)| *at >= hw - OVERLAP);
                }
                page.info.more_records
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
                    }
            }
        };
        if !more {
            cursor.since = cursor.high_water.or(cursor.since);
            cursor.page_token = None;
            cursor.page = 1;
        }
        let cursor = serde_json::to_value(cursor).map_err(|e| ApiError::Transient(e.into()))?;
        Ok(Page {
            changes,
            cursor,
            more,
        })
    }

    async fn apply(&self, ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        let mut outcomes: Vec<Option<ApplyOutcome>> = vec![None; requests.len()];
        let mut creates: Vec<(usize, Value, Item)> = Vec::new();
        let mut updates: Vec<(usize, Value, Item)> = Vec::new();
        let mut deletes: Vec<(usize, String)> = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            match &request.op {
                ApplyOp::Create {
                    item: item @ Item::Contact(c),
                } => {
                    creates.push((index, Value::Object(contact::to_zoho(c)), item.clone()));
                }
                ApplyOp::Update {
                    external_id,
                    item: item @ Item::Contact(c),
                    base,
                    ..
                } => {
                    let base = match base {
                        Some(Item::Contact(b)) => Some(b),
                        _ => None,
                    };
                    let mut record = contact::patch(c, base);
                    record.insert("id".into(), Value::String(external_id.0.clone()));
                    updates.push((index, Value::Object(record), item.clone()));
                }
                ApplyOp::Delete { external_id } => deletes.push((index, external_id.0.clone())),
                ApplyOp::Create { item } | ApplyOp::Update { item, .. } => {
                    outcomes[index] = Some(ApplyOutcome::Failed {
                        code: "unsupported_kind".into(),
                        message: format!("{} sync is not available yet", item.kind()),
                        retryable: false,
                    });
                }
            }
        }
        let kind = requests.first().map_or(ItemKind::Contact, |r| r.kind);
        for batch in creates.chunks(WRITE_BATCH) {
            for (index, outcome) in self.write_batch(ctx, Method::POST, kind, batch).await {
                outcomes[index] = Some(outcome);
            }
        }
        for batch in updates.chunks(WRITE_BATCH) {
            for (index, outcome) in self.write_batch(ctx, Method::PUT, kind, batch).await {
                outcomes[index] = Some(outcome);
            }
        }
        for batch in deletes.chunks(WRITE_BATCH) {
            let ids: Vec<String> = batch.iter().map(|(_, id)| id.clone()).collect();
            let results = self.client.delete(&ctx.token, module(kind), &ids).await;
            for (n, (index, id)) in batch.iter().enumerate() {
                outcomes[*index] = Some(match &results {
                    Ok(results) => match results.get(n) {
                        Some(r) if r.is_success() || r.code == "INVALID_DATA" => {
                            ApplyOutcome::Gone {
                                external_id: Some(ExternalId(id.clone())),
                            }
                        }
                        Some(r) => ApplyOutcome::Failed {
                            code: r.code.clone(),
                            message: r.message.clone(),
                            retryable: false,
                        },
                        None => ApplyOutcome::Failed {
                            code: "no_result".into(),
                            message: "no result for this id".into(),
                            retryable: true,
                        },
                    },
                    Err(err) => ApiError::Permanent {
                        code: "delete_failed".into(),
                        message: err.to_string(),
                    }
                    .into_outcome(),
                });
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(ApplyOutcome::Failed {
                    code: "no_result".into(),
                    message: "not carried out".into(),
                    retryable: true,
                })
            })
            .collect()
    }
}

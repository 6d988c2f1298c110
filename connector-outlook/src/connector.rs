//! [`OutlookConnector`]: reads Graph delta pages into change events and writes apply commands.

use async_trait::async_trait;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_model::{ExternalId, Item, ItemKind, Side, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};

use connector_kit::store::Watch;
use connector_kit::{ApiError, ApplyRequest, CallContext, Connector, Page};

use crate::graph::GraphClient;
use crate::mapping::contact;

/// Where the next delta read starts: the `@odata.nextLink` of an unfinished round or the
/// `@odata.deltaLink` of the last finished one, replayed verbatim as Graph asks.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    link: String,
}

pub struct OutlookConnector {
    graph: GraphClient,
}

impl OutlookConnector {
    pub fn new(graph: GraphClient) -> Self {
        OutlookConnector { graph }
    }

    fn initial_delta_url(&self, watch: &Watch) -> Result<String, ApiError> {
        match (watch.kind, &watch.container_id) {
            (ItemKind::Contact, Some(folder)) => Ok(format!(
                "{}/me/contactFolders/{}/contacts/delta",
                self.graph.base_url(),
                urlencode(folder)
            )),
            (ItemKind::Contact, None) => Err(ApiError::Permanent {
                code: "no_folder".into(),
                message: "no contact folder is chosen".into(),
            }),
            (kind, _) => Err(unsupported(kind)),
        }
    }

    fn to_change(value: &Value) -> Result<ChangeMessage, String> {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .ok_or("an item without an id")?;
        let external_id = ExternalId(id.to_owned());
        if let Some(removed) = value.get("@removed") {
            // "deleted" is a delete; any other reason (a move out of the folder) only leaves
            // the synced scope.
            let left_scope = removed.get("reason").and_then(Value::as_str) != Some("deleted");
            return Ok(ChangeMessage::ItemDeleted {
                side: Side::Outlook,
                kind: ItemKind::Contact,
                external_id,
                left_scope,
            });
        }
        let version = value
            .get("changeKey")
            .and_then(Value::as_str)
            .or_else(|| value.get("@odata.etag").and_then(Value::as_str))
            .unwrap_or_default();
        let item = Item::Contact(contact::from_graph(value)?);
        Ok(ChangeMessage::ItemChanged {
            side: Side::Outlook,
            external_id,
            version: Version(version.to_owned()),
            item,
        })
    }

    async fn apply_one(
        &self,
        ctx: &CallContext,
        request: &ApplyRequest,
    ) -> Result<ApplyOutcome, ApiError> {
        match &request.op {
            ApplyOp::Create {
                item: Item::Contact(c),
            } => {
                let folder =
                    request
                        .container_id
                        .as_deref()
                        .ok_or_else(|| ApiError::Permanent {
                            code: "no_folder".into(),
                            message: "no contact folder is chosen".into(),
                        })?;
                let path = format!("/me/contactFolders/{}/contacts", urlencode(folder));
                let body = Value::Object(contact::to_graph(c));
                let created = self
                    .graph
                    .send(&ctx.token, Method::POST, &path, Some(&body))
                    .await?;
                applied(created)
            }
            ApplyOp::Update {
                external_id,
                item: Item::Contact(c),
                base,
                ..
            } => {
                let base = match base {
                    Some(Item::Contact(b)) => Some(b),
                    _ => None,
                };
                let body = Value::Object(contact::patch(c, base));
                let path = format!("/me/contacts/{}", urlencode(&external_id.0));
                match self
                    .graph
                    .send(&ctx.token, Method::PATCH, &path, Some(&body))
                    .await
                {
                    Err(ApiError::Permanent { code, .. }) if is_not_found(&code) => {
                        Ok(ApplyOutcome::Gone {
                            external_id: Some(external_id.clone()),
                        })
                    }
                    other => applied(other?),
                }
            }
            ApplyOp::Delete { external_id } => {
                let path = format!("/me/contacts/{}", urlencode(&external_id.0));
                match self
                    .graph
                    .send(&ctx.token, Method::DELETE, &path, None)
                    .await
                {
                    Ok(_) => Ok(ApplyOutcome::Gone {
                        external_id: Some(external_id.clone()),
                    }),
                    Err(ApiError::Permanent { code, .. }) if is_not_found(&code) => {
                        Ok(ApplyOutcome::Gone {
                            external_id: Some(external_id.clone()),
                        })
                    }
                    Err(err) => Err(err),
                }
            }
            ApplyOp::Create { item } | ApplyOp::Update { item, .. } => {
                Err(unsupported(item.kind()))
            }
        }
    }
}

/// The outcome of a create or update, from the contact Graph answered with.
fn applied(answer: Option<Value>) -> Result<ApplyOutcome, ApiError> {
    let malformed = |message: String| ApiError::Permanent {
        code: "malformed_response".into(),
        message,
    };
    let value = answer.ok_or_else(|| malformed("Graph answered without a body".into()))?;
    let ChangeMessage::ItemChanged {
        external_id,
        version,
        item,
        ..
    } = OutlookConnector::to_change(&value).map_err(malformed)?
    else {
        return Err(malformed("Graph answered with a removed item".into()));
    };
    Ok(ApplyOutcome::Applied {
        external_id,
        version,
        content_hash: item.content_hash(),
    })
}

fn is_not_found(code: &str) -> bool {
    matches!(code, "ErrorItemNotFound" | "itemNotFound" | "404")
}

fn unsupported(kind: ItemKind) -> ApiError {
    ApiError::Permanent {
        code: "unsupported_kind".into(),
        message: format!("{kind} sync is not available yet"),
    }
}

fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[async_trait]
impl Connector for OutlookConnector {
    fn side(&self) -> Side {
        Side::Outlook
    }

    async fn read_page(
        &self,
        ctx: &CallContext,
        watch: &Watch,
        cursor: Option<&Value>,
    ) -> Result<Page, ApiError> {
        let url = match cursor.and_then(|c| serde_json::from_value::<Cursor>(c.clone()).ok()) {
            Some(cursor) => cursor.link,
            None => self.initial_delta_url(watch)?,
        };
        let page = self.graph.delta(&ctx.token, &url).await?;
        let mut changes = Vec::with_capacity(page.value.len());
        for value in &page.value {
            match Self::to_change(value) {
                Ok(change) => changes.push(change),
                // One unreadable item must not stop the others; it is counted and logged (without
                // its content) and read again in the next full read.
                Err(reason) => {
                    metrics::counter!("connector_unreadable_items_total", "side" => "outlook")
                        .increment(1);
                    tracing::warn!(%reason, "skipping an unreadable Graph item");
                }
            }
        }
        let (link, more) = match (page.next_link, page.delta_link) {
            (Some(next), _) => (next, true),
            (None, Some(delta)) => (delta, false),
            (None, None) => {
                return Err(ApiError::Permanent {
                    code: "malformed_response".into(),
                    message: "a delta page without nextLink or deltaLink".into(),
                });
            }
        };
        let cursor =
            serde_json::to_value(Cursor { link }).map_err(|e| ApiError::Transient(e.into()))?;
        Ok(Page {
            changes,
            cursor,
            more,
        })
    }

    async fn apply(&self, ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let outcome = match self.apply_one(ctx, request).await {
                Ok(outcome) => outcome,
                Err(err) => err.into_outcome(),
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

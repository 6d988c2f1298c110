//! The link's identity kept on every record this connector creates in Zoho: an External ID
//! field ("Outlook Sync Link", unique in its module), set up by the connector in each module
//! where the organisation allows it. It holds the link id and the id of the Outlook item the
//! record copies ([`LinkIdentity::value`]; the link alone in a field made too short by an
//! earlier version), and reads return it, so links can be rebuilt from both sides. Creates then
//! carry it: the field being unique, a create repeated after a crash is refused with
//! `DUPLICATE_DATA` naming its first copy, which is answered as it is instead of a second copy
//! being made or the first written over (decision 94), and links can be rebuilt from the CRM if
//! the database is lost.
//!
//! Where the field cannot be made (the user may not customise fields, or the connection
//! predates the `ZohoCRM.settings.fields.CREATE` scope), creates are plain inserts and a
//! repeated one is reported unconfirmed instead of being sent again (decisions #27).
//!
//! What was found is kept an hour per user and module: one `GET /settings/fields` an hour.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use connector_kit::{ApiError, CallContext};
use serde_json::{Value, json};
use sync_model::{ItemKind, UserId};
use sync_protocol::LinkIdentity;

use crate::zoho::ZohoClient;

pub const LINK_FIELD_LABEL: &str = "Outlook Sync Link";
/// The API name Zoho derives from the label (looked up by label first: an org may have it
/// under another name).
pub const LINK_FIELD_API_NAME: &str = "Outlook_Sync_Link";
/// A link id (36), a space and an Outlook id (about 150), with room.
const LINK_FIELD_LENGTH: u32 = 255;
/// The length of a field whose metadata does not say (the first version made it 64 long).
const ASSUMED_LENGTH: u32 = 64;
const KEEP_FOR: Duration = Duration::from_secs(3600);

/// The identity field of a module.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkField {
    pub api_name: String,
    /// Characters it holds.
    pub length: u32,
}

impl LinkField {
    /// The value a create of `identity` writes: with the origin when it fits.
    pub fn value(&self, identity: &LinkIdentity) -> String {
        identity.value_within(self.length as usize)
    }

    /// The identity a record read with this field carries.
    pub fn identity_of(&self, record: &Value) -> Option<LinkIdentity> {
        record
            .get(&self.api_name)?
            .as_str()
            .and_then(LinkIdentity::parse)
    }
}

/// The field (`None`: not allowed there), and when it was found out.
type Known = (Option<LinkField>, Instant);

#[derive(Default)]
pub struct LinkFields {
    known: Mutex<HashMap<(UserId, ItemKind), Known>>,
}

pub fn module(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Contact => "Contacts",
        ItemKind::Task => "Tasks",
        ItemKind::Event => "Events",
    }
}

impl LinkFields {
    /// The API name of `kind`'s identity field, made when missing; `None` when the
    /// organisation does not allow it.
    pub async fn of(
        &self,
        client: &ZohoClient,
        ctx: &CallContext,
        kind: ItemKind,
    ) -> Result<Option<LinkField>, ApiError> {
        if let Some(known) = self.cached(ctx.user_id, kind) {
            return Ok(known);
        }
        let existing = match find(client, ctx, kind).await {
            Ok(existing) => existing,
            // The metadata cannot be read (no permission): sync on without the identity.
            Err(ApiError::Permanent { code, message }) => {
                tracing::warn!(%code, %message, module = module(kind),
                    "cannot read the module's fields; creates there are not repeatable after a crash");
                self.remember(ctx.user_id, kind, None);
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let found = match existing {
            Some(name) => Some(name),
            None => match create(client, ctx, kind).await {
                Ok(()) => find(client, ctx, kind).await?,
                // The GET just passed with this token: a 401 now is the missing scope
                // (`OAUTH_SCOPE_MISMATCH` of a connection made before it was asked for).
                Err(ApiError::Unauthorized) => {
                    tracing::warn!(
                        module = module(kind),
                        "the Zoho connection may not add fields (reconnect to grant it); creates there are not repeatable after a crash"
                    );
                    None
                }
                Err(ApiError::Permanent { code, message }) => {
                    tracing::warn!(%code, %message, module = module(kind),
                        "cannot add the Outlook Sync Link field; creates there are not repeatable after a crash");
                    None
                }
                Err(err) => return Err(err),
            },
        };
        self.remember(ctx.user_id, kind, found.clone());
        Ok(found)
    }

    fn remember(&self, user: UserId, kind: ItemKind, field: Option<LinkField>) {
        if let Ok(mut known) = self.known.lock() {
            known.insert((user, kind), (field, Instant::now()));
        }
    }

    fn cached(&self, user: UserId, kind: ItemKind) -> Option<Option<LinkField>> {
        let known = self.known.lock().ok()?;
        known
            .get(&(user, kind))
            .filter(|(_, at)| at.elapsed() < KEEP_FOR)
            .map(|(name, _)| name.clone())
    }
}

async fn find(
    client: &ZohoClient,
    ctx: &CallContext,
    kind: ItemKind,
) -> Result<Option<LinkField>, ApiError> {
    let answer = client
        .get(
            ctx,
            "GET /settings/fields",
            &format!("/settings/fields?module={}", module(kind)),
        )
        .await?;
    Ok(link_field(&answer))
}

/// The identity field among a fields metadata answer.
pub fn link_field(answer: &Value) -> Option<LinkField> {
    let field = answer.get("fields")?.as_array()?.iter().find(|f| {
        f.get("field_label").and_then(Value::as_str) == Some(LINK_FIELD_LABEL)
            || f.get("api_name").and_then(Value::as_str) == Some(LINK_FIELD_API_NAME)
    })?;
    Some(LinkField {
        api_name: field.get("api_name")?.as_str()?.to_owned(),
        length: field
            .get("length")
            .and_then(Value::as_u64)
            .map_or(ASSUMED_LENGTH, |l| l.min(u64::from(u32::MAX)) as u32),
    })
}

async fn create(client: &ZohoClient, ctx: &CallContext, kind: ItemKind) -> Result<(), ApiError> {
    // An External ID field: unique in the module, so a repeated create is refused.
    let body = json!({ "fields": [{
        "field_label": LINK_FIELD_LABEL,
        "data_type": "text",
        "length": LINK_FIELD_LENGTH,
        "external": { "show": true, "type": "user", "allow_multiple_config": false },
        "tooltip": { "name": "info_icon", "value": "Kept by the Outlook sync: do not edit." }
    }]});
    client
        .create_field(ctx, "POST /settings/fields", module(kind), &body)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(field: Option<LinkField>) -> Option<String> {
        field.map(|f| f.api_name)
    }

    #[test]
    fn the_field_is_found_by_label_or_by_name() {
        let by_label = json!({"fields": [
            {"api_name": "Last_Name", "field_label": "Last Name"},
            {"api_name": "Outlook_Sync_Link1", "field_label": LINK_FIELD_LABEL, "length": 255}
        ]});
        assert_eq!(
            link_field(&by_label),
            Some(LinkField {
                api_name: "Outlook_Sync_Link1".into(),
                length: 255
            })
        );
        let by_name = json!({"fields": [{"api_name": LINK_FIELD_API_NAME, "field_label": "Sync"}]});
        assert_eq!(
            name(link_field(&by_name)).as_deref(),
            Some(LINK_FIELD_API_NAME)
        );
        assert_eq!(link_field(&by_name).map(|f| f.length), Some(64));
        assert_eq!(link_field(&json!({"fields": []})), None);
        assert_eq!(link_field(&json!({})), None);
    }

    #[test]
    fn a_field_too_short_for_the_origin_keeps_the_link_and_reads_back() {
        let link = sync_model::LinkId(uuid::Uuid::now_v7());
        let outlook_id = "AAMkAGI2TG93AAA".repeat(10);
        let identity = LinkIdentity {
            link,
            origin: Some(sync_model::ExternalId(outlook_id)),
        };
        let long = LinkField {
            api_name: LINK_FIELD_API_NAME.into(),
            length: 255,
        };
        let short = LinkField {
            length: 64,
            ..long.clone()
        };
        assert_eq!(long.value(&identity), identity.value());
        assert_eq!(short.value(&identity), link.to_string());
        let record = json!({"id": "1", LINK_FIELD_API_NAME: long.value(&identity)});
        assert_eq!(long.identity_of(&record), Some(identity));
        assert_eq!(
            long.identity_of(&json!({"id": "1", LINK_FIELD_API_NAME: null})),
            None
        );
    }
}

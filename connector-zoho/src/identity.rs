//! The link's identity kept on every record this connector creates in Zoho: an External ID
//! field ("Outlook Sync Link", unique in its module), set up by the connector in each module
//! where the organisation allows it. Creates then go through `upsert` with that field as the
//! duplicate check, so a create repeated after a crash updates its first copy instead of making
//! a second one, and links can be rebuilt from the CRM if the database is lost.
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

use crate::zoho::ZohoClient;

pub const LINK_FIELD_LABEL: &str = "Outlook Sync Link";
/// The API name Zoho derives from the label (looked up by label first: an org may have it
/// under another name).
pub const LINK_FIELD_API_NAME: &str = "Outlook_Sync_Link";
/// A link id (a UUID) and some room.
const LINK_FIELD_LENGTH: u32 = 64;
const KEEP_FOR: Duration = Duration::from_secs(3600);

/// The field's API name (`None`: not allowed there), and when it was found out.
type Known = (Option<String>, Instant);

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
    ) -> Result<Option<String>, ApiError> {
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

    fn remember(&self, user: UserId, kind: ItemKind, field: Option<String>) {
        if let Ok(mut known) = self.known.lock() {
            known.insert((user, kind), (field, Instant::now()));
        }
    }

    fn cached(&self, user: UserId, kind: ItemKind) -> Option<Option<String>> {
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
) -> Result<Option<String>, ApiError> {
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
pub fn link_field(answer: &Value) -> Option<String> {
    answer
        .get("fields")?
        .as_array()?
        .iter()
        .find(|f| {
            f.get("field_label").and_then(Value::as_str) == Some(LINK_FIELD_LABEL)
                || f.get("api_name").and_then(Value::as_str) == Some(LINK_FIELD_API_NAME)
        })?
        .get("api_name")?
        .as_str()
        .map(str::to_owned)
}

async fn create(client: &ZohoClient, ctx: &CallContext, kind: ItemKind) -> Result<(), ApiError> {
    // An External ID field: unique in the module, and usable as upsert's duplicate check.
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

    #[test]
    fn the_field_is_found_by_label_or_by_name() {
        let by_label = json!({"fields": [
            {"api_name": "Last_Name", "field_label": "Last Name"},
            {"api_name": "Outlook_Sync_Link1", "field_label": LINK_FIELD_LABEL}
        ]});
        assert_eq!(link_field(&by_label).as_deref(), Some("Outlook_Sync_Link1"));
        let by_name = json!({"fields": [{"api_name": LINK_FIELD_API_NAME, "field_label": "Sync"}]});
        assert_eq!(link_field(&by_name).as_deref(), Some(LINK_FIELD_API_NAME));
        assert_eq!(link_field(&json!({"fields": []})), None);
        assert_eq!(link_field(&json!({})), None);
    }
}

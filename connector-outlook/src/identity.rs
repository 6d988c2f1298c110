//! The link's identity kept on every item this connector creates in Outlook: a single-value
//! extended property (a MAPI named string property in our own property set), so a create
//! repeated after a crash finds its first copy with a `$filter` instead of making a second one,
//! and links can be rebuilt from the mailbox if the database is lost.

use serde_json::{Value, json};
use sync_model::LinkId;

/// `String {property set GUID} Name {name}`; the GUID is this project's own property set.
pub const LINK_PROPERTY: &str =
    "String {6f0b2c0e-8a8e-4f4f-9a55-0c2d3b7a5e11} Name OutlookZohoSyncLink";

/// The `singleValueExtendedProperties` value of a create.
pub fn property(link: LinkId) -> Value {
    json!([{ "id": LINK_PROPERTY, "value": link.0.to_string() }])
}

/// The OData filter that finds the items carrying `link` (Graph's documented form for a
/// single-value extended property).
pub fn filter(link: LinkId) -> String {
    format!(
        "singleValueExtendedProperties/any(ep: ep/id eq '{LINK_PROPERTY}' and ep/value eq '{}')",
        link.0
    )
}

/// The `$expand` that returns the property with an item.
pub fn expand() -> String {
    format!("singleValueExtendedProperties($filter=id eq '{LINK_PROPERTY}')")
}

/// The link an item read with [`expand`] carries, if any.
pub fn link_of(item: &Value) -> Option<LinkId> {
    item.get("singleValueExtendedProperties")?
        .as_array()?
        .iter()
        .find(|p| {
            p.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.eq_ignore_ascii_case(LINK_PROPERTY))
        })?
        .get("value")?
        .as_str()?
        .parse()
        .ok()
        .map(LinkId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_created_property_is_read_back_as_its_link() {
        let link = LinkId(Uuid::now_v7());
        let item = json!({ "id": "AAMk", "singleValueExtendedProperties": property(link) });
        assert_eq!(link_of(&item), Some(link));
        assert!(filter(link).contains(&link.0.to_string()));
    }

    #[test]
    fn other_properties_and_garbage_are_no_link() {
        let item = json!({ "singleValueExtendedProperties": [
            { "id": "String {00000000-0000-0000-0000-000000000000} Name Other", "value": Uuid::nil().to_string() },
            { "id": LINK_PROPERTY.to_lowercase(), "value": "not a uuid" }
        ]});
        assert_eq!(link_of(&item), None);
        assert_eq!(link_of(&json!({ "id": "x" })), None);
    }
}

//! The link's identity kept on every item this connector creates in Outlook: a single-value
//! extended property (a MAPI named string property in our own property set) holding the link id
//! and the id of the Zoho record the item copies ([`LinkIdentity::value`]), so a create repeated
//! after a crash finds its first copy with a `$filter` instead of making a second one, and links
//! can be rebuilt from both sides if the database is lost.

use serde_json::{Value, json};
use sync_model::{ExternalId, LinkId};
use sync_protocol::LinkIdentity;

/// `String {property set GUID} Name {name}`; the GUID is this project's own property set.
pub const LINK_PROPERTY: &str =
    "String {6f0b2c0e-8a8e-4f4f-9a55-0c2d3b7a5e11} Name OutlookZohoSyncLink";

/// The identity a create of `link` copying `origin` writes.
pub fn of(link: LinkId, origin: Option<&ExternalId>) -> LinkIdentity {
    LinkIdentity {
        link,
        origin: origin.cloned(),
    }
}

/// The `singleValueExtendedProperties` value of a create.
pub fn property(identity: &LinkIdentity) -> Value {
    json!([{ "id": LINK_PROPERTY, "value": identity.value() }])
}

/// The OData filter that finds the items carrying `identity` (Graph documents `eq` on an
/// extended property's value, not `startswith`: the filter names the whole value, which a
/// repeated create rebuilds from its own command).
pub fn filter(identity: &LinkIdentity) -> String {
    format!(
        "singleValueExtendedProperties/any(ep: ep/id eq '{LINK_PROPERTY}' and ep/value eq '{}')",
        identity.value().replace('\'', "''")
    )
}

/// The `$expand` that returns the property with an item.
pub fn expand() -> String {
    format!("singleValueExtendedProperties($filter=id eq '{LINK_PROPERTY}')")
}

/// The identity an item read with [`expand`] carries, if any.
pub fn identity_of(item: &Value) -> Option<LinkIdentity> {
    item.get("singleValueExtendedProperties")?
        .as_array()?
        .iter()
        .find(|p| {
            p.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.eq_ignore_ascii_case(LINK_PROPERTY))
        })?
        .get("value")?
        .as_str()
        .and_then(LinkIdentity::parse)
}

/// The link an item read with [`expand`] carries, if any.
pub fn link_of(item: &Value) -> Option<LinkId> {
    identity_of(item).map(|i| i.link)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_created_property_is_read_back_as_its_identity() {
        let link = LinkId(Uuid::now_v7());
        let origin = ExternalId("3652397000000624001".into());
        let identity = of(link, Some(&origin));
        let item = json!({ "id": "AAMk", "singleValueExtendedProperties": property(&identity) });
        assert_eq!(identity_of(&item), Some(identity.clone()));
        assert_eq!(link_of(&item), Some(link));
        assert!(filter(&identity).contains(&format!("ep/value eq '{link} {}'", origin.0)));
        // Items made before origins were kept hold the link alone.
        let old = json!({ "singleValueExtendedProperties": [
            { "id": LINK_PROPERTY, "value": link.to_string() }
        ]});
        assert_eq!(identity_of(&old), Some(of(link, None)));
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

//! A field-by-field view of an item, so the three-way merge works the same for every kind.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Item, ItemKind};

/// Top-level field name → value (as the item serialises).
pub type FieldMap = BTreeMap<String, Value>;

impl Item {
    /// The item's fields, without the `kind` tag.
    pub fn fields(&self) -> FieldMap {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map.into_iter().filter(|(k, _)| k != "kind").collect(),
            _ => FieldMap::new(),
        }
    }

    /// Rebuilds an item of `kind` from fields produced by [`Item::fields`].
    pub fn from_fields(kind: ItemKind, fields: FieldMap) -> Result<Item, serde_json::Error> {
        let mut map: serde_json::Map<String, Value> = fields.into_iter().collect();
        map.insert("kind".into(), Value::String(kind.as_str().into()));
        serde_json::from_value(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Contact;

    #[test]
    fn fields_round_trip() {
        let item = Item::Contact(Contact {
            given_name: Some("Zoë".into()),
            ..Contact::default()
        });
        let fields = item.fields();
        assert_eq!(fields["given_name"], "Zoë");
        assert!(!fields.contains_key("kind"));
        assert_eq!(Item::from_fields(ItemKind::Contact, fields).unwrap(), item);
    }
}

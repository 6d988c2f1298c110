//! A module's records by the text they hold, so a write's duplicate check, an upsert's match
//! and an External ID look-up find their records without reading every record of the module.
//! A first sync writes thousands of records into a module of thousands: with a scan per
//! record the emulator grew quadratic and spent more CPU than the product it stood in for
//! (issue 14). Zoho answers the same; only the emulator's cost changes.
//!
//! Every top-level text value of every record is kept under its field, trimmed and lower-cased
//! (the form of a case-insensitive comparison); a case-sensitive look-up checks the exact value
//! of the few records found. Ids are kept ordered: the oldest record is still found first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

#[derive(Debug, Default)]
pub struct ValueIndex {
    /// Field → normalized value → ids of the records holding it.
    fields: BTreeMap<String, BTreeMap<String, BTreeSet<u64>>>,
}

/// The form values are indexed under: trimmed and lower-cased.
pub fn normalize(value: &str) -> String {
    value.trim().to_lowercase()
}

impl ValueIndex {
    pub const fn new() -> Self {
        ValueIndex {
            fields: BTreeMap::new(),
        }
    }

    /// Indexes record `id` holding `values`.
    pub fn add(&mut self, id: u64, values: &Map<String, Value>) {
        for (field, value) in values {
            if let Value::String(text) = value {
                self.fields
                    .entry(field.clone())
                    .or_default()
                    .entry(normalize(text))
                    .or_default()
                    .insert(id);
            }
        }
    }

    /// Forgets record `id`, which held `values`.
    pub fn remove(&mut self, id: u64, values: &Map<String, Value>) {
        for (field, value) in values {
            let Value::String(text) = value else {
                continue;
            };
            let Some(by_value) = self.fields.get_mut(field) else {
                continue;
            };
            let key = normalize(text);
            if let Some(ids) = by_value.get_mut(&key) {
                ids.remove(&id);
                if ids.is_empty() {
                    by_value.remove(&key);
                }
            }
        }
    }

    /// The records whose `field` holds `value` once normalized, oldest first.
    pub fn candidates(&self, field: &str, value: &str) -> impl Iterator<Item = u64> + '_ {
        self.fields
            .get(field)
            .and_then(|by_value| by_value.get(&normalize(value)))
            .into_iter()
            .flatten()
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn finds_by_normalized_text_oldest_first_and_forgets_removed_values() {
        let mut index = ValueIndex::new();
        let a = values(json!({"Email": " Ann@Example.com ", "Age": 3}));
        let b = values(json!({"Email": "ann@example.com"}));
        index.add(7, &a);
        index.add(2, &b);
        let found: Vec<u64> = index.candidates("Email", "ANN@example.com").collect();
        assert_eq!(found, vec![2, 7]);
        assert_eq!(
            index.candidates("Age", "3").count(),
            0,
            "only text is indexed"
        );
        index.remove(2, &b);
        let found: Vec<u64> = index.candidates("Email", "ann@example.com").collect();
        assert_eq!(found, vec![7]);
        index.remove(7, &a);
        assert_eq!(index.candidates("Email", "ann@example.com").count(), 0);
        assert!(
            index.fields["Email"].is_empty(),
            "no empty sets are left behind"
        );
    }
}

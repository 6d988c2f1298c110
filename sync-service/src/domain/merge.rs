//! Field-level merge of one side's edit into the agreed content.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sync_model::{Item, Side};

use super::settings::ConflictRule;

/// A field both sides changed to different values since they last agreed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldConflict {
    pub field: String,
    pub base: Value,
    pub outlook: Value,
    pub zoho: Value,
    /// The side whose value was kept; `None` while held for the user (review mode).
    pub winner: Option<Side>,
}

/// The winner of a conflict under `rule`.
pub fn winner(rule: ConflictRule) -> Option<Side> {
    match rule {
        ConflictRule::ZohoWins => Some(Side::Zoho),
        ConflictRule::OutlookWins => Some(Side::Outlook),
        ConflictRule::Review => None,
    }
}

/// Merges an edit read from `side` into `target`.
///
/// `before` is what `side` held when we last accounted for it, `after` what it holds now (both
/// already refilled with what `side` cannot hold). A field `side` changed is taken unless the
/// target also moved away from `before` (the other side changed it and `side` has not received
/// that yet) to a different value: that is a conflict, decided by `rule`.
pub fn incorporate(
    target: &Item,
    before: &Item,
    after: &Item,
    side: Side,
    rule: ConflictRule,
) -> (Item, Vec<FieldConflict>) {
    let (t_norm, b_norm, a_norm) = (
        target.normalised().fields(),
        before.normalised().fields(),
        after.normalised().fields(),
    );
    let (t_raw, b_raw, a_raw) = (target.fields(), before.fields(), after.fields());
    let mut merged = t_raw.clone();
    let mut conflicts = Vec::new();
    for (field, after_value) in &a_norm {
        let before_value = b_norm.get(field).unwrap_or(&Value::Null);
        let target_value = t_norm.get(field).unwrap_or(&Value::Null);
        if after_value == before_value || after_value == target_value {
            continue;
        }
        let new_raw = a_raw.get(field).cloned().unwrap_or(Value::Null);
        if target_value == before_value {
            merged.insert(field.clone(), new_raw);
            continue;
        }
        let ours = new_raw.clone();
        let theirs = t_raw.get(field).cloned().unwrap_or(Value::Null);
        let (outlook, zoho) = match side {
            Side::Outlook => (ours, theirs),
            Side::Zoho => (theirs, ours),
        };
        let won = winner(rule);
        if won == Some(side) {
            merged.insert(field.clone(), new_raw);
        }
        conflicts.push(FieldConflict {
            field: field.clone(),
            base: b_raw.get(field).cloned().unwrap_or(Value::Null),
            outlook,
            zoho,
            winner: won,
        });
    }
    let item = Item::from_fields(target.kind(), merged).unwrap_or_else(|_| target.clone());
    (item, conflicts)
}

/// First sync: two items matched across the sides, with no common history. Equal fields stay,
/// a field set on one side only is taken, two different values are a conflict decided by `rule`.
pub fn combine(outlook: &Item, zoho: &Item, rule: ConflictRule) -> (Item, Vec<FieldConflict>) {
    let (o_norm, z_norm) = (outlook.normalised().fields(), zoho.normalised().fields());
    let (o_raw, z_raw) = (outlook.fields(), zoho.fields());
    let mut merged = o_raw.clone();
    let mut conflicts = Vec::new();
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    for (field, z_value) in &z_norm {
        let o_value = o_norm.get(field).unwrap_or(&Value::Null);
        if o_value == z_value || empty(z_value) {
            continue;
        }
        let z_field = z_raw.get(field).cloned().unwrap_or(Value::Null);
        if empty(o_value) {
            merged.insert(field.clone(), z_field);
            continue;
        }
        let won = winner(rule);
        if won == Some(Side::Zoho) {
            merged.insert(field.clone(), z_field.clone());
        }
        conflicts.push(FieldConflict {
            field: field.clone(),
            base: Value::Null,
            outlook: o_raw.get(field).cloned().unwrap_or(Value::Null),
            zoho: z_field,
            winner: won,
        });
    }
    let item = Item::from_fields(outlook.kind(), merged).unwrap_or_else(|_| outlook.clone());
    (item, conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_model::Contact;

    fn c(title: &str, dept: &str) -> Item {
        Item::Contact(Contact {
            surname: Some("Sato".into()),
            job_title: (!title.is_empty()).then(|| title.into()),
            department: (!dept.is_empty()).then(|| dept.into()),
            ..Contact::default()
        })
    }

    #[test]
    fn a_one_side_edit_is_taken() {
        let (merged, conflicts) = incorporate(
            &c("A", "X"),
            &c("A", "X"),
            &c("B", "X"),
            Side::Zoho,
            ConflictRule::OutlookWins,
        );
        assert_eq!(merged, c("B", "X"));
        assert!(conflicts.is_empty());
    }

    #[test]
    fn edits_of_different_fields_merge() {
        // Outlook's department edit is already in the target; Zoho now changes the title.
        let (merged, conflicts) = incorporate(
            &c("A", "Y"),
            &c("A", "X"),
            &c("B", "X"),
            Side::Zoho,
            ConflictRule::OutlookWins,
        );
        assert_eq!(merged, c("B", "Y"));
        assert!(conflicts.is_empty());
    }

    #[test]
    fn the_same_field_changed_on_both_sides_is_decided_by_the_rule() {
        let target = c("Outlook title", "X"); // Outlook changed the title from "A"
        let (zoho_wins, conflicts) = incorporate(
            &target,
            &c("A", "X"),
            &c("Zoho title", "X"),
            Side::Zoho,
            ConflictRule::ZohoWins,
        );
        assert_eq!(zoho_wins, c("Zoho title", "X"));
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, "job_title");
        assert_eq!(conflicts[0].base, "A");
        assert_eq!(conflicts[0].outlook, "Outlook title");
        assert_eq!(conflicts[0].zoho, "Zoho title");
        assert_eq!(conflicts[0].winner, Some(Side::Zoho));

        let (outlook_wins, conflicts) = incorporate(
            &target,
            &c("A", "X"),
            &c("Zoho title", "X"),
            Side::Zoho,
            ConflictRule::OutlookWins,
        );
        assert_eq!(outlook_wins, target);
        assert_eq!(conflicts[0].winner, Some(Side::Outlook));

        let (held, conflicts) = incorporate(
            &target,
            &c("A", "X"),
            &c("Zoho title", "X"),
            Side::Zoho,
            ConflictRule::Review,
        );
        assert_eq!(held, target, "nothing changes until the user picks");
        assert_eq!(conflicts[0].winner, None);
    }

    #[test]
    fn both_sides_making_the_same_edit_is_no_conflict() {
        let (merged, conflicts) = incorporate(
            &c("B", "X"),
            &c("A", "X"),
            &c("B", "X"),
            Side::Zoho,
            ConflictRule::Review,
        );
        assert_eq!(merged, c("B", "X"));
        assert!(conflicts.is_empty());
    }

    #[test]
    fn first_sync_fills_gaps_and_decides_differences() {
        let (merged, conflicts) = combine(
            &c("Outlook", ""),
            &c("Zoho", "Sales"),
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, c("Zoho", "Sales"));
        assert_eq!(
            conflicts.len(),
            1,
            "only the title differed; the department was a gap"
        );
    }
}

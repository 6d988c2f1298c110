//! Field-level merge of one side's edit into the agreed content.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use serde_json::Value;
use sync_model::fields::FieldMap;
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

/// What a side holds once our update, decided against `base` and carrying `sent`, is applied,
/// given what we read of the side since the update was decided (`read`; `base` when nothing
/// was read): the fields the write changes hold what it sent, the others what was read. A read
/// taken while the write was in flight (its answer may come after what the side's poller
/// published since) is kept: taking `sent` whole would forget an edit made there meanwhile,
/// and read it later as a conflict with our own content.
pub fn after_write(read: Option<&Item>, base: Option<&Item>, sent: Item) -> Item {
    let (Some(read), Some(base)) = (read, base) else {
        return sent;
    };
    if read == base || read.kind() != sent.kind() {
        return sent;
    }
    let (base_fields, sent_fields) = (base.fields(), sent.fields());
    let mut fields = read.fields();
    let names: BTreeSet<&String> = base_fields.keys().chain(sent_fields.keys()).collect();
    for name in names {
        match (base_fields.get(name), sent_fields.get(name)) {
            (b, s) if b == s => {}
            (_, Some(value)) => {
                fields.insert(name.clone(), value.clone());
            }
            (_, None) => {
                fields.remove(name);
            }
        }
    }
    Item::from_fields(sent.kind(), fields).unwrap_or(sent)
}

/// Whether `read` shows our update (decided against `base`, carrying `sent`) as written: a field
/// the write changes holds what it sent (compared as the merge compares them). One is enough: an
/// update is written whole or not at all, and the others may already hold a person's edit made
/// after it (that edit is then told against what the write left, not as a conflict).
pub fn shows_write(read: &Item, base: Option<&Item>, sent: &Item) -> bool {
    let Some(base) = base else {
        return false;
    };
    if read.kind() != sent.kind() {
        return false;
    }
    let (b, s, r) = (
        base.normalised().fields(),
        sent.normalised().fields(),
        read.normalised().fields(),
    );
    let names: BTreeSet<&String> = b.keys().chain(s.keys()).collect();
    let changed: Vec<&&String> = names.iter().filter(|n| b.get(**n) != s.get(**n)).collect();
    changed.iter().any(|n| r.get(**n) == s.get(**n))
}

/// Merges an edit read from `side` into `target`.
///
/// `before` is what `side` held when we last accounted for it, `after` what it holds now (both
/// already refilled with what `side` cannot hold). Only what both sides can hold is merged (see
/// [`Item::common`]): a field `side` changed is taken unless the target also moved away from
/// `before` (the other side changed it and `side` has not received that yet) to a different
/// value: that is a conflict, decided by `rule`. What only one side can hold (a third e-mail
/// address, a second phone, the part of a text beyond Zoho's length) is that side's alone: it is
/// taken from `after` when `side` holds it, kept from `target` otherwise, and never a conflict.
pub fn incorporate(
    target: &Item,
    before: &Item,
    after: &Item,
    side: Side,
    rule: ConflictRule,
) -> (Item, Vec<FieldConflict>) {
    let (t_common, b_common, a_common) = (target.common(), before.common(), after.common());
    let (t_norm, b_norm, a_norm) = (
        t_common.normalised().fields(),
        b_common.normalised().fields(),
        a_common.normalised().fields(),
    );
    let (t_raw, b_raw, a_raw) = (t_common.fields(), b_common.fields(), a_common.fields());
    let mut merged = t_raw.clone();
    let mut conflicts = Vec::new();
    // A field absent from one of them (an empty list is not written) is still a change.
    let names: BTreeSet<&String> = a_norm.keys().chain(b_norm.keys()).collect();
    for field in names {
        let after_value = a_norm.get(field).unwrap_or(&Value::Null);
        let before_value = b_norm.get(field).unwrap_or(&Value::Null);
        let target_value = t_norm.get(field).unwrap_or(&Value::Null);
        if after_value == before_value || after_value == target_value {
            continue;
        }
        let new_raw = a_raw.get(field).cloned().unwrap_or(Value::Null);
        if target_value == before_value {
            set(&mut merged, field, new_raw);
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
            set(&mut merged, field, new_raw);
        }
        conflicts.push(FieldConflict {
            field: field.clone(),
            base: b_raw.get(field).cloned().unwrap_or(Value::Null),
            outlook,
            zoho,
            winner: won,
        });
    }
    let mut item = Item::from_fields(target.kind(), merged).unwrap_or_else(|_| t_common.clone());
    let holder = |only: Side| if side == only { after } else { target };
    item.refill_from(holder(Side::Outlook), Side::Zoho);
    item.refill_from(holder(Side::Zoho), Side::Outlook);
    (item, conflicts)
}

/// First sync: two items matched across the sides, with no common history. Only what both sides
/// can hold is compared: equal fields stay, a field set on one side only is taken (a list that
/// extends the other's, such as two e-mail addresses against one, too), two different values
/// are a conflict decided by `rule`. What only one side can hold stays that side's, unchanged.
pub fn combine(outlook: &Item, zoho: &Item, rule: ConflictRule) -> (Item, Vec<FieldConflict>) {
    let (o_common, z_common) = (outlook.common(), zoho.common());
    let (o_norm, z_norm) = (
        o_common.normalised().fields(),
        z_common.normalised().fields(),
    );
    let (o_raw, z_raw) = (o_common.fields(), z_common.fields());
    let mut merged = o_raw.clone();
    let mut conflicts = Vec::new();
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
    for (field, z_value) in &z_norm {
        let o_value = o_norm.get(field).unwrap_or(&Value::Null);
        if o_value == z_value || empty(z_value) || extends(o_value, z_value) {
            continue;
        }
        let z_field = z_raw.get(field).cloned().unwrap_or(Value::Null);
        if empty(o_value) || extends(z_value, o_value) {
            set(&mut merged, field, z_field);
            continue;
        }
        let won = winner(rule);
        if won == Some(Side::Zoho) {
            set(&mut merged, field, z_field.clone());
        }
        conflicts.push(FieldConflict {
            field: field.clone(),
            base: Value::Null,
            outlook: o_raw.get(field).cloned().unwrap_or(Value::Null),
            zoho: z_field,
            winner: won,
        });
    }
    let mut item = Item::from_fields(outlook.kind(), merged).unwrap_or_else(|_| o_common.clone());
    item.refill_from(outlook, Side::Zoho);
    item.refill_from(zoho, Side::Outlook);
    (item, conflicts)
}

/// `longer` is a list that starts with all of `shorter` (one side simply holds more entries).
fn extends(longer: &Value, shorter: &Value) -> bool {
    match (longer.as_array(), shorter.as_array()) {
        (Some(l), Some(s)) => l.len() > s.len() && l.starts_with(s),
        _ => false,
    }
}

/// Sets a field; `null` (a value the item does not have) removes it: an absent optional value
/// or list reads as empty, whereas a list cannot be read from `null`.
fn set(fields: &mut FieldMap, field: &str, value: Value) {
    if value.is_null() {
        fields.remove(field);
    } else {
        fields.insert(field.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sync_model::capacity::zoho_length::DESCRIPTION;
    use sync_model::{Attendee, Contact, EmailAddress, Event, EventTime};

    fn c(title: &str, dept: &str) -> Item {
        Item::Contact(Contact {
            surname: Some("Sato".into()),
            job_title: (!title.is_empty()).then(|| title.into()),
            department: (!dept.is_empty()).then(|| dept.into()),
            ..Contact::default()
        })
    }

    #[test]
    fn a_write_answered_after_a_read_keeps_the_reads_other_fields() {
        // Our write sets the department; the read since shows the person's new title.
        let (base, sent, read) = (c("CEO", ""), c("CEO", "Sales"), c("CTO", ""));
        assert_eq!(
            after_write(Some(&read), Some(&base), sent.clone()),
            c("CTO", "Sales")
        );
        assert_eq!(after_write(Some(&base), Some(&base), sent.clone()), sent);
        assert_eq!(after_write(None, Some(&base), sent.clone()), sent);
    }

    #[test]
    fn a_read_shows_a_write_when_a_field_it_changes_holds_what_it_sent() {
        let (base, sent) = (c("CEO", ""), c("CEO", "Sales"));
        assert!(shows_write(&c("CTO", "Sales"), Some(&base), &sent));
        assert!(!shows_write(&c("CTO", ""), Some(&base), &sent));
        // Both fields written; a person has since changed one of them.
        let sent = c("CTO", "Sales");
        assert!(shows_write(&c("CFO", "Sales"), Some(&base), &sent));
        assert!(!shows_write(&c("CFO", "Ops"), Some(&base), &sent));
        assert!(!shows_write(&c("CEO", "Sales"), None, &sent));
        // A write that changes nothing is never "shown".
        assert!(!shows_write(&base, Some(&base), &base));
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

    fn emails(list: &[&str]) -> Item {
        Item::Contact(Contact {
            surname: Some("Sato".into()),
            emails: list.iter().map(|e| EmailAddress((*e).into())).collect(),
            ..Contact::default()
        })
    }

    fn with(item: Item, edit: impl FnOnce(&mut Contact)) -> Item {
        let Item::Contact(mut c) = item else {
            unreachable!()
        };
        edit(&mut c);
        Item::Contact(c)
    }

    const ALL_RULES: [ConflictRule; 3] = [
        ConflictRule::ZohoWins,
        ConflictRule::OutlookWins,
        ConflictRule::Review,
    ];

    #[test]
    fn first_sync_keeps_a_third_email_zoho_cannot_hold() {
        // The measured bug: Zoho holds the first two, "Zoho wins" erased the third.
        for rule in ALL_RULES {
            let outlook = emails(&["a@x.jp", "b@x.jp", "c@x.jp"]);
            let (merged, conflicts) = combine(&outlook, &emails(&["A@x.jp", "b@x.jp"]), rule);
            assert_eq!(merged, outlook, "{rule:?}");
            assert!(conflicts.is_empty(), "{rule:?}: {conflicts:?}");
            // Zoho holding fewer addresses is a gap, not a difference.
            let (merged, conflicts) = combine(&outlook, &emails(&["a@x.jp"]), rule);
            assert_eq!(merged, outlook, "{rule:?}");
            assert!(conflicts.is_empty(), "{rule:?}");
            let (merged, conflicts) =
                combine(&emails(&["a@x.jp"]), &emails(&["a@x.jp", "b@x.jp"]), rule);
            assert_eq!(merged, emails(&["a@x.jp", "b@x.jp"]), "{rule:?}");
            assert!(conflicts.is_empty(), "{rule:?}");
        }
    }

    #[test]
    fn first_sync_decides_only_what_both_sides_hold() {
        let outlook = emails(&["a@x.jp", "b@x.jp", "c@x.jp"]);
        let zoho = emails(&["y@x.jp", "z@x.jp"]);
        let (merged, conflicts) = combine(&outlook, &zoho, ConflictRule::ZohoWins);
        assert_eq!(merged, emails(&["y@x.jp", "z@x.jp", "c@x.jp"]));
        assert_eq!(conflicts.len(), 1);
        assert_eq!(
            conflicts[0].outlook,
            json!(["a@x.jp", "b@x.jp"]),
            "the log shows what Zoho could hold"
        );
        assert_eq!(conflicts[0].zoho, json!(["y@x.jp", "z@x.jp"]));
        let (merged, _) = combine(&outlook, &zoho, ConflictRule::OutlookWins);
        assert_eq!(merged, outlook);
    }

    #[test]
    fn first_sync_keeps_outlooks_second_phones_and_long_notes() {
        let long = "n".repeat(DESCRIPTION + 100);
        let outlook = with(emails(&[]), |c| {
            c.business_phone = Some("+81 3-1111-1111".into());
            c.more_business_phones = vec!["+81 3-2222-2222".into()];
            c.notes = Some(long.clone());
        });
        for zoho_notes in [None, Some(long[..DESCRIPTION].to_owned())] {
            let zoho = with(emails(&[]), |c| {
                c.business_phone = Some("+81 3-1111-1111".into());
                c.notes = zoho_notes.clone();
            });
            let (merged, conflicts) = combine(&outlook, &zoho, ConflictRule::ZohoWins);
            assert_eq!(merged, outlook);
            assert!(conflicts.is_empty(), "{conflicts:?}");
        }
        // A different number in Zoho's one phone is a conflict about that phone only.
        let zoho = with(emails(&[]), |c| {
            c.business_phone = Some("+81 3-9999-9999".into())
        });
        let (merged, conflicts) = combine(&outlook, &zoho, ConflictRule::ZohoWins);
        let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["business_phone"]);
        let Item::Contact(m) = merged else {
            unreachable!()
        };
        assert_eq!(m.business_phone.as_deref(), Some("+81 3-9999-9999"));
        assert_eq!(m.more_business_phones, ["+81 3-2222-2222"]);
        assert_eq!(m.notes, Some(long));
    }

    fn meeting(required: bool, categories: &[&str]) -> Item {
        let at = |s: &str| EventTime::DateTime {
            utc: s.parse().unwrap(),
            time_zone: None,
        };
        Item::Event(Event {
            subject: "Review".into(),
            start: at("2026-03-30T07:00:00Z"),
            end: at("2026-03-30T08:00:00Z"),
            location: None,
            description: None,
            categories: categories.iter().map(|c| (*c).to_owned()).collect(),
            reminder_minutes_before: None,
            attendees: vec![Attendee {
                email: EmailAddress("a@x.jp".into()),
                name: Some("A".into()),
                required,
            }],
            recurrence: None,
        })
    }

    #[test]
    fn first_sync_keeps_categories_and_optional_attendees_zoho_cannot_hold() {
        let outlook = meeting(false, &["Customers"]);
        let zoho = outlook.project_for(Side::Zoho);
        let (merged, conflicts) = combine(&outlook, &zoho, ConflictRule::ZohoWins);
        assert_eq!(merged, outlook);
        assert!(conflicts.is_empty(), "{conflicts:?}");
    }

    #[test]
    fn an_outlook_edit_of_its_third_email_is_taken_without_conflict() {
        let target = emails(&["a@x.jp", "b@x.jp", "c@x.jp"]);
        let after = emails(&["a@x.jp", "b@x.jp", "d@x.jp"]);
        let (merged, conflicts) = incorporate(
            &target,
            &target,
            &after,
            Side::Outlook,
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, after);
        assert!(conflicts.is_empty());
        // Removing it is an edit too.
        let after = emails(&["a@x.jp", "b@x.jp"]);
        let (merged, _) = incorporate(
            &target,
            &target,
            &after,
            Side::Outlook,
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, after);
    }

    #[test]
    fn a_zoho_edit_keeps_outlooks_third_email() {
        let target = emails(&["a@x.jp", "b@x.jp", "c@x.jp"]);
        // As the engine passes them: Zoho's reads refilled from the target.
        let mut before = target.project_for(Side::Zoho);
        before.refill_from(&target, Side::Zoho);
        let mut after = emails(&["x@x.jp", "b@x.jp"]);
        after.refill_from(&target, Side::Zoho);
        let (merged, conflicts) = incorporate(
            &target,
            &before,
            &after,
            Side::Zoho,
            ConflictRule::OutlookWins,
        );
        assert_eq!(merged, emails(&["x@x.jp", "b@x.jp", "c@x.jp"]));
        assert!(conflicts.is_empty());
    }

    #[test]
    fn outlooks_display_names_stay_with_their_addresses() {
        let target = with(emails(&["a@x.jp", "b@x.jp", "c@x.jp"]), |c| {
            c.email_names.insert("b@x.jp".into(), "B".into());
            c.email_names.insert("c@x.jp".into(), "C".into());
        });
        let mut before = target.project_for(Side::Zoho);
        before.refill_from(&target, Side::Zoho);
        let mut after = emails(&["x@x.jp", "b@x.jp"]);
        after.refill_from(&target, Side::Zoho);
        let (merged, conflicts) =
            incorporate(&target, &before, &after, Side::Zoho, ConflictRule::ZohoWins);
        let expected = with(emails(&["x@x.jp", "b@x.jp", "c@x.jp"]), |c| {
            c.email_names.insert("b@x.jp".into(), "B".into());
            c.email_names.insert("c@x.jp".into(), "C".into());
        });
        assert_eq!(merged, expected);
        assert!(conflicts.is_empty());
        // Renaming one in Outlook is Outlook's edit: taken, nothing for Zoho, no conflict.
        let renamed = with(expected.clone(), |c| {
            c.email_names.insert("b@x.jp".into(), "Bee".into());
        });
        let (merged, conflicts) = incorporate(
            &expected,
            &expected,
            &renamed,
            Side::Outlook,
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, renamed);
        assert!(conflicts.is_empty());
        assert_eq!(
            merged.project_for(Side::Zoho),
            expected.project_for(Side::Zoho)
        );
    }

    #[test]
    fn a_conflict_on_the_first_emails_never_decides_the_third() {
        // Zoho changed the first address (already in the target); Outlook, not yet told, changed
        // its first and third.
        let target = emails(&["z@x.jp", "b@x.jp", "c@x.jp"]);
        let before = emails(&["a@x.jp", "b@x.jp", "c@x.jp"]);
        let after = emails(&["o@x.jp", "b@x.jp", "d@x.jp"]);
        let (merged, conflicts) = incorporate(
            &target,
            &before,
            &after,
            Side::Outlook,
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, emails(&["z@x.jp", "b@x.jp", "d@x.jp"]));
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].outlook, json!(["o@x.jp", "b@x.jp"]));
        assert_eq!(conflicts[0].zoho, json!(["z@x.jp", "b@x.jp"]));
        assert_eq!(conflicts[0].base, json!(["a@x.jp", "b@x.jp"]));
    }

    #[test]
    fn the_cut_of_a_long_text_never_comes_back_as_an_edit() {
        let long = "n".repeat(DESCRIPTION + 10);
        let target = with(emails(&[]), |c| c.notes = Some(long.clone()));
        // Zoho reads back what it was given, the first 32,000 characters.
        let mut read = target.project_for(Side::Zoho);
        read.refill_from(&target, Side::Zoho);
        let (merged, conflicts) =
            incorporate(&target, &read, &read, Side::Zoho, ConflictRule::ZohoWins);
        assert_eq!(merged, target);
        assert!(conflicts.is_empty());
        // Outlook edits the part beyond Zoho's length: taken, nothing for Zoho.
        let longer = with(emails(&[]), |c| c.notes = Some(format!("{long} and more")));
        let (merged, conflicts) = incorporate(
            &target,
            &target,
            &longer,
            Side::Outlook,
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, longer);
        assert!(conflicts.is_empty());
        assert_eq!(
            merged.project_for(Side::Zoho),
            target.project_for(Side::Zoho)
        );
        // Zoho rewrites it: taken.
        let short = with(emails(&[]), |c| c.notes = Some("short".into()));
        let (merged, _) = incorporate(
            &target,
            &read,
            &short,
            Side::Zoho,
            ConflictRule::OutlookWins,
        );
        assert_eq!(merged, short);
    }

    #[test]
    fn outlook_removing_its_second_phone_is_taken() {
        let target = with(emails(&[]), |c| {
            c.business_phone = Some("1".into());
            c.more_business_phones = vec!["2".into()];
        });
        let after = with(emails(&[]), |c| c.business_phone = Some("1".into()));
        let (merged, conflicts) = incorporate(
            &target,
            &target,
            &after,
            Side::Outlook,
            ConflictRule::ZohoWins,
        );
        assert_eq!(merged, after);
        assert!(conflicts.is_empty());
    }
}

//! The oracle: the model of what each side should hold ([`crate::model`]) against what both
//! emulators hold at the end, item by item and key by key, and against sync-service's links.
//!
//! Per key, on each side, with `present` the model's items that must exist and `either` those
//! that may (a delete that may have lost to an edit): fewer than `present` copies are *lost*,
//! more than `present + either` are *duplicated* (or *resurrected* when every item of the key
//! was deleted); an item that may be gone must be gone on both sides or on neither
//! (*resurrected* otherwise). An item found exactly once on each side must carry an accepted
//! marker on both (*stale* otherwise) and be one active link of sync-service (*unlinked*
//! otherwise). Items of a key the harness never made are *unexpected*.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::keys::{KINDS, Kind, SIDES, Side};
#[cfg(test)]
use crate::model::DeletedCopy;
use crate::model::{Expect, Item, Model};

/// One item as a side holds it at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub key: String,
    pub id: String,
    pub marker: String,
    /// The link whose create made it ([`crate::keys::made_by`]).
    pub made_by: Option<String>,
}

/// Both sides' items of one kind and sync-service's active links of it (Outlook id, Zoho id).
#[derive(Debug, Default)]
pub struct Actual {
    pub outlook: Vec<Found>,
    pub zoho: Vec<Found>,
    pub links: BTreeSet<(String, String)>,
}

impl Actual {
    fn side(&self, side: Side) -> &[Found] {
        match side {
            Side::Outlook => &self.outlook,
            Side::Zoho => &self.zoho,
        }
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Items the model expects on both sides at the end (sure ones).
    pub expected: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub stale: u64,
    pub resurrected: u64,
    /// Items deleted on a side as a copy our create made and found there again as a new copy
    /// made for the same link: a create repeated after a crash that lost its answer, which no
    /// longer finds its deleted first copy (decision 93: accepted, not counted as a problem).
    pub recreated: u64,
    pub unexpected: u64,
    pub unlinked: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.expected += other.expected;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.stale += other.stale;
        self.resurrected += other.resurrected;
        self.recreated += other.recreated;
        self.unexpected += other.unexpected;
        self.unlinked += other.unlinked;
    }

    /// Nothing lost, duplicated, stale, resurrected or unexpected, and the links agree.
    pub fn clean(&self) -> bool {
        self.lost
            + self.duplicated
            + self.stale
            + self.resurrected
            + self.unexpected
            + self.unlinked
            == 0
    }
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Verdict {
    pub total: Counts,
    pub kinds: BTreeMap<Kind, Counts>,
    /// The first problems found, for the report.
    pub examples: Vec<String>,
    /// For each key with a problem: what the harness did to its items and the ids found, to
    /// look up in the services' logs and tables.
    pub stories: Vec<String>,
}

const MAX_EXAMPLES: usize = 30;

pub fn judge(model: &Model, actual: &BTreeMap<Kind, Actual>) -> Verdict {
    let mut verdict = Verdict::default();
    for kind in KINDS {
        let empty = Actual::default();
        let found = actual.get(&kind).unwrap_or(&empty);
        let counts = judge_kind(
            model,
            kind,
            found,
            &mut verdict.examples,
            &mut verdict.stories,
        );
        verdict.total.add(&counts);
        verdict.kinds.insert(kind, counts);
    }
    verdict.examples.truncate(MAX_EXAMPLES);
    verdict
}

/// One key's story: its items (origin, the ids the harness knew, what it did) and the copies
/// found on each side.
fn story(kind: Kind, key: &str, items: &[&Item], outlook: &[&Found], zoho: &[&Found]) -> String {
    let ids = |found: &[&Found]| -> Vec<String> {
        found
            .iter()
            .map(|f| format!("{} `{}`", f.id, f.marker))
            .collect()
    };
    let items: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{:?} (Outlook {:?}, Zoho {:?}): {}",
                i.origin,
                i.outlook_id,
                i.zoho_id,
                i.history.join("; ")
            )
        })
        .collect();
    format!(
        "{}: `{key}`: found on Outlook {:?}, on Zoho {:?}; items: {}",
        kind.name(),
        ids(outlook),
        ids(zoho),
        items.join(" | ")
    )
}

/// Whether `item`, deleted by the harness as a copy our create made, is on both sides once
/// again, its copy on the deleted side a new one made for the same link: the create, repeated
/// after a crash lost its answer, no longer found its first copy and made another.
fn recreated(item: &Item, outlook: &[&Found], zoho: &[&Found]) -> bool {
    // A delete that may have lost to an edit (`Either`) may be undone anyway: judged as usual.
    let (Some(side), Some(deleted), Expect::Absent) =
        (item.deleted, item.deleted_copy.as_ref(), item.expect())
    else {
        return false;
    };
    let (there, other) = match side {
        Side::Outlook => (outlook, zoho),
        Side::Zoho => (zoho, outlook),
    };
    matches!(there, [copy] if copy.id != deleted.id
        && copy.made_by.as_deref() == Some(deleted.made_by.as_str()))
        && other.len() == 1
}

fn judge_kind(
    model: &Model,
    kind: Kind,
    actual: &Actual,
    examples: &mut Vec<String>,
    stories: &mut Vec<String>,
) -> Counts {
    let mut counts = Counts::default();
    let mut problem_keys: BTreeSet<String> = BTreeSet::new();
    let mut note = |key: &str, text: String| {
        problem_keys.insert(key.to_owned());
        if examples.len() < MAX_EXAMPLES {
            examples.push(format!("{}: {text}", kind.name()));
        }
    };
    let mut on_side: BTreeMap<Side, BTreeMap<&str, Vec<&Found>>> = BTreeMap::new();
    for side in SIDES {
        let map = on_side.entry(side).or_default();
        for found in actual.side(side) {
            map.entry(found.key.as_str()).or_default().push(found);
        }
    }
    let expected = model.by_key(kind);
    for (key, items) in &expected {
        let expects: Vec<Expect> = items.iter().map(|i| i.expect()).collect();
        let present = expects
            .iter()
            .filter(|e| matches!(e, Expect::Present(_)))
            .count();
        let either = expects
            .iter()
            .filter(|e| matches!(e, Expect::Either(_)))
            .count();
        counts.expected += present as u64;
        let copies =
            |side: Side| -> Vec<&Found> { on_side[&side].get(key).cloned().unwrap_or_default() };
        let (outlook, zoho) = (copies(Side::Outlook), copies(Side::Zoho));
        if let [item] = items.as_slice()
            && recreated(item, &outlook, &zoho)
        {
            counts.recreated += 1;
            note(
                key,
                format!("`{key}` made again after its copy was deleted (decision 93)"),
            );
            continue;
        }
        for (side, copies) in [(Side::Outlook, &outlook), (Side::Zoho, &zoho)] {
            let n = copies.len();
            if n < present {
                counts.lost += (present - n) as u64;
                note(key, format!("`{key}` lost on {side:?}: {n} of {present}"));
            } else if n > present + either {
                let extra = (n - present - either) as u64;
                if present == 0 {
                    counts.resurrected += extra;
                    note(key, format!("`{key}` deleted, still {n} on {side:?}"));
                } else {
                    counts.duplicated += extra;
                    note(
                        key,
                        format!("`{key}` {n} times on {side:?} (expected {present})"),
                    );
                }
            }
        }
        if present == 0 && either > 0 && outlook.len() != zoho.len() {
            counts.resurrected += outlook.len().abs_diff(zoho.len()) as u64;
            note(
                key,
                format!(
                    "`{key}` deleted on one side only: {} on Outlook, {} on Zoho",
                    outlook.len(),
                    zoho.len()
                ),
            );
        }
        // Content and links: only where one item of the key is found once on each side.
        if items.len() != 1 || outlook.len() != 1 || zoho.len() != 1 {
            continue;
        }
        let accepted = match &expects[0] {
            Expect::Present(values) | Expect::Either(values) => values,
            Expect::Absent => continue,
        };
        let (o, z) = (outlook[0], zoho[0]);
        if !accepted.contains(&o.marker) || !accepted.contains(&z.marker) {
            counts.stale += 1;
            let edits: Vec<String> = items[0]
                .edits
                .iter()
                .map(|(side, value)| format!("{side:?} `{value}`"))
                .collect();
            note(
                key,
                format!(
                    "`{key}` stale: Outlook `{}`, Zoho `{}`, expected one of {accepted:?} (edits \
                 in order: {})",
                    o.marker,
                    z.marker,
                    edits.join(", ")
                ),
            );
        }
        if !actual.links.contains(&(o.id.clone(), z.id.clone())) {
            counts.unlinked += 1;
            note(
                key,
                format!(
                    "`{key}`: Outlook {} and Zoho {} are not one active link",
                    o.id, z.id
                ),
            );
        }
    }
    for side in SIDES {
        for (key, copies) in &on_side[&side] {
            if !expected.contains_key(key) {
                counts.unexpected += copies.len() as u64;
                note(
                    key,
                    format!("`{key}` on {side:?}, never made by the harness"),
                );
            }
        }
    }
    for key in &problem_keys {
        let none = Vec::new();
        let items = expected.get(key.as_str()).unwrap_or(&none);
        let copies = |side: Side| {
            on_side[&side]
                .get(key.as_str())
                .cloned()
                .unwrap_or_default()
        };
        stories.push(story(
            kind,
            key,
            items,
            &copies(Side::Outlook),
            &copies(Side::Zoho),
        ));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(key: &str, id: &str, marker: &str) -> Found {
        Found {
            key: key.into(),
            id: id.into(),
            marker: marker.into(),
            made_by: None,
        }
    }

    fn seeded() -> Model {
        let mut model = Model::default();
        model.seed(
            Kind::Contact,
            &[found("a", "o1", "x"), found("b", "o2", "")],
            &[found("a", "z1", "x"), found("c", "z2", "t")],
        );
        model
    }

    fn synced() -> Actual {
        Actual {
            outlook: vec![
                found("a", "o1", "x"),
                found("b", "o2", ""),
                found("c", "o3", "t"),
            ],
            zoho: vec![
                found("a", "z1", "x"),
                found("b", "z3", ""),
                found("c", "z2", "t"),
            ],
            links: [("o1", "z1"), ("o2", "z3"), ("o3", "z2")]
                .into_iter()
                .map(|(o, z)| (o.into(), z.into()))
                .collect(),
        }
    }

    fn verdict(model: &Model, actual: Actual) -> Counts {
        judge(model, &BTreeMap::from([(Kind::Contact, actual)])).total
    }

    #[test]
    fn a_complete_sync_is_clean() {
        let counts = verdict(&seeded(), synced());
        assert!(counts.clean(), "{counts:?}");
        assert_eq!(counts.expected, 3);
    }

    #[test]
    fn a_second_copy_is_a_duplicate_and_a_missing_one_is_lost() {
        let mut actual = synced();
        actual.zoho.push(found("b", "z9", ""));
        actual.outlook.retain(|f| f.key != "c");
        let counts = verdict(&seeded(), actual);
        assert_eq!((counts.duplicated, counts.lost), (1, 1), "{counts:?}");
    }

    #[test]
    fn a_missing_edit_is_stale_and_a_surviving_delete_is_resurrected() {
        let mut model = seeded();
        model.items[0].edits.push((Side::Zoho, "new".into()));
        model.items[1].deleted = Some(Side::Zoho);
        let counts = verdict(&model, synced());
        assert_eq!((counts.stale, counts.resurrected), (1, 2), "{counts:?}");
    }

    #[test]
    fn a_delete_that_lost_to_an_edit_may_stay_on_both_sides_but_not_on_one() {
        let mut model = seeded();
        let b = model.items.iter_mut().find(|i| i.key == "b").unwrap();
        b.edits.push((Side::Zoho, "kept".into()));
        b.deleted = Some(Side::Outlook);
        let mut actual = synced();
        for f in actual.outlook.iter_mut().chain(actual.zoho.iter_mut()) {
            if f.key == "b" {
                f.marker = "kept".into();
            }
        }
        assert!(verdict(&model, actual).clean());
        let mut gone = synced();
        gone.outlook.retain(|f| f.key != "b");
        gone.zoho.retain(|f| f.key != "b");
        assert!(verdict(&model, gone).clean());
        let mut half = synced();
        half.outlook.retain(|f| f.key != "b");
        assert_eq!(verdict(&model, half).resurrected, 1);
    }

    #[test]
    fn a_deleted_copy_made_again_for_its_link_is_recreated_not_resurrected() {
        const LINK: &str = "6b1d8c3e-0f4a-4c52-9a7e-1e2f3a4b5c6d";
        let mut model = seeded();
        let b = model.items.iter_mut().find(|i| i.key == "b").unwrap();
        b.deleted = Some(Side::Zoho);
        b.deleted_copy = Some(DeletedCopy {
            id: "z3".into(),
            made_by: LINK.into(),
        });
        let again = |id: &str, made_by: Option<&str>| {
            let mut actual = synced();
            actual.zoho.retain(|f| f.key != "b");
            actual.zoho.push(Found {
                made_by: made_by.map(str::to_owned),
                ..found("b", id, "")
            });
            actual
        };
        let counts = verdict(&model, again("z7", Some(LINK)));
        assert_eq!((counts.recreated, counts.resurrected), (1, 0), "{counts:?}");
        assert!(counts.clean());
        // The same copy never deleted, a copy of another link, or one on one side only: a
        // resurrection.
        for actual in [
            again("z3", Some(LINK)),
            again("z7", Some("0b6f1f7e-8a52-4f7e-9d3c-2f1f0b6e7a11")),
            again("z7", None),
        ] {
            let counts = verdict(&model, actual);
            assert_eq!((counts.recreated, counts.resurrected), (0, 2), "{counts:?}");
        }
        // Deleted on Outlook after a Zoho edit, the delete may have lost: both copies accepted,
        // nothing set apart.
        let mut lost_to_an_edit = model.clone();
        let b = lost_to_an_edit
            .items
            .iter_mut()
            .find(|i| i.key == "b")
            .unwrap();
        b.edits.push((Side::Zoho, String::new()));
        b.deleted = Some(Side::Outlook);
        b.deleted_copy = Some(DeletedCopy {
            id: "o2".into(),
            made_by: LINK.into(),
        });
        let mut actual = synced();
        actual.outlook.retain(|f| f.key != "b");
        actual.outlook.push(Found {
            made_by: Some(LINK.into()),
            ..found("b", "o8", "")
        });
        actual.links.insert(("o8".into(), "z3".into()));
        let counts = verdict(&lost_to_an_edit, actual);
        assert_eq!(counts.recreated, 0, "{counts:?}");
        assert!(counts.clean(), "{counts:?}");
        let mut one_side = again("z7", Some(LINK));
        one_side.outlook.retain(|f| f.key != "b");
        let counts = verdict(&model, one_side);
        assert_eq!(counts.recreated, 0, "{counts:?}");
        assert!(!counts.clean());
    }

    #[test]
    fn unknown_items_and_unlinked_pairs_are_reported() {
        let mut actual = synced();
        actual.outlook.push(found("zz", "o9", ""));
        actual.links.remove(&("o1".to_owned(), "z1".to_owned()));
        let counts = verdict(&seeded(), actual);
        assert_eq!((counts.unexpected, counts.unlinked), (1, 1), "{counts:?}");
    }
}

//! The oracle's expectation, built only from what the harness did: the items it found on each
//! side after seeding (before the sync started) and every create, edit and delete it made since.
//! Nothing here is read from the system under test.
//!
//! The rules where the outcome is genuinely open (the scenario's conflict rule is "Zoho wins";
//! see `docs/reliability.md`):
//! - an item edited on both sides may end with the last edit made, or with the last edit made
//!   on Zoho (a concurrent pair is a conflict that Zoho wins);
//! - a seeded item present on both sides and never edited may end with either side's seeded
//!   value (the first sync merges the pair; a side's empty value is filled from the other's);
//! - an item deleted on Outlook that was edited on Zoho may be gone, or be back on Outlook with
//!   Zoho's last edit (delete versus edit: the edit wins when the delete had not seen it);
//! - an item deleted on Zoho is gone (delete versus edit: Zoho's delete wins).
//!
//! Items whose key several items share on one side at seed time (namesakes) are counted by key
//! only, never edited or deleted (which copy an edit reaches would be a guess).

use std::collections::{BTreeMap, BTreeSet};

use crate::keys::{Kind, Side};
use crate::oracle::Found;

#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Seeded on one side, or on both (`None`: a pair the first sync must match).
    Seeded(Option<Side>),
    /// Created by the workload on this side during the run.
    Created(Side),
}

#[derive(Debug, Clone)]
pub struct Item {
    pub kind: Kind,
    pub key: String,
    pub origin: Origin,
    /// The item's id on the sides where the harness itself put it or found it at seed time.
    pub outlook_id: Option<String>,
    pub zoho_id: Option<String>,
    /// Marker values the item may hold when never edited.
    pub initial: BTreeSet<String>,
    /// Every edit made, in order: (side, new marker).
    pub edits: Vec<(Side, String)>,
    pub deleted: Option<Side>,
    /// The copy the harness deleted, when it was one our create made (see [`DeletedCopy`]).
    pub deleted_copy: Option<DeletedCopy>,
    /// Shares its key with another item: counted by key only, never touched.
    pub namesake: bool,
    /// What the harness did to it, with the seconds since the faults began, for the report of
    /// a problem.
    pub history: Vec<String>,
}

/// A copy our create made that the harness deleted: its id, and the link whose identity it
/// carried (read from a listing at most a few seconds old). The oracle tells a copy that link's
/// create made again after the delete apart from other resurrections (decision 93).
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedCopy {
    pub id: String,
    pub made_by: String,
}

/// What one item must look like at the end, on both sides.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Exactly once on each side, its marker one of these.
    Present(BTreeSet<String>),
    /// On neither side.
    Absent,
    /// On neither side, or exactly once on each with a marker among these.
    Either(BTreeSet<String>),
}

impl Item {
    pub fn id(&self, side: Side) -> Option<&str> {
        match side {
            Side::Outlook => self.outlook_id.as_deref(),
            Side::Zoho => self.zoho_id.as_deref(),
        }
    }

    fn last_on(&self, side: Side) -> Option<&String> {
        self.edits
            .iter()
            .rev()
            .find(|(s, _)| *s == side)
            .map(|(_, v)| v)
    }

    /// Whether the item was touched by a delete or an edit, as the report groups them.
    pub fn edited(&self) -> bool {
        !self.edits.is_empty()
    }

    pub fn expect(&self) -> Expect {
        match self.deleted {
            Some(Side::Zoho) => Expect::Absent,
            Some(Side::Outlook) => match self.last_on(Side::Zoho) {
                Some(value) => Expect::Either(BTreeSet::from([value.clone()])),
                None => Expect::Absent,
            },
            None => Expect::Present(self.accepted()),
        }
    }

    fn accepted(&self) -> BTreeSet<String> {
        let Some((_, last)) = self.edits.last() else {
            return self.initial.clone();
        };
        let mut values = BTreeSet::from([last.clone()]);
        let both_sides =
            self.last_on(Side::Outlook).is_some() && self.last_on(Side::Zoho).is_some();
        if both_sides && let Some(zoho) = self.last_on(Side::Zoho) {
            values.insert(zoho.clone());
        }
        values
    }
}

/// What a seeded pair may hold when never edited: either side's value, an empty one filled from
/// the other.
fn seeded_pair_values(outlook: &str, zoho: &str) -> BTreeSet<String> {
    let values: BTreeSet<String> = [outlook, zoho]
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if values.is_empty() {
        BTreeSet::from([String::new()])
    } else {
        values
    }
}

#[derive(Debug, Default, Clone)]
pub struct Model {
    pub items: Vec<Item>,
}

/// What the workload did, for the report.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct OpCounts {
    pub creates: u64,
    pub edits: u64,
    pub deletes: u64,
}

impl Model {
    /// The model of the seeded data: `outlook` and `zoho` are every item of `kind` each side
    /// held before the sync started. Items of the same key on both sides, one
    /// on each, are one item (a pair the first sync must match).
    pub fn seed(&mut self, kind: Kind, outlook: &[Found], zoho: &[Found]) {
        let mut by_key: BTreeMap<&str, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
        for (i, found) in outlook.iter().enumerate() {
            by_key.entry(&found.key).or_default().0.push(i);
        }
        for (i, found) in zoho.iter().enumerate() {
            by_key.entry(&found.key).or_default().1.push(i);
        }
        for (key, (o, z)) in by_key {
            let base = |origin, outlook_id, zoho_id, initial, namesake| Item {
                kind,
                key: key.to_owned(),
                origin,
                outlook_id,
                zoho_id,
                initial,
                edits: Vec::new(),
                deleted: None,
                deleted_copy: None,
                namesake,
                history: Vec::new(),
            };
            if o.len() == 1 && z.len() == 1 {
                let (oi, zi) = (&outlook[o[0]], &zoho[z[0]]);
                self.items.push(base(
                    Origin::Seeded(None),
                    Some(oi.id.clone()),
                    Some(zi.id.clone()),
                    seeded_pair_values(&oi.marker, &zi.marker),
                    false,
                ));
                continue;
            }
            // Namesakes: several items of one key on a side. With items on both sides the first
            // sync holds them for a person (an ambiguous match), so the scenario must not seed
            // such keys; on one side only, each is an item of its own.
            let namesake = o.len() + z.len() > 1;
            for &i in &o {
                let Found {
                    id, marker: value, ..
                } = &outlook[i];
                self.items.push(base(
                    Origin::Seeded(Some(Side::Outlook)),
                    Some(id.clone()),
                    None,
                    BTreeSet::from([value.clone()]),
                    namesake,
                ));
            }
            for &i in &z {
                let Found {
                    id, marker: value, ..
                } = &zoho[i];
                self.items.push(base(
                    Origin::Seeded(Some(Side::Zoho)),
                    None,
                    Some(id.clone()),
                    BTreeSet::from([value.clone()]),
                    namesake,
                ));
            }
        }
    }

    /// Keys seeded on both sides by more than one item (the first sync holds them, by design).
    pub fn ambiguous_seed_keys(&self) -> usize {
        let mut sides: BTreeMap<(Kind, &str), (usize, usize)> = BTreeMap::new();
        for item in &self.items {
            let entry = sides.entry((item.kind, &item.key)).or_default();
            match item.origin {
                Origin::Seeded(Some(Side::Outlook)) => entry.0 += 1,
                Origin::Seeded(Some(Side::Zoho)) => entry.1 += 1,
                Origin::Seeded(None) => {
                    entry.0 += 1;
                    entry.1 += 1;
                }
                Origin::Created(_) => {}
            }
        }
        sides
            .values()
            .filter(|(o, z)| *o > 0 && *z > 0 && (*o > 1 || *z > 1))
            .count()
    }

    pub fn created(&mut self, kind: Kind, side: Side, key: String, id: String, marker: String) {
        let (outlook_id, zoho_id) = match side {
            Side::Outlook => (Some(id), None),
            Side::Zoho => (None, Some(id)),
        };
        self.items.push(Item {
            kind,
            key,
            origin: Origin::Created(side),
            outlook_id,
            zoho_id,
            initial: BTreeSet::from([marker]),
            edits: Vec::new(),
            deleted: None,
            deleted_copy: None,
            namesake: false,
            history: Vec::new(),
        });
    }

    /// Every item of `kind`, by key.
    pub fn by_key(&self, kind: Kind) -> BTreeMap<&str, Vec<&Item>> {
        let mut map: BTreeMap<&str, Vec<&Item>> = BTreeMap::new();
        for item in self.items.iter().filter(|i| i.kind == kind) {
            map.entry(item.key.as_str()).or_default().push(item);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(edits: &[(Side, &str)], deleted: Option<Side>) -> Item {
        Item {
            kind: Kind::Contact,
            key: "k".into(),
            origin: Origin::Created(Side::Outlook),
            outlook_id: Some("o".into()),
            zoho_id: None,
            initial: BTreeSet::from(["initial".to_owned()]),
            edits: edits.iter().map(|(s, v)| (*s, (*v).to_owned())).collect(),
            deleted,
            deleted_copy: None,
            namesake: false,
            history: Vec::new(),
        }
    }

    fn set(values: &[&str]) -> BTreeSet<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn an_item_edited_on_one_side_ends_with_its_last_edit() {
        assert_eq!(item(&[], None).expect(), Expect::Present(set(&["initial"])));
        let edited = item(&[(Side::Outlook, "a"), (Side::Outlook, "b")], None);
        assert_eq!(edited.expect(), Expect::Present(set(&["b"])));
        let edited = item(&[(Side::Zoho, "a"), (Side::Zoho, "b")], None);
        assert_eq!(edited.expect(), Expect::Present(set(&["b"])));
    }

    #[test]
    fn an_item_edited_on_both_sides_may_end_with_zohos_last_edit() {
        let both = item(&[(Side::Zoho, "z"), (Side::Outlook, "o")], None);
        assert_eq!(both.expect(), Expect::Present(set(&["o", "z"])));
        let zoho_last = item(&[(Side::Outlook, "o"), (Side::Zoho, "z")], None);
        assert_eq!(zoho_last.expect(), Expect::Present(set(&["z"])));
    }

    #[test]
    fn deletes_follow_the_delete_versus_edit_rule() {
        assert_eq!(item(&[], Some(Side::Outlook)).expect(), Expect::Absent);
        let outlook_edit = item(&[(Side::Outlook, "o")], Some(Side::Zoho));
        assert_eq!(outlook_edit.expect(), Expect::Absent);
        let zoho_edit = item(
            &[(Side::Zoho, "z"), (Side::Outlook, "o")],
            Some(Side::Outlook),
        );
        assert_eq!(zoho_edit.expect(), Expect::Either(set(&["z"])));
        let zoho_edit = item(&[(Side::Zoho, "z")], Some(Side::Zoho));
        assert_eq!(zoho_edit.expect(), Expect::Absent);
    }

    #[test]
    fn seeded_pairs_are_one_item_and_namesakes_are_marked() {
        let mut model = Model::default();
        let row = |k: &str, id: &str, v: &str| Found {
            key: k.to_owned(),
            id: id.to_owned(),
            marker: v.to_owned(),
            made_by: None,
        };
        model.seed(
            Kind::Contact,
            &[
                row("a", "o1", "x"),
                row("b", "o2", ""),
                row("c", "o3", ""),
                row("c", "o4", ""),
            ],
            &[row("a", "z1", "y"), row("d", "z2", "")],
        );
        let by_key = model.by_key(Kind::Contact);
        assert_eq!(by_key["a"].len(), 1);
        assert_eq!(by_key["a"][0].initial, set(&["x", "y"]));
        assert_eq!(by_key["a"][0].origin, Origin::Seeded(None));
        assert_eq!(by_key["c"].len(), 2);
        assert!(by_key["c"].iter().all(|i| i.namesake));
        assert!(!by_key["b"][0].namesake);
        assert_eq!(model.ambiguous_seed_keys(), 0);
        model.seed(
            Kind::Task,
            &[row("t", "o", ""), row("t", "o2", "")],
            &[row("t", "z", "")],
        );
        assert_eq!(model.ambiguous_seed_keys(), 1);
    }
}

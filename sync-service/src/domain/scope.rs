//! What the user syncs changed: a re-scope. A new folder or list, another calendar filter, a
//! kind switched on again (or its direction changed) reopens that kind's first sync: both sides
//! read everything again in rounds tagged with the re-scope's id; meanwhile new items wait
//! (unmatched); once both tagged reads are in, the items without a partner (new in scope, or
//! whose partner left the scope) are matched against each other's, paired, and the rest created
//! on the other side. What left the scope is forgotten there without deleting anything.
//! The very first sync is the same thing from empty settings.

use std::collections::HashMap;

use sync_model::{ItemKind, LinkId, Side};
use uuid::Uuid;

use super::engine::{Ids, Input, Output, Rules};
use super::finale::{Waiting, plan, settle};
use super::link::Link;
use super::settings::UserSettings;

/// A kind whose scope changed with a settings save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rescope {
    pub kind: ItemKind,
    /// The Outlook folder or list changed: every item known there left the scope.
    pub outlook_moved: bool,
}

/// The kinds whose scope `new` changes from `old` (`None`: no settings before). Only kinds that
/// sync under `new`; one switched off needs nothing (its links wait as they are).
pub fn rescopes(old: Option<&UserSettings>, new: &UserSettings) -> Vec<Rescope> {
    ItemKind::ALL
        .into_iter()
        .filter(|kind| new.direction(*kind).is_some())
        .filter_map(|kind| {
            let Some(old) = old else {
                return Some(Rescope {
                    kind,
                    outlook_moved: false,
                });
            };
            // Links were made in the old container whether or not the kind synced since.
            let outlook_moved =
                old.container(Side::Outlook, kind) != new.container(Side::Outlook, kind);
            let restarted = old.direction(kind).is_none();
            let redirected = old.direction(kind) != new.direction(kind);
            let refiltered =
                kind == ItemKind::Event && old.calendar_categories != new.calendar_categories;
            (outlook_moved || restarted || redirected || refiltered).then_some(Rescope {
                kind,
                outlook_moved,
            })
        })
        .collect()
}

/// The re-scope in progress for one kind, as far as the reads are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// The open re-scope's id; `None` when none is open, or one from before re-scopes were
    /// tagged (then any full read counts).
    pub open: Option<Uuid>,
    pub outlook_done: bool,
    pub zoho_done: bool,
}

impl Reading {
    fn done(&self, side: Side) -> bool {
        match side {
            Side::Outlook => self.outlook_done,
            Side::Zoho => self.zoho_done,
        }
    }

    /// Whether a round's end on `side` is the full read the re-scope waits for.
    pub fn counts(&self, full: bool, tag: Option<Uuid>) -> bool {
        full && self.open.is_none_or(|open| tag == Some(open))
    }

    /// Whether a read of an item nothing links on `side` is taken in. While `side`'s tagged
    /// full read is still to come, an untagged read is from a round of the old scope (the
    /// previous folder, say): skipped, since the full read brings the item if it is in scope.
    pub fn admits_new(&self, side: Side, tag: Option<Uuid>) -> bool {
        match self.open {
            Some(open) if !self.done(side) => tag == Some(open),
            _ => true,
        }
    }
}

/// Whether a round's end closes the reading of an open first sync (the very first, a re-scope or
/// a links rebuild): both sides' full reads it waits for are in, so the finale (matching the
/// waiting items, creating the rest) begins.
pub fn reads_in(first_sync_done: bool, reading: Reading) -> bool {
    !first_sync_done && reading.outlook_done && reading.zoho_done
}

/// A read as the engine takes it under the user's settings: an item outside what the user syncs
/// (an Outlook event not in the synced categories) has left the scope, so its link stops
/// syncing and nothing is deleted on the other side for it.
pub fn within(settings: Option<&UserSettings>, input: Input) -> Input {
    match input {
        Input::Changed {
            side,
            external_id,
            item,
            modified,
            ..
        } if settings.is_some_and(|s| !s.in_scope(side, &item)) => Input::LeftScope {
            side,
            external_id,
            modified,
        },
        other => other,
    }
}

/// What [`finish`] decided for one link.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// The link as it was stored (removed when `out.remove`, replaced by `out.link` otherwise).
    pub id: LinkId,
    pub out: Output,
}

/// Both sides' tagged full reads are in: the links known on one side only (new items waiting,
/// and those whose partner left the scope) are matched; pairs are combined (gaps filled,
/// differences decided by the rule), ambiguous new items held, the other new items created on
/// the other side. An item whose partner left the scope and that pairs with nothing stays out
/// of scope: it is not created again where it was taken out. So is a new item of a side that
/// does not sync one way.
///
/// The plan and its steps ([`super::finale`]) back to back: the handler runs the same steps in
/// pages instead.
pub fn finish(candidates: Vec<Link>, rules: Rules, ids: &mut dyn Ids) -> Vec<Settled> {
    let waiting = candidates
        .iter()
        .filter_map(|l| Waiting::of(l, rules.rebuilding))
        .collect();
    let steps = plan(waiting, rules.rebuilding);
    let mut links: HashMap<LinkId, Link> = candidates.into_iter().map(|l| (l.id, l)).collect();
    steps
        .iter()
        .flat_map(|step| settle(step, &mut links, rules, ids))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::engine::step;
    use crate::domain::link::LinkStatus;
    use crate::domain::settings::{CategoryFilter, ConflictRule, Direction, KindSettings};
    use sync_model::{Contact, EmailAddress, ExternalId, Item, UserId, Version};
    use sync_protocol::{ApplyOp, FailureCode};

    struct Counter(u128);
    impl Ids for Counter {
        fn link_id(&mut self) -> LinkId {
            self.0 += 1;
            LinkId(Uuid::from_u128(self.0))
        }
        fn command_id(&mut self) -> Uuid {
            self.0 += 1;
            Uuid::from_u128(self.0)
        }
    }

    fn settings() -> UserSettings {
        UserSettings {
            contact_folder_id: Some("A".into()),
            contacts: KindSettings {
                enabled: true,
                direction: Direction::TwoWay,
            },
            task_list_id: None,
            tasks: KindSettings::default(),
            events: KindSettings {
                enabled: true,
                direction: Direction::TwoWay,
            },
            calendar_categories: CategoryFilter::ZohoOnly,
            conflict_rule: ConflictRule::ZohoWins,
            poll_interval_secs: 60,
            paused: false,
        }
    }

    fn rules(open: bool) -> Rules {
        Rules {
            direction: Some(Direction::TwoWay),
            conflict_rule: ConflictRule::ZohoWins,
            first_sync_open: open,
            rebuilding: false,
        }
    }

    fn person(name: &str, email: &str) -> Item {
        Item::Contact(Contact {
            given_name: Some(name.into()),
            emails: vec![EmailAddress(email.into())],
            ..Contact::default()
        })
    }

    fn read(link: Option<Link>, side: Side, id: &str, item: Item, open: bool) -> Link {
        let input = Input::Changed {
            side,
            external_id: ExternalId(id.into()),
            version: Version("v1".into()),
            item,
            identity: None,
            modified: None,
        };
        step(
            link,
            input,
            UserId(Uuid::nil()),
            rules(open),
            &mut Counter(100),
        )
        .link
        .expect("a link")
    }

    /// A pair linked on both sides and in agreement.
    fn linked(name: &str, email: &str, ids: &mut Counter) -> Link {
        let mut link = read(
            None,
            Side::Outlook,
            &format!("o-{name}"),
            person(name, email),
            true,
        );
        link.id = ids.link_id();
        let mut zoho = read(
            None,
            Side::Zoho,
            &format!("z-{name}"),
            person(name, email),
            true,
        );
        zoho.id = ids.link_id();
        let mut settled = finish(vec![link, zoho], rules(false), ids);
        settled.retain(|s| !s.out.remove);
        settled.pop().and_then(|s| s.out.link).expect("paired")
    }

    #[test]
    fn what_changes_scope() {
        let old = settings();
        assert_eq!(
            rescopes(None, &old).len(),
            2,
            "the first sync of both kinds"
        );
        assert!(rescopes(Some(&old), &old).is_empty());
        let moved = UserSettings {
            contact_folder_id: Some("B".into()),
            ..old.clone()
        };
        assert_eq!(
            rescopes(Some(&old), &moved),
            vec![Rescope {
                kind: ItemKind::Contact,
                outlook_moved: true
            }]
        );
        let widened = UserSettings {
            calendar_categories: CategoryFilter::All,
            ..old.clone()
        };
        assert_eq!(
            rescopes(Some(&old), &widened),
            vec![Rescope {
                kind: ItemKind::Event,
                outlook_moved: false
            }]
        );
        let paused = UserSettings {
            paused: true,
            ..old.clone()
        };
        assert!(rescopes(Some(&old), &paused).is_empty(), "nothing to read");
        assert_eq!(rescopes(Some(&paused), &old).len(), 2, "switched on again");
        let rule = UserSettings {
            conflict_rule: ConflictRule::OutlookWins,
            ..old.clone()
        };
        assert!(rescopes(Some(&old), &rule).is_empty());
    }

    #[test]
    fn only_the_tagged_full_reads_count_and_old_scope_reads_of_new_items_are_skipped() {
        let tag = Uuid::from_u128(7);
        let reading = Reading {
            open: Some(tag),
            outlook_done: false,
            zoho_done: true,
        };
        assert!(reading.counts(true, Some(tag)));
        assert!(!reading.counts(true, None), "a full round of the old scope");
        assert!(!reading.counts(false, Some(tag)));
        assert!(!reading.admits_new(Side::Outlook, None));
        assert!(reading.admits_new(Side::Outlook, Some(tag)));
        assert!(reading.admits_new(Side::Zoho, None), "its full read is in");
        let legacy = Reading::default();
        assert!(legacy.counts(true, None));
        assert!(legacy.admits_new(Side::Outlook, None));
    }

    #[test]
    fn a_moved_folder_unlinks_without_deleting_and_the_new_folder_is_matched() {
        let mut ids = Counter(0);
        let anna = linked("Anna", "anna@example.com", &mut ids);
        let ben = linked("Ben", "ben@example.com", &mut ids);
        // The folder moves: both Outlook sides leave; nothing is written anywhere.
        let mut left = Vec::new();
        for link in [anna, ben] {
            let out = step(
                Some(link),
                Input::ScopeMoved {
                    side: Side::Outlook,
                },
                UserId(Uuid::nil()),
                rules(true),
                &mut ids,
            );
            assert!(out.commands.is_empty() && !out.remove);
            let link = out.link.unwrap();
            assert_eq!(link.status, LinkStatus::OutOfScope);
            assert!(link.outlook.is_none() && link.zoho.is_some());
            left.push(link);
        }
        // The new folder holds Anna again and Carl, new.
        let anna_b = read(
            None,
            Side::Outlook,
            "o-anna-b",
            person("Anna", "anna@example.com"),
            true,
        );
        let carl = read(
            None,
            Side::Outlook,
            "o-carl",
            person("Carl", "carl@example.com"),
            true,
        );
        assert_eq!(anna_b.status, LinkStatus::Unmatched);
        let mut candidates = left;
        candidates.push(Link {
            id: ids.link_id(),
            ..anna_b
        });
        candidates.push(Link {
            id: ids.link_id(),
            ..carl
        });
        let settled = finish(candidates, rules(false), &mut ids);
        let kept: Vec<&Link> = settled.iter().filter_map(|s| s.out.link.as_ref()).collect();
        let paired = kept
            .iter()
            .find(|l| l.external_id(Side::Outlook) == Some(&ExternalId("o-anna-b".into())))
            .unwrap();
        assert_eq!(paired.status, LinkStatus::Active);
        assert_eq!(
            paired.external_id(Side::Zoho),
            Some(&ExternalId("z-Anna".into()))
        );
        let creates: Vec<&ApplyOp> = settled
            .iter()
            .flat_map(|s| &s.out.commands)
            .map(|c| &c.op)
            .collect();
        assert_eq!(creates.len(), 1, "only Carl is created: {creates:?}");
        assert!(
            matches!(creates[0], ApplyOp::Create { item, .. } if item.label().contains("Carl"))
        );
        let ben = settled.iter().all(|s| {
            s.out
                .link
                .as_ref()
                .is_none_or(|l| !l.target.label().contains("Ben"))
        });
        assert!(ben, "Ben stays out of scope, untouched");
        assert_eq!(settled.iter().filter(|s| s.out.remove).count(), 1);
    }

    #[test]
    fn an_item_leaving_scope_is_not_deleted_and_comes_back_paired() {
        let mut ids = Counter(0);
        let anna = linked("Anna", "anna@example.com", &mut ids);
        let out = step(
            Some(anna),
            Input::LeftScope {
                side: Side::Outlook,
                external_id: ExternalId("o-Anna".into()),
                modified: None,
            },
            UserId(Uuid::nil()),
            rules(false),
            &mut ids,
        );
        assert!(out.commands.is_empty());
        let half = out.link.unwrap();
        assert_eq!(half.status, LinkStatus::OutOfScope);
        // Edits of the remaining side are kept, never written anywhere.
        let edited = read(
            Some(half),
            Side::Zoho,
            "z-Anna",
            person("Anna-Marie", "anna@example.com"),
            false,
        );
        assert_eq!(edited.status, LinkStatus::OutOfScope);
        assert!(edited.target.label().contains("Anna-Marie"));
        // A delete of the remaining side simply ends the link.
        let out = step(
            Some(edited.clone()),
            Input::Deleted {
                side: Side::Zoho,
                external_id: ExternalId("z-Anna".into()),
            },
            UserId(Uuid::nil()),
            rules(false),
            &mut ids,
        );
        assert!(out.remove && out.commands.is_empty());
        // Unpaired, it stays out of scope at the next re-scope: not created again.
        let settled = finish(vec![edited], rules(false), &mut ids);
        assert!(settled.iter().all(|s| s.out.commands.is_empty()));
    }

    #[test]
    fn a_create_that_never_reached_the_old_folder_is_matched_again() {
        let mut ids = Counter(0);
        let zoho = read(
            None,
            Side::Zoho,
            "z-dora",
            person("Dora", "dora@example.com"),
            false,
        );
        assert!(
            zoho.outlook
                .as_ref()
                .and_then(|s| s.inflight.as_ref())
                .is_some()
        );
        let out = step(
            Some(zoho),
            Input::ScopeMoved {
                side: Side::Outlook,
            },
            UserId(Uuid::nil()),
            rules(true),
            &mut ids,
        );
        let link = out.link.unwrap();
        assert_eq!(link.status, LinkStatus::Unmatched);
        let settled = finish(vec![link], rules(false), &mut ids);
        assert_eq!(
            settled[0].out.commands.len(),
            1,
            "created in the new folder"
        );
    }

    #[test]
    fn a_link_left_with_only_a_lost_create_is_dropped() {
        let mut ids = Counter(0);
        // An Outlook item whose create in Zoho is in flight leaves the folder...
        let link = read(
            None,
            Side::Outlook,
            "o-fay",
            person("Fay", "fay@example.com"),
            false,
        );
        let command_id = link
            .zoho
            .as_ref()
            .unwrap()
            .inflight
            .as_ref()
            .unwrap()
            .command_id;
        let out = step(
            Some(link),
            Input::ScopeMoved {
                side: Side::Outlook,
            },
            UserId(Uuid::nil()),
            rules(true),
            &mut ids,
        );
        let link = out.link.expect("kept while the create's answer is awaited");
        assert_eq!(link.status, LinkStatus::OutOfScope);
        // ...and the create's answer is lost: nothing is left to go by. If the Zoho item
        // exists, the re-scope's read finds it as a new one.
        let out = step(
            Some(link),
            Input::Failed {
                side: Side::Zoho,
                command_id,
                code: FailureCode::CreateUnconfirmed,
                message: "the answer was lost".into(),
            },
            UserId(Uuid::nil()),
            rules(true),
            &mut ids,
        );
        assert!(out.remove && out.commands.is_empty());
    }

    #[test]
    fn a_create_lost_in_the_old_folder_is_made_in_the_new_one() {
        let mut ids = Counter(0);
        let link = read(
            None,
            Side::Zoho,
            "z-gus",
            person("Gus", "gus@example.com"),
            false,
        );
        let command_id = link
            .outlook
            .as_ref()
            .unwrap()
            .inflight
            .as_ref()
            .unwrap()
            .command_id;
        let lost = step(
            Some(link),
            Input::Failed {
                side: Side::Outlook,
                command_id,
                code: FailureCode::CreateUnconfirmed,
                message: "the answer was lost".into(),
            },
            UserId(Uuid::nil()),
            rules(false),
            &mut ids,
        )
        .link
        .unwrap();
        assert!(lost.last_error.is_some());
        let moved = step(
            Some(lost),
            Input::ScopeMoved {
                side: Side::Outlook,
            },
            UserId(Uuid::nil()),
            rules(true),
            &mut ids,
        )
        .link
        .unwrap();
        assert_eq!(moved.status, LinkStatus::Unmatched);
        assert_eq!(
            moved.last_error, None,
            "the old folder's error no longer applies"
        );
        let settled = finish(vec![moved], rules(false), &mut ids);
        assert_eq!(
            settled[0].out.commands.len(),
            1,
            "created in the new folder at once"
        );
    }

    #[test]
    fn one_way_leftovers_do_not_wait_for_ever() {
        let mut ids = Counter(0);
        let zoho = read(
            None,
            Side::Zoho,
            "z-eve",
            person("Eve", "eve@example.com"),
            true,
        );
        let one_way = Rules {
            direction: Some(Direction::OutlookToZoho),
            ..rules(false)
        };
        let zoho = Link {
            status: LinkStatus::Unmatched,
            ..zoho
        };
        let settled = finish(vec![zoho], one_way, &mut ids);
        let link = settled[0].out.link.as_ref().unwrap();
        assert_eq!(link.status, LinkStatus::OutOfScope);
        assert!(settled[0].out.commands.is_empty());
    }

    #[test]
    fn a_rebuild_pairs_copies_by_identity_the_rest_by_keys_and_creates_nothing() {
        use sync_protocol::LinkIdentity;
        let rebuilding = Rules {
            first_sync_open: true,
            rebuilding: true,
            ..rules(true)
        };
        let mut ids = Counter(100);
        let mut found = |side: Side, id: &str, item: Item, identity: Option<LinkIdentity>| {
            let input = Input::Changed {
                side,
                external_id: ExternalId(id.into()),
                version: Version("v1".into()),
                item,
                identity,
                modified: None,
            };
            step(None, input, UserId(Uuid::nil()), rebuilding, &mut ids)
                .link
                .expect("an unmatched link")
        };
        let old = |n: u128| LinkId(Uuid::from_u128(n));
        let copy_of = |n: u128, origin: &str| {
            Some(LinkIdentity {
                link: old(n),
                origin: Some(ExternalId(origin.into())),
            })
        };
        let candidates = vec![
            // Ken: made in Zoho, copied to Outlook (the copy names its origin). Its name was
            // changed in Outlook since: keys alone would not pair them.
            found(Side::Zoho, "z-ken", person("Ken", "ken@x.jp"), None),
            found(
                Side::Outlook,
                "o-ken",
                person("Kenji", "kenji@x.jp"),
                copy_of(900, "z-ken"),
            ),
            // Yui: made in Outlook, copied to Zoho.
            found(Side::Outlook, "o-yui", person("Yui", "yui@x.jp"), None),
            found(
                Side::Zoho,
                "z-yui",
                person("Yui", "yui@x.jp"),
                copy_of(901, "o-yui"),
            ),
            // Sato: on both sides before the first sync, matched by keys then and now.
            found(Side::Outlook, "o-sato", person("Sato", "sato@x.jp"), None),
            found(Side::Zoho, "z-sato", person("Sato", "sato@x.jp"), None),
            // Mori: only in Outlook (its copy was deleted in Zoho during the loss).
            found(Side::Outlook, "o-mori", person("Mori", "mori@x.jp"), None),
        ];
        let settled = finish(candidates, rebuilding, &mut Counter(200));
        assert!(
            settled.iter().all(|s| s
                .out
                .commands
                .iter()
                .all(|c| !matches!(c.op, ApplyOp::Create { .. }))),
            "a rebuild creates nothing: {settled:#?}"
        );
        let links: Vec<&Link> = settled.iter().filter_map(|s| s.out.link.as_ref()).collect();
        let pair = |o: &str| {
            links
                .iter()
                .find(|l| l.external_id(Side::Outlook).map(|e| e.0.as_str()) == Some(o))
                .copied()
                .expect("a link")
        };
        let ken = pair("o-ken");
        assert_eq!(
            (ken.id, ken.external_id(Side::Zoho).map(|e| e.0.as_str())),
            (old(900), Some("z-ken"))
        );
        assert_eq!(ken.status, LinkStatus::Active);
        let yui = pair("o-yui");
        assert_eq!(
            (yui.id, yui.external_id(Side::Zoho).map(|e| e.0.as_str())),
            (old(901), Some("z-yui"))
        );
        let sato = pair("o-sato");
        assert_eq!(
            sato.external_id(Side::Zoho).map(|e| e.0.as_str()),
            Some("z-sato")
        );
        let mori = pair("o-mori");
        assert_eq!(mori.status, LinkStatus::Unpaired);
        assert!(mori.zoho.is_none() && mori.last_error.is_some());
        // The links the pairs were read into are removed (the ids kept replace them).
        let removed = settled.iter().filter(|s| s.out.remove).count();
        assert_eq!(removed, 3 + 2, "three pairs' second links, two renamed");
    }

    fn event_read(side: Side, categories: &[&str]) -> Input {
        let at = |s: &str| sync_model::EventTime::DateTime {
            utc: s.parse().unwrap(),
            time_zone: None,
        };
        Input::Changed {
            side,
            external_id: ExternalId("e-1".into()),
            version: Version("v1".into()),
            item: Item::Event(sync_model::Event {
                subject: "Review".into(),
                start: at("2026-03-30T07:00:00Z"),
                end: at("2026-03-30T08:00:00Z"),
                location: None,
                description: None,
                categories: categories.iter().map(|c| (*c).to_owned()).collect(),
                reminder_minutes_before: None,
                attendees: Vec::new(),
                recurrence: None,
            }),
            identity: None,
            modified: None,
        }
    }

    #[test]
    fn an_outlook_event_outside_the_category_filter_has_left_the_scope() {
        let settings = settings();
        let left = Input::LeftScope {
            side: Side::Outlook,
            external_id: ExternalId("e-1".into()),
            modified: None,
        };
        assert_eq!(
            within(Some(&settings), event_read(Side::Outlook, &["Private"])),
            left
        );
        // In the filter, from Zoho (which has no categories), or without settings: as read.
        for read in [
            event_read(Side::Outlook, &["zoho"]),
            event_read(Side::Zoho, &[]),
        ] {
            assert_eq!(within(Some(&settings), read.clone()), read);
        }
        let read = event_read(Side::Outlook, &["Private"]);
        assert_eq!(within(None, read.clone()), read);
        let all = UserSettings {
            calendar_categories: CategoryFilter::All,
            ..settings
        };
        assert_eq!(within(Some(&all), read.clone()), read);
    }
}

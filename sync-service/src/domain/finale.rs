//! The end of a first sync (or of a re-scope) in two halves, so that it can be done in pages
//! (issue 14 point 4, decisions #83):
//! - [`plan`] decides, from a compact view of each waiting link ([`Waiting`]: its matching keys,
//!   the side it holds, the identity its item carried), which links pair, which are held as
//!   ambiguous and which are settled alone (created on the other side, left out of scope, or
//!   reported unpaired by a links rebuild): a list of [`Step`]s;
//! - [`settle`] carries out one step on the links as they are *now*, which may be later than
//!   the plan: a link deleted, paired or changed since is taken as it is (a pair whose partner
//!   vanished settles the survivor alone; a link no longer waiting is left alone).
//!
//! [`super::scope::finish`] is the two run back to back; the handler runs the steps in pages,
//! each in its own transaction, and plans again (a sweep) for what arrived meanwhile.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sync_model::{ExternalId, LinkId, Side};
use sync_protocol::LinkIdentity;

use super::engine::{Ids, Output, Rules, reconcile, tag_from_zoho};
use super::link::{Link, LinkStatus, SideState};
use super::matching::{Found, Keys, keys, leave_unpaired, match_keys, pair_by_identity};
use super::merge::combine;
use super::scope::Settled;

/// What the plan needs of a waiting link (unmatched, or out of scope): no content but its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    pub id: LinkId,
    pub status: LinkStatus,
    /// The side it holds an item on, when it holds one on that side only.
    pub alone_on: Option<Side>,
    /// Whether it holds (or awaits) an item on either side.
    pub holds_any: bool,
    /// Its item's id on `alone_on`, and the identity that item carried (a links rebuild).
    pub external_id: Option<ExternalId>,
    pub identity: Option<LinkIdentity>,
    pub keys: Keys,
}

impl Waiting {
    /// The view of `link` when it waits for the finale; `None` otherwise. The item's id and
    /// identity are kept for a links rebuild only (the identity pairing is all that reads them).
    pub fn of(link: &Link, rebuilding: bool) -> Option<Waiting> {
        if !waiting(link) {
            return None;
        }
        let alone_on = match (&link.outlook, &link.zoho) {
            (Some(_), None) => Some(Side::Outlook),
            (None, Some(_)) => Some(Side::Zoho),
            _ => None,
        };
        Some(Waiting {
            id: link.id,
            status: link.status,
            alone_on,
            holds_any: link.outlook.is_some() || link.zoho.is_some(),
            external_id: alone_on
                .filter(|_| rebuilding)
                .and_then(|s| link.external_id(s).cloned()),
            identity: link.found_identity.clone().filter(|_| rebuilding),
            keys: keys(&link.target),
        })
    }
}

/// Out of scope with its item departed (decision 105), a link waits for that item, paired by
/// its id when it is read again: not for a lookalike.
fn waiting(link: &Link) -> bool {
    matches!(link.status, LinkStatus::Unmatched | LinkStatus::OutOfScope) && link.departed.is_none()
}

/// One decision of the plan, carried out by [`settle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The Outlook item's link and the Zoho item's link become one; `keep`: the link id the
    /// pair takes (a links rebuild keeps the id the copies carry), else the Outlook link's.
    Pair {
        outlook: LinkId,
        zoho: LinkId,
        keep: Option<LinkId>,
    },
    /// More than one item on the other side could be its partner: held for the user.
    Hold { link: LinkId },
    /// No partner: created on the other side (or left as it is, see [`settle`]).
    Alone { link: LinkId },
}

impl Step {
    /// The links the step settles (to load, locked, before [`settle`]).
    pub fn links(&self) -> Vec<LinkId> {
        match self {
            Step::Pair { outlook, zoho, .. } => vec![*outlook, *zoho],
            Step::Hold { link } | Step::Alone { link } => vec![*link],
        }
    }
}

/// The plan for the waiting links: identity pairs (a links rebuild, decisions #43), then key
/// pairs, ambiguous items held, and every other unmatched item alone, in link id order. Steps
/// that would change nothing are left out, so a plan of links that already went through one
/// is empty (what makes the sweep after the last page end).
pub fn plan(mut waiting: Vec<Waiting>, rebuilding: bool) -> Vec<Step> {
    waiting.sort_by_key(|w| w.id.0);
    let by_identity = if rebuilding {
        let found = |side: Side| -> Vec<Found> {
            waiting
                .iter()
                .filter(|w| w.status == LinkStatus::Unmatched && w.alone_on == Some(side))
                .filter_map(|w| {
                    Some(Found {
                        link: w.id,
                        external_id: w.external_id.as_ref()?,
                        identity: w.identity.as_ref(),
                    })
                })
                .collect()
        };
        pair_by_identity(&found(Side::Outlook), &found(Side::Zoho))
    } else {
        Vec::new()
    };
    let in_use: HashSet<LinkId> = waiting.iter().map(|w| w.id).collect();
    let mut decided: HashSet<LinkId> = by_identity
        .iter()
        .flat_map(|p| [p.outlook, p.zoho])
        .collect();
    let (mut outlook, mut zoho) = (Vec::new(), Vec::new());
    for w in waiting.iter_mut().filter(|w| !decided.contains(&w.id)) {
        // Moved, not copied: the keys are the bulk of the plan's memory, read once.
        let keys = std::mem::take(&mut w.keys);
        match w.alone_on {
            Some(Side::Outlook) => outlook.push((w.id, keys)),
            Some(Side::Zoho) => zoho.push((w.id, keys)),
            None => {}
        }
    }
    let matches = match_keys(&outlook, &zoho);
    drop((outlook, zoho));

    let mut steps = Vec::new();
    for pair in by_identity {
        // The pair's link id from before the loss, unless another waiting link has it.
        let keep = pair
            .link_id
            .filter(|old| *old != pair.outlook && (*old == pair.zoho || !in_use.contains(old)));
        steps.push(Step::Pair {
            outlook: pair.outlook,
            zoho: pair.zoho,
            keep,
        });
    }
    for (o, z) in matches.pairs {
        decided.extend([o, z]);
        steps.push(Step::Pair {
            outlook: o,
            zoho: z,
            keep: None,
        });
    }
    let status: HashMap<LinkId, LinkStatus> = waiting.iter().map(|w| (w.id, w.status)).collect();
    for id in matches.ambiguous {
        decided.insert(id);
        if status.get(&id) == Some(&LinkStatus::Unmatched) {
            steps.push(Step::Hold { link: id });
        }
    }
    steps.extend(
        waiting
            .iter()
            .filter(|w| w.status == LinkStatus::Unmatched && w.holds_any)
            .filter(|w| !decided.contains(&w.id))
            .map(|w| Step::Alone { link: w.id }),
    );
    steps
}

/// Carries out `step` on the links as they are now (`links`: those the step names that still
/// exist; it takes them out). `rules`: the user's, during the finale (`rebuilding` says whether
/// it ends a links rebuild); the links leave it as after a first sync.
pub fn settle(
    step: &Step,
    links: &mut HashMap<LinkId, Link>,
    rules: Rules,
    ids: &mut dyn Ids,
) -> Vec<Settled> {
    let rebuilding = rules.rebuilding;
    let rules = Rules {
        first_sync_open: false,
        rebuilding: false,
        ..rules
    };
    match *step {
        Step::Pair {
            outlook,
            zoho,
            keep,
        } => {
            let o = links.remove(&outlook);
            let z = links.remove(&zoho);
            match (o, z) {
                (Some(o), Some(z)) if alone_on(&o, Side::Outlook) && alone_on(&z, Side::Zoho) => {
                    pair(o, z, keep, rules, ids)
                }
                // The partner was deleted, or changed, since the plan: whoever still waits is
                // settled alone (an unmatched survivor is created on the other side).
                (o, z) => o
                    .into_iter()
                    .chain(z)
                    .filter_map(|l| alone(l, rebuilding, rules, ids))
                    .collect(),
            }
        }
        Step::Hold { link } => match links.remove(&link) {
            Some(mut link) if link.status == LinkStatus::Unmatched => {
                link.status = LinkStatus::Ambiguous;
                vec![Settled {
                    id: link.id,
                    out: Output {
                        link: Some(link),
                        ..Output::default()
                    },
                }]
            }
            _ => Vec::new(),
        },
        Step::Alone { link } => links
            .remove(&link)
            .and_then(|l| alone(l, rebuilding, rules, ids))
            .into_iter()
            .collect(),
    }
}

/// Whether `link` still waits with an item on `side` only (as when it was planned).
fn alone_on(link: &Link, side: Side) -> bool {
    waiting(link) && link.side(side).is_some() && link.side(side.other()).is_none()
}

/// Two waiting halves become one link: gaps filled, differences decided by the rule.
fn pair(
    mut link: Link,
    z: Link,
    keep: Option<LinkId>,
    rules: Rules,
    ids: &mut dyn Ids,
) -> Vec<Settled> {
    let o_id = link.id;
    let (target, conflicts) = combine(&link.target, &z.target, rules.conflict_rule);
    let mut settled = vec![Settled {
        id: z.id,
        out: Output {
            remove: true,
            ..Output::default()
        },
    }];
    if let Some(keep) = keep.filter(|k| *k != o_id) {
        settled.push(Settled {
            id: o_id,
            out: Output {
                remove: true,
                ..Output::default()
            },
        });
        link.id = keep;
    }
    link.found_identity = None;
    link.departed = None;
    link.zoho = z.zoho;
    link.target = target;
    link.status = LinkStatus::Active;
    if conflicts.iter().any(|c| c.winner.is_none()) {
        link.status = LinkStatus::Review;
        link.held = conflicts.clone();
    }
    let mut out = Output {
        conflicts,
        ..Output::default()
    };
    reconcile(&mut link, rules, ids, &mut out);
    out.link = Some(link);
    settled.push(Settled { id: o_id, out });
    settled
}

/// An unmatched link without partner: created on the other side; in a links rebuild left
/// unpaired (a rebuild creates nothing); from the side a one-way kind does not take, left out
/// of scope. Anything else (out of scope, no longer waiting) stays as it is.
fn alone(mut link: Link, rebuilding: bool, rules: Rules, ids: &mut dyn Ids) -> Option<Settled> {
    if link.status != LinkStatus::Unmatched {
        return None;
    }
    let id = link.id;
    let kept = |link: Link| Settled {
        id,
        out: Output {
            link: Some(link),
            ..Output::default()
        },
    };
    if rebuilding {
        leave_unpaired(&mut link);
        return Some(kept(link));
    }
    let from = Side::ALL.into_iter().find(|s| link.side(*s).is_some())?;
    if !rules.direction.is_some_and(|d| d.allows(from)) {
        link.status = LinkStatus::OutOfScope;
        return Some(kept(link));
    }
    link.status = LinkStatus::Active;
    if from == Side::Zoho {
        tag_from_zoho(&mut link.target);
    }
    *link.side_mut(from.other()) = Some(SideState::missing());
    let mut out = Output::default();
    reconcile(&mut link, rules, ids, &mut out);
    out.link = Some(link);
    Some(Settled { id, out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::engine::{Input, step};
    use crate::domain::settings::{ConflictRule, Direction};
    use sync_model::{Contact, EmailAddress, Item, UserId, Version};
    use sync_protocol::ApplyOp;
    use uuid::Uuid;

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

    /// The rules while a first sync is open.
    fn open() -> Rules {
        Rules {
            direction: Some(Direction::TwoWay),
            conflict_rule: ConflictRule::ZohoWins,
            first_sync_open: true,
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

    /// A new item read while the first sync is open: an unmatched link.
    fn read(side: Side, id: &str, item: Item, ids: &mut Counter) -> Link {
        let input = Input::Changed {
            side,
            external_id: ExternalId(id.into()),
            version: Version("v1".into()),
            item,
            identity: None,
            modified: None,
        };
        step(None, input, UserId(Uuid::nil()), open(), ids)
            .link
            .expect("an unmatched link")
    }

    /// Anna and Ben on both sides, Carl and Cora alike in Outlook (one Zoho "Carl": ambiguous),
    /// Dora in Zoho only, Emil in Outlook only.
    fn first_sync(ids: &mut Counter) -> Vec<Link> {
        vec![
            read(Side::Outlook, "o-anna", person("Anna", "anna@x.jp"), ids),
            read(Side::Zoho, "z-anna", person("Anna", "anna@x.jp"), ids),
            read(Side::Outlook, "o-ben", person("Ben", "ben@x.jp"), ids),
            read(Side::Zoho, "z-ben", person("Benjamin", "ben@x.jp"), ids),
            read(Side::Outlook, "o-carl", person("Carl", "carl@x.jp"), ids),
            read(Side::Outlook, "o-cora", person("Cora", "carl@x.jp"), ids),
            read(Side::Zoho, "z-carl", person("Carl", "carl@x.jp"), ids),
            read(Side::Zoho, "z-dora", person("Dora", "dora@x.jp"), ids),
            read(Side::Outlook, "o-emil", person("Emil", "emil@x.jp"), ids),
        ]
    }

    fn by_id(links: &[Link]) -> HashMap<LinkId, Link> {
        links.iter().map(|l| (l.id, l.clone())).collect()
    }

    /// What the links became: (Outlook id, Zoho id, status, whether a create was sent).
    fn outcome(links: &[Link], settled: &[Settled]) -> Vec<(String, String, String, bool)> {
        let mut store = by_id(links);
        for s in settled {
            store.remove(&s.id);
            if let Some(link) = &s.out.link {
                store.insert(link.id, link.clone());
            }
        }
        let creates: HashSet<LinkId> = settled
            .iter()
            .filter(|s| {
                s.out
                    .commands
                    .iter()
                    .any(|c| matches!(c.op, ApplyOp::Create { .. }))
            })
            .filter_map(|s| s.out.link.as_ref().map(|l| l.id))
            .collect();
        let mut all: Vec<_> = store
            .values()
            .map(|l| {
                let id = |side| l.external_id(side).map(|e| e.0.clone()).unwrap_or_default();
                (
                    id(Side::Outlook),
                    id(Side::Zoho),
                    l.status.as_str().to_owned(),
                    creates.contains(&l.id),
                )
            })
            .collect();
        all.sort();
        all
    }

    /// Settles `steps` in pages of `size`, each page on the links as stored after the last.
    fn paged(links: &[Link], steps: &[Step], size: usize, ids: &mut Counter) -> Vec<Settled> {
        let mut store = by_id(links);
        let mut all = Vec::new();
        for page in steps.chunks(size) {
            let mut loaded: HashMap<LinkId, Link> = page
                .iter()
                .flat_map(Step::links)
                .filter_map(|id| store.get(&id).map(|l| (id, l.clone())))
                .collect();
            for step in page {
                for s in settle(step, &mut loaded, open(), ids) {
                    store.remove(&s.id);
                    if let Some(link) = &s.out.link {
                        store.insert(link.id, link.clone());
                    }
                    all.push(s);
                }
            }
        }
        all
    }

    #[test]
    fn pages_of_any_size_decide_as_the_whole_finale_at_once() {
        let mut ids = Counter(0);
        let links = first_sync(&mut ids);
        let whole = super::super::scope::finish(links.clone(), open(), &mut Counter(1000));
        let expected = outcome(&links, &whole);
        let steps = plan(
            links.iter().filter_map(|l| Waiting::of(l, false)).collect(),
            false,
        );
        for size in 1..=steps.len() {
            let settled = paged(&links, &steps, size, &mut Counter(1000));
            assert_eq!(outcome(&links, &settled), expected, "pages of {size}");
        }
        let s = |o: &str, z: &str, status: &str, created: bool| {
            (o.to_owned(), z.to_owned(), status.to_owned(), created)
        };
        assert_eq!(
            expected,
            vec![
                s("", "z-carl", "ambiguous", false),
                s("", "z-dora", "active", true),
                s("o-anna", "z-anna", "active", false),
                s("o-ben", "z-ben", "active", false),
                s("o-carl", "", "ambiguous", false),
                s("o-cora", "", "ambiguous", false),
                s("o-emil", "", "active", true),
            ]
        );
    }

    #[test]
    fn the_plan_is_stored_and_read_back_as_json() {
        let mut ids = Counter(0);
        let links = first_sync(&mut ids);
        let steps = plan(
            links.iter().filter_map(|l| Waiting::of(l, false)).collect(),
            false,
        );
        let json = serde_json::to_string(&steps).unwrap();
        assert!(json.contains(r#""step":"pair""#), "{json}");
        let back: Vec<Step> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, steps);
    }

    #[test]
    fn a_pair_whose_partner_vanished_since_the_plan_creates_the_survivor() {
        let mut ids = Counter(0);
        let links = first_sync(&mut ids);
        let steps = plan(
            links.iter().filter_map(|l| Waiting::of(l, false)).collect(),
            false,
        );
        let anna = steps
            .iter()
            .find(|s| matches!(s, Step::Pair { outlook, .. } if *outlook == links[0].id))
            .expect("Anna pairs");
        // The Zoho Anna was deleted before the page came: only the Outlook one is loaded.
        let mut loaded = HashMap::from([(links[0].id, links[0].clone())]);
        let settled = settle(anna, &mut loaded, open(), &mut ids);
        assert_eq!(settled.len(), 1);
        let link = settled[0].out.link.as_ref().unwrap();
        assert_eq!(link.status, LinkStatus::Active);
        assert!(matches!(
            settled[0].out.commands.as_slice(),
            [c] if c.side == Side::Zoho && matches!(c.op, ApplyOp::Create { .. })
        ));
    }

    #[test]
    fn a_link_no_longer_waiting_is_left_as_it_is_and_an_edited_one_takes_its_new_content() {
        let mut ids = Counter(0);
        let links = first_sync(&mut ids);
        let steps = plan(
            links.iter().filter_map(|l| Waiting::of(l, false)).collect(),
            false,
        );
        // Emil was edited in Outlook since the plan: created with what he holds now.
        let emil = links[8].clone();
        let edited = step(
            Some(emil.clone()),
            Input::Changed {
                side: Side::Outlook,
                external_id: ExternalId("o-emil".into()),
                version: Version("v2".into()),
                item: person("Emil E.", "emil@x.jp"),
                identity: None,
                modified: None,
            },
            UserId(Uuid::nil()),
            open(),
            &mut ids,
        )
        .link
        .unwrap();
        let alone = Step::Alone { link: emil.id };
        assert!(steps.contains(&alone));
        let mut loaded = HashMap::from([(emil.id, edited)]);
        let settled = settle(&alone, &mut loaded, open(), &mut ids);
        assert!(matches!(
            &settled[0].out.commands[0].op,
            ApplyOp::Create { item, .. } if item.label().contains("Emil E.")
        ));
        // Already settled (a page that committed, then ran again): nothing more is sent.
        let done = settled[0].out.link.clone().unwrap();
        let mut loaded = HashMap::from([(emil.id, done)]);
        assert!(settle(&alone, &mut loaded, open(), &mut ids).is_empty());
        // Deleted meanwhile: nothing to do.
        assert!(settle(&alone, &mut HashMap::new(), open(), &mut ids).is_empty());
    }

    #[test]
    fn once_settled_the_plan_is_empty_and_a_new_item_gets_a_plan_of_its_own() {
        let mut ids = Counter(0);
        let links = first_sync(&mut ids);
        let settled = super::super::scope::finish(links.clone(), open(), &mut ids);
        let mut store = by_id(&links);
        for s in settled {
            store.remove(&s.id);
            if let Some(link) = s.out.link {
                store.insert(link.id, link);
            }
        }
        let waiting = |store: &HashMap<LinkId, Link>| {
            store
                .values()
                .filter_map(|l| Waiting::of(l, false))
                .collect::<Vec<_>>()
        };
        assert!(plan(waiting(&store), false).is_empty(), "the sweep ends");
        // Fay arrives in Zoho during the finale: the sweep creates her.
        let fay = read(Side::Zoho, "z-fay", person("Fay", "fay@x.jp"), &mut ids);
        store.insert(fay.id, fay.clone());
        assert_eq!(
            plan(waiting(&store), false),
            vec![Step::Alone { link: fay.id }]
        );
    }
}

//! Deletions told by a full re-read (decisions #41). A connector that reads everything of a
//! scope it had read before (its cursor expired, or an admin asked for a resync) cannot report
//! what was deleted meanwhile: the read simply does not list it. It announces such a read
//! (`read_started`), publishes every item it finds, then ends it (`read_completed`, same round).
//!
//! At the start, every link whose item on that side is known (its id confirmed) and live is
//! marked as awaiting the round; each read of the item clears the mark; at the end, a link still
//! marked lost its item on that side: a delete, taken by the engine like any other (staged, so
//! the mass-delete guard judges it with the round's other deletes; or, for a link already deleted
//! on the other side, the end of the link). A link whose item was created during the round was
//! not marked (the round's snapshot may predate it); one whose item left the scope no longer has
//! that side; one with a write in flight there waits for the write's result, which tells.
//!
//! A first sync being open (the very first, or again after another folder or list was chosen,
//! a kind switched on, the calendar filter changed) changes nothing here: a connector announces
//! a full read only when it re-reads the scope it read before (the same folder, list or module;
//! another folder's first read is never announced), and the links known in an old folder lost
//! that side when the folder changed (`ScopeMoved`). So a re-scope's announced read tells the
//! deletions of what was known before it (an item deleted before the settings changed and not
//! yet reported, or while the kind was off), whose partners would otherwise be paired or
//! created by the re-scope's matching (decisions #85).

use sync_model::Side;
use uuid::Uuid;

use super::engine::Input;
use super::link::{InflightOp, Link, LinkStatus, SideRead};

/// Whether a link takes part in full re-reads: anything not yet deleted on both sides. A link
/// whose delete is staged or held may still come back (an edit winning against the delete, an
/// admin discarding it), so its item on the other side is watched too; what a missing item then
/// means is the engine's delete rule's to say (deleted on both sides: the link goes). An
/// out-of-scope item's delete only ends its link (a re-scope must not pair a gone item).
fn live(link: &Link) -> bool {
    link.status != LinkStatus::Deleted
}

/// A link given up whose delete of the item on `side` is still in flight: should that delete
/// fail as stale (an edit there), whether the item is still there decides what comes back.
fn deleting(link: &Link, side: Side) -> bool {
    link.status == LinkStatus::Deleted
        && link
            .side(side)
            .and_then(|s| s.inflight.as_ref())
            .is_some_and(|i| i.op == InflightOp::Delete)
}

/// A full re-read `round` of `side` begins: marks `link` as awaiting it when its item there is
/// known and live. Returns whether the link changed.
pub fn begin(link: &mut Link, side: Side, round: Uuid) -> bool {
    if !(live(link) || deleting(link, side))
        || link.external_id(side).is_none()
        || link.unseen.get(side) == Some(round)
    {
        return false;
    }
    link.unseen.set(side, Some(round));
    true
}

/// The item was read on `side`: whatever full re-read is in progress has shown it.
pub fn seen(link: &mut Link, side: Side) {
    link.unseen.set(side, None);
}

/// The full re-read `round` of `side` ended. Clears the link's mark; when the round never showed
/// the item although it was known there since before the round (and the link is still live),
/// the item is gone: the delete to stage. A read of a window only
/// (`lists_everything` false: Outlook's calendar) proves nothing about an item it did not list
/// (it may lie, or have moved, outside the window): the item is asked for by id instead.
pub fn end(link: &mut Link, side: Side, round: Uuid, lists_everything: bool) -> Option<Input> {
    if link.unseen.get(side) != Some(round) {
        return None;
    }
    link.unseen.set(side, None);
    if !live(link) {
        if lists_everything
            && deleting(link, side)
            && let Some(state) = link.side_mut(side).as_mut()
        {
            state.read_in_flight = Some(Box::new(SideRead::Deleted));
        }
        return None;
    }
    let state = link.side_mut(side).as_mut()?;
    if let Some(inflight) = &state.inflight {
        // The write's result tells whether the item is still there, except an update's
        // success, and a probe finding it: either may have been carried out before the round
        // began and the item gone since, unlisted here; asked for by id (again) then.
        if matches!(inflight.op, InflightOp::Update { .. } | InflightOp::Probe) {
            state.probe_after_write = true;
        }
        return None;
    }
    if !lists_everything {
        return Some(Input::Probe { side });
    }
    Some(Input::Deleted {
        side,
        external_id: state.id.clone()?,
    })
}

/// What the end of a round of a side does with a copy our create made there that no read has
/// listed since ([`SideState::unlisted`](super::link::SideState::unlisted)).
#[derive(Debug, Clone, PartialEq)]
pub enum Unlisted {
    /// The round may have begun before our create was answered, so not listing the copy says
    /// nothing yet: marked as having waited a round (the link changed; store it).
    WaitedARound,
    /// A whole round began after the create and did not list the copy: asked for by id, since
    /// its deletion may never be told (decision 91).
    Ask(Input),
}

/// A side's round ended (a delta round or a full one): see [`Unlisted`]. Normally the round
/// after our create listed the copy (the echo of our create) and there is nothing to do.
pub fn unlisted(link: &mut Link, side: Side) -> Option<Unlisted> {
    let live = live(link);
    let state = link.side_mut(side).as_mut()?;
    if !(live && state.unlisted && state.inflight.is_none() && state.id.is_some()) {
        return None;
    }
    if state.unlisted_a_round {
        return Some(Unlisted::Ask(Input::Probe { side }));
    }
    state.unlisted_a_round = true;
    Some(Unlisted::WaitedARound)
}

#[cfg(test)]
mod tests {
    use sync_model::{Contact, ExternalId, Item, LinkId, UserId, Version};

    use super::*;
    use crate::domain::{Command, Inflight, InflightOp, Rules, SideState, step};
    use crate::domain::{ConflictRule, Direction, engine::Ids};
    use sync_protocol::ApplyOp;

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

    fn contact(name: &str) -> Item {
        Item::Contact(Contact {
            surname: Some(name.into()),
            ..Contact::default()
        })
    }

    fn rules() -> Rules {
        Rules {
            direction: Some(Direction::TwoWay),
            conflict_rule: ConflictRule::ZohoWins,
            first_sync_open: false,
            rebuilding: false,
        }
    }

    /// A link in agreement on both sides.
    fn synced() -> Link {
        let item = contact("Sato");
        let mut link = Link::new(
            LinkId(Uuid::nil()),
            UserId(Uuid::nil()),
            LinkStatus::Active,
            item.clone(),
        );
        link.outlook = Some(SideState::seen(
            ExternalId("o1".into()),
            Version("v".into()),
            item.clone(),
        ));
        link.zoho = Some(SideState::seen(
            ExternalId("z1".into()),
            Version("v".into()),
            item,
        ));
        link
    }

    const ROUND: Uuid = Uuid::from_u128(7);

    /// Decision 101: a copy our create made is asked for only at the end of a round that began
    /// after the create, i.e. the second round end that finds it unlisted; a read listing it
    /// in between (the echo of our create) ends the matter.
    #[test]
    fn a_copy_no_round_listed_is_asked_for_at_the_second_round_end_only() {
        let mut link = synced();
        link.outlook
            .as_mut()
            .expect("a side")
            .made_by_us(Side::Outlook);
        assert_eq!(
            unlisted(&mut link, Side::Outlook),
            Some(Unlisted::WaitedARound)
        );
        assert_eq!(
            unlisted(&mut link, Side::Outlook),
            Some(Unlisted::Ask(Input::Probe {
                side: Side::Outlook
            }))
        );
        // Zoho is never marked: its deleted records are listed by id.
        let mut zoho = synced();
        zoho.zoho.as_mut().expect("a side").made_by_us(Side::Zoho);
        assert_eq!(unlisted(&mut zoho, Side::Zoho), None);

        // Listed between the two round ends: nothing is asked.
        let mut listed = synced();
        listed
            .outlook
            .as_mut()
            .expect("a side")
            .made_by_us(Side::Outlook);
        unlisted(&mut listed, Side::Outlook);
        let echo = Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("o1".into()),
            version: Version("v".into()),
            item: contact("Sato"),
            identity: None,
            modified: None,
        };
        let out = step(
            Some(listed),
            echo,
            UserId(Uuid::nil()),
            rules(),
            &mut Counter(100),
        );
        let mut listed = out.link.expect("the link");
        assert_eq!(unlisted(&mut listed, Side::Outlook), None);
    }

    #[test]
    fn an_item_a_windowed_read_did_not_show_is_asked_for_by_id() {
        let mut ids = Counter(100);
        let mut link = synced();
        assert!(begin(&mut link, Side::Outlook, ROUND));
        let input = end(&mut link, Side::Outlook, ROUND, false).expect("a probe");
        assert_eq!(
            input,
            Input::Probe {
                side: Side::Outlook
            }
        );
        let out = step(Some(link), input, UserId(Uuid::nil()), rules(), &mut ids);
        assert_eq!(out.commands.len(), 1);
        let command_id = out.commands[0].command_id;
        assert_eq!(
            out.commands[0].op,
            ApplyOp::Probe {
                external_id: ExternalId("o1".into())
            }
        );
        let probing = out.link.expect("the link");
        assert!(!out.staged_delete, "nothing is deleted on a guess");

        // Found (outside the window): nothing changes but what the answer tells.
        let found = step(
            Some(probing.clone()),
            Input::Stale {
                side: Side::Outlook,
                command_id,
                external_id: ExternalId("o1".into()),
                version: Version("v".into()),
                item: contact("Sato"),
                modified: None,
            },
            UserId(Uuid::nil()),
            rules(),
            &mut ids,
        );
        assert!(found.commands.is_empty());
        assert_eq!(found.link.expect("kept").status, LinkStatus::Active);

        // Gone: the delete is staged like any other.
        let gone = step(
            Some(probing),
            Input::Gone {
                side: Side::Outlook,
                command_id,
            },
            UserId(Uuid::nil()),
            rules(),
            &mut ids,
        );
        assert!(gone.staged_delete);
        assert_eq!(
            gone.link.expect("kept").status,
            LinkStatus::StagedDelete { by: Side::Outlook }
        );
    }

    /// Decision 106: a probe in flight when a full re-read did not list the item may have been
    /// carried out before the round began (its answer late): its finding the item proves
    /// nothing about now, so the item is asked for again once it is answered.
    #[test]
    fn a_probe_in_flight_when_the_round_did_not_list_the_item_is_asked_again() {
        let mut ids = Counter(100);
        let mut link = synced();
        let input = Input::Probe {
            side: Side::Outlook,
        };
        let out = step(Some(link), input, UserId(Uuid::nil()), rules(), &mut ids);
        let first = out.commands[0].command_id;
        link = out.link.expect("the link");
        assert!(begin(&mut link, Side::Outlook, ROUND));
        assert_eq!(
            end(&mut link, Side::Outlook, ROUND, true),
            None,
            "its answer tells"
        );
        let found = Input::Stale {
            side: Side::Outlook,
            command_id: first,
            external_id: ExternalId("o1".into()),
            version: Version("v".into()),
            item: contact("Sato"),
            modified: None,
        };
        let out = step(Some(link), found, UserId(Uuid::nil()), rules(), &mut ids);
        match &out.commands[..] {
            [
                Command {
                    side: Side::Outlook,
                    op: ApplyOp::Probe { external_id },
                    command_id,
                },
            ] => {
                assert_eq!(external_id, &ExternalId("o1".into()));
                assert_ne!(*command_id, first);
            }
            other => panic!("the item asked for again expected: {other:?}"),
        }
    }

    #[test]
    fn an_item_the_round_did_not_show_is_a_staged_delete() {
        let mut link = synced();
        assert!(begin(&mut link, Side::Outlook, ROUND));
        let input = end(&mut link, Side::Outlook, ROUND, true).expect("a delete");
        assert_eq!(
            input,
            Input::Deleted {
                side: Side::Outlook,
                external_id: ExternalId("o1".into())
            }
        );
        assert!(link.unseen.is_empty());
        let out = step(
            Some(link),
            input,
            UserId(Uuid::nil()),
            rules(),
            &mut Counter(0),
        );
        assert!(out.staged_delete, "it waits for the mass-delete guard");
        assert_eq!(
            out.link.unwrap().status,
            LinkStatus::StagedDelete { by: Side::Outlook }
        );
        assert!(
            out.commands.is_empty(),
            "nothing is deleted before the guard decides"
        );
    }

    #[test]
    fn an_item_the_round_showed_is_kept() {
        let mut link = synced();
        begin(&mut link, Side::Outlook, ROUND);
        // The full read publishes it again (unchanged): the engine's read clears the mark.
        let read = Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("o1".into()),
            version: Version("v".into()),
            item: contact("Sato"),
            identity: None,
            modified: None,
        };
        let out = step(
            Some(link),
            read,
            UserId(Uuid::nil()),
            rules(),
            &mut Counter(0),
        );
        let mut link = out.link.unwrap();
        assert!(out.commands.is_empty());
        assert_eq!(end(&mut link, Side::Outlook, ROUND, true), None);
    }

    #[test]
    fn the_other_side_and_other_rounds_are_not_concerned() {
        let mut link = synced();
        begin(&mut link, Side::Outlook, ROUND);
        assert_eq!(end(&mut link, Side::Zoho, ROUND, true), None);
        assert_eq!(
            end(&mut link, Side::Outlook, Uuid::from_u128(8), true),
            None
        );
        // A newer round of the same side replaces the older one.
        assert!(begin(&mut link, Side::Outlook, Uuid::from_u128(8)));
        assert_eq!(end(&mut link, Side::Outlook, ROUND, true), None);
        assert!(end(&mut link, Side::Outlook, Uuid::from_u128(8), true).is_some());
    }

    #[test]
    fn a_create_in_flight_or_done_during_the_round_is_never_deleted() {
        // Our create on Outlook is in flight when the round begins: no id there, not marked.
        let mut link = synced();
        link.outlook = Some(SideState {
            id: None,
            version: None,
            known: None,
            inflight: Some(Inflight {
                command_id: Uuid::from_u128(1),
                op: InflightOp::Create {
                    item: contact("Sato"),
                },
            }),
            created: false,
            may_exist: false,
            read_in_flight: None,
            probe_after_write: false,
            unlisted: false,
            unlisted_a_round: false,
            modified: None,
        });
        assert!(!begin(&mut link, Side::Outlook, ROUND));
        // Its result arrives during the round: the id is known now, yet the round's snapshot
        // may predate the item; the round ends without having shown it.
        let applied = Input::Applied {
            side: Side::Outlook,
            command_id: Uuid::from_u128(1),
            external_id: ExternalId("o1".into()),
            version: Version("v".into()),
            modified: None,
        };
        let mut link = step(
            Some(link),
            applied,
            UserId(Uuid::nil()),
            rules(),
            &mut Counter(0),
        )
        .link
        .unwrap();
        assert_eq!(
            link.external_id(Side::Outlook),
            Some(&ExternalId("o1".into()))
        );
        assert_eq!(end(&mut link, Side::Outlook, ROUND, true), None);
    }

    #[test]
    fn a_write_in_flight_waits_for_its_own_outcome() {
        let mut link = synced();
        begin(&mut link, Side::Outlook, ROUND);
        link.outlook.as_mut().unwrap().inflight = Some(Inflight {
            command_id: Uuid::from_u128(2),
            op: InflightOp::Update {
                item: contact("Sato"),
                base: None,
                expected: None,
            },
        });
        assert_eq!(end(&mut link, Side::Outlook, ROUND, true), None);
        assert!(link.unseen.is_empty());
    }

    #[test]
    fn a_link_whose_delete_waits_is_watched_too() {
        // Deleted in Zoho, the delete staged (it could still lose to an edit and come back):
        // the Outlook copy missing from the re-read as well means gone on both sides.
        let mut link = synced();
        link.status = LinkStatus::StagedDelete { by: Side::Zoho };
        assert!(begin(&mut link, Side::Outlook, ROUND));
        let input = end(&mut link, Side::Outlook, ROUND, true).expect("a delete");
        let out = step(
            Some(link),
            input,
            UserId(Uuid::nil()),
            rules(),
            &mut Counter(0),
        );
        assert!(out.remove, "deleted on both sides: the link goes");
        assert!(out.commands.is_empty());

        // A link deleted on both sides, kept for late messages, takes no part.
        let mut link = synced();
        link.status = LinkStatus::Deleted;
        assert!(!begin(&mut link, Side::Outlook, ROUND));
    }

    #[test]
    fn an_announced_read_during_an_open_first_sync_tells_what_was_known_before_it() {
        // A link made before a re-scope of the same folder (a kind switched on again, another
        // calendar filter): the re-scope's announced read not showing its item is a delete.
        let mut link = synced();
        assert!(begin(&mut link, Side::Outlook, ROUND));
        assert_eq!(
            end(&mut link, Side::Outlook, ROUND, true),
            Some(Input::Deleted {
                side: Side::Outlook,
                external_id: ExternalId("o1".into()),
            })
        );
        // So is the item of a link waiting for the matching (its partner left with the old
        // folder before its copy was made, or it was out of scope): it must not be paired, or
        // copied into the new folder, once gone.
        for status in [LinkStatus::Unmatched, LinkStatus::OutOfScope] {
            let mut waiting = synced();
            waiting.status = status;
            waiting.outlook = None;
            assert!(begin(&mut waiting, Side::Zoho, ROUND));
            assert!(matches!(
                end(&mut waiting, Side::Zoho, ROUND, true),
                Some(Input::Deleted {
                    side: Side::Zoho,
                    ..
                })
            ));
        }
    }

    #[test]
    fn an_item_that_left_the_scope_is_not_deleted() {
        let mut link = synced();
        begin(&mut link, Side::Outlook, ROUND);
        let left = Input::LeftScope {
            side: Side::Outlook,
            external_id: ExternalId("o1".into()),
            modified: None,
        };
        let mut link = step(
            Some(link),
            left,
            UserId(Uuid::nil()),
            rules(),
            &mut Counter(0),
        )
        .link
        .unwrap();
        assert_eq!(end(&mut link, Side::Outlook, ROUND, true), None);
    }
}

//! Two links for one item: a create's result names an item that another link (the *holder*)
//! already holds on that side.
//!
//! It happens after a crash: our create made the item but its answer was lost, the item was read
//! before the create was repeated, and the read could not tell it was ours (Outlook's contact and
//! calendar delta cannot carry the link identity, and a person may have edited the copy since, so
//! its content no longer matches the create in flight). The holder was made from that read. The
//! repeated create then found its first copy by the identity it carries: the item is the result's
//! link's, and the holder must give it up. Whatever the holder made of it on the other side is a
//! duplicate of the result's link's own item there, and is undone.

use sync_model::{Item, Side};
use sync_protocol::ApplyOp;

use super::engine::{Command, Ids, Input, Output, Rules, reconcile};
use super::link::{Inflight, InflightOp, Link, LinkStatus, SideState};

/// What to do about the holder.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The holder without the item: stored (or removed) before the result's link takes it.
    pub holder: Output,
    /// What the holder learned of the item since our create made it (an edit, or its delete),
    /// for the result's link once its result is in.
    pub news: Option<Input>,
    /// The holder's update of the item, still in flight: what it will leave there. The result's
    /// link takes it after `news` ([`expect_write`]), so that it is never read as an edit.
    pub pending: Option<Item>,
}

pub fn resolve(mut holder: Link, side: Side, rules: Rules, ids: &mut dyn Ids) -> Resolution {
    // A holder given up whose own delete of the item is still in flight has not deleted it:
    // the item is there until that delete's answer, which goes to the holder. Telling the
    // result's link it is deleted would end that link with the item still there.
    let deleting_here = holder
        .side(side)
        .and_then(|s| s.inflight.as_ref())
        .is_some_and(|i| i.op == InflightOp::Delete);
    let deleted_here = match holder.status {
        LinkStatus::Deleted => true,
        LinkStatus::StagedDelete { by } | LinkStatus::HeldDelete { by } => by == side,
        _ => false,
    };
    // The holder may know the item only as departed (out of the calendar's categories,
    // decision 105): the result's link learns that it is out.
    let departed = super::engine::forget_departed(&mut holder, side);
    let given_up = holder.side_mut(side).take();
    let update_in_flight = given_up
        .as_ref()
        .and_then(|s| s.inflight.as_ref())
        .or_else(|| departed.as_ref().and_then(|d| d.inflight.as_ref()));
    let pending = match update_in_flight {
        Some(Inflight {
            op: InflightOp::Update { item, .. },
            ..
        }) => Some(item.clone()),
        _ => None,
    };
    let was_departed = departed.is_some();
    // Judged anew after a re-scope (no time of leaving): the time of what was known of it, so
    // that the result's link keeps it as departed rather than as gone from the folder.
    let left = departed.map(|d| Input::LeftScope {
        side,
        external_id: d.id,
        modified: d.modified.or(d.seen).or(d.written),
    });
    let news = left.or_else(|| {
        given_up.filter(|_| !deleting_here).and_then(|state| {
            let external_id = state.id?;
            if deleted_here {
                return Some(Input::Deleted { side, external_id });
            }
            Some(Input::Changed {
                side,
                external_id,
                version: state.version?,
                item: state.known?,
                identity: None,
                modified: state.modified,
            })
        })
    });

    let other = side.other();
    let mut out = Output::default();
    let Some(partner) = holder
        .side(other)
        .filter(|s| s.id.is_some() || s.inflight.is_some())
    else {
        // The holder paired it with nothing: it goes.
        out.remove = true;
        return Resolution {
            holder: out,
            news,
            pending,
        };
    };
    let ours = partner.created
        || matches!(
            partner.inflight,
            Some(Inflight {
                op: InflightOp::Create { .. },
                ..
            })
        );
    let in_flight = partner.inflight.is_some();
    if ours {
        // The holder's copy duplicates the result's link's own item there: undone now, or,
        // when a write to it is in flight, once that write's result is in (the engine undoes
        // any write that lands on a deleted link).
        holder.mark_deleted();
        if !in_flight {
            undo(&mut holder, other, ids, &mut out);
        }
    } else if deleted_here {
        // A real item the first sync paired with the one now deleted: the delete reaches it,
        // conditional on the version we know (an edit since is decided by the rule).
        if holder.status != LinkStatus::Deleted && !in_flight {
            holder.mark_deleted();
            delete(&mut holder, other, true, ids, &mut out);
        }
    } else if was_departed {
        // A real item paired with one now out of scope: it stays out of scope, as it was.
    } else {
        // A real item the first sync paired with it: it stays, and gets its own copy.
        holder.status = LinkStatus::Active;
        holder.held.clear();
        *holder.side_mut(side) = Some(SideState::missing());
        reconcile(&mut holder, rules, ids, &mut out);
    }
    out.link = Some(holder);
    Resolution {
        holder: out,
        news,
        pending,
    }
}

/// The holder's update of the item it gave up was in flight (`Resolution::pending`): the item
/// will hold `item` once it lands, whatever the result's link wants there. The link takes that
/// as what `side` holds (the write, read back, is no edit made there: it must not overwrite
/// the side's real edit the link just learned of), and writes its own content over it where
/// they differ (conditional on the version it knows, so it lands after the holder's write or
/// makes it stale).
pub fn expect_write(
    mut link: Link,
    side: Side,
    item: Item,
    rules: Rules,
    ids: &mut dyn Ids,
) -> Output {
    let mut out = Output::default();
    if let Some(state) = link.side_mut(side).as_mut()
        && state.id.is_some()
    {
        state.known = Some(item);
        reconcile(&mut link, rules, ids, &mut out);
    }
    out.link = Some(link);
    out
}

/// Deletes what `link` holds on `side`, whatever it became since: it is a write of ours that
/// must not stay.
pub(super) fn undo(link: &mut Link, side: Side, ids: &mut dyn Ids, out: &mut Output) {
    delete(link, side, false, ids, out);
}

fn delete(link: &mut Link, side: Side, conditional: bool, ids: &mut dyn Ids, out: &mut Output) {
    let Some(state) = link.side_mut(side).as_mut() else {
        return;
    };
    let Some(external_id) = state.id.clone() else {
        return;
    };
    let command_id = ids.command_id();
    state.inflight = Some(Inflight {
        command_id,
        op: InflightOp::Delete,
    });
    out.commands.push(Command {
        side,
        command_id,
        op: ApplyOp::Delete {
            external_id,
            expected_version: state.version.clone().filter(|_| conditional),
        },
    });
}

#[cfg(test)]
mod tests {
    use sync_model::{Contact, ExternalId, Item, LinkId, UserId, Version};
    use uuid::Uuid;

    use super::*;
    use crate::domain::engine::step;
    use crate::domain::{ConflictRule, Direction};

    struct Counter(u128);

    impl Ids for Counter {
        fn link_id(&mut self) -> sync_model::LinkId {
            self.0 += 1;
            LinkId(Uuid::from_u128(self.0))
        }
        fn command_id(&mut self) -> Uuid {
            self.0 += 1;
            Uuid::from_u128(self.0)
        }
    }

    const RULES: Rules = Rules {
        direction: Some(Direction::TwoWay),
        conflict_rule: ConflictRule::ZohoWins,
        first_sync_open: false,
        rebuilding: false,
    };

    fn contact(job: &str) -> Item {
        Item::Contact(Contact {
            surname: Some("Sato".into()),
            job_title: Some(job.into()),
            ..Contact::default()
        })
    }

    /// The holder: made from a read of Outlook's `o1` (edited since our create made it), with
    /// the Zoho copy it made (`z2`, ours).
    fn holder(status: LinkStatus, zoho: Option<SideState>) -> Link {
        let mut link = Link::new(
            LinkId(Uuid::from_u128(100)),
            UserId(Uuid::nil()),
            status,
            contact("edited"),
        );
        link.outlook = Some(SideState::seen(
            ExternalId("o1".into()),
            Version("v2".into()),
            contact("edited"),
        ));
        link.zoho = zoho;
        link
    }

    fn made_by_us(id: &str) -> SideState {
        SideState {
            created: true,
            ..SideState::seen(
                ExternalId(id.into()),
                Version("z".into()),
                contact("edited"),
            )
        }
    }

    fn the_read() -> Option<Input> {
        Some(Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("o1".into()),
            version: Version("v2".into()),
            item: contact("edited"),
            identity: None,
            modified: None,
        })
    }

    #[test]
    fn the_copy_a_duplicate_link_made_is_deleted_and_its_read_goes_to_the_rightful_link() {
        let r = resolve(
            holder(LinkStatus::Active, Some(made_by_us("z2"))),
            Side::Outlook,
            RULES,
            &mut Counter(0),
        );
        let link = r
            .holder
            .link
            .expect("the holder is kept until its copy is deleted");
        assert_eq!(link.status, LinkStatus::Deleted);
        assert!(link.outlook.is_none(), "it gives the item up");
        assert!(!r.holder.remove);
        assert_eq!(r.holder.commands.len(), 1);
        assert_eq!(r.holder.commands[0].side, Side::Zoho);
        assert_eq!(
            r.holder.commands[0].op,
            ApplyOp::Delete {
                external_id: ExternalId("z2".into()),
                expected_version: None,
            },
            "our own copy goes whatever it became"
        );
        assert_eq!(
            r.news,
            the_read(),
            "the edit it read reaches the rightful link"
        );
    }

    /// Decision 105: a holder that knows the item only as departed (out of the categories)
    /// gives it up too, so that no two links are stored under its id; the rightful link
    /// learns that it is out of scope, and the holder's own item stays out of scope.
    #[test]
    fn a_holder_whose_item_departed_gives_it_up_and_tells_it_is_out() {
        let mut link = holder(
            LinkStatus::OutOfScope,
            Some(SideState::seen(
                ExternalId("z9".into()),
                Version("z".into()),
                contact("real"),
            )),
        );
        let state = link.outlook.take().expect("the Outlook side");
        link.departed = Some(Box::new(crate::domain::link::Departed {
            side: Side::Outlook,
            id: ExternalId("o1".into()),
            version: state.version,
            modified: None,
            known: state.known,
            seen: None,
            written: None,
            inflight: None,
        }));
        let r = resolve(link, Side::Outlook, RULES, &mut Counter(0));
        let link = r.holder.link.expect("the holder stays");
        assert_eq!(
            link.lookup_id(Side::Outlook),
            None,
            "not stored under o1 any more"
        );
        assert_eq!(link.status, LinkStatus::OutOfScope);
        assert!(r.holder.commands.is_empty(), "nothing copied or deleted");
        assert_eq!(
            r.news,
            Some(Input::LeftScope {
                side: Side::Outlook,
                external_id: ExternalId("o1".into()),
                modified: None,
            })
        );
    }

    #[test]
    fn a_holder_that_paired_the_item_with_nothing_is_removed() {
        let r = resolve(
            holder(LinkStatus::Unmatched, None),
            Side::Outlook,
            RULES,
            &mut Counter(0),
        );
        assert!(r.holder.remove);
        assert!(r.holder.commands.is_empty());
        assert_eq!(r.news, the_read());
    }

    #[test]
    fn a_copy_still_being_created_is_deleted_once_its_create_lands() {
        let creating = SideState {
            inflight: Some(Inflight {
                command_id: Uuid::from_u128(7),
                op: InflightOp::Create {
                    item: contact("edited"),
                },
            }),
            ..SideState::missing()
        };
        let mut ids = Counter(0);
        let r = resolve(
            holder(LinkStatus::Active, Some(creating)),
            Side::Outlook,
            RULES,
            &mut ids,
        );
        assert!(r.holder.commands.is_empty(), "nothing to delete yet");
        let link = r.holder.link.expect("kept");
        assert_eq!(link.status, LinkStatus::Deleted);

        let landed = step(
            Some(link),
            Input::Applied {
                side: Side::Zoho,
                command_id: Uuid::from_u128(7),
                external_id: ExternalId("z2".into()),
                version: Version("z".into()),
                modified: None,
            },
            UserId(Uuid::nil()),
            RULES,
            &mut ids,
        );
        assert_eq!(landed.commands.len(), 1);
        assert!(matches!(
            &landed.commands[0].op,
            ApplyOp::Delete { external_id, .. } if external_id.0 == "z2"
        ));
    }

    #[test]
    fn a_delete_the_holder_read_reaches_the_rightful_link() {
        let r = resolve(
            holder(
                LinkStatus::StagedDelete { by: Side::Outlook },
                Some(made_by_us("z2")),
            ),
            Side::Outlook,
            RULES,
            &mut Counter(0),
        );
        assert_eq!(
            r.news,
            Some(Input::Deleted {
                side: Side::Outlook,
                external_id: ExternalId("o1".into()),
            })
        );
        assert_eq!(r.holder.commands.len(), 1, "the duplicate goes too");
    }

    #[test]
    fn a_real_item_the_holder_paired_it_with_stays_and_gets_its_own_copy() {
        // Paired by the first sync's matching, not made by us.
        let paired = SideState::seen(
            ExternalId("z9".into()),
            Version("z".into()),
            contact("edited"),
        );
        let r = resolve(
            holder(LinkStatus::Active, Some(paired)),
            Side::Outlook,
            RULES,
            &mut Counter(0),
        );
        let link = r.holder.link.expect("kept");
        assert_eq!(link.status, LinkStatus::Active);
        assert_eq!(
            link.zoho.as_ref().and_then(|z| z.id.clone()),
            Some(ExternalId("z9".into()))
        );
        assert_eq!(r.holder.commands.len(), 1);
        assert_eq!(r.holder.commands[0].side, Side::Outlook);
        assert!(matches!(r.holder.commands[0].op, ApplyOp::Create { .. }));
    }
}

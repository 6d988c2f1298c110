//! The sync engine: (link state, input, rules) → new link state, commands, conflicts. Pure: ids
//! come from the caller, so every rule is unit- and property-tested without I/O.

use sync_model::{ExternalId, Item, LinkId, Modified, Side, UserId, Version};
use sync_protocol::{ApplyOp, FailureCode, LinkIdentity};
use uuid::Uuid;

use super::link::{
    Departed, Inflight, InflightOp, Link, LinkError, LinkStatus, SideRead, SideState,
};
use super::merge::{FieldConflict, after_write, incorporate, shows_write, winner};
use super::settings::{ConflictRule, Direction};
use super::{collision, full_read};

/// The category every event created from Zoho gets in Outlook.
pub const ZOHO_CATEGORY: &str = "Zoho";

/// What happened, as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Read from `side`: new, or changed. `identity`: the link identity the item carries there
    /// (it is a copy we made), where the read could carry it.
    Changed {
        side: Side,
        external_id: ExternalId,
        version: Version,
        item: Item,
        identity: Option<LinkIdentity>,
        /// When the provider last changed it (orders this read against what is known).
        modified: Option<Modified>,
    },
    /// Deleted on `side`.
    Deleted { side: Side, external_id: ExternalId },
    /// Left the synced folder, list or categories on `side`: stop syncing it there. `modified`:
    /// when the read that showed it outside was changed (a read the category filter puts out);
    /// `None` when the connector told it (it left the folder or list).
    LeftScope {
        side: Side,
        external_id: ExternalId,
        modified: Option<Modified>,
    },
    /// The whole of `side`'s scope moved (another folder or list): everything known there left.
    ScopeMoved { side: Side },
    /// A re-scope that keeps `side`'s folder or list (another calendar filter, the kind switched
    /// on again or redirected): an item that departed there is judged anew by the re-scope's
    /// full read, so the link forgets it (decision 105).
    Rescoped { side: Side },
    Applied {
        side: Side,
        command_id: Uuid,
        external_id: ExternalId,
        version: Version,
        /// When the provider last changed the item: our write (its time orders later reads).
        modified: Option<Modified>,
    },
    /// A conditional update found the item changed; `item` is what the side holds now.
    Stale {
        side: Side,
        command_id: Uuid,
        external_id: ExternalId,
        version: Version,
        item: Item,
        modified: Option<Modified>,
    },
    /// The item no longer exists on `side`.
    Gone { side: Side, command_id: Uuid },
    Failed {
        side: Side,
        command_id: Uuid,
        code: FailureCode,
        message: String,
    },
    /// The end of a poll round released a staged delete (the mass-delete guard let it pass).
    ReleaseDelete,
    /// The guard held a staged delete back for an admin.
    HoldDelete,
    /// An admin discarded a held delete: the item comes back where it was deleted.
    DiscardDelete,
    /// The user resolved the link's held conflicts by keeping `side`'s values.
    Resolve { keep: Side },
    /// Try the writes again (a create on `side` whose answer was lost and whose item did not
    /// show up in `side`'s poll round).
    Retry { side: Side },
    /// A full read of a window on `side` did not list the item: ask for it by id (its answer
    /// comes as `Stale`, the item as it is, or `Gone`).
    Probe { side: Side },
}

impl Input {
    /// The side and command a write's answer is about; `None` for anything else.
    pub fn answer(&self) -> Option<(Side, Uuid)> {
        match self {
            Input::Applied {
                side, command_id, ..
            }
            | Input::Stale {
                side, command_id, ..
            }
            | Input::Gone { side, command_id }
            | Input::Failed {
                side, command_id, ..
            } => Some((*side, *command_id)),
            _ => None,
        }
    }
}

/// The rules in force for the link's user and kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// `None`: the kind does not sync (off or paused): inputs are only recorded.
    pub direction: Option<Direction>,
    pub conflict_rule: ConflictRule,
    /// The first sync is still running: new items wait to be matched instead of being created.
    pub first_sync_open: bool,
    /// The first sync is a links rebuild: the identities new items carry are kept for pairing,
    /// and what finds no partner is never created.
    pub rebuilding: bool,
}

/// A write for one side's connector.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub side: Side,
    pub command_id: Uuid,
    pub op: ApplyOp,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Output {
    /// The link to store; `None` with `remove` false means nothing changed.
    pub link: Option<Link>,
    /// The link no longer pairs anything: remove it.
    pub remove: bool,
    pub commands: Vec<Command>,
    pub conflicts: Vec<FieldConflict>,
    /// A delete now waits for the end of its poll round (mass-delete guard).
    pub staged_delete: bool,
}

/// Where new ids come from (random in production, counters in tests).
pub trait Ids {
    fn link_id(&mut self) -> LinkId;
    fn command_id(&mut self) -> Uuid;
}

pub struct RandomIds;

impl Ids for RandomIds {
    fn link_id(&mut self) -> LinkId {
        LinkId(Uuid::now_v7())
    }
    fn command_id(&mut self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Applies one input to a link (or creates one) and says what to write.
pub fn step(
    link: Option<Link>,
    input: Input,
    user: UserId,
    rules: Rules,
    ids: &mut dyn Ids,
) -> Output {
    let Some(mut link) = link else {
        return new_item(input, user, rules, ids);
    };
    if let Some(out) = departed_answer(&mut link, &input) {
        return out;
    }
    let mut out = Output::default();
    match input {
        Input::Changed {
            side,
            version,
            item,
            external_id,
            identity,
            modified,
        } => {
            full_read::seen(&mut link, side);
            if rules.rebuilding && link.status == LinkStatus::Unmatched && identity.is_some() {
                // A later read without it (Outlook's contact delta cannot carry it) keeps it.
                link.found_identity = identity;
            }
            let read = Read {
                id: external_id,
                version,
                item,
                modified,
            };
            changed(&mut link, side, read, rules, &mut out);
        }
        Input::Deleted { side, .. } => {
            deleted(&mut link, side, rules, &mut out);
            if out.remove {
                return out;
            }
        }
        Input::LeftScope {
            side,
            external_id,
            modified,
        } if link.side(side).is_some_and(|s| {
            s.id.as_ref() == Some(&external_id) && Modified::before(modified, s.modified)
        }) =>
        {
            // Read before what is known was, as for `changed`: a newer read is in already,
            // and it decided whether the item is in scope.
            return out;
        }
        Input::LeftScope { side, modified, .. } => {
            left_scope(&mut link, side, modified, &mut out);
            if !out.remove {
                out.link = Some(link);
            }
            return out;
        }
        Input::Rescoped { side } => {
            // Judged anew: its next read decides, whatever its time (the filter may bring it
            // back unchanged); paired by its id, not by content.
            if let Some(departed) = link.departed.as_mut().filter(|d| d.side == side) {
                departed.modified = None;
                out.link = Some(link);
            }
            return out;
        }
        Input::ScopeMoved { side } => {
            // Another folder or list: what left with the old one does not come back.
            forget_departed(&mut link, side);
            left_scope(&mut link, side, None, &mut out);
            if !out.remove {
                out.link = Some(link);
            }
            return out;
        }
        Input::Applied {
            side,
            command_id,
            external_id,
            version,
            modified,
        } => {
            let Some(state) = link.side_mut(side).as_mut() else {
                return out;
            };
            match state.inflight.take() {
                Some(Inflight { command_id: id, op }) if id == command_id => {
                    let read = state.read_in_flight.take();
                    match op {
                        InflightOp::Create { item } => {
                            state.modified = modified;
                            state.created = true;
                            state.may_exist = false;
                            state.made_by_us(side);
                            state.id = Some(external_id);
                            state.version = Some(version);
                            state.known = Some(item);
                            link.last_error = None;
                        }
                        InflightOp::Update {
                            item,
                            base,
                            expected,
                        } => {
                            state.id = Some(external_id);
                            let read_after =
                                read_after_write(read.as_deref(), base.as_deref(), &item, expected);
                            if !read_after {
                                state.version = Some(version);
                                state.modified = modified.or(state.modified);
                                state.known =
                                    Some(after_write(state.known.as_ref(), base.as_deref(), item));
                            }
                            link.last_error = None;
                        }
                        InflightOp::Delete => *link.side_mut(side) = None,
                        // There: a delete from now on is told (or the event lies outside the
                        // calendar window, where its deletion is a windowed re-read's to find).
                        InflightOp::Probe => state.listed(),
                    }
                }
                other => {
                    state.inflight = other;
                    return out; // a result of an older command: already accounted for
                }
            }
            if link.status == LinkStatus::Deleted {
                // The link was given up while this write was in flight (a duplicate undone, see
                // `collision`): what the write made or changed goes too.
                collision::undo(&mut link, side, ids, &mut out);
                out.link = Some(link);
                return out;
            }
            if let Some(state) = link.side_mut(side).as_mut()
                && std::mem::take(&mut state.probe_after_write)
                && probe(&mut link, side, ids, &mut out)
            {
                out.link = Some(link);
                return out;
            }
        }
        Input::Stale {
            side,
            command_id,
            external_id,
            version,
            item,
            modified,
        } => {
            let answer = Read {
                id: external_id,
                version,
                item,
                modified,
            };
            let inflight = link
                .side(side)
                .and_then(|s| s.inflight.as_ref())
                .filter(|i| i.command_id == command_id)
                .map(|i| i.op.clone());
            let read_in_flight = link.side(side).and_then(|s| s.read_in_flight.clone());
            if !take_inflight(&mut link, side, command_id) {
                return out;
            }
            let was_delete = inflight == Some(InflightOp::Delete);
            let was_probe = inflight == Some(InflightOp::Probe);
            if let Some(InflightOp::Create { item: sent }) = inflight {
                // The create found the copy an earlier attempt made (a repeat, or `may_exist`)
                // and wrote nothing: the link now knows its item, and decides what to write there
                // as for any stale answer.
                found_copy(&mut link, side, sent, &answer);
            }
            if link.status == LinkStatus::Deleted && !was_delete {
                // Given up while this write was in flight (a duplicate, see `collision`): what
                // the side holds goes, whatever was edited there since (as for `Applied`).
                if let Some(state) = link.side_mut(side).as_mut() {
                    state.id = Some(answer.id);
                    state.version = Some(answer.version);
                    state.modified = answer.modified;
                    state.known = Some(answer.item);
                }
                collision::undo(&mut link, side, ids, &mut out);
                out.link = Some(link);
                return out;
            }
            if was_delete {
                // Edited since the delete was decided: take the edit in and decide again
                // (delete versus edit, by the rule). A read of the side taken while the delete
                // was in flight is at least as new as what this answer read.
                let read = match read_in_flight.map(|r| *r) {
                    None => answer,
                    Some(SideRead::Changed {
                        version,
                        item,
                        modified,
                    }) => Read {
                        version,
                        item,
                        modified,
                        ..answer
                    },
                    Some(SideRead::Deleted) => {
                        // Deleted there too meanwhile: nothing left on either side.
                        return Output {
                            remove: true,
                            ..Output::default()
                        };
                    }
                };
                let by = side.other();
                link.status = LinkStatus::StagedDelete { by };
                changed_by_id(&mut link, side, read, rules, &mut out);
                release_delete(&mut link, by, rules, ids, &mut out);
                if out.remove {
                    return out;
                }
                out.link = Some(link);
                return out;
            }
            // A read since the write is in already, and as new as this answer's content
            // unless the provider's time says the answer is newer (decision 100): what the
            // read holds is written again, against the read's version.
            let answer_is_newer = match read_in_flight.as_deref() {
                None => true,
                Some(SideRead::Changed { modified, .. }) => {
                    Modified::before(*modified, answer.modified)
                }
                Some(SideRead::Deleted) => false,
            };
            if answer_is_newer {
                changed_by_id(&mut link, side, answer, rules, &mut out);
            }
            if was_probe && let Some(state) = link.side_mut(side).as_mut() {
                // Found (decision 91): its deletion is told from now on, or the event lies
                // outside the calendar window, where a windowed re-read looks for it.
                state.listed();
            }
            // Stale or not, the answer predates the full re-read that did not list the item.
            if let Some(state) = link.side_mut(side).as_mut()
                && std::mem::take(&mut state.probe_after_write)
                && probe(&mut link, side, ids, &mut out)
            {
                out.link = Some(link);
                return out;
            }
        }
        Input::Gone { side, command_id } => {
            let op = link
                .side(side)
                .and_then(|s| s.inflight.as_ref())
                .filter(|i| i.command_id == command_id)
                .map(|i| i.op.clone());
            let was_delete = op == Some(InflightOp::Delete);
            if !take_inflight(&mut link, side, command_id) {
                return out;
            }
            if op == Some(InflightOp::Probe) && link.side(side.other()).is_some_and(never_made) {
                // Asked for before its copy was made (decision 102), and gone: nothing was
                // made anywhere, so there is no delete to guard or to propagate.
                return Output {
                    remove: true,
                    ..Output::default()
                };
            }
            if was_delete {
                *link.side_mut(side) = None;
                if link.status == LinkStatus::Deleted
                    || link.outlook.is_none() && link.zoho.is_none()
                {
                    return Output {
                        remove: true,
                        ..Output::default()
                    };
                }
            } else {
                // Deleted there while we wrote to it: the same as reading the delete.
                deleted(&mut link, side, rules, &mut out);
                if out.remove {
                    return out;
                }
            }
        }
        Input::Failed {
            side,
            command_id,
            code,
            message,
        } => {
            let sent = match link.side(side).and_then(|s| s.inflight.as_ref()) {
                Some(Inflight {
                    op: InflightOp::Create { item },
                    ..
                }) if code == FailureCode::CreateUnconfirmed => Some(item.clone()),
                _ => None,
            };
            if !take_inflight(&mut link, side, command_id) {
                return out;
            }
            // The copy a lost create may have made holds what was sent: when it turns up (and
            // joins the link), its differences from that are the side's own edits, not from
            // the target, which may have moved on since.
            // It may also lie where no read shows it (an event outside the calendar window):
            // the next create there looks for it first.
            if let Some(sent) = sent
                && let Some(state) = link.side_mut(side).as_mut()
            {
                state.known = Some(sent);
                state.may_exist = true;
            }
            if link.status == LinkStatus::OutOfScope && holds_nothing(&link) {
                // Out of scope, nothing left to retry for.
                return Output {
                    remove: true,
                    ..Output::default()
                };
            }
            link.last_error = Some(LinkError::new(side, code, message));
            out.link = Some(link);
            return out; // retried with the item's next change, not in a loop
        }
        Input::ReleaseDelete => {
            if let LinkStatus::StagedDelete { by } | LinkStatus::HeldDelete { by } = link.status {
                release_delete(&mut link, by, rules, ids, &mut out);
                if out.remove {
                    return out;
                }
            }
            out.link = Some(link);
            return out;
        }
        Input::HoldDelete => {
            if let LinkStatus::StagedDelete { by } = link.status {
                link.status = LinkStatus::HeldDelete { by };
            }
            out.link = Some(link);
            return out;
        }
        Input::DiscardDelete => {
            if let LinkStatus::StagedDelete { by } | LinkStatus::HeldDelete { by } = link.status {
                // The item comes back where it was deleted: at once, or once the user chose
                // the conflicts held meanwhile (decision 108).
                link.status = if link.held.is_empty() {
                    LinkStatus::Active
                } else {
                    LinkStatus::Review
                };
                *link.side_mut(by) = Some(SideState::missing());
            }
        }
        Input::Retry { .. } => link.last_error = None,
        Input::Probe { side } => {
            probe(&mut link, side, ids, &mut out);
            out.link = Some(link);
            return out;
        }
        Input::Resolve { keep } => {
            if link.awaits_choice() {
                let deleting = deleting_side(&link);
                // Keeping a delete (decision 108), the item that stays until it lands is the
                // other side's: the target takes its values, should the delete come back stale.
                let values = match deleting {
                    Some(by) if by == keep => by.other(),
                    _ => keep,
                };
                let mut fields = link.target.fields();
                for conflict in link.held.drain(..) {
                    let value = match values {
                        Side::Outlook => conflict.outlook,
                        Side::Zoho => conflict.zoho,
                    };
                    fields.insert(conflict.field, value);
                }
                if let Ok(mut item) = Item::from_fields(link.kind, fields) {
                    // A conflict is only ever about what both sides hold: what one side alone
                    // holds stays as the target has it.
                    item.refill_from(&link.target, Side::Zoho);
                    item.refill_from(&link.target, Side::Outlook);
                    link.target = item;
                }
                // Only in review: with the edited side's own delete waiting since (staged, or
                // held for an admin), the item is going from both sides, and that delete,
                // decided as any other, ends the link (decision 110).
                let keeps_delete = link.status == LinkStatus::Review;
                if let Some(by) = deleting.filter(|by| *by == keep && keeps_delete) {
                    // Delete versus edit, and the user keeps the delete: it goes through to the
                    // other side, whatever else was held.
                    let target = by.other();
                    match link.side(target).and_then(|s| s.id.clone()) {
                        Some(external_id) => {
                            delete_item(&mut link, target, external_id, ids, &mut out);
                            out.link = Some(link);
                        }
                        None => out.remove = true,
                    }
                    return out;
                }
                // Out of scope, it stays so: the choice waits in the target for its return. With
                // a delete waiting, so does the delete: decided later, it goes through if the
                // side that deleted agrees with the values chosen, and is the user's choice
                // otherwise (decision 110).
                if link.status == LinkStatus::Review {
                    link.status = LinkStatus::Active;
                }
            }
        }
    }
    reconcile(&mut link, rules, ids, &mut out);
    out.link = Some(link);
    out
}

/// `side`'s item left the scope: the link stops syncing it there, deleting nothing. What
/// remains on the other side waits, out of scope, for a re-scope to pair it again; or, when it
/// never reached `side` (our create there was not confirmed), it is matched again like a new
/// item. `read`: when the read that showed it outside was changed (the category filter put it
/// out): the link keeps the item as departed, so that a newer read of it back in scope pairs
/// it again (decision 105); `None` (a connector told it left the folder or list, or the whole
/// scope moved): the link forgets it.
fn left_scope(link: &mut Link, side: Side, read: Option<Modified>, out: &mut Output) {
    let Some(leaving) = link.side(side) else {
        match link.departed.as_mut().filter(|d| d.side == side) {
            // Told it left its folder or list: it does not come back.
            Some(_) if read.is_none() => {
                forget_departed(link, side);
            }
            // Out already: only a read newer than this one brings it back.
            Some(departed)
                if departed.modified.is_none() || Modified::before(departed.modified, read) =>
            {
                departed.modified = read;
            }
            _ => {}
        }
        return;
    };
    let reached = leaving.id.is_some();
    let departed = leaving.id.clone().filter(|_| read.is_some()).map(|id| {
        Box::new(Departed {
            side,
            id,
            version: leaving.version.clone(),
            modified: read,
            seen: leaving.modified,
            // What the side was known to hold, not what an update in flight there would make
            // of it: that write may fail, and its fields then must not read as edits made there.
            known: leaving.known.clone(),
            written: None,
            inflight: leaving
                .inflight
                .clone()
                .filter(|i| matches!(i.op, InflightOp::Update { .. })),
        })
    });
    *link.side_mut(side) = None;
    // An error of the side that left (a create there whose answer was lost, say) no longer
    // applies: the new scope gets its own writes.
    if link.last_error.as_ref().is_some_and(|e| e.side == side) {
        link.last_error = None;
    }
    if holds_nothing(link) {
        out.remove = true;
        return;
    }
    link.status = match link.status {
        LinkStatus::Deleted => LinkStatus::Deleted,
        LinkStatus::Unpaired => LinkStatus::Unpaired,
        // A delete of the remaining side's counterpart: the link only waits for its release,
        // which now finds nothing to delete.
        staged @ (LinkStatus::StagedDelete { .. } | LinkStatus::HeldDelete { .. }) => staged,
        LinkStatus::Unmatched | LinkStatus::Ambiguous => LinkStatus::Unmatched,
        LinkStatus::Active | LinkStatus::Review | LinkStatus::OutOfScope if !reached => {
            LinkStatus::Unmatched
        }
        LinkStatus::Active | LinkStatus::Review | LinkStatus::OutOfScope => LinkStatus::OutOfScope,
    };
    if link.status == LinkStatus::OutOfScope {
        link.departed = departed;
    }
    // A conflict held for the user waits with a departed item: the user decides once it is
    // back (decision 105).
    if link.departed.is_none() {
        link.held.clear();
    }
}

/// The item that departed on `side` cannot come back (deleted there, its folder or list left,
/// or taken by another link): the link forgets it and keeps what remains on the other side,
/// out of scope, with that side's content as its own.
pub(super) fn forget_departed(link: &mut Link, side: Side) -> Option<Departed> {
    if link.side(side).is_some() {
        return None;
    }
    let departed = link.departed.take_if(|d| d.side == side)?;
    link.held.clear();
    if let Some(known) = link.side(side.other()).and_then(|s| s.known.clone()) {
        link.target = known;
    }
    Some(*departed)
}

/// The answer of our update of an item that departed while it was in flight: a success is what
/// the item holds now, as far as we know (and its time, should the write have landed after the
/// read that put it out, orders the reads that may bring it back); `Gone`, the item is gone.
/// `None`: not such an answer.
fn departed_answer(link: &mut Link, input: &Input) -> Option<Output> {
    let (side, command_id) = input.answer()?;
    if link.side(side).is_some() || !link.unanswered(side, command_id) {
        return None;
    }
    let departed = link.departed.as_mut()?;
    let op = departed.inflight.take().map(|i| i.op);
    match (input, op) {
        (
            Input::Applied {
                version, modified, ..
            },
            Some(InflightOp::Update { item, base, .. }),
        ) => {
            departed.known = Some(after_write(departed.known.as_ref(), base.as_deref(), item));
            departed.version = Some(version.clone());
            departed.written = *modified;
        }
        (Input::Gone { .. }, _) => {
            forget_departed(link, side);
        }
        // Not written: what it held is as known.
        _ => {}
    }
    Some(Output {
        link: Some(link.clone()),
        ..Output::default()
    })
}
/// A read of the item that left the scope on `side` ([`Link::departed`]), changed at
/// `modified`: newer than the read that put it out (or of unknown time), it is back: the link
/// knows it there again as it was when it left, so that the read is taken in as any read of
/// it (its differences from then are the edits made there meanwhile, merged by the rule) and
/// the link syncs again. Older, or as old: the read that put it out is the newer, and this one
/// changes nothing; so does one older than what the link knows of it, or than our update that
/// landed while it was out (it does not show what was written). After a re-scope
/// (`Input::Rescoped`) any read of it not older than what is known is judged by the new
/// filter. `None`: not a read of a departed item.
fn back_in_scope(
    link: &mut Link,
    side: Side,
    id: &ExternalId,
    modified: Option<Modified>,
) -> Option<bool> {
    if link.side(side).is_some() {
        return None;
    }
    let departed = *link.departed.take_if(|d| d.side == side && d.id == *id)?;
    let not_newer = match (departed.modified, modified) {
        (Some(left), Some(read)) => read <= left,
        _ => false,
    };
    let older_than_known =
        Modified::before(modified, departed.seen) || Modified::before(modified, departed.written);
    if not_newer || older_than_known {
        link.departed = Some(Box::new(departed));
        return Some(false);
    }
    // Our update in flight as it left, still unanswered, is the side's again: its answer is
    // taken as for any write.
    *link.side_mut(side) = Some(SideState {
        id: Some(departed.id),
        version: departed.version,
        modified: departed.seen.max(departed.written),
        known: departed.known,
        inflight: departed.inflight,
        ..SideState::missing()
    });
    if link.status == LinkStatus::OutOfScope {
        link.status = if link.held.is_empty() {
            LinkStatus::Active
        } else {
            LinkStatus::Review
        };
    }
    Some(true)
}

/// Whether the link knows no item on either side, nor waits for a write's answer: a create
/// whose answer was lost leaves nothing to go by; a read of the item, if it exists, is new.
fn holds_nothing(link: &Link) -> bool {
    Side::ALL.iter().all(|s| {
        link.side(*s)
            .is_none_or(|st| st.id.is_none() && st.inflight.is_none())
    })
}

/// An input about an item we have no link for.
fn new_item(input: Input, user: UserId, rules: Rules, ids: &mut dyn Ids) -> Output {
    linked(input, user, rules, ids, Copy::Now)
}

/// A read of an item no link knows that may be older than the item's deletion there: a parked
/// read that a windowed re-read of its side (decision 84) did not list, where the deletion in
/// between is never told (decision 102). It is linked as any new item, but asked for by id on
/// its side before it is copied: found (`Stale`), the copy is made as for any new item; gone,
/// the link goes and nothing was copied.
pub fn new_unconfirmed(input: Input, user: UserId, rules: Rules, ids: &mut dyn Ids) -> Output {
    linked(input, user, rules, ids, Copy::AfterProbe)
}

/// When a new item is copied to the other side.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Copy {
    Now,
    AfterProbe,
}

fn linked(input: Input, user: UserId, rules: Rules, ids: &mut dyn Ids, copy: Copy) -> Output {
    let Input::Changed {
        side,
        external_id,
        version,
        item,
        identity,
        modified,
    } = input
    else {
        return Output::default(); // deletes and results of unknown items: nothing to do
    };
    let Some(direction) = rules.direction else {
        return Output::default();
    };
    if !direction.allows(side) {
        return Output::default();
    }
    let status = if rules.first_sync_open {
        LinkStatus::Unmatched
    } else {
        LinkStatus::Active
    };
    let mut target = item.clone();
    if side == Side::Zoho {
        tag_from_zoho(&mut target);
    }
    let mut link = Link::new(ids.link_id(), user, status, target);
    *link.side_mut(side) = Some(SideState {
        modified,
        ..SideState::seen(external_id, version, item)
    });
    if rules.rebuilding && status == LinkStatus::Unmatched {
        link.found_identity = identity;
    }
    let mut out = Output::default();
    if status == LinkStatus::Active {
        // New items are created on the other side whatever the conflict rule.
        *link.side_mut(side.other()) = Some(SideState::missing());
    }
    match copy {
        Copy::Now if status == LinkStatus::Active => reconcile(&mut link, rules, ids, &mut out),
        Copy::Now => {}
        Copy::AfterProbe => {
            // Also while a first sync is open: its finale must not copy a gone item. Marked
            // as not listed, so that a round end asks again should this ask fail (decision
            // 101's marks); a read of the item or the probe's answer clears them.
            if let Some(state) = link.side_mut(side).as_mut() {
                state.unlisted = true;
                state.unlisted_a_round = true;
            }
            probe(&mut link, side, ids, &mut out);
        }
    }
    out.link = Some(link);
    out
}

/// A side the item is to be copied to and that holds nothing of it: no item, no write in
/// flight, no create whose answer was lost (its copy may exist).
fn never_made(state: &SideState) -> bool {
    state.id.is_none() && state.inflight.is_none() && !state.may_exist
}

/// Events created from Zoho carry the "Zoho" category in Outlook.
pub fn tag_from_zoho(item: &mut Item) {
    if let Item::Event(event) = item
        && !event
            .categories
            .iter()
            .any(|c| c.eq_ignore_ascii_case(ZOHO_CATEGORY))
    {
        event.categories.push(ZOHO_CATEGORY.to_owned());
    }
}

/// `side`'s create found the copy an earlier attempt made: the link takes it as its item there
/// (ours, `created`). What the copy was made with is what a lost create kept as `known` (#79),
/// else what this create sent (a repeat of the same command): the copy's differences from that
/// are edits made there since.
fn found_copy(link: &mut Link, side: Side, sent: Item, answer: &Read) {
    if let Some(state) = link.side_mut(side).as_mut() {
        state.id = Some(answer.id.clone());
        state.version = Some(answer.version.clone());
        state.modified = answer.modified;
        state.created = true;
        state.may_exist = false;
        state.made_by_us(side);
        state.known.get_or_insert(sent);
    }
    link.last_error = None;
}

/// Asks for the item on `side` by id (nothing else is written there until it is answered).
fn probe(link: &mut Link, side: Side, ids: &mut dyn Ids, out: &mut Output) -> bool {
    let Some(state) = link.side_mut(side).as_mut() else {
        return false;
    };
    let Some(external_id) = state.id.clone().filter(|_| state.inflight.is_none()) else {
        return false;
    };
    let command_id = ids.command_id();
    state.inflight = Some(Inflight {
        command_id,
        op: InflightOp::Probe,
    });
    out.commands.push(Command {
        side,
        command_id,
        op: ApplyOp::Probe { external_id },
    });
    true
}

/// Whether a read taken in while our update was in flight was made after the update: a
/// conditional write that succeeded found the side at the version it expected, so a read from
/// before it holds exactly that version; any other version is newer. Such a read stays what
/// the side is known to hold, with its version, whatever it shows of the write (a person may
/// have overwritten what it wrote). Without the expected version (a link stored before it was
/// kept), a read that neither shows the write nor holds what it was decided against.
fn read_after_write(
    read: Option<&SideRead>,
    base: Option<&Item>,
    sent: &Item,
    expected: Option<Version>,
) -> bool {
    let Some(SideRead::Changed {
        item: read,
        version,
        ..
    }) = read
    else {
        return false;
    };
    match (expected, base) {
        (Some(expected), _) => *version != expected,
        (None, Some(base)) => {
            !shows_write(read, Some(base), sent)
                && read.normalised().fields() != base.normalised().fields()
        }
        (None, None) => false,
    }
}

fn take_inflight(link: &mut Link, side: Side, command_id: Uuid) -> bool {
    match link.side_mut(side).as_mut() {
        Some(state)
            if state
                .inflight
                .as_ref()
                .is_some_and(|i| i.command_id == command_id) =>
        {
            state.inflight = None;
            state.read_in_flight = None;
            true
        }
        _ => false,
    }
}

/// As [`changed`], for what a write's answer read by id: no round listed the item, so whether
/// its deletion would be told is as before (`unlisted`).
fn changed_by_id(link: &mut Link, side: Side, read: Read, rules: Rules, out: &mut Output) {
    let marks = link
        .side(side)
        .filter(|s| s.unlisted)
        .map(|s| s.unlisted_a_round);
    changed(link, side, read, rules, out);
    if let (Some(a_round), Some(state)) = (marks, link.side_mut(side).as_mut()) {
        state.unlisted = true;
        state.unlisted_a_round = a_round;
    }
}

/// What a read of a side found (or a write's answer, which reads the item by id).
struct Read {
    id: ExternalId,
    version: Version,
    item: Item,
    modified: Option<Modified>,
}

fn changed(link: &mut Link, side: Side, read: Read, rules: Rules, out: &mut Output) {
    let Read {
        id,
        version,
        item,
        modified,
    } = read;
    if back_in_scope(link, side, &id, modified) == Some(false) {
        return;
    }
    if let Some(state) = link.side_mut(side).as_mut() {
        // Listed: its deletion will be told (an answer read by id restores the mark after).
        state.listed();
    }
    if link
        .side(side)
        .is_some_and(|s| s.id.as_ref() == Some(&id) && Modified::before(modified, s.modified))
    {
        // Read before what is known was (a poller's page that reached us after a write's
        // answer read the item again): it tells nothing new, and taking it in would undo the
        // edits it predates. What changed since comes in a later read.
        return;
    }
    if let Some(state) = link.side_mut(side).as_mut()
        && state.inflight.is_some()
    {
        state.read_in_flight = Some(Box::new(SideRead::Changed {
            version: version.clone(),
            item: item.clone(),
            modified,
        }));
    }
    if link.status == LinkStatus::Deleted {
        // Given up: only a read of the side our delete is on may still matter (an edit there
        // makes the delete stale; see the `Stale` answer), kept above.
        return;
    }
    let target = link.target.clone();
    let status = link.status;
    let Some(state) = link.side_mut(side).as_mut() else {
        // A side that left the scope came back: it is linked again and brought up to date.
        *link.side_mut(side) = Some(SideState {
            modified,
            ..SideState::seen(id, version, item)
        });
        return;
    };
    // A replay or a full re-read of what we already know changes nothing below (no field
    // differs from `known`). The version alone is not trusted: Zoho's has one-second resolution,
    // and our own write's version can also cover an edit the user made in the same second.
    // The time orders reads of one item: another item there (found again under a new id)
    // starts from its own.
    if modified.is_some() || state.id.as_ref() != Some(&id) {
        state.modified = modified;
    }
    state.id = Some(id);
    state.version = Some(version);
    // Our update in flight, already there in what was read (its answer not yet in): the read
    // is compared with what the side holds after that write, so the write is no edit of theirs.
    let written = match state.inflight.as_ref().map(|i| &i.op) {
        Some(InflightOp::Update {
            item: sent, base, ..
        }) if shows_write(&item, base.as_deref(), sent) => Some(after_write(
            state.known.as_ref(),
            base.as_deref(),
            sent.clone(),
        )),
        _ => None,
    };
    let before = state.known.replace(item.clone());
    let before = written.or(before);
    // Known on this side only: the target is what it holds. Out of scope with the other
    // side's item departed (decision 105), the target stays the content both should agree on
    // once it is back: this side's edits are merged into it as for a link in sync, and nothing
    // is written until then.
    let departed = link.departed.is_some();
    if matches!(
        status,
        LinkStatus::Unmatched | LinkStatus::Ambiguous | LinkStatus::Unpaired
    ) || status == LinkStatus::OutOfScope && !departed
    {
        link.target = item;
        return;
    }
    // One-way sync: edits of the side that only receives are neither taken nor overwritten.
    if !rules.direction.is_some_and(|d| d.allows(side)) {
        return;
    }
    let mut before = before.unwrap_or_else(|| target.project_for(side));
    before.refill_from(&target, side);
    let mut after = item;
    after.refill_from(&target, side);
    let (merged, conflicts) = incorporate(&target, &before, &after, side, rules.conflict_rule);
    link.target = merged;
    if conflicts.iter().any(|c| c.winner.is_none()) {
        // Out of scope, the conflict waits with the link: for the user once the item is back.
        // With a delete staged or held, it waits for the delete's decision (decision 108),
        // which, a conflict being held, is the user's too: both are chosen together.
        if link.status == LinkStatus::Active {
            link.status = LinkStatus::Review;
        }
        link.held.extend(conflicts.iter().cloned());
    }
    out.conflicts.extend(conflicts);
}

fn deleted(link: &mut Link, side: Side, rules: Rules, out: &mut Output) {
    // The item that left the scope is gone: what remains on the other side stays.
    forget_departed(link, side);
    if let Some(state) = link.side_mut(side).as_mut()
        && state.inflight.is_some()
    {
        state.read_in_flight = Some(Box::new(SideRead::Deleted));
    }
    match link.status {
        // Deleted on both sides now: nothing left to sync.
        LinkStatus::StagedDelete { by } | LinkStatus::HeldDelete { by } if by != side => {
            out.remove = true;
            return;
        }
        LinkStatus::Deleted | LinkStatus::StagedDelete { .. } | LinkStatus::HeldDelete { .. } => {
            return;
        }
        LinkStatus::Unmatched
        | LinkStatus::Ambiguous
        | LinkStatus::OutOfScope
        | LinkStatus::Unpaired => {
            *link.side_mut(side) = None;
            if link.outlook.is_none() && link.zoho.is_none() {
                out.remove = true;
            }
            return;
        }
        LinkStatus::Active | LinkStatus::Review => {}
    }
    let other = side.other();
    let propagates = rules.direction.is_some_and(|d| d.allows(side));
    if !propagates || link.side(other).is_none() {
        *link.side_mut(side) = None;
        if link.outlook.is_none() && link.zoho.is_none() {
            out.remove = true;
        }
        return;
    }
    link.status = LinkStatus::StagedDelete { by: side };
    out.staged_delete = true;
}

/// The end of the deleting side's poll round let the delete through: delete the other side,
/// unless it changed since the deleting side last held the agreed content (delete versus edit,
/// decided by the rule).
fn release_delete(link: &mut Link, by: Side, rules: Rules, ids: &mut dyn Ids, out: &mut Output) {
    let target = by.other();
    let Some(state) = link.side(target) else {
        out.remove = true;
        return;
    };
    if state.inflight.is_some() {
        return; // a write there is in flight: decide once its result is in
    }
    let Some(external_id) = state.id.clone() else {
        out.remove = true;
        return;
    };
    // A conflict held for the user (review) is an edit of the other side whose value the
    // target does not take until the user chooses: the deleting side may still agree with the
    // target, yet the delete is against an edit (decision 108).
    if !link.in_agreement(by) || !link.held.is_empty() {
        let won = winner(rules.conflict_rule);
        let word = |side: Side| serde_json::json!(if side == by { "deleted" } else { "edited" });
        let conflict = FieldConflict {
            field: DELETE_VERSUS_EDIT.into(),
            base: serde_json::Value::Null,
            outlook: word(Side::Outlook),
            zoho: word(Side::Zoho),
            winner: won,
        };
        out.conflicts.push(conflict.clone());
        match won {
            Some(w) if w == target => {
                // The edit wins: the item comes back where it was deleted (once the user chose
                // what was held before the rule changed, if anything).
                link.status = if link.held.is_empty() {
                    LinkStatus::Active
                } else {
                    LinkStatus::Review
                };
                *link.side_mut(by) = Some(SideState::missing());
                reconcile(link, rules, ids, out);
                return;
            }
            None => {
                link.status = LinkStatus::Review;
                link.held.push(conflict);
                *link.side_mut(by) = Some(SideState::missing());
                return;
            }
            Some(_) => {}
        }
    }
    delete_item(link, target, external_id, ids, out);
}

/// The field of a delete-versus-edit conflict: each side's value is `"deleted"` or `"edited"`.
pub const DELETE_VERSUS_EDIT: &str = "(deleted)";

/// The side that deleted the item, when a delete-versus-edit conflict is held.
fn deleting_side(link: &Link) -> Option<Side> {
    let conflict = link.held.iter().find(|c| c.field == DELETE_VERSUS_EDIT)?;
    let deleted = serde_json::json!("deleted");
    Side::ALL.into_iter().find(|side| match side {
        Side::Outlook => conflict.outlook == deleted,
        Side::Zoho => conflict.zoho == deleted,
    })
}

/// Deletes `target`'s item `external_id`, conditional on the version we know (an edit since
/// makes it stale, decided by the rule), and marks the link deleted.
fn delete_item(
    link: &mut Link,
    target: Side,
    external_id: ExternalId,
    ids: &mut dyn Ids,
    out: &mut Output,
) {
    link.mark_deleted();
    let command_id = ids.command_id();
    let expected_version = link.side(target).and_then(|s| s.version.clone());
    if let Some(state) = link.side_mut(target).as_mut() {
        state.inflight = Some(Inflight {
            command_id,
            op: InflightOp::Delete,
        });
    }
    out.commands.push(Command {
        side: target,
        command_id,
        op: ApplyOp::Delete {
            external_id,
            expected_version,
        },
    });
}

/// Sends each side what it lacks of the target: a create where the item is missing, an update
/// (only the changed fields, conditional on the version we know) where it differs.
pub fn reconcile(link: &mut Link, rules: Rules, ids: &mut dyn Ids, out: &mut Output) {
    if link.status != LinkStatus::Active {
        return;
    }
    let Some(direction) = rules.direction else {
        return;
    };
    for side in Side::ALL {
        if !direction.allows(side.other()) {
            continue; // one-way: never write to this side
        }
        let target = link.target.clone();
        // A create whose answer was lost may have happened: it waits for the end of that side's
        // round (the item showing up joins the link; `Retry` clears the error and creates it
        // otherwise), never for the next change of the other side, which would make a second copy.
        let create_unconfirmed = link
            .last_error
            .as_ref()
            .is_some_and(|e| e.is(side, &FailureCode::CreateUnconfirmed));
        let origin = link.external_id(side.other()).cloned();
        let Some(state) = link.side_mut(side).as_mut() else {
            continue;
        };
        if state.inflight.is_some() {
            continue; // one write at a time; the result triggers the next reconcile
        }
        if state.id.is_none() && create_unconfirmed {
            continue;
        }
        let want = target.project_for(side);
        let command_id = ids.command_id();
        let op = match (&state.id, &state.known) {
            (None, _) => {
                // A create after one whose answer was lost sends what that one sent: the copy
                // it may have made then holds exactly what the link knows of it (`known`), so
                // once found, its differences are the side's own edits; the target's news go
                // after, as an update.
                let want = match (&state.known, state.may_exist) {
                    (Some(earlier), true) => earlier.clone(),
                    _ => want,
                };
                state.inflight = Some(Inflight {
                    command_id,
                    op: InflightOp::Create { item: want.clone() },
                });
                // The copy names its original, so a rebuild can pair them again.
                ApplyOp::Create {
                    item: want,
                    origin,
                    may_exist: state.may_exist,
                }
            }
            (Some(_), Some(known))
                if known.project_for(side).content_hash() == want.content_hash() =>
            {
                continue;
            }
            (Some(id), known) => {
                state.inflight = Some(Inflight {
                    command_id,
                    op: InflightOp::Update {
                        item: want.clone(),
                        base: known.clone().map(Box::new),
                        expected: state.version.clone(),
                    },
                });
                ApplyOp::Update {
                    external_id: id.clone(),
                    item: want,
                    base: known.clone(),
                    expected_version: state.version.clone(),
                }
            }
        };
        out.commands.push(Command {
            side,
            command_id,
            op,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_model::Contact;

    struct Counting(u128);

    impl Ids for Counting {
        fn link_id(&mut self) -> LinkId {
            self.0 += 1;
            LinkId(Uuid::from_u128(self.0))
        }
        fn command_id(&mut self) -> Uuid {
            self.0 += 1;
            Uuid::from_u128(self.0)
        }
    }

    /// Review mode: conflicts wait for the user.
    fn review() -> Rules {
        Rules {
            conflict_rule: ConflictRule::Review,
            ..rules(false, false)
        }
    }

    /// Zoho's `1001` deleted.
    /// In review: Zoho deletes a contact Outlook then edits (our update there landed first);
    /// the end of Zoho's round makes it a delete versus an edit, waiting for the user.
    fn deleted_in_zoho_edited_in_outlook(ids: &mut Counting) -> Output {
        let (user, review) = (UserId(Uuid::nil()), review());
        let (link, update) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let out = step(Some(link), landed(update, 4), user, review, ids);
        let out = step(out.link, zoho_deleted(), user, review, ids);
        let out = step(out.link, outlook_read("Director", 5), user, review, ids);
        step(out.link, Input::ReleaseDelete, user, review, ids)
    }

    fn zoho_deleted() -> Input {
        Input::Deleted {
            side: Side::Zoho,
            external_id: ExternalId("1001".into()),
        }
    }

    fn rules(first_sync_open: bool, rebuilding: bool) -> Rules {
        Rules {
            direction: Some(Direction::TwoWay),
            conflict_rule: ConflictRule::default(),
            first_sync_open,
            rebuilding,
        }
    }

    fn read(side: Side, id: &str, identity: Option<LinkIdentity>) -> Input {
        Input::Changed {
            side,
            external_id: ExternalId(id.into()),
            version: Version("v1".into()),
            item: Item::Contact(Contact {
                given_name: Some("Ken".into()),
                ..Contact::default()
            }),
            identity,
            modified: None,
        }
    }

    #[test]
    fn a_create_names_the_item_it_copies() {
        let out = step(
            None,
            read(Side::Zoho, "1001", None),
            UserId(Uuid::nil()),
            rules(false, false),
            &mut Counting(0),
        );
        match &out.commands[..] {
            [
                Command {
                    side: Side::Outlook,
                    op: ApplyOp::Create { origin, .. },
                    ..
                },
            ] => assert_eq!(origin, &Some(ExternalId("1001".into()))),
            other => panic!("one create in Outlook expected: {other:?}"),
        }
    }

    /// Decision 84: a create lost, retried with `may_exist`, answered by the copy the first
    /// attempt made (edited there since): the link takes it, keeps that edit, and updates it
    /// with what the other side changed meanwhile.
    #[test]
    fn a_retried_create_that_finds_its_copy_takes_it_and_updates_it() {
        let user = UserId(Uuid::nil());
        let rules = rules(false, false);
        let ids = &mut Counting(0);
        let person = |job: &str, department: Option<&str>| {
            Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: Some(job.into()),
                department: department.map(Into::into),
                ..Contact::default()
            })
        };
        let zoho_read = |job: &str| Input::Changed {
            side: Side::Zoho,
            external_id: ExternalId("1001".into()),
            version: Version(job.into()),
            item: person(job, None),
            identity: None,
            modified: None,
        };
        let out = step(None, zoho_read("first"), user, rules, ids);
        let create = |out: &Output| match &out.commands[..] {
            [
                Command {
                    command_id,
                    op: ApplyOp::Create { may_exist, .. },
                    ..
                },
            ] => (*command_id, *may_exist),
            other => panic!("one create expected: {other:?}"),
        };
        let (first, may_exist) = create(&out);
        assert!(!may_exist);
        let lost = Input::Failed {
            side: Side::Outlook,
            command_id: first,
            code: FailureCode::CreateUnconfirmed,
            message: "the answer was lost".into(),
        };
        let out = step(out.link, lost, user, rules, ids);
        assert!(out.commands.is_empty(), "not again before the round's end");
        let out = step(out.link, zoho_read("second"), user, rules, ids);
        let out = step(
            out.link,
            Input::Retry {
                side: Side::Outlook,
            },
            user,
            rules,
            ids,
        );
        let (retry, may_exist) = create(&out);
        assert!(may_exist, "the retry says its copy may exist");
        // The copy holds what the first attempt sent, and an Outlook user's department.
        let found = Input::Stale {
            side: Side::Outlook,
            command_id: retry,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck1".into()),
            item: person("first", Some("Sales")),
            modified: None,
        };
        let out = step(out.link, found, user, rules, ids);
        let link = out.link.expect("the link");
        let outlook = link.outlook.as_ref().expect("Outlook side");
        assert_eq!(outlook.id, Some(ExternalId("AAMk1".into())));
        assert!(outlook.created && !outlook.may_exist);
        assert_eq!(link.target, person("second", Some("Sales")));
        let update = |side: Side| {
            out.commands
                .iter()
                .find_map(|c| match &c.op {
                    ApplyOp::Update {
                        external_id,
                        item,
                        base,
                        ..
                    } if c.side == side => {
                        Some((external_id.0.clone(), item.clone(), base.clone()))
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("an update in {side}: {:?}", out.commands))
        };
        let (id, item, base) = update(Side::Outlook);
        assert_eq!(id, "AAMk1");
        assert_eq!(
            item,
            person("second", Some("Sales")).project_for(Side::Outlook)
        );
        assert_eq!(base, Some(person("first", Some("Sales"))));
        // The Outlook user's edit of the copy reaches Zoho.
        let (id, item, _) = update(Side::Zoho);
        assert_eq!(id, "1001");
        assert_eq!(
            item,
            person("second", Some("Sales")).project_for(Side::Zoho)
        );
        assert_eq!(out.commands.len(), 2);
    }

    /// An update's answer that comes after a read of the same side (the connector published
    /// its result after the poller published the item, our write included, with a person's
    /// edit made since): the side is known to hold what was read plus what the write changed,
    /// so the person's next edit there is an edit, not a conflict with their own earlier one
    /// (found by the crash test: the earlier edit won the "conflict" and overwrote the later).
    #[test]
    fn an_update_answered_after_a_read_of_its_side_keeps_what_was_read() {
        let user = UserId(Uuid::nil());
        let rules = rules(false, false);
        let ids = &mut Counting(0);
        let person = |job: &str, department: Option<&str>| {
            Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: Some(job.into()),
                department: department.map(Into::into),
                ..Contact::default()
            })
        };
        let changed = |side: Side, id: &str, version: &str, item: Item| Input::Changed {
            side,
            external_id: ExternalId(id.into()),
            version: Version(version.into()),
            item,
            identity: None,
            modified: None,
        };
        let only_command = |out: &Output, side: Side| {
            out.commands
                .iter()
                .find(|c| c.side == side)
                .map(|c| c.command_id)
                .unwrap_or_else(|| panic!("a command in {side}: {:?}", out.commands))
        };
        let applied = |command_id, version: &str| Input::Applied {
            side: Side::Outlook,
            command_id,
            external_id: ExternalId("AAMk1".into()),
            version: Version(version.into()),
            modified: None,
        };
        let out = step(
            None,
            changed(Side::Zoho, "1001", "z1", person("A", None)),
            user,
            rules,
            ids,
        );
        let create = only_command(&out, Side::Outlook);
        let out = step(out.link, applied(create, "ck1"), user, rules, ids);
        // Zoho's department goes to Outlook.
        let out = step(
            out.link,
            changed(Side::Zoho, "1001", "z2", person("A", Some("Sales"))),
            user,
            rules,
            ids,
        );
        let update = only_command(&out, Side::Outlook);
        // Written; before its answer, the Outlook user's edit (made after it) is read.
        let out = step(
            out.link,
            changed(Side::Outlook, "AAMk1", "ck3", person("B", Some("Sales"))),
            user,
            rules,
            ids,
        );
        assert!(out.conflicts.is_empty(), "{:?}", out.conflicts);
        let out = step(out.link, applied(update, "ck2"), user, rules, ids);
        let link = out.link.expect("the link");
        assert_eq!(
            link.outlook.as_ref().and_then(|s| s.known.clone()),
            Some(person("B", Some("Sales"))),
            "what was read stays known, with what the write changed"
        );
        // The same person edits the job title again: simply an edit.
        let out = step(
            Some(link),
            changed(Side::Outlook, "AAMk1", "ck4", person("C", Some("Sales"))),
            user,
            rules,
            ids,
        );
        assert!(out.conflicts.is_empty(), "{:?}", out.conflicts);
        assert_eq!(
            out.link.expect("the link").target,
            person("C", Some("Sales"))
        );
    }

    /// When the provider changed an item, `second` seconds into the tests' clock.
    fn at(second: u32) -> Option<Modified> {
        chrono::DateTime::from_timestamp(1_800_000_000 + i64::from(second), 0).map(Modified)
    }

    /// Outlook's `AAMk1` (`item`, read at second 1) copied to Zoho as `1001`, then edited there
    /// into `edited` at second `edited_at`: the link, with the update to Outlook in flight, and
    /// that update's command id.
    fn updating_outlook(
        item: Item,
        edited: Item,
        edited_at: u32,
        ids: &mut Counting,
    ) -> (Link, Uuid) {
        let (user, rules) = (UserId(Uuid::nil()), rules(false, false));
        let read = Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck1".into()),
            item,
            identity: None,
            modified: at(1),
        };
        let out = step(None, read, user, rules, ids);
        let zoho_made = Input::Applied {
            side: Side::Zoho,
            command_id: out.commands[0].command_id,
            external_id: ExternalId("1001".into()),
            version: Version("z1".into()),
            modified: at(2),
        };
        let out = step(out.link, zoho_made, user, rules, ids);
        let zoho_edit = Input::Changed {
            side: Side::Zoho,
            external_id: ExternalId("1001".into()),
            version: Version("z2".into()),
            item: edited,
            identity: None,
            modified: at(edited_at),
        };
        let out = step(out.link, zoho_edit, user, rules, ids);
        (out.link.expect("the link"), out.commands[0].command_id)
    }

    /// Decision 100: a read changed before what the link knows of the item changes nothing;
    /// the time orders reads of one item only, so another item there (joined under a new id)
    /// is taken in whatever its time.
    #[test]
    fn an_older_read_of_the_item_changes_nothing_and_another_item_starts_afresh() {
        let user = UserId(Uuid::nil());
        let rules = rules(false, false);
        let ids = &mut Counting(0);
        let job = |title: &str| {
            Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: Some(title.into()),
                ..Contact::default()
            })
        };
        let changed = |id: &str, title: &str, second: u32| Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId(id.into()),
            version: Version(format!("ck{second}")),
            item: job(title),
            identity: None,
            modified: at(second),
        };
        let out = step(None, changed("AAMk1", "A", 5), user, rules, ids);
        let link = out.link.expect("a link");
        assert_eq!(link.outlook.as_ref().and_then(|s| s.modified), at(5));
        // Read at 3, published late: nothing changes, nothing is written.
        let out = step(Some(link), changed("AAMk1", "B", 3), user, rules, ids);
        assert!(out.commands.is_empty(), "{:?}", out.commands);
        let link = out.link.expect("the link");
        assert_eq!(link.target, job("A"));
        // Read at 5 too (Zoho's times have one-second resolution): an edit as ever.
        let out = step(Some(link), changed("AAMk1", "C", 5), user, rules, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.target, job("C"));
        // Another item there (a join under a new id) with an earlier time: taken in.
        let out = step(Some(link), changed("AAMk2", "D", 1), user, rules, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.target, job("D"));
        assert_eq!(link.outlook.as_ref().and_then(|s| s.modified), at(1));
    }

    /// Decision 102: a released read that a windowed re-read did not list is asked for by id
    /// before it is copied. Gone, the link goes at once (no delete to stage or guard); the ask
    /// failed, the next round end asks again; found, the copy is made. During a first sync too.
    #[test]
    fn an_unconfirmed_read_is_asked_for_before_it_is_copied() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let item = Item::Contact(Contact {
            given_name: Some("Aiko".into()),
            ..Contact::default()
        });
        let read = Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck1".into()),
            item: item.clone(),
            identity: None,
            modified: at(1),
        };
        let asked = |out: &Output| match &out.commands[..] {
            [
                Command {
                    side: Side::Outlook,
                    command_id,
                    op: ApplyOp::Probe { external_id },
                },
            ] if external_id.0 == "AAMk1" => *command_id,
            other => panic!("one ask for AAMk1 expected: {other:?}"),
        };
        let out = new_unconfirmed(read.clone(), user, rules(false, false), ids);
        let probe = asked(&out);
        let link = out.link.expect("a link");

        let gone = Input::Gone {
            side: Side::Outlook,
            command_id: probe,
        };
        let out = step(Some(link.clone()), gone, user, rules(false, false), ids);
        assert!(out.remove && !out.staged_delete && out.commands.is_empty());

        let failed = Input::Failed {
            side: Side::Outlook,
            command_id: probe,
            code: FailureCode::Throttled,
            message: "429".into(),
        };
        let out = step(Some(link.clone()), failed, user, rules(false, false), ids);
        assert!(out.commands.is_empty(), "nothing is copied unasked");
        let mut kept = out.link.expect("the link");
        assert_eq!(
            full_read::unlisted(&mut kept, Side::Outlook),
            Some(full_read::Unlisted::Ask(Input::Probe {
                side: Side::Outlook
            }))
        );

        let found = Input::Stale {
            side: Side::Outlook,
            command_id: probe,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck1".into()),
            item: item.clone(),
            modified: at(1),
        };
        let out = step(Some(link), found, user, rules(false, false), ids);
        assert!(
            matches!(&out.commands[..], [Command { side: Side::Zoho, op: ApplyOp::Create { item: sent, .. }, .. }] if *sent == item),
            "{:?}",
            out.commands
        );

        let out = new_unconfirmed(read, user, rules(true, false), ids);
        asked(&out);
    }

    /// Decision 100 for a read the category filter puts outside the scope (`scope::within`):
    /// one changed before what the link knows, published late, unlinks nothing; a newer one
    /// does.
    #[test]
    fn an_older_read_outside_the_scope_leaves_the_link_as_it_is() {
        let user = UserId(Uuid::nil());
        let rules = rules(false, false);
        let ids = &mut Counting(0);
        let read = Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck5".into()),
            item: Item::Contact(Contact {
                given_name: Some("Ken".into()),
                ..Contact::default()
            }),
            identity: None,
            modified: at(5),
        };
        let link = step(None, read, user, rules, ids).link.expect("a link");
        let left = |second: u32| Input::LeftScope {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            modified: at(second),
        };
        let out = step(Some(link.clone()), left(3), user, rules, ids);
        assert_eq!(out, Output::default(), "nothing changes");
        let out = step(Some(link), left(7), user, rules, ids);
        let link = out.link.expect("the link");
        assert!(link.outlook.is_none(), "the item left the scope there");
        assert!(out.commands.is_empty(), "nothing is deleted for it");
    }

    /// Outlook's `AAMk1` leaves the scope: a read without its category, changed at `second`.
    fn left_at(second: u32) -> Input {
        Input::LeftScope {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            modified: at(second),
        }
    }

    /// The success of our update `command_id` of `AAMk1`, landed at `second`.
    fn landed(command_id: Uuid, second: u32) -> Input {
        Input::Applied {
            side: Side::Outlook,
            command_id,
            external_id: ExternalId("AAMk1".into()),
            version: Version(format!("ck{second}")),
            modified: at(second),
        }
    }

    /// Zoho's `1001` read with `title` as Ken's job title, changed at `second`.
    fn zoho_job(title: &str, second: u32) -> Input {
        Input::Changed {
            side: Side::Zoho,
            external_id: ExternalId("1001".into()),
            version: Version(format!("z{second}")),
            item: ken_as(title),
            identity: None,
            modified: at(second),
        }
    }

    /// The one command of `out`, an update of Outlook's `AAMk1`: the contact it writes.
    fn the_outlook_update(out: &Output) -> &Contact {
        match &out.commands[..] {
            [
                Command {
                    side: Side::Outlook,
                    op:
                        ApplyOp::Update {
                            item: Item::Contact(c),
                            ..
                        },
                    ..
                },
            ] => c,
            other => panic!("one update of Outlook's item expected: {other:?}"),
        }
    }

    /// Outlook's `AAMk1` and Zoho's `1001`, in sync since second 2 (Ken, `job_title` as
    /// given), then put out of the scope by a read changed at second 5 (its synced category
    /// removed): the link, out of scope.
    fn departed_at_5(job_title: &str, ids: &mut Counting) -> Link {
        let (user, rules) = (UserId(Uuid::nil()), rules(false, false));
        let ken = Item::Contact(Contact {
            given_name: Some("Ken".into()),
            job_title: Some(job_title.into()),
            ..Contact::default()
        });
        let read = Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck1".into()),
            item: ken,
            identity: None,
            modified: at(1),
        };
        let out = step(None, read, user, rules, ids);
        let zoho_made = Input::Applied {
            side: Side::Zoho,
            command_id: out.commands[0].command_id,
            external_id: ExternalId("1001".into()),
            version: Version("z1".into()),
            modified: at(2),
        };
        let link = step(out.link, zoho_made, user, rules, ids).link;
        let left = left_at(5);
        let out = step(link, left, user, rules, ids);
        assert!(out.commands.is_empty(), "nothing is deleted for it");
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::OutOfScope);
        link
    }

    /// Ken, with `title` as his job title.
    fn ken_as(title: &str) -> Item {
        Item::Contact(Contact {
            given_name: Some("Ken".into()),
            job_title: Some(title.into()),
            ..Contact::default()
        })
    }

    fn outlook_read(job_title: &str, second: u32) -> Input {
        Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            version: Version(format!("ck{second}")),
            item: Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: Some(job_title.into()),
                ..Contact::default()
            }),
            identity: None,
            modified: at(second),
        }
    }

    /// The one command of `out`, an update of Zoho's record: its id and the contact it writes.
    fn the_zoho_update(out: &Output) -> (&ExternalId, &Contact) {
        match &out.commands[..] {
            [
                Command {
                    side: Side::Zoho,
                    op:
                        ApplyOp::Update {
                            external_id,
                            item: Item::Contact(c),
                            ..
                        },
                    ..
                },
            ] => (external_id, c),
            other => panic!("one update of the Zoho record expected: {other:?}"),
        }
    }

    /// Decision 105: an item put out of the scope and back (its synced category removed, then
    /// added again) pairs with its partner again: the link is still found by its id, the edit
    /// made meanwhile goes to Zoho as an update, and nothing is created.
    #[test]
    fn an_item_back_in_scope_pairs_with_its_partner_again() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let link = departed_at_5("Sales", ids);
        assert_eq!(
            link.lookup_id(Side::Outlook),
            Some(&ExternalId("AAMk1".into()))
        );
        let out = step(
            Some(link),
            outlook_read("Head of sales", 7),
            user,
            rules,
            ids,
        );
        let link = out.link.as_ref().expect("the link");
        assert_eq!(link.status, LinkStatus::Active);
        assert_eq!(link.departed, None);
        assert_eq!(
            link.external_id(Side::Outlook),
            Some(&ExternalId("AAMk1".into()))
        );
        let (external_id, c) = the_zoho_update(&out);
        assert_eq!(external_id, &ExternalId("1001".into()));
        assert_eq!(c.job_title.as_deref(), Some("Head of sales"));
    }

    /// Decision 105: a read of the item from before the read that put it out (published late),
    /// or as old, does not bring it back; a later one does.
    #[test]
    fn an_older_read_within_the_scope_leaves_a_departed_item_out() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let link = departed_at_5("Sales", ids);
        for second in [3, 5] {
            let out = step(
                Some(link.clone()),
                outlook_read("Sales", second),
                user,
                rules,
                ids,
            );
            assert!(out.commands.is_empty(), "nothing is written or copied");
            assert!(
                out.link
                    .is_none_or(|l| l.status == LinkStatus::OutOfScope && l.outlook.is_none()),
                "a read changed at {second} leaves the item out"
            );
        }
        // A later read outside it moves the time a read must pass.
        let left = left_at(8);
        let link = step(Some(link), left, user, rules, ids)
            .link
            .expect("the link");
        let out = step(
            Some(link.clone()),
            outlook_read("Sales", 7),
            user,
            rules,
            ids,
        );
        assert!(out.link.is_none_or(|l| l.outlook.is_none()), "still out");
        let out = step(Some(link), outlook_read("Sales", 9), user, rules, ids);
        assert_eq!(out.link.expect("the link").status, LinkStatus::Active);
    }

    /// Decision 105: Zoho's edits while the Outlook item is out of the scope are kept for it
    /// (nothing is written meanwhile) and reach Outlook when it is back, merged with what was
    /// edited there.
    #[test]
    fn edits_of_both_sides_while_out_of_scope_meet_when_the_item_is_back() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let link = departed_at_5("Sales", ids);
        let zoho_edit = Input::Changed {
            side: Side::Zoho,
            external_id: ExternalId("1001".into()),
            version: Version("z6".into()),
            item: Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: Some("Sales".into()),
                department: Some("East".into()),
                ..Contact::default()
            }),
            identity: None,
            modified: at(6),
        };
        let out = step(Some(link), zoho_edit, user, rules, ids);
        assert!(
            out.commands.is_empty(),
            "nothing is written while it is out"
        );
        let out = step(out.link, outlook_read("Head of sales", 7), user, rules, ids);
        let Item::Contact(target) = &out.link.as_ref().expect("the link").target else {
            panic!("a contact")
        };
        assert_eq!(target.job_title.as_deref(), Some("Head of sales"));
        assert_eq!(target.department.as_deref(), Some("East"));
        let sides: Vec<Side> = out.commands.iter().map(|c| c.side).collect();
        assert_eq!(
            sides,
            vec![Side::Outlook, Side::Zoho],
            "each side gets the other's edit"
        );
        assert!(
            out.commands
                .iter()
                .all(|c| matches!(c.op, ApplyOp::Update { .. })),
            "{:?}",
            out.commands
        );
    }

    /// Decision 105: an Outlook edit taken in but not yet written to Zoho when the item left
    /// the scope is not lost to Zoho's reads meanwhile: it reaches Zoho once the item is back.
    #[test]
    fn an_edit_not_yet_written_when_the_item_left_reaches_zoho_once_it_is_back() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let out = step(None, outlook_read("Sales", 1), user, rules, ids);
        let create = out.commands[0].command_id;
        // Edited while our create in Zoho (of the content before) is in flight.
        let out = step(out.link, outlook_read("Head of sales", 3), user, rules, ids);
        let left = left_at(5);
        let out = step(out.link, left, user, rules, ids);
        let made = Input::Applied {
            side: Side::Zoho,
            command_id: create,
            external_id: ExternalId("1001".into()),
            version: Version("z1".into()),
            modified: at(2),
        };
        let out = step(out.link, made, user, rules, ids);
        let zoho_read = Input::Changed {
            side: Side::Zoho,
            external_id: ExternalId("1001".into()),
            version: Version("z1".into()),
            item: Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: Some("Sales".into()),
                ..Contact::default()
            }),
            identity: None,
            modified: at(2),
        };
        let out = step(out.link, zoho_read, user, rules, ids);
        assert!(
            out.commands.is_empty(),
            "nothing is written while it is out"
        );
        let out = step(out.link, outlook_read("Head of sales", 7), user, rules, ids);
        let (_, c) = the_zoho_update(&out);
        assert_eq!(
            c.job_title.as_deref(),
            Some("Head of sales"),
            "the edit reaches Zoho"
        );
    }

    /// Decision 105: a re-scope (another calendar filter) judges the departed item anew: the
    /// filter may bring it back unchanged (its time no newer than when it left), and it is
    /// paired by its id again; a read outside the new filter keeps it out.
    #[test]
    fn a_rescope_judges_the_departed_item_anew() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let rescoped = Input::Rescoped {
            side: Side::Outlook,
        };
        let link = departed_at_5("Sales", ids);
        let out = step(Some(link), rescoped.clone(), user, rules, ids);
        let link = out.link.expect("the link, changed");
        assert_eq!(
            link.lookup_id(Side::Outlook),
            Some(&ExternalId("AAMk1".into()))
        );
        let out = step(
            Some(link.clone()),
            outlook_read("Sales", 5),
            user,
            rules,
            ids,
        );
        assert_eq!(out.link.expect("the link").status, LinkStatus::Active);
        assert!(out.commands.is_empty(), "nothing to write, nothing copied");

        // Outside the new filter too: its time is kept again, and an older read stays out.
        let left = left_at(5);
        let link = step(Some(link), left, user, rules, ids)
            .link
            .expect("the link");
        let out = step(Some(link), outlook_read("Sales", 4), user, rules, ids);
        assert!(out.link.is_none_or(|l| l.outlook.is_none()), "still out");
    }

    /// Decision 105: judged anew after a re-scope, still not by a read older than what the link
    /// knows of the item (published late); nor is it forgotten by a connector telling it left
    /// its folder unless it did; and the finale does not pair its Zoho partner with a
    /// lookalike meanwhile.
    #[test]
    fn a_rescoped_departed_item_waits_for_a_read_of_itself() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let rescoped = Input::Rescoped {
            side: Side::Outlook,
        };
        let link = departed_at_5("Sales", ids);
        let link = step(Some(link), rescoped, user, rules, ids)
            .link
            .expect("the link");
        assert_eq!(crate::domain::finale::Waiting::of(&link, false), None);
        let out = step(
            Some(link.clone()),
            outlook_read("Sales", 0),
            user,
            rules,
            ids,
        );
        assert!(
            out.link.is_none_or(|l| l.outlook.is_none()),
            "older: still out"
        );
        let told = Input::LeftScope {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            modified: None,
        };
        let link = step(Some(link), told, user, rules, ids)
            .link
            .expect("the link");
        assert_eq!(
            link.lookup_id(Side::Outlook),
            None,
            "told it left: forgotten"
        );
        assert!(crate::domain::finale::Waiting::of(&link, false).is_some());
    }

    /// Decision 105: a conflict held while the item is out can be resolved then: the choice
    /// waits in the target, and reaches both sides when the item is back.
    #[test]
    fn a_conflict_held_out_of_scope_is_resolved_before_the_item_is_back() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let review = review();
        let (link, _) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let out = step(Some(link), outlook_read("Director", 4), user, review, ids);
        let left = left_at(6);
        let link = step(out.link, left, user, review, ids)
            .link
            .expect("the link");
        assert!(link.awaits_choice());
        let keep = Input::Resolve {
            keep: Side::Outlook,
        };
        let out = step(Some(link), keep, user, review, ids);
        let link = out.link.expect("the link");
        assert!(!link.awaits_choice());
        assert_eq!(link.status, LinkStatus::OutOfScope, "still out");
        assert!(out.commands.is_empty(), "nothing written while it is out");
        let out = step(Some(link), outlook_read("Director", 8), user, review, ids);
        let (_, c) = the_zoho_update(&out);
        assert_eq!(
            c.job_title.as_deref(),
            Some("Director"),
            "the choice reaches Zoho"
        );
    }

    /// Decision 105: a conflict held for the user when the item left waits for it: back, the
    /// link is in review, and nothing is written over either side meanwhile.
    #[test]
    fn a_conflict_held_when_the_item_left_is_still_the_users_when_it_is_back() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let review = review();
        let job = ken_as;
        let (link, _) = updating_outlook(job("Sales"), job("Lead"), 3, ids);
        let out = step(Some(link), outlook_read("Director", 4), user, review, ids);
        assert_eq!(
            out.link.as_ref().map(|l| l.status),
            Some(LinkStatus::Review)
        );
        let left = left_at(6);
        let out = step(out.link, left, user, review, ids);
        assert_eq!(out.link.as_ref().map(|l| l.held.len()), Some(1));
        let out = step(out.link, outlook_read("Director", 8), user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::Review, "the user decides");
        assert!(out.commands.is_empty(), "{:?}", out.commands);
    }

    /// Decision 108: in review, Zoho's delete of a contact edited in Outlook meanwhile waits for
    /// the user; keeping Zoho's side deletes the Outlook contact, keeping Outlook's copies the
    /// edited contact back to Zoho.
    #[test]
    fn a_delete_versus_edit_in_review_goes_the_way_the_user_chooses() {
        let user = UserId(Uuid::nil());
        let review = review();
        for keep in Side::ALL {
            let ids = &mut Counting(0);
            let out = deleted_in_zoho_edited_in_outlook(ids);
            let link = out.link.expect("the link");
            assert_eq!(link.status, LinkStatus::Review);
            assert_eq!(deleting_side(&link), Some(Side::Zoho));
            assert!(out.commands.is_empty(), "{:?}", out.commands);
            let out = step(Some(link), Input::Resolve { keep }, user, review, ids);
            let link = out.link.expect("the link");
            assert!(!link.awaits_choice());
            match keep {
                Side::Zoho => {
                    assert_eq!(link.status, LinkStatus::Deleted);
                    assert!(
                        matches!(&out.commands[..], [c] if c.side == Side::Outlook
                        && c.op == ApplyOp::Delete {
                            external_id: ExternalId("AAMk1".into()),
                            expected_version: Some(Version("ck5".into())),
                        }),
                        "{:?}",
                        out.commands
                    );
                }
                Side::Outlook => {
                    assert_eq!(link.status, LinkStatus::Active);
                    assert!(
                        matches!(&out.commands[..], [c] if c.side == Side::Zoho
                            && matches!(&c.op, ApplyOp::Create { item: Item::Contact(k), .. }
                                if k.job_title.as_deref() == Some("Director"))),
                        "{:?}",
                        out.commands
                    );
                }
            }
        }
    }

    /// Decision 108: a conflict held while a delete waits for an admin (the mass-delete guard)
    /// keeps the delete waiting; discarded, the item comes back once the user chose.
    #[test]
    fn a_conflict_held_while_a_delete_waits_is_the_users_once_it_is_discarded() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let review = review();
        let (link, update) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let out = step(Some(link), zoho_deleted(), user, review, ids);
        let out = step(out.link, outlook_read("Director", 4), user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::StagedDelete { by: Side::Zoho });
        assert_eq!(link.held.len(), 1, "the job title waits with the delete");
        let out = step(Some(link), Input::HoldDelete, user, review, ids);
        let out = step(out.link, Input::DiscardDelete, user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::Review);
        assert!(link.awaits_choice());
        let stale = Input::Stale {
            side: Side::Outlook,
            command_id: update,
            external_id: ExternalId("AAMk1".into()),
            version: Version("ck4".into()),
            item: ken_as("Director"),
            modified: at(4),
        };
        let out = step(Some(link), stale, user, review, ids);
        let link = out.link.expect("the link");
        assert!(link.awaits_choice(), "still the user's");
        assert!(out.commands.is_empty(), "{:?}", out.commands);
        let keep = Input::Resolve {
            keep: Side::Outlook,
        };
        let out = step(Some(link), keep, user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!((link.status, link.held.len()), (LinkStatus::Active, 0));
        assert!(
            matches!(&out.commands[..], [c] if c.side == Side::Zoho
                && matches!(&c.op, ApplyOp::Create { item: Item::Contact(k), .. }
                    if k.job_title.as_deref() == Some("Director"))),
            "back in Zoho with the choice: {:?}",
            out.commands
        );
    }

    /// Decision 110: a conflict held while a delete waits for the end of its round can be
    /// resolved meanwhile; the delete stays staged and is decided by the values chosen: keeping
    /// the deleting side's, nothing contests it and it goes through; keeping the edit, the
    /// delete is against it and the user is asked about it.
    #[test]
    fn a_conflict_held_while_a_delete_is_staged_is_resolved_before_the_delete_is_decided() {
        let user = UserId(Uuid::nil());
        let review = review();
        for keep in Side::ALL {
            let ids = &mut Counting(0);
            let (link, update) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
            let out = step(Some(link), zoho_deleted(), user, review, ids);
            let out = step(out.link, outlook_read("Director", 4), user, review, ids);
            // Our update to Outlook meets the edit: the delete is decided once it is answered.
            let stale = Input::Stale {
                side: Side::Outlook,
                command_id: update,
                external_id: ExternalId("AAMk1".into()),
                version: Version("ck4".into()),
                item: ken_as("Director"),
                modified: at(4),
            };
            let out = step(out.link, stale, user, review, ids);
            let link = out.link.expect("the link");
            assert_eq!(link.status, LinkStatus::StagedDelete { by: Side::Zoho });
            assert!(link.awaits_choice(), "the job title is the user's");
            let out = step(Some(link), Input::Resolve { keep }, user, review, ids);
            let link = out.link.expect("the link");
            assert_eq!(
                (link.status, link.held.len()),
                (LinkStatus::StagedDelete { by: Side::Zoho }, 0),
                "the delete still waits"
            );
            assert!(!link.awaits_choice());
            assert!(out.commands.is_empty(), "{:?}", out.commands);
            let Item::Contact(target) = &link.target else {
                panic!("a contact: {:?}", link.target)
            };
            let chosen = match keep {
                Side::Outlook => "Director",
                Side::Zoho => "Lead",
            };
            assert_eq!(target.job_title.as_deref(), Some(chosen));
            let out = step(Some(link), Input::ReleaseDelete, user, review, ids);
            let link = out.link.expect("the link");
            match keep {
                Side::Zoho => {
                    assert_eq!(link.status, LinkStatus::Deleted);
                    assert!(
                        matches!(&out.commands[..], [c] if c.side == Side::Outlook
                            && matches!(c.op, ApplyOp::Delete { .. })),
                        "{:?}",
                        out.commands
                    );
                }
                Side::Outlook => {
                    assert_eq!(link.status, LinkStatus::Review);
                    assert_eq!(deleting_side(&link), Some(Side::Zoho));
                    assert!(out.commands.is_empty(), "{:?}", out.commands);
                }
            }
        }
    }

    /// Decision 110: a delete versus an edit waits in review, then the edited side deletes the
    /// item too. Resolving the first choice meanwhile deletes nothing more (the edited item is
    /// going already) and leaves the second delete, still held for an admin, to the admin.
    #[test]
    fn a_delete_versus_edit_resolved_while_the_other_side_deletes_too_leaves_that_delete_waiting() {
        let user = UserId(Uuid::nil());
        let review = review();
        for keep in Side::ALL {
            let ids = &mut Counting(0);
            let out = deleted_in_zoho_edited_in_outlook(ids);
            assert_eq!(out.link.as_ref().map(deleting_side), Some(Some(Side::Zoho)));
            let outlook_deleted = Input::Deleted {
                side: Side::Outlook,
                external_id: ExternalId("AAMk1".into()),
            };
            let out = step(out.link, outlook_deleted, user, review, ids);
            let out = step(out.link, Input::HoldDelete, user, review, ids);
            let link = out.link.expect("the link");
            assert_eq!(link.status, LinkStatus::HeldDelete { by: Side::Outlook });
            assert!(link.awaits_choice());
            let out = step(Some(link), Input::Resolve { keep }, user, review, ids);
            let link = out.link.expect("the link");
            assert!(out.commands.is_empty(), "{:?}", out.commands);
            assert_eq!(
                (link.status, link.held.len()),
                (LinkStatus::HeldDelete { by: Side::Outlook }, 0),
                "the admin's still"
            );
        }
    }

    /// Decision 110: resolved while an admin holds the delete, the choice reaches both sides if
    /// the admin discards the delete.
    #[test]
    fn a_conflict_resolved_while_a_delete_is_held_is_written_once_the_delete_is_discarded() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let review = review();
        let (link, _) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let out = step(Some(link), zoho_deleted(), user, review, ids);
        let out = step(out.link, outlook_read("Director", 4), user, review, ids);
        let out = step(out.link, Input::HoldDelete, user, review, ids);
        let keep = Input::Resolve {
            keep: Side::Outlook,
        };
        let out = step(out.link, keep, user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(
            (link.status, link.held.len()),
            (LinkStatus::HeldDelete { by: Side::Zoho }, 0)
        );
        assert!(out.commands.is_empty(), "{:?}", out.commands);
        let out = step(Some(link), Input::DiscardDelete, user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::Active);
        assert!(
            matches!(&out.commands[..], [c] if c.side == Side::Zoho
                && matches!(&c.op, ApplyOp::Create { item: Item::Contact(k), .. }
                    if k.job_title.as_deref() == Some("Director"))),
            "back in Zoho with the choice: {:?}",
            out.commands
        );
    }

    /// Decisions 107 and 108: a link in review whose item is then deleted on one side asks the
    /// user about the delete too (the other side's edit waits in the conflict held, even where
    /// the deleting side agrees with the target); keeping the delete ends the choice: the
    /// link, marked deleted, keeps no held conflict.
    #[test]
    fn a_delete_of_an_item_in_review_is_the_users_choice_too() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let review = review();
        let (link, update) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let out = step(Some(link), outlook_read("Director", 4), user, review, ids);
        let out = step(out.link, landed(update, 5), user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!((link.status, link.held.len()), (LinkStatus::Review, 1));
        let out = step(Some(link), zoho_deleted(), user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.held.len(), 1, "staged: the delete may still be undone");
        let out = step(Some(link), Input::ReleaseDelete, user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(
            link.status,
            LinkStatus::Review,
            "Outlook's edit is not lost"
        );
        assert_eq!(deleting_side(&link), Some(Side::Zoho));
        assert_eq!(link.held.len(), 2);
        assert!(out.commands.is_empty(), "{:?}", out.commands);
        let keep = Input::Resolve { keep: Side::Zoho };
        let out = step(Some(link), keep, user, review, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::Deleted);
        let Item::Contact(target) = &link.target else {
            panic!("a contact: {:?}", link.target)
        };
        assert_eq!(
            target.job_title.as_deref(),
            Some("Director"),
            "until the delete lands, the target is the Outlook contact that stays"
        );
        assert!(link.held.is_empty(), "{:?}", link.held);
        assert!(!link.awaits_choice());
        assert!(
            matches!(&out.commands[..], [c] if matches!(c.op, ApplyOp::Delete { .. })),
            "{:?}",
            out.commands
        );
    }

    /// Decision 105: our update of the item, in flight when it left, succeeded meanwhile: back,
    /// what it wrote is not read as an edit made there (which, Outlook winning, would overwrite
    /// Zoho's later edit).
    #[test]
    fn an_update_that_landed_after_the_item_left_is_no_edit_when_it_is_back() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let outlook_wins = Rules {
            conflict_rule: ConflictRule::OutlookWins,
            ..rules(false, false)
        };
        let job = ken_as;
        let (link, update) = updating_outlook(job("Sales"), job("Lead"), 3, ids);
        let left = left_at(5);
        let out = step(Some(link), left, user, outlook_wins, ids);
        let landed = landed(update, 6);
        let out = step(out.link, landed, user, outlook_wins, ids);
        let zoho_edit = zoho_job("Director", 7);
        let out = step(out.link, zoho_edit, user, outlook_wins, ids);
        let out = step(out.link, outlook_read("Lead", 8), user, outlook_wins, ids);
        let link = out.link.as_ref().expect("the link");
        let Item::Contact(target) = &link.target else {
            panic!("a contact")
        };
        assert_eq!(
            target.job_title.as_deref(),
            Some("Director"),
            "Zoho's edit stands"
        );
        assert!(out.conflicts.is_empty(), "{:?}", out.conflicts);
        assert_eq!(
            the_outlook_update(&out).job_title.as_deref(),
            Some("Director")
        );
    }

    /// Decision 105: back in scope before the answer of our update in flight as it left: the
    /// update is the side's again, and what it wrote (shown by the read) is no edit made there.
    #[test]
    fn an_item_back_before_our_updates_answer_takes_the_answer_as_any_write() {
        let user = UserId(Uuid::nil());
        let ids = &mut Counting(0);
        let outlook_wins = Rules {
            conflict_rule: ConflictRule::OutlookWins,
            ..rules(false, false)
        };
        let (link, update) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let left = left_at(5);
        let out = step(Some(link), left, user, outlook_wins, ids);
        let zoho_edit = zoho_job("Director", 7);
        let out = step(out.link, zoho_edit, user, outlook_wins, ids);
        let out = step(out.link, outlook_read("Lead", 8), user, outlook_wins, ids);
        assert!(out.conflicts.is_empty(), "{:?}", out.conflicts);
        let landed = landed(update, 6);
        let out = step(out.link, landed, user, outlook_wins, ids);
        let Item::Contact(target) = &out.link.as_ref().expect("the link").target else {
            panic!("a contact")
        };
        assert_eq!(
            target.job_title.as_deref(),
            Some("Director"),
            "Zoho's edit stands"
        );
        assert_eq!(
            the_outlook_update(&out).job_title.as_deref(),
            Some("Director")
        );
    }

    /// Decision 105: our update landed after the category was put back: the item's time is
    /// now that of our write, and a read at that time brings it back.
    #[test]
    fn a_read_as_new_as_our_update_that_landed_while_out_brings_it_back() {
        let user = UserId(Uuid::nil());
        let (rules, ids) = (rules(false, false), &mut Counting(0));
        let (link, update) = updating_outlook(ken_as("Sales"), ken_as("Lead"), 3, ids);
        let left = left_at(5);
        let out = step(Some(link), left, user, rules, ids);
        let landed = landed(update, 6);
        let out = step(out.link, landed, user, rules, ids);
        let out = step(out.link, outlook_read("Lead", 6), user, rules, ids);
        let link = out.link.expect("the link");
        assert_eq!(link.status, LinkStatus::Active);
        assert!(out.commands.is_empty(), "{:?}", out.commands);
    }

    /// Decision 105: the departed item deleted there can no longer come back: the link forgets
    /// it and keeps the Zoho record, out of scope, as it is.
    #[test]
    fn a_departed_item_deleted_there_is_forgotten() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let link = departed_at_5("Sales", ids);
        let gone = Input::Deleted {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
        };
        let out = step(Some(link), gone, user, rules, ids);
        assert!(
            !out.remove && out.commands.is_empty(),
            "the Zoho record stays"
        );
        let link = out.link.expect("the link");
        assert_eq!(
            (link.status, link.departed.as_ref()),
            (LinkStatus::OutOfScope, None)
        );
        assert_eq!(link.lookup_id(Side::Outlook), None);
    }

    /// Another folder or list: what left with the old one is not found by its id any more.
    #[test]
    fn a_moved_scope_forgets_what_departed() {
        let (user, rules, ids) = (UserId(Uuid::nil()), rules(false, false), &mut Counting(0));
        let link = departed_at_5("Sales", ids);
        let moved = Input::ScopeMoved {
            side: Side::Outlook,
        };
        let link = step(Some(link), moved, user, rules, ids)
            .link
            .expect("the link");
        assert_eq!(link.lookup_id(Side::Outlook), None);
    }

    /// Decision 100: our update's answer carries the time of the write, so a read of the
    /// version the write replaced, published after the answer, changes nothing (it would undo
    /// the write as a person's edit otherwise).
    #[test]
    fn a_read_published_after_our_updates_answer_and_older_than_it_changes_nothing() {
        let user = UserId(Uuid::nil());
        let rules = rules(false, false);
        let ids = &mut Counting(0);
        let person = |department: Option<&str>| {
            Item::Contact(Contact {
                given_name: Some("Ken".into()),
                department: department.map(Into::into),
                ..Contact::default()
            })
        };
        let outlook_read = |version: &str, second: u32| Input::Changed {
            side: Side::Outlook,
            external_id: ExternalId("AAMk1".into()),
            version: Version(version.into()),
            item: person(None),
            identity: None,
            modified: at(second),
        };
        // Zoho's department goes to Outlook, written at second 9.
        let (link, update) = updating_outlook(person(None), person(Some("Sales")), 8, ids);
        let written = landed(update, 9);
        let out = step(Some(link), written, user, rules, ids);
        // The poller's read of the copy before our write comes now.
        let out = step(out.link, outlook_read("ck1", 1), user, rules, ids);
        assert!(out.commands.is_empty(), "{:?}", out.commands);
        assert_eq!(out.link.expect("the link").target, person(Some("Sales")));
    }

    /// Decision 100: a conditional write's `Stale` answer whose item was changed after a read
    /// taken in while the write was in flight is the newer: its content is taken in.
    #[test]
    fn a_stale_answer_newer_than_the_read_taken_in_meanwhile_is_taken_in() {
        let user = UserId(Uuid::nil());
        let rules = rules(false, false);
        let ids = &mut Counting(0);
        let person = |job: Option<&str>, department: Option<&str>| {
            Item::Contact(Contact {
                given_name: Some("Ken".into()),
                job_title: job.map(Into::into),
                department: department.map(Into::into),
                ..Contact::default()
            })
        };
        let outlook = |version: &str, job: Option<&str>, second: u32| Read {
            id: ExternalId("AAMk1".into()),
            version: Version(version.into()),
            item: person(job, None),
            modified: at(second),
        };
        let read = |r: Read| Input::Changed {
            side: Side::Outlook,
            external_id: r.id,
            version: r.version,
            item: r.item,
            identity: None,
            modified: r.modified,
        };
        // Zoho's department is being written to Outlook...
        let (link, update) =
            updating_outlook(person(None, None), person(None, Some("Sales")), 3, ids);
        // ...while the poller reads a job title added at second 4...
        let out = step(
            Some(link),
            read(outlook("ck4", Some("Lead"), 4)),
            user,
            rules,
            ids,
        );
        // ...and the write finds the item changed again at second 6: conditional, it wrote
        // nothing, and answers with what it found.
        let found = outlook("ck6", Some("Head"), 6);
        let stale = Input::Stale {
            side: Side::Outlook,
            command_id: update,
            external_id: found.id,
            version: found.version,
            item: found.item,
            modified: found.modified,
        };
        let out = step(out.link, stale, user, rules, ids);
        assert_eq!(
            out.link.expect("the link").target,
            person(Some("Head"), Some("Sales"))
        );
    }

    #[test]
    fn a_rebuild_keeps_the_identity_an_item_carried_when_read() {
        let identity = LinkIdentity {
            link: LinkId(Uuid::from_u128(900)),
            origin: Some(ExternalId("AAMk1".into())),
        };
        let user = UserId(Uuid::nil());
        let out = step(
            None,
            read(Side::Zoho, "1001", Some(identity.clone())),
            user,
            rules(true, true),
            &mut Counting(0),
        );
        let link = out.link.expect("an unmatched link");
        assert_eq!(link.status, LinkStatus::Unmatched);
        assert_eq!(link.found_identity.as_ref(), Some(&identity));
        assert!(out.commands.is_empty());
        // A later read that cannot carry it (Outlook's contact delta) does not forget it.
        let out = step(
            Some(link),
            read(Side::Zoho, "1001", None),
            user,
            rules(true, true),
            &mut Counting(10),
        );
        assert_eq!(
            out.link.expect("kept").found_identity.as_ref(),
            Some(&identity)
        );
        // Outside a rebuild an identity is not kept (it is the create's business only).
        let out = step(
            None,
            read(Side::Zoho, "1002", Some(identity)),
            user,
            rules(true, false),
            &mut Counting(20),
        );
        assert_eq!(out.link.expect("unmatched").found_identity, None);
    }
}

//! A link: one item known on both sides, the content they should agree on, and what each side
//! holds as far as we know.

use serde::{Deserialize, Serialize};
use sync_model::{ExternalId, Item, ItemKind, LinkId, Modified, Side, UserId, Version};
use sync_protocol::{FailureCode, LinkIdentity};
use uuid::Uuid;

use super::merge::FieldConflict;

/// One side of a link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideState {
    /// `None` while the item's create on this side is in flight (or failed).
    pub id: Option<ExternalId>,
    pub version: Option<Version>,
    /// When the provider last changed what `known` was read from: a read changed before it is
    /// older than what is known (published late) and changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<Modified>,
    /// The content this side holds as far as we have accounted for it: read from it, or written
    /// to it and confirmed. Its differences from [`Link::target`] are what still has to be
    /// written; a read's differences from it are the side's own edits.
    pub known: Option<Item>,
    pub inflight: Option<Inflight>,
    /// The item there was made by our create (not read there first, nor paired by matching):
    /// a copy we may undo when it turns out to duplicate another link's item.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub created: bool,
    /// A create here lost its answer: its copy may exist where no read shows it (an event
    /// outside the calendar window), so the next create looks for it first (`may_exist`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub may_exist: bool,
    /// The latest read of this side taken while a write of ours there was in flight. The
    /// write's answer can come after what the poller published since, so content a stale
    /// answer carries may be older than this read: the read wins, and anything newer than it
    /// comes from the poller in turn. (A link given up keeps it only for its delete in flight.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_in_flight: Option<Box<SideRead>>,
    /// A full re-read ended without listing the item while an update of ours there (or a probe)
    /// was in flight: that update's success, or the probe finding the item, does not prove it
    /// is still there (it may have been deleted after the write or the probe, before the read),
    /// so it is asked for by id once answered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub probe_after_write: bool,
    /// Outlook only: made by our create (or found by its identity) and not yet listed by a read
    /// of the side. Graph's delta (`calendarView/delta` at least) tells the removal only of an
    /// item its sync state listed, so a copy deleted before the side's next round would never
    /// be told deleted: it is asked for by id at the end of a round that began after our
    /// create (`full_read::unlisted`), unless a read listed it. (Zoho lists every deleted record
    /// by id.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlisted: bool,
    /// `unlisted`, and a round of the side has ended since it was marked: the round that ends
    /// next began after our create was answered, so it should have listed the copy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlisted_a_round: bool,
}

/// What a read of one side said of its item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "read", rename_all = "snake_case")]
pub enum SideRead {
    Changed {
        version: Version,
        item: Item,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modified: Option<Modified>,
    },
    Deleted,
}

impl SideState {
    pub fn seen(id: ExternalId, version: Version, item: Item) -> Self {
        SideState {
            id: Some(id),
            version: Some(version),
            modified: None,
            known: Some(item),
            inflight: None,
            created: false,
            may_exist: false,
            read_in_flight: None,
            probe_after_write: false,
            unlisted: false,
            unlisted_a_round: false,
        }
    }

    /// A side the item should be on and is not yet: reconciling creates it there.
    pub fn missing() -> Self {
        SideState {
            id: None,
            version: None,
            modified: None,
            known: None,
            inflight: None,
            created: false,
            may_exist: false,
            read_in_flight: None,
            probe_after_write: false,
            unlisted: false,
            unlisted_a_round: false,
        }
    }

    /// Our create made the item here (or found it): on Outlook, it is asked for by id unless a
    /// read lists it before a whole round has passed ([`SideState::unlisted`]).
    pub fn made_by_us(&mut self, side: Side) {
        self.unlisted = side == Side::Outlook;
        self.unlisted_a_round = false;
    }

    /// A read listed the item here, or a probe found it: its deletion will be told.
    pub fn listed(&mut self) {
        self.unlisted = false;
        self.unlisted_a_round = false;
    }
}

/// A command sent to a side and not yet answered. One at a time per side and link, so results
/// never cross.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inflight {
    pub command_id: Uuid,
    pub op: InflightOp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InflightOp {
    Create {
        item: Item,
    },
    Update {
        item: Item,
        /// What the side was known to hold when the update was decided: the fields where
        /// `item` differs from it are what the write changes (absent in links stored before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base: Option<Box<Item>>,
        /// The version the write is conditional on (absent in links stored before): a read
        /// from before a successful conditional write holds exactly it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expected: Option<Version>,
    },
    Delete,
    /// A read by id: whether the item a windowed full read did not list still exists.
    Probe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LinkStatus {
    /// Both sides (or the side in scope) are kept in agreement.
    Active,
    /// First sync: known on one side only, waiting for both sides' full reads to be matched.
    Unmatched,
    /// First sync: matches several items on the other side; held for the user.
    Ambiguous,
    /// Review mode: a conflict waits for the user's choice; nothing is written meanwhile.
    Review,
    /// Deleted on `by`; the delete of the other side waits for the end of the poll round.
    StagedDelete { by: Side },
    /// Deleted on `by`, part of a run that deleted too much: held for an admin.
    HeldDelete { by: Side },
    /// Deleted on both sides; kept so late messages about it are recognised.
    Deleted,
    /// Known on one side only: its counterpart left the synced folder, list or categories (or
    /// never synced, one-way). Nothing is written for it; the next re-scope may pair it again.
    OutOfScope,
    /// A links rebuild found no partner for it on the other side: known on one side only and
    /// never created on the other (a rebuild creates nothing); reported to an admin.
    Unpaired,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Active => "active",
            LinkStatus::Unmatched => "unmatched",
            LinkStatus::Ambiguous => "ambiguous",
            LinkStatus::Review => "review",
            LinkStatus::StagedDelete { .. } => "staged_delete",
            LinkStatus::HeldDelete { .. } => "held_delete",
            LinkStatus::Deleted => "deleted",
            LinkStatus::OutOfScope => "out_of_scope",
            LinkStatus::Unpaired => "unpaired",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    pub id: LinkId,
    pub user_id: UserId,
    pub kind: ItemKind,
    pub status: LinkStatus,
    /// The agreed content: what both sides should hold (the merge base of the next change).
    pub target: Item,
    pub outlook: Option<SideState>,
    pub zoho: Option<SideState>,
    /// Conflicts waiting for the user (review mode).
    #[serde(default)]
    pub held: Vec<FieldConflict>,
    /// The last refused write: the side, the reason and the provider's words.
    #[serde(default)]
    pub last_error: Option<LinkError>,
    /// Full re-reads, per side, that began while this item was known there and have not shown
    /// it yet (see `full_read`).
    #[serde(default, skip_serializing_if = "Unseen::is_empty")]
    pub unseen: Unseen,
    /// During a links rebuild: the identity the item carried when it was read (it is a copy
    /// we made), which pairs it with its original at the end of the rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_identity: Option<LinkIdentity>,
    /// Out of scope: the item that left it (the category filter put it out). The link is still
    /// found by its id, so that a read of it back in scope pairs it again instead of copying
    /// it, and an older read of it changes nothing (decision 105).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departed: Option<Box<Departed>>,
}

/// What a link knew of an item that left the scope on one side (see [`Link::departed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Departed {
    pub side: Side,
    pub id: ExternalId,
    pub version: Option<Version>,
    /// When the provider last changed it as read outside the scope: only a newer read brings
    /// it back. `None` after a re-scope: the next read of it, whatever its time, is judged by
    /// the new filter.
    pub modified: Option<Modified>,
    /// When the provider last changed what `known` was read from (the side's `modified` as it
    /// left): a read older than that is older than what is known, and does not bring it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<Modified>,
    /// When our update in flight as it left landed there: a read older than that does not show
    /// what `known` now holds, and does not bring it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written: Option<Modified>,
    /// What it held as far as we knew: its differences from a read back in scope are the edits
    /// made there meanwhile.
    pub known: Option<Item>,
    /// Our update there, in flight when it left: its success is what it holds then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inflight: Option<Inflight>,
}

/// The full re-read (its round id) of each side still waiting to show a link's item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unseen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlook: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoho: Option<Uuid>,
}

impl Unseen {
    pub fn is_empty(&self) -> bool {
        self.outlook.is_none() && self.zoho.is_none()
    }

    pub fn get(&self, side: Side) -> Option<Uuid> {
        match side {
            Side::Outlook => self.outlook,
            Side::Zoho => self.zoho,
        }
    }

    pub fn set(&mut self, side: Side, round: Option<Uuid>) {
        match side {
            Side::Outlook => self.outlook = round,
            Side::Zoho => self.zoho = round,
        }
    }
}

impl Link {
    pub fn new(id: LinkId, user_id: UserId, status: LinkStatus, target: Item) -> Self {
        Link {
            id,
            user_id,
            kind: target.kind(),
            status,
            target,
            outlook: None,
            zoho: None,
            held: Vec::new(),
            last_error: None,
            unseen: Unseen::default(),
            found_identity: None,
            departed: None,
        }
    }

    /// Deleted on both sides (or on its way to be): nothing is left to choose, so the conflicts
    /// held for the user go (decision 107).
    pub fn mark_deleted(&mut self) {
        self.status = LinkStatus::Deleted;
        self.held.clear();
    }

    pub fn side(&self, side: Side) -> Option<&SideState> {
        match side {
            Side::Outlook => self.outlook.as_ref(),
            Side::Zoho => self.zoho.as_ref(),
        }
    }

    pub fn side_mut(&mut self, side: Side) -> &mut Option<SideState> {
        match side {
            Side::Outlook => &mut self.outlook,
            Side::Zoho => &mut self.zoho,
        }
    }

    pub fn external_id(&self, side: Side) -> Option<&ExternalId> {
        self.side(side).and_then(|s| s.id.as_ref())
    }

    /// The id the link is found by on `side`: its item there, or, when it holds none, the item
    /// that left the scope there ([`Link::departed`]).
    pub fn lookup_id(&self, side: Side) -> Option<&ExternalId> {
        match self.side(side) {
            Some(state) => state.id.as_ref(),
            None => self
                .departed
                .as_ref()
                .filter(|d| d.side == side)
                .map(|d| &d.id),
        }
    }

    /// Whether `side` holds the agreed content (as far as that side can hold it).
    /// Whether `command_id` is the write in flight on `side` (its result is the one awaited).
    pub fn awaits(&self, side: Side, command_id: Uuid) -> bool {
        self.side(side)
            .and_then(|s| s.inflight.as_ref())
            .is_some_and(|i| i.command_id == command_id)
    }

    /// Whether `command_id` is our write on `side` still unanswered: in flight there, or in
    /// flight when the item there departed (decision 105).
    pub fn unanswered(&self, side: Side, command_id: Uuid) -> bool {
        self.awaits(side, command_id)
            || self.departed.as_ref().is_some_and(|d| {
                d.side == side
                    && d.inflight
                        .as_ref()
                        .is_some_and(|i| i.command_id == command_id)
            })
    }

    /// Whether a conflict waits for the user's choice: in review, or held while the item on one
    /// side is out of scope (decision 105) or while a delete waits for the end of its round or
    /// for an admin (decision 110: the choice is of values, the delete is decided apart).
    /// Neither an active nor a deleted link holds any.
    pub fn awaits_choice(&self) -> bool {
        self.status == LinkStatus::Review || !self.held.is_empty()
    }

    pub fn in_agreement(&self, side: Side) -> bool {
        self.side(side)
            .and_then(|s| s.known.as_ref())
            .is_some_and(|known| {
                known.project_for(side).content_hash()
                    == self.target.project_for(side).content_hash()
            })
    }
}

/// Why the last write to one side of a link failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredLinkError")]
pub struct LinkError {
    pub side: Side,
    pub code: FailureCode,
    pub message: String,
}

impl LinkError {
    pub fn new(side: Side, code: FailureCode, message: impl Into<String>) -> Self {
        LinkError {
            side,
            code,
            message: message.into(),
        }
    }

    /// Whether `side` refused with `code`.
    pub fn is(&self, side: Side, code: &FailureCode) -> bool {
        self.side == side && self.code == *code
    }
}

/// How a link's error is stored: as fields, or as links saved before the code had a type held
/// it, `[side, "<code>: <message>"]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredLinkError {
    Fields {
        side: Side,
        code: FailureCode,
        message: String,
    },
    Text(Side, String),
}

impl From<StoredLinkError> for LinkError {
    fn from(stored: StoredLinkError) -> Self {
        match stored {
            StoredLinkError::Fields {
                side,
                code,
                message,
            } => LinkError::new(side, code, message),
            StoredLinkError::Text(side, text) if text.starts_with("links rebuild:") => {
                LinkError::new(side, FailureCode::LinksRebuildUnpaired, text)
            }
            StoredLinkError::Text(side, text) => match text.split_once(": ") {
                Some((code, message)) => LinkError::new(side, FailureCode::provider(code), message),
                None => LinkError::new(side, FailureCode::provider(text.clone()), text),
            },
        }
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn an_error_stored_before_the_code_had_a_type_reads_back() {
        let read = |json: &str| serde_json::from_str::<LinkError>(json).unwrap();
        assert_eq!(
            read(r#"["outlook", "create_unconfirmed: the answer was lost"]"#),
            LinkError::new(
                Side::Outlook,
                FailureCode::CreateUnconfirmed,
                "the answer was lost"
            )
        );
        assert_eq!(
            read(r#"["zoho", "MANDATORY_NOT_FOUND: required field not found (Last_Name)"]"#).code,
            FailureCode::Provider("MANDATORY_NOT_FOUND".into())
        );
        assert_eq!(
            read(r#"["zoho", "links rebuild: no partner found on the other side"]"#).code,
            FailureCode::LinksRebuildUnpaired
        );
        let now = LinkError::new(Side::Zoho, FailureCode::Throttled, "429");
        assert_eq!(read(&serde_json::to_string(&now).unwrap()), now);
    }
}

//! Message bodies and their envelope. JSON, with `schema_version` so a consumer can refuse
//! (dead-letter) what it does not understand instead of misreading it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sync_model::{
    ContentHash, ExternalId, Item, ItemKind, LinkId, Modified, Side, UserId, Version,
};
use uuid::Uuid;

use crate::failure::FailureCode;
use crate::identity::LinkIdentity;

pub const SCHEMA_VERSION: u16 = 1;

/// Wraps every message on the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub schema_version: u16,
    /// Unique per message; consumers de-duplicate on it.
    pub message_id: Uuid,
    pub user_id: UserId,
    pub occurred_at: DateTime<Utc>,
    /// W3C trace context of the span that produced the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// On a connector's changes: the re-scope (see [`CommandMessage::Watch`]) whose full read
    /// produced this message, so sync-service can tell the new scope's reads from the old's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescope: Option<Uuid>,
    /// On a connector's poll messages: the claim of the watch whose round read them, so that
    /// sync-service can drop a page published late by a poller whose lease another replica
    /// took over (decisions #112). Messages without one (answers, older connectors) pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<PollClaim>,
    pub body: T,
}

/// One claim of a connector's watch (a user's kind on one side): every claim of a watch has a
/// greater number than the one before (the claim's time in microseconds, or one more than the
/// last claim where the clock is behind it), so a later claim is newer whatever happened to
/// the connector's database or its clock in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PollClaim(pub i64);

impl<T> Envelope<T> {
    pub fn new(user_id: UserId, body: T) -> Self {
        Envelope {
            schema_version: SCHEMA_VERSION,
            message_id: Uuid::now_v7(),
            user_id,
            occurred_at: Utc::now(),
            traceparent: None,
            rescope: None,
            claim: None,
            body,
        }
    }

    pub fn with_traceparent(mut self, traceparent: Option<String>) -> Self {
        self.traceparent = traceparent;
        self
    }

    pub fn with_rescope(mut self, rescope: Option<Uuid>) -> Self {
        self.rescope = rescope;
        self
    }

    pub fn with_claim(mut self, claim: Option<PollClaim>) -> Self {
        self.claim = claim;
        self
    }
}

/// Published by connectors on `sync.changes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChangeMessage {
    /// An item was created or changed on `side` (or seen for the first time in a full read).
    ItemChanged {
        side: Side,
        external_id: ExternalId,
        version: Version,
        item: Item,
        /// The link identity the item carries on `side` (it is a copy we created), where the
        /// read can carry it: Zoho reads, Outlook's To Do task delta and identify rounds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<LinkIdentity>,
        /// When the provider last changed it: orders this read against others of the item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modified: Option<Modified>,
    },
    /// An item was deleted on `side`, or left the synced folder / list / categories.
    ItemDeleted {
        side: Side,
        kind: ItemKind,
        external_id: ExternalId,
        /// `true` when the item still exists but left the chosen scope: never a delete elsewhere.
        left_scope: bool,
    },
    /// A full read of `kind` on `side` that re-reads a scope already read (a resync: an expired
    /// cursor, an admin's) begins. Every item it finds in scope is published (as
    /// [`ChangeMessage::ItemChanged`]) before the [`ChangeMessage::ReadCompleted`] naming the
    /// same `round`: an item known before this message and not published by then is gone.
    /// Not sent for a first read of a scope (a new watch, another folder). A read that covers a
    /// window only (Outlook's calendar) sends it too, and says so at its end
    /// ([`ChangeMessage::ReadCompleted::lists_everything`]).
    ReadStarted {
        side: Side,
        kind: ItemKind,
        round: Uuid,
        /// `false` when the read covers a window only: it will not list everything again, so
        /// what waits for an earlier read of that side is kept.
        #[serde(default = "yes")]
        lists_everything: bool,
    },
    /// A poll round of `kind` on `side` ended; everything it read was published before this.
    /// `full` when the round read everything (the first sync, or a resync).
    ReadCompleted {
        side: Side,
        kind: ItemKind,
        full: bool,
        items_read: u64,
        /// The round of the [`ChangeMessage::ReadStarted`] this full read began with; `None`
        /// when it began without one, or found items it could not read (their absence then
        /// proves nothing).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        round: Option<Uuid>,
        /// `false` when the read covers a window only (Outlook's calendar): an item it did not
        /// list may lie outside the window, so it is asked for by id ([`ApplyOp::Probe`]) before
        /// it is taken for deleted.
        #[serde(default = "yes")]
        lists_everything: bool,
    },
    /// The outcome of an [`CommandMessage::Apply`].
    ApplyResult {
        command_id: Uuid,
        link_id: LinkId,
        side: Side,
        kind: ItemKind,
        outcome: ApplyOutcome,
    },
}

impl ChangeMessage {
    pub fn side(&self) -> Side {
        match self {
            ChangeMessage::ItemChanged { side, .. }
            | ChangeMessage::ItemDeleted { side, .. }
            | ChangeMessage::ReadStarted { side, .. }
            | ChangeMessage::ReadCompleted { side, .. }
            | ChangeMessage::ApplyResult { side, .. } => *side,
        }
    }

    pub fn kind(&self) -> ItemKind {
        match self {
            ChangeMessage::ItemChanged { item, .. } => item.kind(),
            ChangeMessage::ItemDeleted { kind, .. }
            | ChangeMessage::ReadStarted { kind, .. }
            | ChangeMessage::ReadCompleted { kind, .. }
            | ChangeMessage::ApplyResult { kind, .. } => *kind,
        }
    }

    /// The routing key's last part.
    pub fn verb(&self) -> &'static str {
        match self {
            ChangeMessage::ItemChanged { .. } => "changed",
            ChangeMessage::ItemDeleted { .. } => "deleted",
            ChangeMessage::ReadStarted { .. } => "started",
            ChangeMessage::ReadCompleted { .. } => "completed",
            ChangeMessage::ApplyResult { .. } => "result",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Written; the item's id and version on that side, and the content as the side now holds it.
    Applied {
        external_id: ExternalId,
        version: Version,
        content_hash: ContentHash,
        /// When the provider last changed it (our write), as for [`ChangeMessage::ItemChanged`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modified: Option<Modified>,
    },
    /// A conditional write found the item changed since `expected_version`: nothing was written;
    /// the item as that side now holds it. Also the answer to a [`ApplyOp::Probe`] that found
    /// the item, and to a create (repeated, or [`ApplyOp::Create`] with `may_exist`) that found the
    /// copy an earlier attempt made: nothing was written, and the copy holds what that attempt
    /// sent, not necessarily what this one carries.
    Stale {
        external_id: ExternalId,
        version: Version,
        item: Item,
        /// When the provider last changed it, as for [`ChangeMessage::ItemChanged`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modified: Option<Modified>,
    },
    /// The item no longer exists on that side (a delete that found nothing is also this).
    Gone { external_id: Option<ExternalId> },
    /// The API refused this record (its own error code), or retries were exhausted.
    Failed {
        code: FailureCode,
        message: String,
        retryable: bool,
    },
}

/// Published by sync-service on `sync.commands`, routed to one side's connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommandMessage {
    /// Poll `kind` for this user within `scope`, or stop when `scope` is `None`.
    Watch {
        side: Side,
        kind: ItemKind,
        scope: Option<WatchScope>,
        /// The scope changed (a new folder or list, another calendar filter, the kind switched
        /// on again): read everything again in a round that starts after this command, and tag
        /// that round's messages with this id ([`Envelope::rescope`]). A round of the old scope
        /// still under way stops at its next page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rescope: Option<Uuid>,
    },
    /// Poll `kind` now; `full` discards the cursor and reads everything again (a resync).
    /// `identities`: the next full read publishes every item with the link identity it carries
    /// (a links rebuild), even where the ordinary read cannot carry it.
    Poll {
        side: Side,
        kind: ItemKind,
        full: bool,
        #[serde(default)]
        identities: bool,
    },
    /// Write one item on `side`.
    Apply {
        command_id: Uuid,
        link_id: LinkId,
        side: Side,
        kind: ItemKind,
        op: ApplyOp,
    },
}

impl CommandMessage {
    pub fn side(&self) -> Side {
        match self {
            CommandMessage::Watch { side, .. }
            | CommandMessage::Poll { side, .. }
            | CommandMessage::Apply { side, .. } => *side,
        }
    }

    pub fn kind(&self) -> ItemKind {
        match self {
            CommandMessage::Watch { kind, .. }
            | CommandMessage::Poll { kind, .. }
            | CommandMessage::Apply { kind, .. } => *kind,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            CommandMessage::Watch { .. } => "watch",
            CommandMessage::Poll { .. } => "poll",
            CommandMessage::Apply { .. } => "apply",
        }
    }
}

/// What a connector watches for one user and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchScope {
    /// Outlook contact folder or To Do list; `None` for Zoho and for the calendar.
    pub container_id: Option<String>,
    /// Seconds between polls.
    pub poll_interval_secs: u32,
    /// Categories the mailbox must have, created when missing (the "Zoho" category the calendar
    /// filter relies on). Empty for everything else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ApplyOp {
    /// `origin`: the other side's item this create copies; the connector stores it with the
    /// link's identity on the new item, so a rebuild can pair the copy with its original.
    /// `may_exist`: an earlier create of this link's item lost its answer, so its copy may
    /// exist where no read could show it (an event outside the calendar window): the connector
    /// first looks for the link's identity, as for a repeated delivery, and answers a copy it
    /// finds with [`ApplyOutcome::Stale`] (what the copy holds), writing nothing.
    Create {
        item: Item,
        #[serde(default)]
        origin: Option<ExternalId>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        may_exist: bool,
    },
    /// `base` is the last synced content: the connector writes only the fields that differ from
    /// it, so data the canonical model does not carry is never overwritten.
    /// `expected_version`: write only if the item is still at this version (Graph `If-Match`,
    /// Zoho `If-Unmodified-Since`); otherwise answer [`ApplyOutcome::Stale`].
    Update {
        external_id: ExternalId,
        item: Item,
        base: Option<Item>,
        #[serde(default)]
        expected_version: Option<Version>,
    },
    /// `expected_version`: delete only if the item is still at this version, otherwise answer
    /// [`ApplyOutcome::Stale`] (an edit made since must not be deleted unseen).
    Delete {
        external_id: ExternalId,
        #[serde(default)]
        expected_version: Option<Version>,
    },
    /// Writes nothing: reads the item by id, to tell whether it still exists (an item a windowed
    /// full read did not list). Answered [`ApplyOutcome::Stale`] with the item as it is, or
    /// [`ApplyOutcome::Gone`].
    Probe { external_id: ExternalId },
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_model::Contact;

    #[test]
    fn envelope_json_has_version_and_type_tags() {
        let msg = Envelope::new(
            UserId(Uuid::nil()),
            ChangeMessage::ItemChanged {
                side: Side::Outlook,
                external_id: ExternalId("AAMk".into()),
                version: Version("ck1".into()),
                item: Item::Contact(Contact::default()),
                identity: None,
                modified: None,
            },
        );
        let json = serde_json::to_value(&msg).unwrap();
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["body"]["type"], "item_changed");
        assert_eq!(json["body"]["item"]["kind"], "contact");
        assert!(json["body"].get("identity").is_none());
        let back: Envelope<ChangeMessage> = serde_json::from_value(json).unwrap();
        assert_eq!(back, msg);
    }

    #[test]
    fn messages_of_the_previous_version_still_read() {
        let poll: CommandMessage = serde_json::from_value(serde_json::json!(
            {"type": "poll", "side": "zoho", "kind": "task", "full": true}))
        .unwrap();
        assert!(matches!(
            poll,
            CommandMessage::Poll {
                identities: false,
                ..
            }
        ));
        let item = serde_json::to_value(Item::Contact(Contact::default())).unwrap();
        let create: ApplyOp =
            serde_json::from_value(serde_json::json!({"op": "create", "item": item})).unwrap();
        assert!(matches!(
            create,
            ApplyOp::Create {
                origin: None,
                may_exist: false,
                ..
            }
        ));
    }

    #[test]
    fn a_create_says_it_may_exist_only_when_it_may() {
        let item = Item::Contact(Contact::default());
        let plain = ApplyOp::Create {
            item: item.clone(),
            origin: None,
            may_exist: false,
        };
        let json = serde_json::to_value(&plain).unwrap();
        // Older connectors read what they always read.
        assert!(json.get("may_exist").is_none());
        let again = ApplyOp::Create {
            item,
            origin: None,
            may_exist: true,
        };
        let json = serde_json::to_value(&again).unwrap();
        assert_eq!(json["may_exist"], true);
        assert_eq!(serde_json::from_value::<ApplyOp>(json).unwrap(), again);
    }

    #[test]
    fn full_re_read_messages_round_trip_and_older_ends_still_parse() {
        let round = Uuid::from_u128(7);
        let started = ChangeMessage::ReadStarted {
            side: Side::Outlook,
            kind: ItemKind::Contact,
            round,
            lists_everything: false,
        };
        let json = serde_json::to_value(&started).unwrap();
        assert_eq!(json["type"], "read_started");
        assert_eq!(started.verb(), "started");
        assert_eq!(
            serde_json::from_value::<ChangeMessage>(json).unwrap(),
            started
        );

        // A `read_completed` published before rounds existed names none.
        let old = serde_json::json!({
            "type": "read_completed", "side": "zoho", "kind": "task", "full": true, "items_read": 3
        });
        let parsed: ChangeMessage = serde_json::from_value(old).unwrap();
        // ...and lists everything (a windowed read sent no round then).
        assert!(matches!(
            parsed,
            ChangeMessage::ReadCompleted {
                round: None,
                lists_everything: true,
                ..
            }
        ));
        let ended = ChangeMessage::ReadCompleted {
            side: Side::Zoho,
            kind: ItemKind::Task,
            full: true,
            items_read: 3,
            round: Some(round),
            lists_everything: true,
        };
        let json = serde_json::to_value(&ended).unwrap();
        assert_eq!(
            serde_json::from_value::<ChangeMessage>(json).unwrap(),
            ended
        );
    }
}

//! Identifiers and small value types. Parse at the edge, trust inside.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A user of this system (issued by auth-service).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(UserId)
    }
}

/// The pairing of an Outlook item with a Zoho record, owned by sync-service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LinkId(pub Uuid);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An item's id on one side: a Graph id or a Zoho record id. Opaque to everyone but its connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExternalId(pub String);

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A side's version marker of an item (Graph `changeKey`, Zoho `Modified_Time`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub String);

/// When the provider last changed an item (Graph `lastModifiedDateTime`, Zoho `Modified_Time`).
/// A [`Version`] is a tag to write against (Graph's change keys have no order); this orders two
/// reads of one item, so that a read published after a newer one (a poller's page that reached
/// the queue after a write's answer read the item again) is known to be the older.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Modified(pub chrono::DateTime<chrono::Utc>);

impl Modified {
    /// Whether a read changed at `self` is older than what is known, changed at `known`. Equal
    /// times order nothing (Zoho's have one-second resolution), nor does a missing one.
    pub fn before(read: Option<Self>, known: Option<Self>) -> bool {
        matches!((read, known), (Some(read), Some(known)) if read < known)
    }
}

/// The two systems we keep in agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Outlook,
    Zoho,
}

impl Side {
    pub const ALL: [Side; 2] = [Side::Outlook, Side::Zoho];

    pub fn other(self) -> Side {
        match self {
            Side::Outlook => Side::Zoho,
            Side::Zoho => Side::Outlook,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Outlook => "outlook",
            Side::Zoho => "zoho",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Side {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "outlook" => Ok(Side::Outlook),
            "zoho" => Ok(Side::Zoho),
            other => Err(UnknownName(other.to_owned())),
        }
    }
}

/// The kinds of item that sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Contact,
    Task,
    Event,
}

impl ItemKind {
    pub const ALL: [ItemKind; 3] = [ItemKind::Contact, ItemKind::Task, ItemKind::Event];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Contact => "contact",
            ItemKind::Task => "task",
            ItemKind::Event => "event",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ItemKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "contact" => Ok(ItemKind::Contact),
            "task" => Ok(ItemKind::Task),
            "event" => Ok(ItemKind::Event),
            other => Err(UnknownName(other.to_owned())),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown name `{0}`")]
pub struct UnknownName(pub String);

/// SHA-256 of an item's normalised canonical JSON, hex-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(pub String);

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Modified;

    fn at(time: &str) -> Option<Modified> {
        Some(Modified(time.parse().expect("a time")))
    }

    #[test]
    fn only_a_strictly_earlier_change_makes_a_read_the_older() {
        let known = at("2026-12-07T10:00:05Z");
        assert!(Modified::before(at("2026-12-07T10:00:04.9Z"), known));
        // Zoho's one-second resolution: two changes in one second order nothing.
        assert!(!Modified::before(at("2026-12-07T10:00:05Z"), known));
        assert!(!Modified::before(at("2026-12-07T10:00:06Z"), known));
        // A read or a link without the time (an earlier version of a connector) orders nothing.
        assert!(!Modified::before(None, known));
        assert!(!Modified::before(at("2026-12-07T10:00:04Z"), None));
    }

    #[test]
    fn it_travels_as_the_instant_it_names() {
        let read: Modified = serde_json::from_str("\"2026-12-07T19:00:05+09:00\"").unwrap();
        assert_eq!(Some(read), at("2026-12-07T10:00:05Z"));
    }
}

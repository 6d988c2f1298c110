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

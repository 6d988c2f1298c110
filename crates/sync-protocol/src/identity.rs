//! The link's identity as the connectors keep it on the items they create (Outlook: a
//! single-value extended property; Zoho: an External ID field): the link's id and, when the
//! create copied an item of the other side, that item's id. A copy thus names its origin, the
//! only trace of a pair kept on the side that was not written, so links can be rebuilt from
//! both sides after a database loss.

use serde::{Deserialize, Serialize};
use sync_model::{ExternalId, LinkId};

/// What a copy carries: its link and the id of the item it copies on the other side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkIdentity {
    pub link: LinkId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<ExternalId>,
}

impl LinkIdentity {
    /// The stored value: `"{link} {origin}"`, or the link alone without an origin. Provider
    /// ids hold no space (Graph's are URL-safe base64, Zoho's digits), so one space separates.
    pub fn value(&self) -> String {
        match &self.origin {
            Some(origin) => format!("{} {}", self.link, origin.0),
            None => self.link.to_string(),
        }
    }

    /// The stored value if it fits in `max_len` characters, else the link alone (a field
    /// made too short for an origin, by an earlier version, still holds the link).
    pub fn value_within(&self, max_len: usize) -> String {
        let full = self.value();
        if full.chars().count() <= max_len {
            full
        } else {
            self.link.to_string()
        }
    }

    /// Reads a stored value; `None` for anything that does not start with a link id (a user
    /// may have typed into the field).
    pub fn parse(value: &str) -> Option<LinkIdentity> {
        let value = value.trim();
        let (link, origin) = match value.split_once(' ') {
            Some((link, origin)) => (link, Some(origin.trim())),
            None => (value, None),
        };
        let link = LinkId(link.parse().ok()?);
        let origin = origin
            .filter(|o| !o.is_empty() && !o.contains(char::is_whitespace))
            .map(|o| ExternalId(o.to_owned()));
        Some(LinkIdentity { link, origin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn link() -> LinkId {
        LinkId(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
    }

    #[test]
    fn a_value_is_read_back_as_written() {
        let outlook_id = "AAMkAGI2TG93AAA-_=";
        let with = LinkIdentity {
            link: link(),
            origin: Some(ExternalId(outlook_id.into())),
        };
        assert_eq!(
            with.value(),
            format!("01900000-0000-7000-8000-000000000001 {outlook_id}")
        );
        assert_eq!(LinkIdentity::parse(&with.value()), Some(with.clone()));
        let without = LinkIdentity {
            link: link(),
            origin: None,
        };
        assert_eq!(without.value(), "01900000-0000-7000-8000-000000000001");
        assert_eq!(LinkIdentity::parse(&without.value()), Some(without));
    }

    #[test]
    fn a_value_too_long_for_its_field_keeps_the_link() {
        let long = LinkIdentity {
            link: link(),
            origin: Some(ExternalId("A".repeat(150))),
        };
        assert_eq!(long.value_within(64), link().to_string());
        assert_eq!(long.value_within(255), long.value());
    }

    #[test]
    fn what_is_not_an_identity_is_none() {
        assert_eq!(LinkIdentity::parse(""), None);
        assert_eq!(LinkIdentity::parse("typed by a user"), None);
        assert_eq!(LinkIdentity::parse("not-a-uuid 12345"), None);
        // A stray second word after the origin is not taken for part of an id.
        assert_eq!(
            LinkIdentity::parse(&format!("{} 123 456", link())),
            Some(LinkIdentity {
                link: link(),
                origin: None
            })
        );
    }
}

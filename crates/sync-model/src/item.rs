//! [`Item`]: any syncable content, its normalised form and its content hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Contact, ContentHash, Event, ItemKind, Side, Task};

/// Canonical content of one item of any kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Item {
    Contact(Contact),
    Task(Task),
    Event(Event),
}

/// How many e-mail addresses each side keeps on a contact (Graph: `emailAddresses` holds three;
/// Zoho: `Email` and `Secondary_Email`).
const fn email_capacity(side: Side) -> usize {
    match side {
        Side::Outlook => 3,
        Side::Zoho => 2,
    }
}

impl Item {
    pub fn kind(&self) -> ItemKind {
        match self {
            Item::Contact(_) => ItemKind::Contact,
            Item::Task(_) => ItemKind::Task,
            Item::Event(_) => ItemKind::Event,
        }
    }

    /// The comparable form (see the module docs of each kind).
    pub fn normalised(&self) -> Item {
        match self {
            Item::Contact(c) => Item::Contact(c.normalised()),
            Item::Task(t) => Item::Task(t.normalised()),
            Item::Event(e) => Item::Event(e.normalised()),
        }
    }

    /// Hash of the normalised content: equal hashes mean "nothing a user would call a change".
    pub fn content_hash(&self) -> ContentHash {
        // Struct fields serialise in declaration order and collections are ordered, so the JSON
        // is canonical without a separate canonicaliser.
        let json = serde_json::to_vec(&self.normalised()).unwrap_or_default();
        ContentHash(hex::encode(Sha256::digest(&json)))
    }

    /// What `side` can hold of this item. A value written to that side comes back as this.
    pub fn project_for(&self, side: Side) -> Item {
        match self {
            Item::Contact(c) => {
                let mut c = c.clone();
                c.emails.truncate(email_capacity(side));
                Item::Contact(c)
            }
            // Zoho events have no categories, attendee kinds or IANA zones.
            Item::Event(e) if side == Side::Zoho => Item::Event(e.project_for_zoho()),
            other => other.clone(),
        }
    }

    /// `self` came from `side`, which cannot hold everything: keep what only the other side
    /// holds from `base`, so a round trip through the smaller side loses nothing.
    pub fn refill_from(&mut self, base: &Item, side: Side) {
        if let (Item::Event(e), Item::Event(b)) = (&mut *self, base)
            && side == Side::Zoho
        {
            e.refill_from_zoho(b);
        }
        if let (Item::Contact(c), Item::Contact(b)) = (&mut *self, base) {
            let capacity = email_capacity(side);
            if c.emails.len() <= capacity {
                for extra in b.emails.iter().skip(capacity) {
                    let dup = c.emails.iter().any(|e| e.0.eq_ignore_ascii_case(&extra.0));
                    if !dup {
                        c.emails.push(extra.clone());
                    }
                }
            }
        }
    }

    /// A short human label for logs and the conflict log.
    pub fn label(&self) -> String {
        match self {
            Item::Contact(c) => c.display_name(),
            Item::Task(t) => t.subject.clone(),
            Item::Event(e) => e.subject.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmailAddress;

    fn contact(emails: &[&str]) -> Item {
        Item::Contact(Contact {
            given_name: Some("Taro".into()),
            surname: Some("山田".into()),
            emails: emails.iter().map(|e| EmailAddress((*e).into())).collect(),
            ..Contact::default()
        })
    }

    #[test]
    fn hash_ignores_formatting_but_not_content() {
        let a = contact(&["Taro@Example.jp"]);
        let b = contact(&[" taro@example.jp"]);
        let c = contact(&["hanako@example.jp"]);
        assert_eq!(a.content_hash(), b.content_hash());
        assert_ne!(a.content_hash(), c.content_hash());
    }

    #[test]
    fn zoho_round_trip_keeps_third_email() {
        let base = contact(&["a@x.jp", "b@x.jp", "c@x.jp"]);
        let mut back = base.project_for(Side::Zoho);
        assert_eq!(back, contact(&["a@x.jp", "b@x.jp"]));
        back.refill_from(&base, Side::Zoho);
        assert_eq!(back.content_hash(), base.content_hash());
    }

    #[test]
    fn zoho_round_trip_keeps_event_categories_zone_and_optional_attendees() {
        use crate::{Attendee, Event, EventTime};
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        let base = Item::Event(Event {
            subject: "Review".into(),
            start: EventTime::DateTime {
                utc: at("2026-03-30T07:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
            },
            end: EventTime::DateTime {
                utc: at("2026-03-30T08:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
            },
            location: None,
            description: None,
            categories: vec!["Customers".into()],
            reminder_minutes_before: Some(15),
            attendees: vec![Attendee {
                email: EmailAddress("a@x.jp".into()),
                name: None,
                required: false,
            }],
            recurrence: None,
        });
        let mut back = base.project_for(Side::Zoho);
        let Item::Event(e) = &back else {
            unreachable!()
        };
        assert!(e.categories.is_empty());
        assert!(e.attendees[0].required);
        assert_ne!(back.content_hash(), base.content_hash());
        back.refill_from(&base, Side::Zoho);
        assert_eq!(back, base);
        assert_eq!(base.project_for(Side::Outlook), base);
    }

    #[test]
    fn serde_is_tagged_by_kind() {
        let json = serde_json::to_value(contact(&[])).unwrap();
        assert_eq!(json["kind"], "contact");
        let back: Item = serde_json::from_value(json).unwrap();
        assert_eq!(back, contact(&[]));
    }
}

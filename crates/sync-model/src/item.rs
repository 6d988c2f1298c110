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
        match (self, side) {
            (Item::Contact(c), Side::Zoho) => Item::Contact(c.project_for_zoho()),
            (Item::Contact(c), Side::Outlook) => Item::Contact(c.project_for_outlook()),
            (Item::Task(t), Side::Zoho) => Item::Task(t.project_for_zoho()),
            (Item::Event(e), Side::Zoho) => Item::Event(e.project_for_zoho()),
            (other, Side::Outlook) => other.clone(),
        }
    }

    /// What both sides can hold: the only part of an item a merge decides on. Everything
    /// beyond it is held by one side alone and stays with that side.
    pub fn common(&self) -> Item {
        self.project_for(Side::Zoho).project_for(Side::Outlook)
    }

    /// `self` came from `side`, which cannot hold everything: keep what only the other side
    /// holds from `base`, so a round trip through the smaller side loses nothing.
    pub fn refill_from(&mut self, base: &Item, side: Side) {
        match (&mut *self, base, side) {
            (Item::Contact(c), Item::Contact(b), Side::Zoho) => c.refill_from_zoho(b),
            (Item::Contact(c), Item::Contact(b), Side::Outlook) => {
                c.refill_emails(b, crate::capacity::OUTLOOK_EMAILS);
            }
            (Item::Task(t), Item::Task(b), Side::Zoho) => t.refill_from_zoho(b),
            (Item::Event(e), Item::Event(b), Side::Zoho) => e.refill_from_zoho(b),
            _ => {}
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
    fn zoho_round_trip_keeps_second_phones_and_long_texts() {
        let Item::Contact(mut c) = contact(&["a@x.jp"]) else {
            unreachable!()
        };
        c.email_names.insert("a@x.jp".into(), "Taro Yamada".into());
        c.business_phone = Some("+81 3-1111-1111".into());
        c.more_business_phones = vec!["+81 3-2222-2222".into()];
        c.more_home_phones = vec!["+81 3-3333-3333".into()];
        c.notes = Some("n".repeat(crate::capacity::zoho_length::DESCRIPTION + 5));
        c.job_title = Some("t".repeat(150));
        let base = Item::Contact(c);
        let zoho = base.project_for(Side::Zoho);
        let Item::Contact(z) = &zoho else {
            unreachable!()
        };
        assert!(z.more_business_phones.is_empty() && z.more_home_phones.is_empty());
        assert!(z.email_names.is_empty(), "Zoho has no display names");
        assert_eq!(z.notes.as_ref().map(|n| n.chars().count()), Some(32_000));
        assert_eq!(z.job_title.as_ref().map(|n| n.chars().count()), Some(100));
        assert_eq!(
            zoho.project_for(Side::Zoho),
            zoho,
            "projecting twice changes nothing"
        );
        let mut back = zoho.clone();
        back.refill_from(&base, Side::Zoho);
        assert_eq!(
            back, base,
            "the cut texts and Outlook's second phones come back"
        );
        assert_eq!(base.project_for(Side::Outlook), base);
    }

    #[test]
    fn a_zoho_edit_of_a_cut_text_is_taken() {
        let Item::Contact(mut c) = contact(&[]) else {
            unreachable!()
        };
        c.notes = Some("n".repeat(40_000));
        let base = Item::Contact(c.clone());
        c.notes = Some("rewritten in Zoho".into());
        let mut read = Item::Contact(c.clone());
        read.refill_from(&base, Side::Zoho);
        assert_eq!(read, Item::Contact(c));
    }

    #[test]
    fn tasks_and_events_keep_their_texts_beyond_zohos_lengths() {
        use crate::capacity::{ZOHO_PARTICIPANTS, zoho_length};
        use crate::{Attendee, Event, EventTime, Task};
        let task = Item::Task(Task {
            subject: "s".repeat(zoho_length::SUBJECT + 1),
            description: Some("d".repeat(zoho_length::DESCRIPTION + 1)),
            ..Task::default()
        });
        let Item::Task(cut) = task.project_for(Side::Zoho) else {
            unreachable!()
        };
        assert_eq!(cut.subject.chars().count(), 255);
        assert_eq!(
            cut.description.as_ref().map(|d| d.chars().count()),
            Some(32_000)
        );
        let mut back = Item::Task(cut);
        back.refill_from(&task, Side::Zoho);
        assert_eq!(back, task);

        let at = |s: &str| EventTime::DateTime {
            utc: s.parse().unwrap(),
            time_zone: None,
        };
        let attendees: Vec<Attendee> = (0..ZOHO_PARTICIPANTS + 3)
            .map(|i| Attendee {
                email: EmailAddress(format!("a{i}@x.jp")),
                name: None,
                required: true,
            })
            .collect();
        let event = Item::Event(Event {
            subject: "e".repeat(300),
            start: at("2026-03-30T07:00:00Z"),
            end: at("2026-03-30T08:00:00Z"),
            location: Some("l".repeat(300)),
            description: Some("<p>".to_owned() + &"x".repeat(40_000) + "</p>"),
            categories: vec![],
            reminder_minutes_before: None,
            attendees,
            recurrence: None,
        });
        let zoho = event.project_for(Side::Zoho);
        let Item::Event(cut) = &zoho else {
            unreachable!()
        };
        assert_eq!(cut.attendees.len(), 50, "Zoho holds 50 participants");
        assert_eq!(cut.subject.chars().count(), 255);
        assert_eq!(cut.location.as_ref().map(|l| l.chars().count()), Some(255));
        let description = cut.description.as_deref().unwrap_or_default();
        assert_eq!(description.chars().count(), 32_000);
        assert!(
            !description.contains('<'),
            "an HTML body over the limit is cut as text"
        );
        let mut back = zoho.clone();
        back.refill_from(&event, Side::Zoho);
        assert_eq!(back, event, "the rest stays in Outlook");
    }

    #[test]
    fn the_common_part_is_what_both_sides_hold() {
        let base = contact(&["a@x.jp", "b@x.jp", "c@x.jp"]);
        assert_eq!(base.common(), contact(&["a@x.jp", "b@x.jp"]));
        let mut four = contact(&["a@x.jp", "b@x.jp", "c@x.jp", "d@x.jp"]);
        four = four.project_for(Side::Outlook);
        assert_eq!(four, base, "Outlook holds three addresses");
    }

    #[test]
    fn serde_is_tagged_by_kind() {
        let json = serde_json::to_value(contact(&[])).unwrap();
        assert_eq!(json["kind"], "contact");
        assert!(
            json.get("more_business_phones").is_none(),
            "no second phone, no key: the hashes of stored items stay what they were"
        );
        let back: Item = serde_json::from_value(json).unwrap();
        assert_eq!(back, contact(&[]));
    }
}

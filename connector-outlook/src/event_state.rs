//! What the event reader keeps in its cursor between pages, so that Graph is read by id only
//! where it must be:
//!
//! - `calendarView/delta` answers occurrences, never series masters, and a series' occurrences
//!   are spread over the pages of a round (they come by start): a master read on one page is
//!   not read again in the same round. A later round reads it again only when one of its
//!   occurrences is reported again (the series changed).
//! - A deleted occurrence is reported only by its own id, which names no series and can no
//!   longer be read: then every known series is read again, since one of them has a new
//!   exception. A removal of an event that was published itself (a single event, a series)
//!   explains itself and costs nothing more.
//!
//! Ids Graph gives are long (150 characters and more); sets only ever asked "is it in?" hold
//! 64-bit fingerprints instead, so the cursor stays small for a large calendar.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sync_model::{Item, ItemKind};
use sync_protocol::ChangeMessage;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventState {
    /// The series masters published, by id: they are what is read again after a removal that
    /// may be a deleted occurrence.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub series: BTreeSet<String>,
    /// Fingerprints of the single events published.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    singles: BTreeSet<String>,
    /// Fingerprints of the events read by id in the round in progress; emptied at its end.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    read: BTreeSet<String>,
}

/// FNV-1a (64 bits) of an id, in hex: stable across builds, unlike the std hasher.
fn fingerprint(id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

impl EventState {
    /// Whether `id` was already read by id in this round.
    pub fn was_read(&self, id: &str) -> bool {
        self.read.contains(&fingerprint(id))
    }

    pub fn mark_read(&mut self, id: &str) {
        self.read.insert(fingerprint(id));
    }

    /// Whether a removal of `id` that Graph no longer has is fully told by its own delete: the
    /// id was published (a single event or a series). Anything else may be a deleted occurrence.
    pub fn explains_removal(&self, id: &str) -> bool {
        self.series.contains(id) || self.singles.contains(&fingerprint(id))
    }

    /// Notes what a page published.
    pub fn record(&mut self, changes: &[ChangeMessage]) {
        for change in changes {
            match change {
                ChangeMessage::ItemChanged {
                    external_id,
                    item: Item::Event(e),
                    ..
                } => {
                    if e.recurrence.is_some() {
                        self.series.insert(external_id.0.clone());
                        self.singles.remove(&fingerprint(&external_id.0));
                    } else {
                        self.series.remove(&external_id.0);
                        self.singles.insert(fingerprint(&external_id.0));
                    }
                }
                ChangeMessage::ItemDeleted {
                    kind: ItemKind::Event,
                    external_id,
                    ..
                } => {
                    self.series.remove(&external_id.0);
                    self.singles.remove(&fingerprint(&external_id.0));
                }
                _ => {}
            }
        }
    }

    /// The round reached its delta link: the next one reads again what it is told changed.
    pub fn end_round(&mut self) {
        self.read.clear();
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use sync_model::{Event, EventTime, ExternalId, Recurrence, Side, Version};

    use super::*;

    fn changed(id: &str, recurring: bool) -> ChangeMessage {
        let at: DateTime<Utc> = "2027-03-22T08:00:00Z".parse().unwrap();
        let time = EventTime::DateTime {
            utc: at,
            time_zone: None,
        };
        ChangeMessage::ItemChanged {
            side: Side::Outlook,
            identity: None,
            external_id: ExternalId(id.into()),
            version: Version("v".into()),
            item: Item::Event(Event {
                subject: "s".into(),
                start: time.clone(),
                end: time,
                location: None,
                description: None,
                categories: vec![],
                reminder_minutes_before: None,
                attendees: vec![],
                recurrence: recurring.then(|| Recurrence {
                    rrule: "FREQ=DAILY".into(),
                    exceptions: vec![],
                }),
            }),
            modified: None,
        }
    }

    fn deleted(id: &str) -> ChangeMessage {
        ChangeMessage::ItemDeleted {
            side: Side::Outlook,
            kind: ItemKind::Event,
            external_id: ExternalId(id.into()),
            left_scope: false,
        }
    }

    #[test]
    fn published_events_explain_their_removal_others_do_not() {
        let mut state = EventState::default();
        state.record(&[changed("single", false), changed("series", true)]);
        assert!(state.explains_removal("single") && state.explains_removal("series"));
        assert!(!state.explains_removal("an occurrence"));
        // A single event that became a series, and back.
        state.record(&[changed("single", true), changed("series", false)]);
        assert!(state.series.contains("single") && !state.series.contains("series"));
        assert!(state.explains_removal("series"));
        state.record(&[deleted("single"), deleted("series")]);
        assert!(!state.explains_removal("single") && !state.explains_removal("series"));
        assert_eq!(state, EventState::default());
    }

    #[test]
    fn reads_are_remembered_for_one_round() {
        let mut state = EventState::default();
        state.mark_read("master");
        assert!(state.was_read("master") && !state.was_read("other"));
        state.end_round();
        assert!(!state.was_read("master"));
    }

    #[test]
    fn the_cursor_form_is_compact_and_reads_older_cursors() {
        let mut state = EventState::default();
        state.record(&[changed(&"A".repeat(152), false)]);
        state.mark_read(&"B".repeat(152));
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["singles"][0].as_str().map(str::len), Some(16));
        assert_eq!(json["read"][0].as_str().map(str::len), Some(16));
        assert!(json.get("series").is_none());
        let old: EventState = serde_json::from_value(serde_json::json!({"series": ["x"]})).unwrap();
        assert!(old.explains_removal("x"));
    }
}

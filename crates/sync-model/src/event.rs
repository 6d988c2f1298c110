//! The canonical calendar event: Outlook events and Zoho CRM Events ("Meetings").

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::capacity::{self, ZOHO_PARTICIPANTS, zoho_length};
use crate::{EmailAddress, normalise, task::truncate_to_minute};

/// When an event starts or ends. All-day events are dates, never instants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventTime {
    Date {
        date: NaiveDate,
    },
    /// The instant in UTC and the IANA zone the organiser used, kept to write it back.
    DateTime {
        utc: DateTime<Utc>,
        time_zone: Option<String>,
    },
}

impl EventTime {
    /// The zone is presentation: Zoho keeps only an offset, so only the instant is compared.
    fn normalised(&self) -> EventTime {
        match self {
            EventTime::Date { date } => EventTime::Date { date: *date },
            EventTime::DateTime { utc, .. } => EventTime::DateTime {
                utc: truncate_to_minute(*utc),
                time_zone: None,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attendee {
    pub email: EmailAddress,
    pub name: Option<String>,
    pub required: bool,
}

/// A recurring series: an RFC 5545 `RRULE` and the dates of removed occurrences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub rrule: String,
    pub exceptions: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub subject: String,
    pub start: EventTime,
    pub end: EventTime,
    pub location: Option<String>,
    pub description: Option<String>,
    /// Outlook category names; events from Zoho get the "Zoho" category.
    pub categories: Vec<String>,
    pub reminder_minutes_before: Option<u32>,
    pub attendees: Vec<Attendee>,
    pub recurrence: Option<Recurrence>,
}

impl Event {
    /// What Zoho CRM holds of this event: no categories, no required/optional attendees (all
    /// read as required) and no attendee names (e-mail participants), no IANA zone (an offset
    /// only), at most 50 participants, texts within Zoho's lengths.
    pub fn project_for_zoho(&self) -> Event {
        let mut e = self.clone();
        e.categories.clear();
        e.attendees.truncate(ZOHO_PARTICIPANTS);
        let mut subject = Some(std::mem::take(&mut e.subject));
        capacity::fit_in(&mut subject, zoho_length::SUBJECT);
        e.subject = subject.unwrap_or_default();
        capacity::fit_in(&mut e.location, zoho_length::VENUE);
        capacity::fit_in(&mut e.description, zoho_length::DESCRIPTION);
        for a in &mut e.attendees {
            a.required = true;
            a.name = None;
        }
        for t in [&mut e.start, &mut e.end] {
            if let EventTime::DateTime { time_zone, .. } = t {
                *time_zone = None;
            }
        }
        e
    }

    /// `self` was read from Zoho: keep from `base` what Zoho cannot hold.
    pub fn refill_from_zoho(&mut self, base: &Event) {
        self.categories = base.categories.clone();
        // Attendees beyond Zoho's 50 were never sent: they stay, unless Zoho's list is full
        // (then it was edited there beyond what we can tell apart).
        if self.attendees.len() <= ZOHO_PARTICIPANTS {
            for extra in base.attendees.iter().skip(ZOHO_PARTICIPANTS) {
                let dup = self
                    .attendees
                    .iter()
                    .any(|a| a.email.0.eq_ignore_ascii_case(&extra.email.0));
                if !dup {
                    self.attendees.push(extra.clone());
                }
            }
        }
        let mut subject = Some(std::mem::take(&mut self.subject));
        capacity::keep_long(
            &mut subject,
            &Some(base.subject.clone()),
            zoho_length::SUBJECT,
        );
        self.subject = subject.unwrap_or_default();
        capacity::keep_long(&mut self.location, &base.location, zoho_length::VENUE);
        capacity::keep_long(
            &mut self.description,
            &base.description,
            zoho_length::DESCRIPTION,
        );
        for a in &mut self.attendees {
            if let Some(b) = base
                .attendees
                .iter()
                .find(|b| b.email.0.eq_ignore_ascii_case(&a.email.0))
            {
                a.required = b.required;
                if a.name.is_none() {
                    a.name = b.name.clone();
                }
            }
        }
        // Zoho answers in its user's zone: the organiser's zone, when known, is kept instead.
        for (t, b) in [(&mut self.start, &base.start), (&mut self.end, &base.end)] {
            if let (
                EventTime::DateTime { time_zone, .. },
                EventTime::DateTime {
                    time_zone: Some(zone),
                    ..
                },
            ) = (t, b)
            {
                *time_zone = Some(zone.clone());
            }
        }
    }

    pub fn is_all_day(&self) -> bool {
        matches!(self.start, EventTime::Date { .. })
    }

    pub fn normalised(&self) -> Event {
        let mut categories: Vec<String> = self
            .categories
            .iter()
            .filter_map(|c| normalise::text(&Some(c.clone())))
            .collect();
        categories.sort_by_key(|c| c.to_lowercase());
        categories.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let mut attendees: Vec<Attendee> = self
            .attendees
            .iter()
            .map(|a| Attendee {
                email: EmailAddress(normalise::email(&a.email.0)),
                name: None,
                required: a.required,
            })
            .collect();
        attendees.sort_by(|a, b| a.email.cmp(&b.email));
        attendees.dedup_by(|a, b| a.email == b.email);
        let recurrence = self.recurrence.as_ref().map(|r| {
            let mut exceptions = r.exceptions.clone();
            exceptions.sort();
            exceptions.dedup();
            Recurrence {
                rrule: normalise_rrule(&r.rrule),
                exceptions,
            }
        });
        Event {
            subject: normalise::text(&Some(self.subject.clone())).unwrap_or_default(),
            start: self.start.normalised(),
            end: self.end.normalised(),
            location: normalise::text(&self.location),
            description: normalise::body(&self.description),
            categories,
            reminder_minutes_before: self.reminder_minutes_before,
            attendees,
            recurrence,
        }
    }
}

/// RRULE parts are order-free and case-insensitive; `INTERVAL=1` is the default.
fn normalise_rrule(rule: &str) -> String {
    let mut parts: Vec<String> = rule
        .trim()
        .trim_start_matches("RRULE:")
        .split(';')
        .filter(|p| !p.is_empty())
        .map(|p| p.trim().to_ascii_uppercase())
        .filter(|p| p != "INTERVAL=1")
        .collect();
    parts.sort();
    parts.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrule_order_and_default_interval_do_not_matter() {
        assert_eq!(
            normalise_rrule("FREQ=WEEKLY;INTERVAL=1;BYDAY=MO"),
            normalise_rrule("RRULE:byday=MO;FREQ=WEEKLY")
        );
    }

    fn at(utc: &str, zone: Option<&str>) -> EventTime {
        EventTime::DateTime {
            utc: utc.parse().expect("instant"),
            time_zone: zone.map(str::to_owned),
        }
    }

    fn meeting(zone: Option<&str>) -> Event {
        Event {
            subject: "Review".into(),
            start: at("2026-01-05T00:00:00Z", zone),
            end: at("2026-01-05T01:00:00Z", zone),
            location: None,
            description: None,
            categories: vec![],
            reminder_minutes_before: None,
            attendees: vec![],
            recurrence: None,
        }
    }

    #[test]
    fn a_zoho_read_keeps_the_organisers_zone_and_falls_back_to_the_zoho_users() {
        // Read in the Zoho user's zone; the organiser's zone (from Outlook) wins when known.
        let mut read = meeting(Some("Asia/Tokyo"));
        read.refill_from_zoho(&meeting(Some("Europe/Berlin")));
        assert_eq!(read, meeting(Some("Europe/Berlin")));
        let mut read = meeting(Some("Asia/Tokyo"));
        read.refill_from_zoho(&meeting(None));
        assert_eq!(read, meeting(Some("Asia/Tokyo")));
        // Either way, the zone is not content: the same instants are the same event.
        assert_eq!(
            meeting(Some("Asia/Tokyo")).normalised(),
            meeting(None).normalised()
        );
    }
}

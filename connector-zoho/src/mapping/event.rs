//! Zoho `Events` record ("Meetings") ⇄ canonical [`Event`].
//!
//! Zoho keeps instants with an offset, not a zone: reads give the instant and no zone (sync-service
//! keeps the zone from the merge base); writes use the zone's offset at that instant. All-day
//! events are dates: Zoho's `Start_DateTime` is the first day at 00:00 and `End_DateTime` the
//! last day at 23:59 (the canonical end is exclusive, the day after). Zoho has no categories and
//! no optional attendees (see `Event::project_for_zoho`).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use connector_kit::calendar::{Rule, zone};
use serde_json::{Map, Value, json};
use sync_model::{Attendee, EmailAddress, Event, EventTime, Recurrence};

use super::{changed_fields, date_time, format_date_time, reminder, string};

/// The fields an Events read asks for.
pub const FIELDS: &[&str] = &[
    "Event_Title",
    "Start_DateTime",
    "End_DateTime",
    "All_day",
    "Venue",
    "Description",
    "Participants",
    "Remind_At",
    "Recurring_Activity",
    "Modified_Time",
];

pub fn from_zoho(value: &Value) -> Result<Event, String> {
    let obj = value.as_object().ok_or("a record must be a JSON object")?;
    let all_day = obj
        .get("All_day")
        .or_else(|| obj.get("All_Day"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let start = date_time(obj, "Start_DateTime")?.ok_or("an event without Start_DateTime")?;
    let end = date_time(obj, "End_DateTime")?.ok_or("an event without End_DateTime")?;
    let (start_time, end_time) = if all_day {
        // The dates as Zoho wrote them (in the offset it answered with).
        let first = start.date_naive();
        let last = end.date_naive();
        let end_date = if end.time() == chrono::NaiveTime::MIN && last > first {
            last
        } else {
            last + Duration::days(1)
        };
        (
            EventTime::Date { date: first },
            EventTime::Date { date: end_date },
        )
    } else {
        (
            EventTime::DateTime {
                utc: start.with_timezone(&Utc),
                time_zone: None,
            },
            EventTime::DateTime {
                utc: end.with_timezone(&Utc),
                time_zone: None,
            },
        )
    };
    let reminder_minutes_before = reminder(obj.get("Remind_At"))?.and_then(|at| {
        let minutes = (start - at).num_minutes();
        u32::try_from(minutes).ok()
    });
    let attendees = match obj.get("Participants") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list.iter().filter_map(participant).collect(),
        Some(_) => return Err("Participants must be an array".into()),
    };
    let recurrence = match obj.get("Recurring_Activity") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => match r.get("RRULE").and_then(Value::as_str) {
            None => None,
            Some(rrule) => {
                let rule = Rule::parse(rrule)?.complete_with_start(start.date_naive());
                Some(Recurrence {
                    rrule: rule.to_canonical(),
                    exceptions: exdates(r.get("EXDATE"))?,
                })
            }
        },
        Some(_) => return Err("Recurring_Activity must be an object".into()),
    };
    Ok(Event {
        subject: string(obj, "Event_Title")?.unwrap_or_default(),
        start: start_time,
        end: end_time,
        location: string(obj, "Venue")?,
        description: string(obj, "Description")?,
        categories: Vec::new(),
        reminder_minutes_before,
        attendees,
        recurrence,
    })
}

/// A participant with an e-mail address (a contact, lead or user carries it in `Email`, an
/// e-mail participant is its address). One without an address cannot be matched in Outlook.
fn participant(value: &Value) -> Option<Attendee> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("email");
    let email = value
        .get("Email")
        .and_then(Value::as_str)
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            (kind == "email")
                .then(|| value.get("participant").and_then(Value::as_str))
                .flatten()
        })?
        .trim();
    (!email.is_empty()).then(|| Attendee {
        email: EmailAddress(email.to_owned()),
        name: value
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        required: true,
    })
}

/// `EXDATE`: dates (or date-times, whose date counts) as a comma-separated string or an array.
fn exdates(value: Option<&Value>) -> Result<Vec<NaiveDate>, String> {
    let items: Vec<String> = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err("EXDATE must be a string or an array".into()),
    };
    let mut dates = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let date = item.get(..10).unwrap_or(item);
        let parsed = NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(item.get(..8).unwrap_or(item), "%Y%m%d"))
            .map_err(|_| format!("EXDATE `{item}`"))?;
        dates.push(parsed);
    }
    dates.sort();
    dates.dedup();
    Ok(dates)
}

/// An instant in the event's zone (its offset there), or UTC.
fn zoned(utc: DateTime<Utc>, time_zone: Option<&str>) -> String {
    match time_zone.and_then(zone) {
        Some(tz) => format_date_time(&utc.with_timezone(&tz)),
        None => format_date_time(&utc),
    }
}

/// The first day of the series in the event's zone.
fn local_start_date(event: &Event) -> NaiveDate {
    match &event.start {
        EventTime::Date { date } => *date,
        EventTime::DateTime { utc, time_zone } => match time_zone.as_deref().and_then(zone) {
            Some(tz) => utc.with_timezone(&tz).date_naive(),
            None => utc.date_naive(),
        },
    }
}

fn start_instant(event: &Event) -> DateTime<Utc> {
    match &event.start {
        EventTime::Date { date } => date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        EventTime::DateTime { utc, .. } => *utc,
    }
}

pub fn to_zoho(event: &Event) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("Event_Title".into(), json!(event.subject));
    let all_day = event.is_all_day();
    map.insert("All_day".into(), json!(all_day));
    let (start, end) = match (&event.start, &event.end) {
        (EventTime::Date { date: first }, end) => {
            let last = match end {
                EventTime::Date { date } if *date > *first => *date - Duration::days(1),
                _ => *first,
            };
            (
                format!("{}T00:00:00+00:00", first.format("%Y-%m-%d")),
                format!("{}T23:59:00+00:00", last.format("%Y-%m-%d")),
            )
        }
        (EventTime::DateTime { utc, time_zone }, end) => {
            let end = match end {
                EventTime::DateTime { utc, time_zone } => zoned(*utc, time_zone.as_deref()),
                EventTime::Date { date } => {
                    format!("{}T00:00:00+00:00", date.format("%Y-%m-%d"))
                }
            };
            (zoned(*utc, time_zone.as_deref()), end)
        }
    };
    map.insert("Start_DateTime".into(), json!(start));
    map.insert("End_DateTime".into(), json!(end));
    map.insert("Venue".into(), json!(event.location));
    map.insert("Description".into(), json!(event.description));
    let participants: Vec<Value> = event
        .attendees
        .iter()
        .map(|a| json!({"type": "email", "participant": a.email.0}))
        .collect();
    map.insert("Participants".into(), Value::Array(participants));
    map.insert(
        "Remind_At".into(),
        event.reminder_minutes_before.map_or(Value::Null, |m| {
            let at = start_instant(event) - Duration::minutes(i64::from(m));
            let time_zone = match &event.start {
                EventTime::DateTime { time_zone, .. } => time_zone.as_deref(),
                EventTime::Date { .. } => None,
            };
            json!(zoned(at, time_zone))
        }),
    );
    map.insert(
        "Recurring_Activity".into(),
        match &event.recurrence {
            None => Value::Null,
            Some(r) => recurring_activity(r, local_start_date(event)),
        },
    );
    map
}

/// Zoho's spelling of a series: `UNTIL` as a date with dashes and `DTSTART` the first day.
fn recurring_activity(recurrence: &Recurrence, start: NaiveDate) -> Value {
    let rrule = match Rule::parse(&recurrence.rrule) {
        Ok(rule) => {
            let mut parts: Vec<String> = rule
                .to_canonical()
                .split(';')
                .filter(|p| !p.starts_with("UNTIL="))
                .map(str::to_owned)
                .collect();
            if let Some(until) = rule.until {
                parts.push(format!("UNTIL={}", until.format("%Y-%m-%d")));
            }
            parts.push(format!("DTSTART={}", start.format("%Y-%m-%d")));
            parts.join(";")
        }
        // Written as it came: Zoho answers with a per-record error if it cannot hold it.
        Err(_) => recurrence.rrule.clone(),
    };
    let mut activity = Map::new();
    activity.insert("RRULE".into(), json!(rrule));
    if !recurrence.exceptions.is_empty() {
        let dates: Vec<String> = recurrence
            .exceptions
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        activity.insert("EXDATE".into(), json!(dates.join(",")));
    }
    Value::Object(activity)
}

/// Only the fields whose canonical value changed since `base`, projected to what Zoho holds (a
/// category or an attendee's kind changed in Outlook is nothing to write here). A changed start
/// goes with its end and the all-day flag.
pub fn patch(event: &Event, base: Option<&Event>) -> Map<String, Value> {
    let new = event.project_for_zoho();
    let base = base.map(Event::project_for_zoho);
    let mut changed = changed_fields(&new, base.as_ref(), Event::normalised, to_zoho);
    if ["Start_DateTime", "End_DateTime", "All_day"]
        .iter()
        .any(|k| changed.contains_key(*k))
    {
        let full = to_zoho(&new);
        for key in ["Start_DateTime", "End_DateTime", "All_day", "Remind_At"] {
            if let Some(v) = full.get(key) {
                changed.insert(key.into(), v.clone());
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOADS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/api-payloads");

    fn payload(name: &str) -> Value {
        let text = std::fs::read_to_string(format!("{PAYLOADS}/{name}")).expect("payload file");
        serde_json::from_str(&text).expect("payload JSON")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_published_event() {
        let event = from_zoho(&payload("zoho_events_insert_request.json")["data"][0]).unwrap();
        assert_eq!(event.subject, "Kaizen_9_Weekly");
        assert_eq!(
            event.start,
            EventTime::DateTime {
                utc: at("2020-02-02T04:30:00Z"),
                time_zone: None
            }
        );
        assert_eq!(event.location.as_deref(), Some("Chennai"));
        assert_eq!(event.reminder_minutes_before, Some(24 * 60 + 15));
        // Contact, lead and user participants without an e-mail cannot be matched.
        assert!(event.attendees.is_empty());
        assert_eq!(
            event.recurrence.unwrap().rrule,
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU;UNTIL=20200315"
        );
    }

    fn series() -> Event {
        Event {
            subject: "Jour fixe – 定例".into(),
            start: EventTime::DateTime {
                utc: at("2026-03-23T08:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
            },
            end: EventTime::DateTime {
                utc: at("2026-03-23T09:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
            },
            location: Some("Raum 3.14".into()),
            description: Some("Agenda".into()),
            categories: vec![],
            reminder_minutes_before: Some(15),
            attendees: vec![Attendee {
                email: EmailAddress("anna@example.de".into()),
                name: None,
                required: true,
            }],
            recurrence: Some(Recurrence {
                rrule: "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=20260504".into(),
                exceptions: vec![NaiveDate::from_ymd_opt(2026, 4, 6).unwrap()],
            }),
        }
    }

    #[test]
    fn a_series_round_trips_to_what_zoho_holds() {
        let event = series();
        let zoho = to_zoho(&event);
        assert_eq!(zoho["Start_DateTime"], "2026-03-23T09:00:00+01:00");
        assert_eq!(
            zoho["Recurring_Activity"]["RRULE"],
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=2026-05-04;DTSTART=2026-03-23"
        );
        assert_eq!(zoho["Recurring_Activity"]["EXDATE"], "2026-04-06");
        assert_eq!(zoho["Remind_At"], "2026-03-23T08:45:00+01:00");
        let back = from_zoho(&Value::Object(zoho)).unwrap();
        assert_eq!(back, event.project_for_zoho());
    }

    #[test]
    fn all_day_events_are_dates_with_an_exclusive_end() {
        let event = Event {
            start: EventTime::Date {
                date: NaiveDate::from_ymd_opt(2026, 3, 28).unwrap(),
            },
            end: EventTime::Date {
                date: NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(),
            },
            reminder_minutes_before: None,
            recurrence: None,
            ..series()
        };
        let zoho = to_zoho(&event);
        assert_eq!(zoho["All_day"], true);
        assert_eq!(zoho["Start_DateTime"], "2026-03-28T00:00:00+00:00");
        assert_eq!(zoho["End_DateTime"], "2026-03-29T23:59:00+00:00");
        assert_eq!(from_zoho(&Value::Object(zoho)).unwrap(), event);
    }

    #[test]
    fn patch_ignores_what_zoho_cannot_hold() {
        let base = series();
        let mut new = base.clone();
        new.categories = vec!["Blue".into()];
        new.attendees[0].required = false;
        assert!(patch(&new, Some(&base)).is_empty());
        new.location = Some("Raum 2".into());
        assert_eq!(
            patch(&new, Some(&base)).keys().collect::<Vec<_>>(),
            vec!["Venue"]
        );
    }
}

//! Zoho `Events` record ("Meetings") ⇄ canonical [`Event`].
//!
//! Zoho keeps instants with an offset, not a zone, and answers them in its user's zone
//! (`GET /users?type=CurrentUser`, `time_zone`). Reads give the instant with the user's zone
//! (sync-service keeps the organiser's zone from the merge base when it knows one); writes use
//! the event's zone, else the user's. All-day events are dates in the user's zone: Zoho's
//! `Start_DateTime` is the first day at 00:00 and `End_DateTime` the last day at 23:59 there (the
//! canonical end is exclusive, the day after). Zoho has no categories and no optional attendees
//! (see `Event::project_for_zoho`).

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use connector_kit::calendar::{Rule, local_to_utc, zone};
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

/// The zone name an instant read from Zoho carries: the user's, none for UTC.
fn zone_name(user_zone: Tz) -> Option<String> {
    (user_zone != Tz::UTC && user_zone != Tz::Etc__UTC).then(|| user_zone.name().to_owned())
}

pub fn from_zoho(value: &Value, user_zone: Tz) -> Result<Event, String> {
    let obj = value.as_object().ok_or("a record must be a JSON object")?;
    let all_day = obj
        .get("All_day")
        .or_else(|| obj.get("All_Day"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let start = date_time(obj, "Start_DateTime")?.ok_or("an event without Start_DateTime")?;
    let end = date_time(obj, "End_DateTime")?.ok_or("an event without End_DateTime")?;
    let (start_time, end_time) = if all_day {
        // The dates in the user's zone, whatever offset the answer was written with.
        let start_local = start.with_timezone(&user_zone);
        let end_local = end.with_timezone(&user_zone);
        let first = start_local.date_naive();
        let last = end_local.date_naive();
        let end_date = if end_local.time() == NaiveTime::MIN && last > first {
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
                time_zone: zone_name(user_zone),
            },
            EventTime::DateTime {
                utc: end.with_timezone(&Utc),
                time_zone: zone_name(user_zone),
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
                let first_day = start.with_timezone(&user_zone).date_naive();
                let rule = Rule::parse(rrule)?.complete_with_start(first_day);
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

/// An instant in the event's zone (its offset there), else in the user's.
fn zoned(utc: DateTime<Utc>, time_zone: Option<&str>, user_zone: Tz) -> String {
    let tz = time_zone.and_then(zone).unwrap_or(user_zone);
    format_date_time(&utc.with_timezone(&tz))
}

/// A time of an all-day date, in the user's zone.
fn on_day(date: NaiveDate, hour: u32, minute: u32, user_zone: Tz) -> String {
    let local = date.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN));
    format_date_time(&local_to_utc(local, user_zone).with_timezone(&user_zone))
}

/// The first day of the series in the event's zone (else the user's).
fn local_start_date(event: &Event, user_zone: Tz) -> NaiveDate {
    match &event.start {
        EventTime::Date { date } => *date,
        EventTime::DateTime { utc, time_zone } => {
            let tz = time_zone.as_deref().and_then(zone).unwrap_or(user_zone);
            utc.with_timezone(&tz).date_naive()
        }
    }
}

fn start_instant(event: &Event, user_zone: Tz) -> DateTime<Utc> {
    match &event.start {
        EventTime::Date { date } => local_to_utc(date.and_time(NaiveTime::MIN), user_zone),
        EventTime::DateTime { utc, .. } => *utc,
    }
}

pub fn to_zoho(event: &Event, user_zone: Tz) -> Map<String, Value> {
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
                on_day(*first, 0, 0, user_zone),
                on_day(last, 23, 59, user_zone),
            )
        }
        (EventTime::DateTime { utc, time_zone }, end) => {
            let end = match end {
                EventTime::DateTime { utc, time_zone } => {
                    zoned(*utc, time_zone.as_deref(), user_zone)
                }
                EventTime::Date { date } => on_day(*date, 0, 0, user_zone),
            };
            (zoned(*utc, time_zone.as_deref(), user_zone), end)
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
            let at = start_instant(event, user_zone) - Duration::minutes(i64::from(m));
            let time_zone = match &event.start {
                EventTime::DateTime { time_zone, .. } => time_zone.as_deref(),
                EventTime::Date { .. } => None,
            };
            json!(zoned(at, time_zone, user_zone))
        }),
    );
    map.insert(
        "Recurring_Activity".into(),
        match &event.recurrence {
            None => Value::Null,
            Some(r) => recurring_activity(r, local_start_date(event, user_zone)),
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
pub fn patch(event: &Event, base: Option<&Event>, user_zone: Tz) -> Map<String, Value> {
    let render = |e: &Event| to_zoho(e, user_zone);
    let Some(base) = base else {
        return render(event);
    };
    let changed = changed_fields(
        &event.project_for_zoho(),
        Some(&base.project_for_zoho()),
        Event::normalised,
        render,
    );
    const TIMES: [&str; 4] = ["Start_DateTime", "End_DateTime", "All_day", "Remind_At"];
    let times_changed = TIMES[..3].iter().any(|k| changed.contains_key(*k));
    // Rendered from the event itself, not its projection: its zone decides the offsets written
    // and the first day of a series.
    render(event)
        .into_iter()
        .filter(|(k, _)| changed.contains_key(k) || times_changed && TIMES.contains(&k.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_published_event() {
        let event = from_zoho(
            &payload("zoho_events_insert_request.json")["data"][0],
            Tz::UTC,
        )
        .unwrap();
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
        let zoho = to_zoho(&event, Tz::UTC);
        assert_eq!(zoho["Start_DateTime"], "2026-03-23T09:00:00+01:00");
        assert_eq!(
            zoho["Recurring_Activity"]["RRULE"],
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=2026-05-04;DTSTART=2026-03-23"
        );
        assert_eq!(zoho["Recurring_Activity"]["EXDATE"], "2026-04-06");
        assert_eq!(zoho["Remind_At"], "2026-03-23T08:45:00+01:00");
        let back = from_zoho(&Value::Object(zoho), Tz::UTC).unwrap();
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
        let zoho = to_zoho(&event, Tz::UTC);
        assert_eq!(zoho["All_day"], true);
        assert_eq!(zoho["Start_DateTime"], "2026-03-28T00:00:00+00:00");
        assert_eq!(zoho["End_DateTime"], "2026-03-29T23:59:00+00:00");
        assert_eq!(from_zoho(&Value::Object(zoho), Tz::UTC).unwrap(), event);
    }

    #[test]
    fn patch_ignores_what_zoho_cannot_hold() {
        let base = series();
        let mut new = base.clone();
        new.categories = vec!["Blue".into()];
        new.attendees[0].required = false;
        assert!(patch(&new, Some(&base), Tz::UTC).is_empty());
        new.location = Some("Raum 2".into());
        assert_eq!(
            patch(&new, Some(&base), Tz::UTC).keys().collect::<Vec<_>>(),
            vec!["Venue"]
        );
    }

    fn all_day(first: (i32, u32, u32), end: (i32, u32, u32)) -> Event {
        let day = |(y, m, d): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        Event {
            start: EventTime::Date { date: day(first) },
            end: EventTime::Date { date: day(end) },
            reminder_minutes_before: Some(60),
            recurrence: None,
            ..series()
        }
    }

    #[test]
    fn all_day_events_are_dates_in_the_zoho_users_zone() {
        let event = all_day((2026, 1, 4), (2026, 1, 5));
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let zoho = to_zoho(&event, tokyo);
        assert_eq!(zoho["Start_DateTime"], "2026-01-04T00:00:00+09:00");
        assert_eq!(zoho["End_DateTime"], "2026-01-04T23:59:00+09:00");
        assert_eq!(zoho["Remind_At"], "2026-01-03T23:00:00+09:00");
        assert_eq!(from_zoho(&Value::Object(zoho), tokyo).unwrap(), event);
        // Zoho may answer the same instants in another offset: the dates stay the user's.
        let in_utc = json!({
            "Event_Title": event.subject,
            "All_day": true,
            "Start_DateTime": "2026-01-03T15:00:00+00:00",
            "End_DateTime": "2026-01-04T14:59:00+00:00",
        });
        let read = from_zoho(&in_utc, tokyo).unwrap();
        assert_eq!(
            (read.start, read.end),
            (event.start.clone(), event.end.clone())
        );
        // West of UTC, midnight written as UTC would have been the day before.
        let new_york: Tz = "America/New_York".parse().unwrap();
        let zoho = to_zoho(&event, new_york);
        assert_eq!(zoho["Start_DateTime"], "2026-01-04T00:00:00-05:00");
        assert_eq!(from_zoho(&Value::Object(zoho), new_york).unwrap(), event);
    }

    #[test]
    fn an_all_day_event_across_a_dst_change_keeps_its_dates() {
        // Europe/Berlin moves to summer time on 2026-03-29.
        let event = all_day((2026, 3, 28), (2026, 3, 31));
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let zoho = to_zoho(&event, berlin);
        assert_eq!(zoho["Start_DateTime"], "2026-03-28T00:00:00+01:00");
        assert_eq!(zoho["End_DateTime"], "2026-03-30T23:59:00+02:00");
        assert_eq!(from_zoho(&Value::Object(zoho), berlin).unwrap(), event);
    }

    #[test]
    fn timed_events_from_zoho_carry_the_users_zone() {
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        let record = json!({
            "Event_Title": "朝会",
            "Start_DateTime": "2026-01-05T09:00:00+09:00",
            "End_DateTime": "2026-01-05T09:30:00+09:00",
            "Recurring_Activity": {"RRULE": "FREQ=DAILY;INTERVAL=1;COUNT=5"},
        });
        let event = from_zoho(&record, tokyo).unwrap();
        assert_eq!(
            event.start,
            EventTime::DateTime {
                utc: at("2026-01-05T00:00:00Z"),
                time_zone: Some("Asia/Tokyo".into()),
            }
        );
        // The series starts on the user's day, not on UTC's (the 5th at 00:00 UTC is right
        // here, but 08:00 in Tokyo would be the 4th in UTC).
        let early = json!({
            "Event_Title": "早朝",
            "Start_DateTime": "2026-01-05T08:00:00+09:00",
            "End_DateTime": "2026-01-05T08:30:00+09:00",
            "Recurring_Activity": {"RRULE": "FREQ=WEEKLY;INTERVAL=1;COUNT=3"},
        });
        let series = from_zoho(&early, tokyo).unwrap();
        assert!(series.recurrence.unwrap().rrule.contains("BYDAY=MO"));
        // Written back in that zone, the first day is the same.
        let zoho = to_zoho(&event, tokyo);
        assert_eq!(zoho["Start_DateTime"], "2026-01-05T09:00:00+09:00");
        assert_eq!(
            zoho["Recurring_Activity"]["RRULE"],
            "FREQ=DAILY;INTERVAL=1;COUNT=5;DTSTART=2026-01-05"
        );
    }

    #[test]
    fn a_patch_is_written_in_the_events_own_zone() {
        let base = series();
        let mut moved = base.clone();
        moved.start = EventTime::DateTime {
            utc: at("2026-03-23T10:00:00Z"),
            time_zone: Some("Europe/Berlin".into()),
        };
        let patch = patch(&moved, Some(&base), "Asia/Tokyo".parse().unwrap());
        assert_eq!(patch["Start_DateTime"], "2026-03-23T11:00:00+01:00");
        assert!(patch.contains_key("End_DateTime") && !patch.contains_key("Venue"));
    }
}

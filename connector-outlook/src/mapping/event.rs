//! Graph `event` ⇄ canonical [`Event`].
//!
//! Times: Graph answers `start`/`end` in UTC (no `Prefer: outlook.timezone`), and the organiser's
//! zone in `originalStartTimeZone` (usually a Windows name): the canonical time is the instant
//! plus that zone's IANA name. Writes send the wall-clock time in that zone, so a series stays at
//! its local time across daylight-saving changes. All-day events are dates; the end date is
//! exclusive, as Graph's.

use chrono::{NaiveDate, NaiveDateTime};
use connector_kit::calendar::{
    Rule, format_naive, iana_name, iana_to_windows, local_to_utc, parse_naive, utc_to_local, zone,
};
use serde_json::{Map, Value, json};
use sync_model::{Attendee, EmailAddress, Event, EventTime, Recurrence};

use super::{body, changed_fields, object, recurrence, string};

/// `$select` of an event read by id: every property [`from_graph`] and the reader use. A GET of
/// a series master adds `cancelledOccurrences`, which Graph returns only when it is selected
/// there (without it the exceptions cost a `/instances` read per series).
pub const SELECT: &str = "id,type,seriesMasterId,changeKey,lastModifiedDateTime,subject,body,start,end,isAllDay,\
     originalStartTimeZone,originalEndTimeZone,location,categories,isReminderOn,\
     reminderMinutesBeforeStart,attendees,recurrence";

/// Reads a Graph event. A series master's `cancelledOccurrences` become the exceptions.
pub fn from_graph(value: &Value) -> Result<Event, String> {
    let obj = value.as_object().ok_or("an event must be a JSON object")?;
    let all_day = obj
        .get("isAllDay")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let start = time(obj, "start", "originalStartTimeZone", all_day)?;
    let end = time(obj, "end", "originalEndTimeZone", all_day)?;
    let reminder = match obj.get("isReminderOn").and_then(Value::as_bool) {
        Some(false) => None,
        _ => obj
            .get("reminderMinutesBeforeStart")
            .and_then(Value::as_u64)
            .map(|m| m.min(u32::MAX as u64) as u32),
    };
    let categories = match obj.get("categories") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(c)) => c
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err("categories must be an array".into()),
    };
    let attendees = match obj.get("attendees") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|a| {
                let email = a.pointer("/emailAddress/address")?.as_str()?.trim();
                if email.is_empty() {
                    return None;
                }
                Some(Attendee {
                    email: EmailAddress(email.to_owned()),
                    name: a
                        .pointer("/emailAddress/name")
                        .and_then(Value::as_str)
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                    required: a.get("type").and_then(Value::as_str) != Some("optional"),
                })
            })
            .collect(),
        Some(_) => return Err("attendees must be an array".into()),
    };
    let recurrence =
        recurrence::from_graph(obj.get("recurrence").unwrap_or(&Value::Null))?.map(|rule| {
            Recurrence {
                rrule: rule.to_canonical(),
                exceptions: cancelled_dates(obj),
            }
        });
    Ok(Event {
        subject: string(obj, "subject")?.unwrap_or_default(),
        start,
        end,
        location: match object(obj, "location")? {
            Some(l) => string(l, "displayName")?,
            None => None,
        },
        description: body(obj)?,
        categories,
        reminder_minutes_before: reminder,
        attendees,
        recurrence,
    })
}

/// `cancelledOccurrences` entries end with the occurrence's date (`OID.<id>.2026-04-06`).
fn cancelled_dates(obj: &Map<String, Value>) -> Vec<NaiveDate> {
    let mut dates: Vec<NaiveDate> = obj
        .get("cancelledOccurrences")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .filter_map(|s| {
                    let tail = s.get(s.len().saturating_sub(10)..)?;
                    NaiveDate::parse_from_str(tail, "%Y-%m-%d").ok()
                })
                .collect()
        })
        .unwrap_or_default();
    dates.sort();
    dates.dedup();
    dates
}

fn time(
    obj: &Map<String, Value>,
    key: &str,
    original_zone_key: &str,
    all_day: bool,
) -> Result<EventTime, String> {
    let value = object(obj, key)?.ok_or_else(|| format!("an event without {key}"))?;
    let local = string(value, "dateTime")?.ok_or_else(|| format!("{key} without dateTime"))?;
    let local = parse_naive(&local).ok_or_else(|| format!("{key}.dateTime `{local}`"))?;
    if all_day {
        return Ok(EventTime::Date { date: local.date() });
    }
    let zone_name = string(value, "timeZone")?.unwrap_or_else(|| "UTC".into());
    let tz = zone(&zone_name).ok_or_else(|| format!("{key}.timeZone `{zone_name}` is unknown"))?;
    let original = string(obj, original_zone_key)?;
    let time_zone = original
        .as_deref()
        .and_then(iana_name)
        .or_else(|| iana_name(&zone_name));
    Ok(EventTime::DateTime {
        utc: local_to_utc(local, tz),
        time_zone,
    })
}

/// The Windows name Graph is written with (IANA when CLDR has no Windows zone for it).
fn graph_zone_name(iana: Option<&str>) -> String {
    match iana {
        None => "UTC".into(),
        Some(name) => iana_to_windows(name).map_or_else(|| name.to_owned(), str::to_owned),
    }
}

/// Wall-clock time and zone name to write for a canonical time.
fn local_time(time: &EventTime) -> (NaiveDateTime, String) {
    match time {
        EventTime::Date { date } => (date.and_hms_opt(0, 0, 0).unwrap_or_default(), "UTC".into()),
        EventTime::DateTime { utc, time_zone } => {
            let tz = time_zone.as_deref().and_then(zone);
            match tz {
                Some(tz) => (
                    utc_to_local(*utc, tz),
                    graph_zone_name(time_zone.as_deref()),
                ),
                None => (utc.naive_utc(), "UTC".into()),
            }
        }
    }
}

fn time_json(time: &EventTime) -> Value {
    let (local, zone) = local_time(time);
    json!({"dateTime": format_naive(local), "timeZone": zone})
}

/// The Graph fields of a canonical event, as written on create. A recurrence Graph cannot hold
/// is an error (the write fails for this item only).
pub fn to_graph(event: &Event) -> Result<Map<String, Value>, String> {
    let mut map = render(event);
    if let Some(r) = &event.recurrence {
        let rule = Rule::parse(&r.rrule)?;
        let (local, zone) = local_time(&event.start);
        map.insert(
            "recurrence".into(),
            recurrence::to_graph(&rule, local.date(), &zone)?,
        );
    }
    Ok(map)
}

/// Everything but the recurrence (which needs its start and can fail): `recurrence` is rendered
/// as its canonical string, so [`patch`] sees whether it changed.
fn render(event: &Event) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("subject".into(), json!(event.subject));
    map.insert(
        "body".into(),
        json!({"contentType": "text", "content": event.description.clone().unwrap_or_default()}),
    );
    map.insert("isAllDay".into(), json!(event.is_all_day()));
    map.insert("start".into(), time_json(&event.start));
    map.insert("end".into(), time_json(&event.end));
    map.insert(
        "location".into(),
        json!({"displayName": event.location.clone().unwrap_or_default()}),
    );
    map.insert("categories".into(), json!(event.categories));
    map.insert(
        "isReminderOn".into(),
        json!(event.reminder_minutes_before.is_some()),
    );
    if let Some(minutes) = event.reminder_minutes_before {
        map.insert("reminderMinutesBeforeStart".into(), json!(minutes));
    }
    let attendees: Vec<Value> = event
        .attendees
        .iter()
        .map(|a| {
            json!({
                "emailAddress": {"address": a.email.0, "name": a.name.clone().unwrap_or_else(|| a.email.0.clone())},
                "type": if a.required { "required" } else { "optional" },
            })
        })
        .collect();
    map.insert("attendees".into(), Value::Array(attendees));
    map.insert(
        "recurrence".into(),
        json!(event.recurrence.as_ref().map(|r| &r.rrule)),
    );
    map
}

/// Only the fields whose canonical value changed since `base` (the time zone alone, an HTML body
/// or attendee names are no change). A changed start is written with its end and the all-day
/// flag, and with the recurrence of a series (Graph re-anchors the series on its start).
pub fn patch(event: &Event, base: Option<&Event>) -> Result<Map<String, Value>, String> {
    let full = to_graph(event)?;
    let changed = changed_fields(event, base, Event::normalised, render);
    let mut keys: std::collections::BTreeSet<&str> = changed.keys().map(String::as_str).collect();
    if keys
        .iter()
        .any(|k| matches!(*k, "start" | "end" | "isAllDay"))
    {
        keys.extend(["start", "end", "isAllDay"]);
        if event.recurrence.is_some() {
            keys.insert("recurrence");
        }
    }
    let mut out = Map::new();
    for key in keys {
        match full.get(key) {
            Some(value) => {
                out.insert(key.to_owned(), value.clone());
            }
            // The series ended: Graph clears a recurrence with null.
            None if key == "recurrence" => {
                out.insert(key.to_owned(), Value::Null);
            }
            // A reminder switched off: `isReminderOn: false` says it; the minutes stay.
            None => {}
        }
    }
    Ok(out)
}

/// The first day of an event in its own zone (where its occurrences are counted).
pub fn local_start_date(event: &Event) -> NaiveDate {
    local_time(&event.start).0.date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_published_recurring_event() {
        let event = from_graph(&payload("graph_event_create_recurring_response.json")).unwrap();
        assert_eq!(event.subject, "Let's go for lunch");
        // 12:00 Pacific Daylight Time is 19:00 UTC.
        assert_eq!(
            event.start,
            EventTime::DateTime {
                utc: at("2017-09-04T19:00:00Z"),
                time_zone: Some("America/Los_Angeles".into())
            }
        );
        assert_eq!(event.location.as_deref(), Some("Harry's Bar"));
        assert_eq!(event.reminder_minutes_before, Some(15));
        assert_eq!(event.attendees.len(), 1);
        assert!(event.attendees[0].required);
        let recurrence = event.recurrence.unwrap();
        assert_eq!(
            recurrence.rrule,
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=20171231"
        );
        assert!(recurrence.exceptions.is_empty());
    }

    #[test]
    fn parses_the_published_delta_pages() {
        let page = payload("graph_calendarview_delta_page1.json");
        for item in page["value"].as_array().unwrap() {
            let event = from_graph(item).unwrap();
            assert!(!event.subject.is_empty());
            assert!(matches!(event.start, EventTime::DateTime { .. }));
        }
        let page = payload("graph_event_delta_removed.json");
        let event = from_graph(&page["value"][1]).unwrap();
        assert_eq!(event.location.as_deref(), Some("Chapel of Saint Ignatius"));
        assert_eq!(
            event.start,
            EventTime::DateTime {
                utc: at("2016-12-25T06:00:00Z"),
                time_zone: Some("UTC".into())
            }
        );
    }

    fn series() -> Event {
        Event {
            subject: "Weekly 定例 – Jour fixe".into(),
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
            categories: vec!["Zoho".into()],
            reminder_minutes_before: Some(10),
            attendees: vec![Attendee {
                email: EmailAddress("anna@example.de".into()),
                name: Some("Anna Müller".into()),
                required: false,
            }],
            recurrence: Some(Recurrence {
                rrule: "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=6".into(),
                exceptions: vec![],
            }),
        }
    }

    #[test]
    fn a_series_across_a_dst_change_round_trips() {
        let event = series();
        let graph = to_graph(&event).unwrap();
        // Written at its wall-clock time in the Windows zone, so it stays at 09:00 after the
        // change to summer time on 2026-03-29.
        assert_eq!(graph["start"]["dateTime"], "2026-03-23T09:00:00.0000000");
        assert_eq!(graph["start"]["timeZone"], "W. Europe Standard Time");
        assert_eq!(graph["recurrence"]["range"]["startDate"], "2026-03-23");
        // Graph answers in UTC with the original zone beside it.
        let mut answer = Value::Object(graph);
        answer["start"] = json!({"dateTime": "2026-03-23T08:00:00.0000000", "timeZone": "UTC"});
        answer["end"] = json!({"dateTime": "2026-03-23T09:00:00.0000000", "timeZone": "UTC"});
        answer["originalStartTimeZone"] = json!("W. Europe Standard Time");
        answer["originalEndTimeZone"] = json!("W. Europe Standard Time");
        let back = from_graph(&answer).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn all_day_events_are_dates() {
        let event = Event {
            start: EventTime::Date {
                date: NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            },
            end: EventTime::Date {
                date: NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(),
            },
            recurrence: None,
            ..series()
        };
        let graph = to_graph(&event).unwrap();
        assert_eq!(graph["isAllDay"], true);
        assert_eq!(graph["start"]["dateTime"], "2026-03-29T00:00:00.0000000");
        assert_eq!(from_graph(&Value::Object(graph)).unwrap(), event);
    }

    #[test]
    fn the_select_holds_every_property_the_mapping_reads() {
        let mut selected: Vec<&str> = SELECT.split(',').collect();
        selected.push("cancelledOccurrences");
        assert!(selected.iter().all(|p| !p.is_empty() && !p.contains(' ')));
        let mut full = to_graph(&series()).unwrap();
        full.insert("id".into(), json!("AAMkAG="));
        full.insert("type".into(), json!("seriesMaster"));
        full.insert("changeKey".into(), json!("EQAAAB"));
        full.insert(
            "originalStartTimeZone".into(),
            json!("W. Europe Standard Time"),
        );
        full.insert(
            "originalEndTimeZone".into(),
            json!("W. Europe Standard Time"),
        );
        full.insert(
            "cancelledOccurrences".into(),
            json!(["OID.AAMkAG=.2026-03-30"]),
        );
        full.insert("bodyPreview".into(), json!("Agenda"));
        let published = payload("graph_event_create_recurring_response.json");
        for event in [Value::Object(full), published] {
            let only_selected: Map<String, Value> = event
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| selected.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert_eq!(
                from_graph(&Value::Object(only_selected)).unwrap(),
                from_graph(&event).unwrap()
            );
        }
    }

    #[test]
    fn cancelled_occurrences_are_exceptions() {
        let mut graph = to_graph(&series()).unwrap();
        graph.insert(
            "cancelledOccurrences".into(),
            json!(["OID.AAMkAG=.2026-04-06", "OID.AAMkAG=.2026-03-30"]),
        );
        let event = from_graph(&Value::Object(graph)).unwrap();
        assert_eq!(
            event.recurrence.unwrap().exceptions,
            vec![
                NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(),
                NaiveDate::from_ymd_opt(2026, 4, 6).unwrap()
            ]
        );
    }

    #[test]
    fn patch_skips_zone_only_changes_and_sends_times_together() {
        let base = series();
        let mut zone_only = base.clone();
        if let EventTime::DateTime { time_zone, .. } = &mut zone_only.start {
            *time_zone = None;
        }
        assert!(patch(&zone_only, Some(&base)).unwrap().is_empty());
        let mut moved = base.clone();
        moved.start = EventTime::DateTime {
            utc: at("2026-03-23T09:00:00Z"),
            time_zone: None,
        };
        let p = patch(&moved, Some(&base)).unwrap();
        let mut keys: Vec<&String> = p.keys().collect();
        keys.sort();
        assert_eq!(keys, ["end", "isAllDay", "recurrence", "start"]);
        let mut no_series = base.clone();
        no_series.recurrence = None;
        assert_eq!(
            patch(&no_series, Some(&base)).unwrap()["recurrence"],
            Value::Null
        );
    }
}

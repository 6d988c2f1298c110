//! Calendar events: a recurring series with an exception across a daylight-saving change, an
//! all-day event and a single meeting with attendees and categories, written through `$batch`
//! and read back through `calendarView/delta` as the same canonical records; a user's deleted
//! occurrence becomes an exception; a deleted event a delete; an expired token a full read.
//! What Graph is asked, counted by the sandbox: each series master is read once a round, with
//! its cancelled occurrences (no `/instances`), and only a removal that may be a deleted
//! occurrence has the series read again.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, NaiveDate, Utc};
use connector_kit::{ApiError, ApplyRequest, Connector};
use serde_json::{Value, json};
use sync_model::{Attendee, EmailAddress, Event, EventTime, Item, ItemKind, LinkId, Recurrence};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};

use crate::helpers::{Mailbox, Sandbox, connector, ctx, external_id, read_round, sandbox, watch};

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Mondays 09:00 Berlin from 22 March 2027; summer time starts on the 28th.
pub fn series() -> Event {
    Event {
        subject: "Jour fixe – 定例会議".into(),
        start: EventTime::DateTime {
            utc: at("2027-03-22T08:00:00Z"),
            time_zone: Some("Europe/Berlin".into()),
        },
        end: EventTime::DateTime {
            utc: at("2027-03-22T09:00:00Z"),
            time_zone: Some("Europe/Berlin".into()),
        },
        location: Some("Raum Ørsted".into()),
        description: Some("Agenda: Zahlen, Ziele".into()),
        categories: vec!["Zoho".into()],
        reminder_minutes_before: Some(15),
        attendees: vec![Attendee {
            email: EmailAddress("anna@example.de".into()),
            name: Some("Anna Müller".into()),
            required: false,
        }],
        recurrence: Some(Recurrence {
            rrule: "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=6".into(),
            exceptions: vec![date("2027-04-05")],
        }),
    }
}

fn all_day() -> Event {
    Event {
        subject: "Messe Hannover".into(),
        start: EventTime::Date {
            date: date("2027-03-27"),
        },
        end: EventTime::Date {
            date: date("2027-03-30"),
        },
        location: None,
        description: None,
        categories: vec!["Zoho".into(), "Kunden".into()],
        reminder_minutes_before: None,
        attendees: vec![],
        recurrence: None,
    }
}

pub fn single() -> Event {
    Event {
        subject: "Call with 山田さん".into(),
        start: EventTime::DateTime {
            utc: at("2027-01-15T01:00:00Z"),
            time_zone: Some("Asia/Tokyo".into()),
        },
        end: EventTime::DateTime {
            utc: at("2027-01-15T01:30:00Z"),
            time_zone: Some("Asia/Tokyo".into()),
        },
        location: Some("Teams".into()),
        description: None,
        categories: vec!["Zoho".into()],
        reminder_minutes_before: None,
        attendees: vec![Attendee {
            email: EmailAddress("taro@example.jp".into()),
            name: Some("山田 太郎".into()),
            required: true,
        }],
        recurrence: None,
    }
}

fn create(item: Item) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: ItemKind::Event,
        op: ApplyOp::Create {
            item,
            origin: None,
            may_exist: false,
        },
        container_id: None,
        repeated: false,
    }
}

fn events_of(changes: &[ChangeMessage]) -> Vec<(String, Event)> {
    changes
        .iter()
        .filter_map(|c| match c {
            ChangeMessage::ItemChanged {
                external_id,
                item: Item::Event(e),
                ..
            } => Some((external_id.0.clone(), e.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn events_round_trip_through_calendar_view_delta() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let connector = connector(&sandbox, 50);
    let ctx = ctx(&mailbox);
    let w = watch(ItemKind::Event, None);
    let (_, cursor, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();

    let originals = [series(), all_day(), single()];
    let outcomes = connector
        .apply(
            &ctx,
            &originals
                .iter()
                .cloned()
                .map(|e| create(Item::Event(e)))
                .collect::<Vec<_>>(),
        )
        .await;
    let mut ids = Vec::new();
    for (outcome, original) in outcomes.iter().zip(&originals) {
        let ApplyOutcome::Applied {
            external_id,
            content_hash,
            ..
        } = outcome
        else {
            panic!("{outcome:?}")
        };
        assert_eq!(*content_hash, Item::Event(original.clone()).content_hash());
        ids.push(external_id.0.clone());
    }

    // The series is one item (its master), whatever number of occurrences the window holds.
    let (changes, cursor, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    let read = events_of(&changes);
    let distinct: BTreeSet<&String> = read.iter().map(|(id, _)| id).collect();
    assert_eq!(distinct, ids.iter().collect(), "{read:#?}");
    // Each read tells when Graph last changed the event (selected with the event's fields).
    assert!(
        changes.iter().all(|c| matches!(
            c,
            ChangeMessage::ItemChanged {
                modified: Some(_),
                ..
            }
        )),
        "{changes:?}"
    );
    for (id, event) in &read {
        let original = &originals[ids.iter().position(|i| i == id).unwrap()];
        assert_eq!(
            event, original,
            "read back exactly, zone and exceptions included"
        );
    }

    // The user deletes one more occurrence of the series: the series changes, with it as an
    // exception.
    let path = format!(
        "/me/events/{}/instances?startDateTime=2027-04-11T00:00:00Z&endDateTime=2027-04-13T00:00:00Z",
        ids[0]
    );
    let instances = sandbox
        .graph(&mailbox, reqwest::Method::GET, &path, None)
        .await;
    let occurrence = instances["value"][0]["id"].as_str().unwrap().to_owned();
    sandbox
        .graph(
            &mailbox,
            reqwest::Method::DELETE,
            &format!("/me/events/{occurrence}"),
            None,
        )
        .await;
    // And deletes the single meeting.
    sandbox
        .graph(
            &mailbox,
            reqwest::Method::DELETE,
            &format!("/me/events/{}", ids[2]),
            None,
        )
        .await;
    let (changes, cursor, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    let read = events_of(&changes);
    let series_now = read
        .iter()
        .find(|(id, _)| *id == ids[0])
        .map(|(_, e)| e.clone())
        .unwrap_or_else(|| panic!("the series changed: {changes:#?}"));
    assert_eq!(
        series_now.recurrence.unwrap().exceptions,
        vec![date("2027-04-05"), date("2027-04-12")]
    );
    let deleted: Vec<String> = changes
        .iter()
        .filter(|c| {
            matches!(
                c,
                ChangeMessage::ItemDeleted {
                    left_scope: false,
                    ..
                }
            )
        })
        .map(external_id)
        .collect();
    // The single meeting is deleted; the series is not (the deleted occurrence's own id may be
    // reported too: it names no synced item, so sync-service ignores it).
    assert!(deleted.contains(&ids[2]), "{changes:#?}");
    assert!(!deleted.contains(&ids[0]) && !deleted.contains(&ids[1]));

    // An expired delta token: a full read with the same ids.
    sandbox
        .control(
            reqwest::Method::POST,
            &format!("/graph/mailboxes/{}/expire-delta-tokens", mailbox.id),
            Value::Null,
        )
        .await;
    let err = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::ResyncRequired), "{err:?}");
    let (full, _, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let again: BTreeSet<String> = events_of(&full).into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        again,
        [ids[0].clone(), ids[1].clone()].into_iter().collect()
    );
}

const MASTER_GET: &str = "GET /me/events/{event_id}";
const INSTANCES: &str = "GET /me/events/{event_id}/instances";
const DELTA: &str = "GET /me/calendarView/delta";

/// Graph calls of the mailbox since the last call, by operation (`$batch` items counted as
/// their own operation); the counters start again from zero.
async fn calls(sandbox: &Sandbox, mailbox: &Mailbox) -> BTreeMap<String, u64> {
    let stats = sandbox
        .control(reqwest::Method::GET, "/stats", Value::Null)
        .await;
    sandbox
        .control(reqwest::Method::POST, "/stats/reset", Value::Null)
        .await;
    serde_json::from_value(stats["graph"]["mailboxes"][&mailbox.id]["operations"].clone())
        .unwrap_or_default()
}

fn count(calls: &BTreeMap<String, u64>, operation: &str) -> u64 {
    calls.get(operation).copied().unwrap_or(0)
}

/// The first day of the `n`-th test series: from tomorrow, one a day.
fn first_day(n: i64) -> NaiveDate {
    Utc::now().date_naive() + Duration::days(1 + n)
}

/// A user's weekly series of 8, 10:00 Berlin time, from [`first_day`]; its master id.
async fn user_series(sandbox: &Sandbox, mailbox: &Mailbox, n: i64) -> String {
    let day = first_day(n);
    let at = |time: &str| json!({"dateTime": format!("{day}T{time}"), "timeZone": "W. Europe Standard Time"});
    let created = sandbox
        .graph(
            mailbox,
            reqwest::Method::POST,
            "/me/events",
            Some(json!({
                "subject": format!("Weekly {n}"),
                "start": at("10:00:00"),
                "end": at("10:30:00"),
                "recurrence": {
                    "pattern": {"type": "weekly", "interval": 1,
                                "daysOfWeek": [day.format("%A").to_string().to_lowercase()]},
                    "range": {"type": "numbered", "startDate": day.to_string(),
                              "numberOfOccurrences": 8},
                },
            })),
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

async fn user_single(sandbox: &Sandbox, mailbox: &Mailbox, n: i64) -> String {
    let day = first_day(n);
    let at = |time: &str| json!({"dateTime": format!("{day}T{time}"), "timeZone": "UTC"});
    let created = sandbox
        .graph(
            mailbox,
            reqwest::Method::POST,
            "/me/events",
            Some(json!({"subject": format!("Single {n}"), "start": at("14:00:00"), "end": at("15:00:00")})),
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

/// The ids of a series' instances (occurrences and exceptions), by start.
async fn instance_ids(sandbox: &Sandbox, mailbox: &Mailbox, master: &str) -> Vec<String> {
    let from = Utc::now().date_naive();
    let path = format!(
        "/me/events/{master}/instances?startDateTime={from}T00:00:00Z&endDateTime={}T00:00:00Z",
        from + Duration::days(90)
    );
    let found = sandbox
        .graph(mailbox, reqwest::Method::GET, &path, None)
        .await;
    found["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn user_delete(sandbox: &Sandbox, mailbox: &Mailbox, id: &str) {
    sandbox
        .graph(
            mailbox,
            reqwest::Method::DELETE,
            &format!("/me/events/{id}"),
            None,
        )
        .await;
}

/// How many times each event was published as changed.
fn published(changes: &[ChangeMessage]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (id, _) in events_of(changes) {
        *out.entry(id).or_default() += 1;
    }
    out
}

fn exceptions_of(changes: &[ChangeMessage], id: &str) -> Vec<NaiveDate> {
    let (_, event) = events_of(changes)
        .into_iter()
        .find(|(i, _)| i == id)
        .unwrap_or_else(|| panic!("{id} is not published: {changes:#?}"));
    event.recurrence.expect("a series").exceptions
}

#[tokio::test]
async fn each_master_is_read_once_a_round_with_its_cancelled_occurrences() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let mut series = Vec::new();
    for n in 0..4 {
        series.push(user_series(&sandbox, &mailbox, n).await);
    }
    let mut singles = Vec::new();
    for n in 0..6 {
        singles.push(user_single(&sandbox, &mailbox, n).await);
    }
    // The user deletes the third occurrence of the first series and moves its fifth by an hour
    // (an exception: still there, so no exception of the canonical series).
    let instances = instance_ids(&sandbox, &mailbox, &series[0]).await;
    user_delete(&sandbox, &mailbox, &instances[2]).await;
    let day = first_day(0) + Duration::weeks(4);
    let at = |time: &str| json!({"dateTime": format!("{day}T{time}"), "timeZone": "W. Europe Standard Time"});
    sandbox
        .graph(
            &mailbox,
            reqwest::Method::PATCH,
            &format!("/me/events/{}", instances[4]),
            Some(json!({"start": at("11:00:00"), "end": at("11:30:00")})),
        )
        .await;
    calls(&sandbox, &mailbox).await;

    // 38 instances at 5 a page: the occurrences of every series are on most pages.
    let connector = connector(&sandbox, 5);
    let ctx = ctx(&mailbox);
    let w = watch(ItemKind::Event, None);
    let (changes, cursor, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let made = calls(&sandbox, &mailbox).await;
    assert!(count(&made, DELTA) >= 8, "{made:?}");
    assert_eq!(count(&made, MASTER_GET), 4, "{made:?}");
    assert_eq!(count(&made, INSTANCES), 0, "{made:?}");
    let expected: BTreeMap<String, usize> = series
        .iter()
        .chain(&singles)
        .map(|id| (id.clone(), 1))
        .collect();
    assert_eq!(published(&changes), expected);
    assert_eq!(
        exceptions_of(&changes, &series[0]),
        vec![first_day(0) + Duration::weeks(2)]
    );
    for id in &series[1..] {
        assert!(exceptions_of(&changes, id).is_empty());
    }

    // A round without changes reads nothing by id.
    let (changes, _, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    assert!(changes.is_empty(), "{changes:#?}");
    let made = calls(&sandbox, &mailbox).await;
    assert_eq!(count(&made, MASTER_GET), 0, "{made:?}");
}

#[tokio::test]
async fn without_cancelled_occurrences_the_instances_tell_the_exceptions() {
    let sandbox = sandbox().await;
    // Graph leaves `cancelledOccurrences` out for some mailboxes.
    let mailbox = sandbox
        .mailbox_made_with(json!({"display_name": "Ohne", "cancelled_occurrences": false}))
        .await;
    let series = user_series(&sandbox, &mailbox, 0).await;
    let untouched = user_series(&sandbox, &mailbox, 1).await;
    let instances = instance_ids(&sandbox, &mailbox, &series).await;
    user_delete(&sandbox, &mailbox, &instances[2]).await;
    calls(&sandbox, &mailbox).await;

    let connector = connector(&sandbox, 5);
    let ctx = ctx(&mailbox);
    let w = watch(ItemKind::Event, None);
    let (changes, _, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let made = calls(&sandbox, &mailbox).await;
    assert_eq!(count(&made, MASTER_GET), 2, "{made:?}");
    assert_eq!(
        count(&made, INSTANCES),
        2,
        "the fallback, once a series: {made:?}"
    );
    assert_eq!(
        exceptions_of(&changes, &series),
        vec![first_day(0) + Duration::weeks(2)]
    );
    assert!(exceptions_of(&changes, &untouched).is_empty());
}

#[tokio::test]
async fn a_deleted_occurrence_has_the_series_read_again_a_deleted_single_does_not() {
    let sandbox = sandbox().await;
    let mailbox = sandbox.mailbox().await;
    let mut series = Vec::new();
    for n in 0..3 {
        series.push(user_series(&sandbox, &mailbox, n).await);
    }
    let mut singles = Vec::new();
    for n in 0..3 {
        singles.push(user_single(&sandbox, &mailbox, n).await);
    }
    let connector = connector(&sandbox, 5);
    let ctx = ctx(&mailbox);
    let w = watch(ItemKind::Event, None);
    let (_, cursor, _) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();

    // A deleted single event: its removal is checked (one read), no series is read again.
    user_delete(&sandbox, &mailbox, &singles[0]).await;
    calls(&sandbox, &mailbox).await;
    let (changes, cursor, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    let deleted: Vec<String> = changes.iter().map(external_id).collect();
    assert_eq!(deleted, [singles[0].clone()], "{changes:#?}");
    assert!(matches!(
        changes[0],
        ChangeMessage::ItemDeleted {
            left_scope: false,
            ..
        }
    ));
    let made = calls(&sandbox, &mailbox).await;
    assert_eq!(count(&made, MASTER_GET), 1, "{made:?}");

    // A deleted occurrence names no series: every series is read again (without /instances),
    // and the one that lost it has a new exception.
    let instances = instance_ids(&sandbox, &mailbox, &series[1]).await;
    user_delete(&sandbox, &mailbox, &instances[3]).await;
    calls(&sandbox, &mailbox).await;
    let (changes, cursor, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    assert_eq!(
        exceptions_of(&changes, &series[1]),
        vec![first_day(1) + Duration::weeks(3)]
    );
    let made = calls(&sandbox, &mailbox).await;
    assert_eq!(count(&made, MASTER_GET), 1 + 3, "{made:?}");
    assert_eq!(count(&made, INSTANCES), 0, "{made:?}");

    // A deleted series is reported by its occurrences only: it is found gone on that re-read.
    user_delete(&sandbox, &mailbox, &series[2]).await;
    let (changes, _, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    assert!(
        changes.iter().any(|c| matches!(c, ChangeMessage::ItemDeleted { external_id, .. } if external_id.0 == series[2])),
        "{changes:#?}"
    );
    assert!(events_of(&changes).iter().all(|(id, _)| *id != series[2]));
}

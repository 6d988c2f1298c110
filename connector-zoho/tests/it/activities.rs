//! Tasks and Events: batched writes with a refused record, read back as what was written; a
//! recurring series with an exception across a daylight-saving change, an all-day event and
//! attendees survive the round trip through Zoho; all-day events keep their dates and Zoho's
//! events carry their zone for a Zoho user east or west of UTC.

use chrono::NaiveDate;
use connector_kit::{ApplyRequest, Connector};
use sync_model::{
    Attendee, EmailAddress, Event, EventTime, Item, ItemKind, LinkId, Recurrence, Side, Task,
    TaskPriority, TaskStatus,
};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage};

use crate::helpers::{connector, ctx, read_round, sandbox, watch};

pub fn create(item: Item) -> ApplyRequest {
    ApplyRequest {
        command_id: uuid::Uuid::new_v4(),
        link_id: LinkId(uuid::Uuid::new_v4()),
        kind: item.kind(),
        op: ApplyOp::Create {
            item,
            origin: None,
            may_exist: false,
        },
        container_id: None,
        repeated: false,
    }
}

pub fn task(subject: &str) -> Item {
    Item::Task(Task {
        subject: subject.into(),
        description: Some("Zweite Zeile\n二行目".into()),
        due_date: NaiveDate::from_ymd_opt(2026, 3, 29),
        status: TaskStatus::WaitingOnOthers,
        priority: TaskPriority::High,
        completed_at: None,
        reminder_at: "2026-03-28T07:30:00Z".parse().ok(),
    })
}

#[tokio::test]
async fn tasks_round_trip_and_a_refused_one_fails_alone() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let w = watch(ItemKind::Task);
    let (_, cursor) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let items = [task("Angebot prüfen – 見積"), task(""), task("Rückruf Ærø")];
    let requests: Vec<ApplyRequest> = items.iter().cloned().map(create).collect();
    let outcomes = connector.apply(&ctx, &requests).await;
    assert!(
        matches!(outcomes[0], ApplyOutcome::Applied { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(&outcomes[1], ApplyOutcome::Failed { code, retryable: false, .. } if code.as_str() == "MANDATORY_NOT_FOUND"),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[2], ApplyOutcome::Applied { .. }),
        "{outcomes:?}"
    );
    let (changes, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    assert_eq!(changes.len(), 2);
    for change in changes {
        let ChangeMessage::ItemChanged { item, .. } = change else {
            panic!("{change:?}")
        };
        let Item::Task(t) = &item else { panic!() };
        let original = items.iter().find(|i| i.label() == t.subject).unwrap();
        assert_eq!(item.content_hash(), original.content_hash(), "{t:?}");
    }
}

pub fn series() -> Event {
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    Event {
        subject: "Jour fixe – 定例会議".into(),
        // Mondays 09:00 Berlin from 23 March 2026; summer time starts on the 29th.
        start: EventTime::DateTime {
            utc: at("2026-03-23T08:00:00Z"),
            time_zone: Some("Europe/Berlin".into()),
        },
        end: EventTime::DateTime {
            utc: at("2026-03-23T09:00:00Z"),
            time_zone: Some("Europe/Berlin".into()),
        },
        location: Some("Raum Ørsted".into()),
        description: Some("Agenda: Zahlen, Ziele".into()),
        categories: vec!["Zoho".into(), "Kunden".into()],
        reminder_minutes_before: Some(15),
        attendees: vec![
            Attendee {
                email: EmailAddress("anna@example.de".into()),
                name: Some("Anna Müller".into()),
                required: true,
            },
            Attendee {
                email: EmailAddress("ken@example.jp".into()),
                name: None,
                required: false,
            },
        ],
        recurrence: Some(Recurrence {
            rrule: "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;COUNT=6".into(),
            exceptions: vec![NaiveDate::from_ymd_opt(2026, 4, 6).unwrap()],
        }),
    }
}

fn all_day() -> Event {
    Event {
        subject: "Messe Hannover".into(),
        start: EventTime::Date {
            date: NaiveDate::from_ymd_opt(2026, 3, 28).unwrap(),
        },
        end: EventTime::Date {
            date: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
        },
        location: None,
        description: None,
        categories: vec![],
        reminder_minutes_before: None,
        attendees: vec![],
        recurrence: None,
    }
}

#[tokio::test]
async fn a_series_with_an_exception_across_dst_and_an_all_day_event_round_trip() {
    let sandbox = sandbox().await;
    let org = sandbox.org().await;
    let connector = connector();
    let ctx = ctx(&org);
    let w = watch(ItemKind::Event);
    let (_, cursor) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();
    let originals = [Item::Event(series()), Item::Event(all_day())];
    let requests: Vec<ApplyRequest> = originals.iter().cloned().map(create).collect();
    let outcomes = connector.apply(&ctx, &requests).await;
    for (outcome, original) in outcomes.iter().zip(&originals) {
        let ApplyOutcome::Applied { content_hash, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            *content_hash,
            original.project_for(Side::Zoho).content_hash()
        );
    }
    let (changes, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
        .await
        .unwrap();
    assert_eq!(changes.len(), 2);
    for change in changes {
        let ChangeMessage::ItemChanged { mut item, .. } = change else {
            panic!("{change:?}")
        };
        let original = originals
            .iter()
            .find(|o| o.label() == item.label())
            .unwrap();
        // What Zoho holds of it: an echo, not a change ...
        assert_eq!(
            item.content_hash(),
            original.project_for(Side::Zoho).content_hash(),
            "{item:?}"
        );
        // ... and with what Zoho cannot hold kept from the base, the very same record.
        item.refill_from(original, Side::Zoho);
        assert_eq!(&item, original);
    }
}

/// The events the sandbox's Zoho user can see, by title.
async fn zoho_event(
    sandbox: &crate::helpers::Sandbox,
    org: &crate::helpers::Org,
    title: &str,
) -> serde_json::Value {
    sandbox
        .records(org, "Events")
        .await
        .into_iter()
        .find(|r| r["Event_Title"] == title)
        .unwrap_or_else(|| panic!("no event {title}"))
}

#[tokio::test]
async fn all_day_events_keep_their_dates_for_a_zoho_user_east_or_west_of_utc() {
    let sandbox = sandbox().await;
    for (time_zone, midnight) in [
        ("Asia/Tokyo", "2026-03-28T00:00:00+09:00"),
        ("America/Los_Angeles", "2026-03-28T00:00:00-07:00"),
    ] {
        let org = sandbox.org_in(time_zone).await;
        let connector = connector();
        let ctx = ctx(&org);
        let w = watch(ItemKind::Event);
        let (_, cursor) = read_round(&connector, &ctx, &w, None, 0).await.unwrap();

        // Written from Outlook: midnight of the first day in the Zoho user's zone.
        let outcomes = connector
            .apply(&ctx, &[create(Item::Event(all_day()))])
            .await;
        assert!(
            matches!(outcomes[0], ApplyOutcome::Applied { .. }),
            "{outcomes:?}"
        );
        let held = zoho_event(&sandbox, &org, "Messe Hannover").await;
        assert_eq!(held["Start_DateTime"], midnight, "{time_zone}");

        // Made in Zoho by its user: an all-day event and a meeting at 08:00 their time.
        let local = |t: &str| {
            let tz: chrono_tz::Tz = time_zone.parse().unwrap();
            let naive = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").unwrap();
            naive
                .and_local_timezone(tz)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        };
        sandbox
            .zoho(
                &org,
                reqwest::Method::POST,
                "/Events",
                Some(serde_json::json!({"data": [
                    {"Event_Title": "Inventur", "All_day": true,
                     "Start_DateTime": local("2027-01-04T00:00"),
                     "End_DateTime": local("2027-01-04T23:59")},
                    {"Event_Title": "Frühbesprechung",
                     "Start_DateTime": local("2027-01-04T08:00"),
                     "End_DateTime": local("2027-01-04T08:30")},
                ]})),
            )
            .await;
        let (changes, _) = read_round(&connector, &ctx, &w, Some(cursor), 0)
            .await
            .unwrap();
        let read = |title: &str| {
            changes
                .iter()
                .find_map(|c| match c {
                    ChangeMessage::ItemChanged {
                        item: Item::Event(e),
                        ..
                    } if e.subject == title => Some(e.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{title} not read"))
        };
        let echo = read("Messe Hannover");
        assert_eq!((&echo.start, &echo.end), (&all_day().start, &all_day().end));
        let day = |d: u32| EventTime::Date {
            date: NaiveDate::from_ymd_opt(2027, 1, d).unwrap(),
        };
        let inventory = read("Inventur");
        assert_eq!(
            (inventory.start, inventory.end),
            (day(4), day(5)),
            "{time_zone}"
        );
        // A meeting made in Zoho goes to Outlook in its user's zone, not in UTC.
        let meeting = read("Frühbesprechung");
        let EventTime::DateTime {
            time_zone: zone, ..
        } = &meeting.start
        else {
            panic!("{meeting:?}")
        };
        assert_eq!(zone.as_deref(), Some(time_zone));
    }
}

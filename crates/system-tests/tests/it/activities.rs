//! Tasks and events flow both ways through the whole system: To Do ⇄ Zoho Tasks, Outlook
//! calendar ⇄ Zoho Events (a recurring series across a daylight-saving change, an all-day
//! event), only events in the "Zoho" category leave Outlook, and nothing echoes back as a
//! duplicate. The connectors' discovery and watch-status endpoints are used on the way.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(60);

async fn zoho_record(
    sys: &System,
    user: &TestUser,
    module: &str,
    field: &str,
    value: &str,
) -> anyhow::Result<Option<Value>> {
    Ok(sys
        .zoho_records(user, module)
        .await?
        .into_iter()
        .find(|r| r[field] == value))
}

async fn outlook_item(
    sys: &System,
    user: &TestUser,
    path: &str,
    field: &str,
    value: &str,
) -> anyhow::Result<Option<Value>> {
    let answer = sys.graph_call(user, Method::GET, path, None).await?;
    Ok(answer["value"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .find(|r| r[field] == value))
}

fn count(answer: &Value) -> usize {
    answer["value"].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_events_flow_both_ways_exactly_once() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys.provision_user("termine@example.de", 1).await?;
    // Discovery for the settings page: the Zoho user and organisation, the Outlook lists.
    let zoho_user = sys.discover(&user, "zoho", "user").await?;
    assert_eq!(zoho_user["email"], "termine@example.de");
    assert!(zoho_user["id"].is_string(), "{zoho_user}");
    let org = sys.discover(&user, "zoho", "org").await?;
    assert!(
        org["id"].is_string() && org["company_name"].is_string(),
        "{org}"
    );
    let lists = sys.discover(&user, "outlook", "todo-lists").await?;
    let list = lists["value"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["wellknownListName"] == "defaultList"))
        .and_then(|l| l["id"].as_str())
        .expect("the default To Do list")
        .to_owned();
    sys.put_settings(
        &user,
        json!({
            "contact_folder_id": user.contact_folder_id,
            "contacts": {"enabled": true, "direction": "two_way"},
            "task_list_id": list,
            "tasks": {"enabled": true, "direction": "two_way"},
            "events": {"enabled": true, "direction": "two_way"},
            "calendar_categories": {"mode": "zoho_only"},
            "conflict_rule": "zoho_wins",
            "poll_interval_secs": 1,
        }),
    )
    .await?;

    // To Do → Zoho.
    sys.graph_call(
        &user,
        Method::POST,
        &format!("/me/todo/lists/{list}/tasks"),
        Some(json!({
            "title": "見積書を送る – Angebot prüfen",
            "importance": "high",
            "status": "inProgress",
            "dueDateTime": {"dateTime": "2027-03-29T00:00:00", "timeZone": "UTC"},
            "body": {"contentType": "text", "content": "Zweite Zeile"},
        })),
    )
    .await?;
    let task = wait_for("the To Do task in Zoho", TIMEOUT, || {
        zoho_record(
            &sys,
            &user,
            "Tasks",
            "Subject",
            "見積書を送る – Angebot prüfen",
        )
    })
    .await?;
    assert_eq!(task["Priority"], "High");
    assert_eq!(task["Status"], "In Progress");
    assert_eq!(task["Due_Date"], "2027-03-29");
    assert_eq!(task["Description"], "Zweite Zeile");

    // Zoho → To Do.
    sys.zoho_call(
        &user,
        Method::POST,
        "/Tasks",
        Some(json!({"data": [{
            "Subject": "Rückruf Ærø",
            "Status": "Waiting on someone else",
            "Priority": "Low",
            "Due_Date": "2027-04-01",
        }]})),
    )
    .await?;
    let tasks_path = format!("/me/todo/lists/{list}/tasks?$top=100");
    let todo = wait_for("the Zoho task in To Do", TIMEOUT, || {
        outlook_item(&sys, &user, &tasks_path, "title", "Rückruf Ærø")
    })
    .await?;
    assert_eq!(todo["status"], "waitingOnOthers");
    assert_eq!(todo["importance"], "low");
    assert!(
        todo["dueDateTime"]["dateTime"]
            .as_str()
            .is_some_and(|d| d.starts_with("2027-04-01")),
        "{todo}"
    );

    // Outlook → Zoho: a weekly series at 09:00 Berlin across the change to summer time, in the
    // "Zoho" category; an event without it stays in Outlook.
    sys.graph_call(
        &user,
        Method::POST,
        "/me/events",
        Some(json!({
            "subject": "Jour fixe – 定例会議",
            "start": {"dateTime": "2027-03-22T09:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2027-03-22T10:00:00", "timeZone": "W. Europe Standard Time"},
            "categories": ["Zoho"],
            "location": {"displayName": "Raum Ørsted"},
            "recurrence": {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                "range": {"type": "numbered", "startDate": "2027-03-22", "numberOfOccurrences": 6},
            },
        })),
    )
    .await?;
    sys.graph_call(
        &user,
        Method::POST,
        "/me/events",
        Some(json!({
            "subject": "Privat",
            "start": {"dateTime": "2027-03-23T18:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2027-03-23T19:00:00", "timeZone": "W. Europe Standard Time"},
        })),
    )
    .await?;
    let meeting = wait_for("the Outlook series in Zoho", TIMEOUT, || {
        zoho_record(&sys, &user, "Events", "Event_Title", "Jour fixe – 定例会議")
    })
    .await?;
    // 09:00 in Berlin's winter time; Zoho answers in its user's zone, Tokyo's.
    assert_eq!(meeting["Start_DateTime"], "2027-03-22T17:00:00+09:00");
    let rrule = meeting["Recurring_Activity"]["RRULE"]
        .as_str()
        .unwrap_or_default();
    for part in ["FREQ=WEEKLY", "BYDAY=MO", "COUNT=6"] {
        assert!(rrule.contains(part), "{rrule}");
    }
    assert_eq!(meeting["Venue"], "Raum Ørsted");

    // Zoho → Outlook: an all-day event, which arrives in the "Zoho" category.
    sys.zoho_call(
        &user,
        Method::POST,
        "/Events",
        Some(json!({"data": [{
            "Event_Title": "Messe Hannover",
            "All_day": true,
            "Start_DateTime": "2027-03-27T00:00:00+09:00",
            "End_DateTime": "2027-03-29T23:59:00+09:00",
        }]})),
    )
    .await?;
    let fair = wait_for("the Zoho event in Outlook", TIMEOUT, || {
        outlook_item(
            &sys,
            &user,
            "/me/events?$top=100",
            "subject",
            "Messe Hannover",
        )
    })
    .await?;
    assert_eq!(fair["isAllDay"], true);
    assert!(
        fair["start"]["dateTime"]
            .as_str()
            .is_some_and(|d| d.starts_with("2027-03-27")),
        "{fair}"
    );
    assert!(
        fair["end"]["dateTime"]
            .as_str()
            .is_some_and(|d| d.starts_with("2027-03-30")),
        "the end is exclusive: {fair}"
    );
    assert!(
        fair["categories"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "Zoho")),
        "{fair}"
    );

    // Several more polls: our own writes must not come back as new items.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sys.zoho_records(&user, "Tasks").await?.len(), 2);
    assert_eq!(
        count(
            &sys.graph_call(&user, Method::GET, &tasks_path, None)
                .await?
        ),
        2
    );
    assert_eq!(
        sys.zoho_records(&user, "Events").await?.len(),
        2,
        "the series and the fair; not the private event"
    );
    assert_eq!(
        count(
            &sys.graph_call(&user, Method::GET, "/me/events?$top=100", None)
                .await?
        ),
        3
    );
    for side in ["outlook", "zoho"] {
        let watches = sys.watches(&user, side).await?;
        assert_eq!(watches.len(), 3, "{side}: {watches:?}");
        for w in &watches {
            assert_eq!(w["state"], "ok", "{side}: {w}");
            assert!(w["last_error"].is_null(), "{side}: {w}");
        }
    }
    sys.stop().await;
    Ok(())
}

/// Subject → (start, end) of each side's events; the count of each subject is checked too.
fn by_subject(
    events: &[Value],
    subject: &str,
    start: &str,
    end: &str,
) -> BTreeMap<String, (Value, Value)> {
    let mut seen = BTreeMap::new();
    for e in events {
        let title = e[subject].as_str().unwrap_or_default().to_owned();
        let previous = seen.insert(title.clone(), (e[start].clone(), e[end].clone()));
        assert!(previous.is_none(), "{title} is there twice");
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_events_are_matched_at_the_first_sync_for_a_zoho_user_in_tokyo() -> anyhow::Result<()>
{
    let sys = spawn_system().await?;
    // 40 events on each side, 16 of them on both (all-day ones among them), the Zoho user in
    // Tokyo: an all-day event there is midnight in UTC+9, the day before in UTC.
    let user = sys
        .provision_user_seeded_with(
            "kalender@example.jp",
            1,
            json!({"events": 40, "shared_share": 0.4, "seed": 5}),
        )
        .await?;
    let seeded = sys.outlook_events(&user).await?;
    let all_day_shared = sys
        .zoho_records(&user, "Events")
        .await?
        .iter()
        .filter(|z| z["All_day"] == true && seeded.iter().any(|o| o["subject"] == z["Event_Title"]))
        .count();
    assert!(all_day_shared > 0, "the seed shares all-day events");
    sys.put_settings(
        &user,
        json!({
            "contact_folder_id": user.contact_folder_id,
            "contacts": {"enabled": false, "direction": "two_way"},
            "tasks": {"enabled": false, "direction": "two_way"},
            "events": {"enabled": true, "direction": "two_way"},
            "calendar_categories": {"mode": "all"},
            "conflict_rule": "zoho_wins",
            "poll_interval_secs": 1,
        }),
    )
    .await?;
    let expected = 40 + 40 - 16;
    wait_for("every event on both sides", TIMEOUT, || async {
        let outlook = sys.outlook_events(&user).await?;
        let zoho = sys.zoho_records(&user, "Events").await?;
        Ok((outlook.len() >= expected && zoho.len() >= expected).then_some(()))
    })
    .await?;
    // And it stays so: no event twice on either side, all-day dates equal on both.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let outlook = sys.outlook_events(&user).await?;
    let zoho = sys.zoho_records(&user, "Events").await?;
    assert_eq!((outlook.len(), zoho.len()), (expected, expected));
    let outlook = by_subject(&outlook, "subject", "start", "end");
    let zoho_days = by_subject(&zoho, "Event_Title", "Start_DateTime", "End_DateTime");
    assert_eq!(
        outlook.keys().collect::<Vec<_>>(),
        zoho_days.keys().collect::<Vec<_>>()
    );
    for (title, (start, _)) in &zoho_days {
        let (outlook_start, _) = &outlook[title];
        let all_day = zoho
            .iter()
            .any(|z| z["Event_Title"] == *title && z["All_day"] == true);
        if all_day {
            // Zoho: midnight in Tokyo; Outlook: the same date.
            let zoho_date = start.as_str().unwrap_or_default().get(..10);
            let outlook_date = outlook_start["dateTime"]
                .as_str()
                .unwrap_or_default()
                .get(..10);
            assert_eq!(zoho_date, outlook_date, "{title}");
            assert!(
                start
                    .as_str()
                    .is_some_and(|s| s.ends_with("T00:00:00+09:00")),
                "{title}: {start}"
            );
        }
    }
    sys.stop().await;
    Ok(())
}

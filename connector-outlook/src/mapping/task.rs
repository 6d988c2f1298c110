//! Graph (Microsoft To Do) `todoTask` ⇄ canonical [`Task`].

use chrono::{DateTime, NaiveDate, Utc};
use connector_kit::calendar::{format_naive, local_to_utc, parse_naive, zone};
use serde_json::{Map, Value, json};
use sync_model::{Task, TaskPriority, TaskStatus};

use super::{body, changed_fields, object, string};

const STATUSES: [(&str, TaskStatus); 5] = [
    ("notStarted", TaskStatus::NotStarted),
    ("inProgress", TaskStatus::InProgress),
    ("completed", TaskStatus::Completed),
    ("waitingOnOthers", TaskStatus::WaitingOnOthers),
    ("deferred", TaskStatus::Deferred),
];

const IMPORTANCES: [(&str, TaskPriority); 3] = [
    ("low", TaskPriority::Low),
    ("normal", TaskPriority::Normal),
    ("high", TaskPriority::High),
];

/// A `dateTimeTimeZone` as an instant.
pub(crate) fn instant(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    let Some(value) = object(obj, key)? else {
        return Ok(None);
    };
    let Some(local) = string(value, "dateTime")? else {
        return Ok(None);
    };
    let local = parse_naive(&local).ok_or_else(|| format!("{key}.dateTime `{local}`"))?;
    let name = string(value, "timeZone")?.unwrap_or_else(|| "UTC".into());
    let tz = zone(&name).ok_or_else(|| format!("{key}.timeZone `{name}` is unknown"))?;
    Ok(Some(local_to_utc(local, tz)))
}

/// A `dateTimeTimeZone` that stands for a date (To Do's due date): its date as written.
fn date(obj: &Map<String, Value>, key: &str) -> Result<Option<NaiveDate>, String> {
    let Some(value) = object(obj, key)? else {
        return Ok(None);
    };
    let Some(local) = string(value, "dateTime")? else {
        return Ok(None);
    };
    parse_naive(&local)
        .map(|t| Some(t.date()))
        .ok_or_else(|| format!("{key}.dateTime `{local}`"))
}

pub(crate) fn utc_json(t: DateTime<Utc>) -> Value {
    json!({"dateTime": format_naive(t.naive_utc()), "timeZone": "UTC"})
}

pub fn from_graph(value: &Value) -> Result<Task, String> {
    let obj = value.as_object().ok_or("a task must be a JSON object")?;
    let status = match string(obj, "status")? {
        None => TaskStatus::NotStarted,
        Some(s) => STATUSES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&s))
            .map(|(_, st)| *st)
            .unwrap_or_default(),
    };
    let priority = match string(obj, "importance")? {
        None => TaskPriority::Normal,
        Some(s) => IMPORTANCES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&s))
            .map(|(_, p)| *p)
            .unwrap_or_default(),
    };
    let reminder_on = obj.get("isReminderOn").and_then(Value::as_bool);
    let reminder_at = match reminder_on {
        Some(false) => None,
        _ => instant(obj, "reminderDateTime")?,
    };
    Ok(Task {
        subject: string(obj, "title")?.unwrap_or_default(),
        description: body(obj)?,
        due_date: date(obj, "dueDateTime")?,
        status,
        priority,
        completed_at: instant(obj, "completedDateTime")?,
        reminder_at,
    })
}

/// The Graph fields of a canonical task, as written on create.
pub fn to_graph(task: &Task) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("title".into(), json!(task.subject));
    map.insert(
        "body".into(),
        json!({"contentType": "text", "content": task.description.clone().unwrap_or_default()}),
    );
    map.insert(
        "dueDateTime".into(),
        task.due_date.map_or(Value::Null, |d| {
            json!({"dateTime": format!("{}T00:00:00.0000000", d.format("%Y-%m-%d")), "timeZone": "UTC"})
        }),
    );
    let status = STATUSES
        .iter()
        .find(|(_, s)| *s == task.status)
        .map_or("notStarted", |(n, _)| *n);
    map.insert("status".into(), json!(status));
    let importance = IMPORTANCES
        .iter()
        .find(|(_, p)| *p == task.priority)
        .map_or("normal", |(n, _)| *n);
    map.insert("importance".into(), json!(importance));
    map.insert("isReminderOn".into(), json!(task.reminder_at.is_some()));
    map.insert(
        "reminderDateTime".into(),
        task.reminder_at.map_or(Value::Null, utc_json),
    );
    if task.status == TaskStatus::Completed
        && let Some(at) = task.completed_at
    {
        map.insert("completedDateTime".into(), utc_json(at));
    }
    map
}

/// Only the fields whose canonical value changed since `base`.
pub fn patch(task: &Task, base: Option<&Task>) -> Map<String, Value> {
    changed_fields(task, base, Task::normalised, to_graph)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    #[test]
    fn parses_the_published_tasks() {
        let page = payload("graph_todo_task_delta.json");
        let task = from_graph(&page["value"][0]).expect("parses");
        assert_eq!(task.subject, "empty task3");
        assert_eq!(task.status, TaskStatus::NotStarted);
        assert_eq!(task.priority, TaskPriority::Normal);
        assert_eq!(task.description, None);
        let task = from_graph(&payload("graph_todo_task_create_response.json")).expect("parses");
        assert_eq!(task.subject, "A new task");
        assert_eq!(task.priority, TaskPriority::Low);
    }

    #[test]
    fn round_trip_through_graph_json_is_identity() {
        let task = Task {
            subject: "見積書を送る — Angebot senden".into(),
            description: Some("Zeile 1\nZeile 2".into()),
            due_date: NaiveDate::from_ymd_opt(2026, 3, 29),
            status: TaskStatus::Completed,
            priority: TaskPriority::High,
            completed_at: "2026-03-28T10:00:00Z".parse().ok(),
            reminder_at: "2026-03-28T08:30:00Z".parse().ok(),
        };
        let back = from_graph(&Value::Object(to_graph(&task))).unwrap();
        assert_eq!(back, task);
        for status in STATUSES.map(|(_, s)| s) {
            let t = Task {
                status,
                completed_at: None,
                ..task.clone()
            };
            assert_eq!(
                from_graph(&Value::Object(to_graph(&t))).unwrap().status,
                status
            );
        }
    }

    #[test]
    fn reminders_in_a_windows_zone_are_instants() {
        let task = from_graph(&json!({
            "title": "t",
            "isReminderOn": true,
            "reminderDateTime": {"dateTime": "2026-07-01T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
            "dueDateTime": {"dateTime": "2026-07-02T00:00:00.0000000", "timeZone": "W. Europe Standard Time"},
        }))
        .unwrap();
        assert_eq!(
            task.reminder_at.unwrap().to_rfc3339(),
            "2026-07-01T07:00:00+00:00"
        );
        assert_eq!(task.due_date, NaiveDate::from_ymd_opt(2026, 7, 2));
    }

    #[test]
    fn patch_ignores_formatting() {
        let base = Task {
            subject: "Call".into(),
            description: Some("<html><body><p>Hello</p></body></html>".into()),
            ..Task::default()
        };
        let new = Task {
            description: Some("Hello".into()),
            priority: TaskPriority::High,
            ..base.clone()
        };
        let patch = patch(&new, Some(&base));
        assert_eq!(patch.keys().collect::<Vec<_>>(), vec!["importance"]);
    }
}

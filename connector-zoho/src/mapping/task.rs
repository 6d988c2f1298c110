//! Zoho `Tasks` record ⇄ canonical [`Task`].

use chrono::{NaiveDate, Utc};
use serde_json::{Map, Value, json};
use sync_model::{Task, TaskPriority, TaskStatus};

use super::{changed_fields, date_time, format_date_time, reminder, string};

/// The fields a Tasks read asks for.
pub const FIELDS: &[&str] = &[
    "Subject",
    "Description",
    "Due_Date",
    "Status",
    "Priority",
    "Closed_Time",
    "Remind_At",
    "Modified_Time",
];

/// Zoho's default Status picklist (admins may add values: unknown ones read as not started, and
/// are never overwritten unless the status really changes).
const STATUSES: [(&str, TaskStatus); 5] = [
    ("Not Started", TaskStatus::NotStarted),
    ("In Progress", TaskStatus::InProgress),
    ("Completed", TaskStatus::Completed),
    ("Waiting on someone else", TaskStatus::WaitingOnOthers),
    ("Deferred", TaskStatus::Deferred),
];

fn status(value: &str) -> TaskStatus {
    if let Some((_, s)) = STATUSES.iter().find(|(n, _)| n.eq_ignore_ascii_case(value)) {
        return *s;
    }
    let lower = value.to_lowercase();
    if lower.contains("complete") || lower.contains("closed") || lower.contains("done") {
        TaskStatus::Completed
    } else if lower.contains("progress") {
        TaskStatus::InProgress
    } else if lower.contains("wait") {
        TaskStatus::WaitingOnOthers
    } else if lower.contains("defer") {
        TaskStatus::Deferred
    } else {
        TaskStatus::NotStarted
    }
}

/// Zoho has five priorities, the canonical model three: the outer ones fold inwards.
fn priority(value: &str) -> TaskPriority {
    match value.to_ascii_lowercase().as_str() {
        "highest" | "high" => TaskPriority::High,
        "low" | "lowest" => TaskPriority::Low,
        _ => TaskPriority::Normal,
    }
}

pub fn from_zoho(value: &Value) -> Result<Task, String> {
    let obj = value.as_object().ok_or("a record must be a JSON object")?;
    let due_date = string(obj, "Due_Date")?
        .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| format!("Due_Date `{d}`")))
        .transpose()?;
    Ok(Task {
        subject: string(obj, "Subject")?.unwrap_or_default(),
        description: string(obj, "Description")?,
        due_date,
        status: string(obj, "Status")?.map_or(TaskStatus::NotStarted, |s| status(&s)),
        priority: string(obj, "Priority")?.map_or(TaskPriority::Normal, |p| priority(&p)),
        completed_at: date_time(obj, "Closed_Time")?.map(|t| t.with_timezone(&Utc)),
        reminder_at: reminder(obj.get("Remind_At"))?.map(|t| t.with_timezone(&Utc)),
    })
}

pub fn to_zoho(task: &Task) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("Subject".into(), json!(task.subject));
    map.insert("Description".into(), json!(task.description));
    map.insert(
        "Due_Date".into(),
        json!(task.due_date.map(|d| d.format("%Y-%m-%d").to_string())),
    );
    let status = STATUSES
        .iter()
        .find(|(_, s)| *s == task.status)
        .map_or("Not Started", |(n, _)| *n);
    map.insert("Status".into(), json!(status));
    let priority = match task.priority {
        TaskPriority::Low => "Low",
        TaskPriority::Normal => "Normal",
        TaskPriority::High => "High",
    };
    map.insert("Priority".into(), json!(priority));
    map.insert(
        "Remind_At".into(),
        task.reminder_at.map_or(Value::Null, |t| {
            json!({"ALARM": format!("FREQ=NONE;ACTION=POPUP;TRIGGER=DATE-TIME:{}", format_date_time(&t))})
        }),
    );
    map
}

/// Only the fields whose canonical value changed since `base`.
pub fn patch(task: &Task, base: Option<&Task>) -> Map<String, Value> {
    changed_fields(task, base, Task::normalised, to_zoho)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    #[test]
    fn parses_the_published_task() {
        let task = from_zoho(&payload("zoho_tasks_insert_request.json")["data"][0]).unwrap();
        assert_eq!(task.subject, "Meeting1");
        assert_eq!(task.status, TaskStatus::InProgress);
        assert_eq!(task.priority, TaskPriority::High);
        assert_eq!(task.due_date, NaiveDate::from_ymd_opt(2020, 5, 2));
        // The sample's ALARM lacks a `;` before ACTION; the trigger is still found.
        assert_eq!(
            task.reminder_at.unwrap().to_rfc3339(),
            "2020-05-01T05:30:00+00:00"
        );
    }

    #[test]
    fn round_trip_through_zoho_json_is_identity() {
        let task = Task {
            subject: "Angebot nachfassen – 見積".into(),
            description: Some("Zweite Zeile\nmit Ümlauten".into()),
            due_date: NaiveDate::from_ymd_opt(2026, 3, 29),
            status: TaskStatus::WaitingOnOthers,
            priority: TaskPriority::Low,
            completed_at: None,
            reminder_at: "2026-03-28T08:30:00Z".parse().ok(),
        };
        assert_eq!(from_zoho(&Value::Object(to_zoho(&task))).unwrap(), task);
    }

    #[test]
    fn custom_picklist_values_fold_into_the_canonical_ones() {
        assert_eq!(priority("Lowest"), TaskPriority::Low);
        assert_eq!(priority("Highest"), TaskPriority::High);
        assert_eq!(status("Completed - billed"), TaskStatus::Completed);
        assert_eq!(status("Planned"), TaskStatus::NotStarted);
    }

    #[test]
    fn patch_holds_only_changed_fields() {
        let base = Task {
            subject: "Call".into(),
            ..Task::default()
        };
        let new = Task {
            status: TaskStatus::Completed,
            ..base.clone()
        };
        assert_eq!(
            patch(&new, Some(&base)).keys().collect::<Vec<_>>(),
            vec!["Status"]
        );
    }
}

//! The canonical task: Microsoft To Do tasks and Zoho CRM Tasks.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::normalise;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    #[default]
    NotStarted,
    InProgress,
    Completed,
    WaitingOnOthers,
    Deferred,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskPriority {
    Low,
    #[default]
    Normal,
    High,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub subject: String,
    pub description: Option<String>,
    /// A date, not an instant: "due on the 3rd" stays the 3rd in every time zone.
    pub due_date: Option<NaiveDate>,
    pub status: TaskStatus,
    pub priority: TaskPriority,
    pub completed_at: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
}

impl Task {
    pub fn normalised(&self) -> Task {
        Task {
            subject: normalise::text(&Some(self.subject.clone())).unwrap_or_default(),
            description: normalise::body(&self.description),
            due_date: self.due_date,
            status: self.status,
            priority: self.priority,
            // Only the completion *date* survives both APIs (Zoho's Closed_Time has seconds,
            // To Do's completedDateTime is midnight in the user's zone).
            completed_at: None,
            reminder_at: self.reminder_at.map(truncate_to_minute),
        }
    }
}

pub(crate) fn truncate_to_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(60), 0).unwrap_or(t)
}

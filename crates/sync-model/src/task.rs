//! The canonical task: Microsoft To Do tasks and Zoho CRM Tasks.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::capacity::{self, zoho_length};
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
    /// What Zoho CRM holds of this task: its subject and description within Zoho's lengths.
    pub fn project_for_zoho(&self) -> Task {
        let mut t = self.clone();
        let mut subject = Some(std::mem::take(&mut t.subject));
        capacity::fit_in(&mut subject, zoho_length::SUBJECT);
        t.subject = subject.unwrap_or_default();
        capacity::fit_in(&mut t.description, zoho_length::DESCRIPTION);
        t
    }

    /// `self` was read from Zoho: a subject or description Zoho holds cut keeps its full text.
    pub fn refill_from_zoho(&mut self, base: &Task) {
        let mut subject = Some(std::mem::take(&mut self.subject));
        capacity::keep_long(
            &mut subject,
            &Some(base.subject.clone()),
            zoho_length::SUBJECT,
        );
        self.subject = subject.unwrap_or_default();
        capacity::keep_long(
            &mut self.description,
            &base.description,
            zoho_length::DESCRIPTION,
        );
    }

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

//! Seed tasks and events: To Do tasks and Zoho Tasks, Outlook events and Zoho Events, in many
//! languages, with all-day and recurring events, a share of them present on both sides with the
//! same title and times. Dates are relative to an anchor day (the seeding day unless given), so
//! the same seed and anchor give the same data.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::graph::tz;

/// (title, notes)
const TASK_TITLES: &[(&str, &str)] = &[
    ("見積書を送付する", "先方の購買部へPDFで送付。"),
    ("契約更新の確認", "更新条件を法務と確認する。"),
    ("Rückruf bei Frau Müller", "Wegen der Lieferverzögerung."),
    ("Angebot überarbeiten", "Rabattstaffel anpassen."),
    (
        "Préparer la réunion trimestrielle",
        "Chiffres du T3 à consolider.",
    ),
    ("Relancer Hélène pour la facture", ""),
    ("Llamar a José Núñez", "Confirmar la visita a la fábrica."),
    ("Enviar presupuesto revisado", ""),
    ("Ring Bjørn om kontrakten", "Han vil ha ny pris før fredag."),
    ("Zaktualizować umowę z Łódź Logistics", ""),
    ("跟进合同签署", "确认盖章版本。"),
    ("고객 미팅 자료 준비", ""),
    ("Follow up on the Q3 renewal", "Ask about the seat count."),
    ("Send the onboarding checklist", ""),
];

/// (subject, venue)
const EVENT_TITLES: &[(&str, &str)] = &[
    ("週次定例ミーティング", "本社 3F 会議室"),
    ("顧客訪問：株式会社ノースウィンド", "大阪市北区梅田"),
    ("Kundentermin bei Fabrikam", "Königsallee 12, Düsseldorf"),
    ("Déjeuner d'équipe", "Café de Flore, Paris"),
    ("Revisión trimestral de ventas", "Sala Alcalá"),
    ("Sprint-planlegging", "Møterom Fjord"),
    ("项目启动会", "上海 南京东路会议中心"),
    ("주간 영업 회의", "서울 본사"),
    ("Board meeting", "Contoso HQ, Redmond"),
    ("Product demo for Zylker", "Teams"),
];

/// Zones seed events are scheduled in (Windows names, as Outlook clients send them).
const ZONES: &[&str] = &[
    "Tokyo Standard Time",
    "W. Europe Standard Time",
    "Romance Standard Time",
    "GMT Standard Time",
    "Pacific Standard Time",
    "Eastern Standard Time",
    "UTC",
];

/// (To Do status, Zoho status)
const STATUSES: &[(&str, &str)] = &[
    ("notStarted", "Not Started"),
    ("notStarted", "Not Started"),
    ("inProgress", "In Progress"),
    ("completed", "Completed"),
    ("waitingOnOthers", "Waiting on someone else"),
    ("deferred", "Deferred"),
];

/// (To Do importance, Zoho priority)
const IMPORTANCES: &[(&str, &str)] = &[("low", "Low"), ("normal", "Normal"), ("high", "High")];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items.choose(rng).unwrap_or(&items[0])
}

/// One generated task, rendered for either side.
#[derive(Debug, Clone)]
pub struct SeedTask {
    pub title: String,
    notes: String,
    status: (&'static str, &'static str),
    importance: (&'static str, &'static str),
    due: Option<NaiveDate>,
}

impl SeedTask {
    /// A To Do task body.
    pub fn outlook(&self) -> Value {
        let mut task = json!({
            "title": self.title,
            "status": self.status.0,
            "importance": self.importance.0,
            "body": {"content": self.notes, "contentType": "text"},
        });
        if let Some(due) = self.due {
            task["dueDateTime"] = json!({"dateTime": format!("{due}T00:00:00"), "timeZone": "UTC"});
        }
        task
    }

    /// A Zoho Tasks record.
    pub fn zoho(&self) -> Value {
        let mut record = json!({
            "Subject": self.title,
            "Status": self.status.1,
            "Priority": self.importance.1,
            "Description": self.notes,
        });
        if let Some(due) = self.due {
            record["Due_Date"] = json!(due.to_string());
        }
        record
    }
}

#[derive(Debug, Clone, Copy)]
enum Repeat {
    Weekly(Weekday, u32),
    Daily(u32),
    Monthly(u32, u32),
}

/// One generated event, rendered for either side.
#[derive(Debug, Clone)]
pub struct SeedEvent {
    pub subject: String,
    venue: String,
    zone: &'static str,
    start: NaiveDateTime,
    end: NaiveDateTime,
    all_day: bool,
    repeat: Option<Repeat>,
}

fn weekday_name(day: Weekday) -> (&'static str, &'static str) {
    match day {
        Weekday::Mon => ("monday", "MO"),
        Weekday::Tue => ("tuesday", "TU"),
        Weekday::Wed => ("wednesday", "WE"),
        Weekday::Thu => ("thursday", "TH"),
        Weekday::Fri => ("friday", "FR"),
        Weekday::Sat => ("saturday", "SA"),
        Weekday::Sun => ("sunday", "SU"),
    }
}

impl SeedEvent {
    #[cfg(test)]
    pub fn is_all_day(&self) -> bool {
        self.all_day
    }

    #[cfg(test)]
    pub fn is_recurring(&self) -> bool {
        self.repeat.is_some()
    }

    /// A Graph event body.
    pub fn outlook(&self) -> Value {
        let local = |t: NaiveDateTime| t.format("%Y-%m-%dT%H:%M:%S").to_string();
        let mut event = json!({
            "subject": self.subject,
            "isAllDay": self.all_day,
            "start": {"dateTime": local(self.start), "timeZone": self.zone},
            "end": {"dateTime": local(self.end), "timeZone": self.zone},
            "location": {"displayName": self.venue},
            "body": {"contentType": "text", "content": ""},
        });
        let start_date = self.start.date().to_string();
        match self.repeat {
            None => {}
            Some(Repeat::Weekly(day, weeks)) => {
                let end = self.start.date() + Duration::weeks(i64::from(weeks) - 1);
                event["recurrence"] = json!({
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [weekday_name(day).0]},
                    "range": {"type": "endDate", "startDate": start_date, "endDate": end.to_string()},
                });
            }
            Some(Repeat::Daily(count)) => {
                event["recurrence"] = json!({
                    "pattern": {"type": "daily", "interval": 1},
                    "range": {"type": "numbered", "startDate": start_date, "numberOfOccurrences": count},
                });
            }
            Some(Repeat::Monthly(day, count)) => {
                event["recurrence"] = json!({
                    "pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": day},
                    "range": {"type": "numbered", "startDate": start_date, "numberOfOccurrences": count},
                });
            }
        }
        event
    }

    /// A Zoho Events record: the same instants, written with the zone's offset. An all-day event
    /// is the same dates, which Zoho keeps as midnight in its user's zone (`user_zone`).
    pub fn zoho(&self, user_zone: chrono_tz::Tz) -> Value {
        let event_zone = tz::zone(self.zone).unwrap_or(chrono_tz::Tz::UTC);
        let zone = if self.all_day { user_zone } else { event_zone };
        let with_offset = |local: NaiveDateTime| {
            let instant = tz::to_utc(local, zone);
            instant
                .with_timezone(&zone)
                .format("%Y-%m-%dT%H:%M:%S%:z")
                .to_string()
        };
        let mut record = json!({
            "Event_Title": self.subject,
            "Start_DateTime": with_offset(self.start),
            "End_DateTime": with_offset(self.end),
            "All_day": self.all_day,
            "Venue": self.venue,
        });
        let start = self.start.date();
        let rule = match self.repeat {
            None => None,
            Some(Repeat::Weekly(day, weeks)) => Some(format!(
                "FREQ=WEEKLY;INTERVAL=1;BYDAY={};DTSTART={start};UNTIL={}",
                weekday_name(day).1,
                start + Duration::weeks(i64::from(weeks) - 1)
            )),
            Some(Repeat::Daily(count)) => Some(format!(
                "FREQ=DAILY;INTERVAL=1;DTSTART={start};COUNT={count}"
            )),
            Some(Repeat::Monthly(day, count)) => Some(format!(
                "FREQ=MONTHLY;INTERVAL=1;BYMONTHDAY={day};DTSTART={start};COUNT={count}"
            )),
        };
        if let Some(rule) = rule {
            record["Recurring_Activity"] = json!({"RRULE": rule});
        }
        record
    }
}

fn unique(title: &str, used: &mut std::collections::HashSet<String>) -> String {
    let mut candidate = title.to_owned();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{title} ({n})");
        n += 1;
    }
    candidate
}

fn task(
    rng: &mut StdRng,
    anchor: NaiveDate,
    used: &mut std::collections::HashSet<String>,
) -> SeedTask {
    let (title, notes) = *pick(rng, TASK_TITLES);
    let due = rng
        .random_bool(0.8)
        .then(|| anchor + Duration::days(rng.random_range(-10..60)));
    SeedTask {
        title: unique(title, used),
        notes: notes.to_owned(),
        status: *pick(rng, STATUSES),
        importance: *pick(rng, IMPORTANCES),
        due,
    }
}

fn event(
    rng: &mut StdRng,
    anchor: NaiveDate,
    used: &mut std::collections::HashSet<String>,
) -> SeedEvent {
    let (subject, venue) = *pick(rng, EVENT_TITLES);
    let zone = *pick(rng, ZONES);
    let day = anchor + Duration::days(rng.random_range(-14..60));
    let roll: f64 = rng.random();
    let subject = unique(subject, used);
    if roll < 0.15 {
        let days = rng.random_range(1..=3);
        return SeedEvent {
            subject,
            venue: venue.to_owned(),
            zone,
            start: day.and_time(NaiveTime::MIN),
            end: (day + Duration::days(days)).and_time(NaiveTime::MIN),
            all_day: true,
            repeat: None,
        };
    }
    let hour = rng.random_range(8..18);
    let minutes = *pick(rng, &[30i64, 60, 60, 90]);
    let start = day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
    let repeat = (roll > 0.8).then(|| match rng.random_range(0..3) {
        0 => Repeat::Weekly(day.weekday(), rng.random_range(4..12)),
        1 => Repeat::Daily(rng.random_range(3..10)),
        _ => Repeat::Monthly(day.day().min(28), rng.random_range(3..7)),
    });
    SeedEvent {
        subject,
        venue: venue.to_owned(),
        zone,
        start,
        end: start + Duration::minutes(minutes),
        all_day: false,
        repeat,
    }
}

/// `count` tasks per side, the first `shared` on both.
pub fn tasks(
    seed: u64,
    anchor: NaiveDate,
    count: usize,
    shared: usize,
) -> (Vec<SeedTask>, Vec<SeedTask>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7461_736b);
    let mut used = std::collections::HashSet::new();
    let both: Vec<SeedTask> = (0..shared)
        .map(|_| task(&mut rng, anchor, &mut used))
        .collect();
    let mut outlook = both.clone();
    outlook.extend((shared..count).map(|_| task(&mut rng, anchor, &mut used)));
    let mut zoho = both;
    zoho.extend((shared..count).map(|_| task(&mut rng, anchor, &mut used)));
    (outlook, zoho)
}

/// `count` events per side, the first `shared` on both.
pub fn events(
    seed: u64,
    anchor: NaiveDate,
    count: usize,
    shared: usize,
) -> (Vec<SeedEvent>, Vec<SeedEvent>) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6576_656e_7473);
    let mut used = std::collections::HashSet::new();
    let both: Vec<SeedEvent> = (0..shared)
        .map(|_| event(&mut rng, anchor, &mut used))
        .collect();
    let mut outlook = both.clone();
    outlook.extend((shared..count).map(|_| event(&mut rng, anchor, &mut used)));
    let mut zoho = both;
    zoho.extend((shared..count).map(|_| event(&mut rng, anchor, &mut used)));
    (outlook, zoho)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::calendar::event as graph_event;
    use crate::zoho::modules;

    #[test]
    fn generated_activities_pass_both_apis_validation() {
        let anchor = NaiveDate::from_ymd_opt(2024, 3, 1).expect("date");
        let (outlook, zoho) = tasks(3, anchor, 300, 60);
        assert_eq!(
            outlook[..60].iter().map(|t| &t.title).collect::<Vec<_>>(),
            zoho[..60].iter().map(|t| &t.title).collect::<Vec<_>>()
        );
        for (index, task) in zoho.iter().enumerate() {
            let record = task.zoho();
            modules::check_record(
                &modules::TASKS,
                record.as_object().expect("object"),
                index,
                true,
            )
            .expect("valid Zoho task");
        }
        let (outlook_events, zoho_events) = events(3, anchor, 300, 60);
        assert!(outlook_events.iter().any(SeedEvent::is_all_day));
        assert!(outlook_events.iter().any(SeedEvent::is_recurring));
        assert!(outlook_events.iter().any(|e| !e.subject.is_ascii()));
        for event in &outlook_events {
            let changes = graph_event::parse(&event.outlook()).expect("valid Graph event");
            graph_event::create("c", changes, crate::time::now()).expect("valid times");
        }
        for (index, event) in zoho_events.iter().enumerate() {
            let record = event.zoho(chrono_tz::Tz::UTC);
            modules::check_record(
                &modules::EVENTS,
                record.as_object().expect("object"),
                index,
                true,
            )
            .expect("valid Zoho event");
        }
        let _ = outlook;
    }
}

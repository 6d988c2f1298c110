//! The event entity (api-reference 1.3): what is stored, how a write body is checked and
//! applied, how series expand into instances, and how an event or instance is rendered.
//!
//! Storage: single instances, series masters and exceptions are [`Event`]s. An occurrence is not
//! stored: it is a date of its master's pattern (in the master's start zone), with an id that
//! encodes the master id and that date. Cancelling an occurrence records its date on the master;
//! changing one stores an exception under the occurrence's id.
//!
//! All-day events are floating dates: their `start`/`end` read as midnight of the same dates in
//! whatever zone the answer is in, and they meet a window as if those dates were UTC.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::graph::error::GraphError;
use crate::graph::recurrence::{self, Rule};
use crate::graph::todo::time_zone_not_supported;
use crate::graph::tz;
use crate::{ids, time};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Single,
    Master,
    Exception,
}

/// A local date-time and the zone it was given in (Windows or IANA name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    pub local: NaiveDateTime,
    pub zone: String,
}

impl Moment {
    fn tz(&self) -> Tz {
        tz::zone(&self.zone).unwrap_or(Tz::UTC)
    }

    /// The instant; all-day moments are floating and read as UTC.
    pub fn instant(&self, all_day: bool) -> DateTime<Utc> {
        if all_day {
            self.local.and_utc()
        } else {
            tz::to_utc(self.local, self.tz())
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub calendar_id: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub change_key: String,
    pub ical_uid: String,
    pub kind: Kind,
    /// Exceptions: their master and the original date of the occurrence they replace.
    pub master_id: Option<String>,
    pub original_date: Option<NaiveDate>,
    pub start: Moment,
    pub end: Moment,
    pub all_day: bool,
    /// Masters: the normalised `patternedRecurrence`.
    pub recurrence: Option<Value>,
    /// Masters: dates of cancelled occurrences, and dates replaced by exceptions (→ their id).
    pub cancelled: BTreeSet<NaiveDate>,
    pub exceptions: BTreeMap<NaiveDate, String>,
    /// The other writable properties that have been set.
    pub props: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarFolder {
    pub id: String,
    pub name: String,
    pub change_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Category {
    pub id: String,
    pub display_name: String,
    pub color: String,
}

/// The calendars, events and master categories of one mailbox, with the calendar-view sync
/// states (see `sync`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarStore {
    pub calendars: Vec<CalendarFolder>,
    pub default_id: String,
    pub events: HashMap<String, Event>,
    pub categories: Vec<Category>,
    /// Not kept in snapshots: a restored mailbox answers old calendar tokens 410.
    #[serde(skip)]
    pub syncs: BTreeMap<u64, super::sync::SyncState>,
    pub next_sync: u64,
}

/// The categories every new mailbox has (graph_master_categories.json).
const DEFAULT_CATEGORIES: &[(&str, &str)] = &[
    ("Red category", "preset0"),
    ("Orange category", "preset1"),
    ("Yellow category", "preset3"),
    ("Green category", "preset4"),
    ("Blue category", "preset7"),
    ("Purple category", "preset8"),
];

impl Default for CalendarStore {
    fn default() -> Self {
        let default = CalendarFolder {
            id: ids::graph_id(),
            name: "Calendar".to_owned(),
            change_key: ids::change_key(),
        };
        CalendarStore {
            default_id: default.id.clone(),
            calendars: vec![default],
            events: HashMap::new(),
            categories: DEFAULT_CATEGORIES
                .iter()
                .map(|(name, color)| Category {
                    id: uuid::Uuid::new_v4().to_string(),
                    display_name: (*name).to_owned(),
                    color: (*color).to_owned(),
                })
                .collect(),
            syncs: BTreeMap::new(),
            next_sync: 1,
        }
    }
}

const OCCURRENCE_PREFIX: &str = "AAMkAOcc";

/// The id of the occurrence of `master_id` originally on `date`.
pub fn occurrence_id(master_id: &str, date: NaiveDate) -> String {
    format!(
        "{OCCURRENCE_PREFIX}{}",
        ids::b64(format!("{master_id}|{}", date.format("%Y%m%d")).as_bytes())
    )
}

/// The master and original date an occurrence id stands for.
pub fn parse_occurrence_id(id: &str) -> Option<(String, NaiveDate)> {
    let raw = ids::unb64(id.strip_prefix(OCCURRENCE_PREFIX)?)?;
    let text = String::from_utf8(raw).ok()?;
    let (master, date) = text.rsplit_once('|')?;
    Some((
        master.to_owned(),
        NaiveDate::parse_from_str(date, "%Y%m%d").ok()?,
    ))
}

/// The kinds of instance a view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceKind {
    Single,
    Occurrence,
    Exception,
}

/// A single instance, occurrence or exception, placed in time.
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    pub id: String,
    pub kind: InstanceKind,
    /// The single event, the exception, or (occurrences) the master.
    pub event: &'a Event,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Occurrences and exceptions: the start the pattern gave them.
    pub original_start: Option<DateTime<Utc>>,
    pub original_date: Option<NaiveDate>,
}

impl Instance<'_> {
    /// What changes whenever the instance changes (delta compares it).
    pub fn version(&self) -> String {
        self.event.change_key.clone()
    }

    fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        if self.start == self.end {
            self.start >= from && self.start < to
        } else {
            self.start < to && self.end > from
        }
    }
}

impl Event {
    pub fn rule(&self) -> Option<Rule> {
        self.recurrence.as_ref().and_then(Rule::from_value)
    }

    fn duration(&self) -> Duration {
        self.end.instant(self.all_day) - self.start.instant(self.all_day)
    }

    /// Start and end of the occurrence on `date` (the pattern's date, in the series zone).
    pub fn occurrence_times(&self, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let local = date.and_time(self.start.local.time());
        let start = if self.all_day {
            local.and_utc()
        } else {
            tz::to_utc(local, self.start.tz())
        };
        (start, start + self.duration())
    }

    /// This event as an instance (single events and exceptions).
    pub fn as_instance(&self) -> Instance<'_> {
        let original_start = self.original_date.map(|d| self.original_start_of(d));
        Instance {
            id: self.id.clone(),
            kind: if self.kind == Kind::Exception {
                InstanceKind::Exception
            } else {
                InstanceKind::Single
            },
            event: self,
            start: self.start.instant(self.all_day),
            end: self.end.instant(self.all_day),
            original_start,
            original_date: self.original_date,
        }
    }

    fn original_start_of(&self, date: NaiveDate) -> DateTime<Utc> {
        // Exceptions keep the master's time of day in `original_time`.
        let time = self
            .props
            .get("@original_time")
            .and_then(Value::as_str)
            .and_then(|t| NaiveTime::parse_from_str(t, "%H:%M:%S").ok())
            .unwrap_or_else(|| self.start.local.time());
        let local = date.and_time(time);
        if self.all_day {
            local.and_utc()
        } else {
            tz::to_utc(local, self.start.tz())
        }
    }

    /// The occurrence of this master on `date`, if the pattern has it and it is not cancelled
    /// or replaced by an exception.
    pub fn occurrence(&self, date: NaiveDate) -> Option<Instance<'_>> {
        if self.kind != Kind::Master
            || self.cancelled.contains(&date)
            || self.exceptions.contains_key(&date)
            || !self.rule()?.occurs_on(date)
        {
            return None;
        }
        let (start, end) = self.occurrence_times(date);
        Some(Instance {
            id: occurrence_id(&self.id, date),
            kind: InstanceKind::Occurrence,
            event: self,
            start,
            end,
            original_start: Some(start),
            original_date: Some(date),
        })
    }

    /// Whether the pattern has `date` at all (cancelled or replaced ones included).
    pub fn has_date(&self, date: NaiveDate) -> bool {
        self.kind == Kind::Master && self.rule().is_some_and(|r| r.occurs_on(date))
    }

    /// The occurrences of this master meeting `from..to`.
    pub fn occurrences(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Instance<'_>> {
        let Some(rule) = self.rule() else {
            return Vec::new();
        };
        // Dates in the series zone that can meet the window, with a margin for the zone
        // offset and the event's length.
        let margin = Duration::days(2) + self.duration().max(Duration::zero());
        let first = (from - margin).date_naive();
        let last = (to + Duration::days(2)).date_naive();
        rule.dates(first, last)
            .into_iter()
            .filter_map(|date| self.occurrence(date))
            .filter(|i| i.overlaps(from, to))
            .collect()
    }
}

/// Every instance of `calendar_id` meeting `from..to`: single events, occurrences and
/// exceptions, never series masters; by start, then id.
pub fn view<'a>(
    store: &'a CalendarStore,
    calendar_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Instance<'a>> {
    let mut found = Vec::new();
    for event in store
        .events
        .values()
        .filter(|e| e.calendar_id == calendar_id)
    {
        match event.kind {
            Kind::Master => found.extend(event.occurrences(from, to)),
            Kind::Single | Kind::Exception => {
                let instance = event.as_instance();
                if instance.overlaps(from, to) {
                    found.push(instance);
                }
            }
        }
    }
    found.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    found
}

/// The occurrences and exceptions of one master meeting `from..to`, by start.
pub fn instances_of<'a>(
    store: &'a CalendarStore,
    master: &'a Event,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Instance<'a>> {
    let mut found = master.occurrences(from, to);
    for id in master.exceptions.values() {
        if let Some(exception) = store.events.get(id) {
            let instance = exception.as_instance();
            if instance.overlaps(from, to) {
                found.push(instance);
            }
        }
    }
    found.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
    found
}

/// Finds what an id names: a stored event, or an occurrence of a stored master.
pub fn locate<'a>(store: &'a CalendarStore, id: &str) -> Option<Instance<'a>> {
    if let Some(event) = store.events.get(id) {
        return Some(match event.kind {
            Kind::Master => Instance {
                id: event.id.clone(),
                kind: InstanceKind::Single,
                event,
                start: event.start.instant(event.all_day),
                end: event.end.instant(event.all_day),
                original_start: None,
                original_date: None,
            },
            _ => event.as_instance(),
        });
    }
    let (master_id, date) = parse_occurrence_id(id)?;
    store.events.get(&master_id)?.occurrence(date)
}

// ---------------------------------------------------------------------------------------------
// Writes

const SHOW_AS: &[&str] = &[
    "free",
    "tentative",
    "busy",
    "oof",
    "workingElsewhere",
    "unknown",
];
const IMPORTANCE: &[&str] = &["low", "normal", "high"];
const SENSITIVITY: &[&str] = &["normal", "personal", "private", "confidential"];
const ATTENDEE_TYPES: &[&str] = &["required", "optional", "resource"];
const RESPONSES: &[&str] = &[
    "none",
    "organizer",
    "tentativelyAccepted",
    "accepted",
    "declined",
    "notResponded",
];
const PROVIDERS: &[&str] = &[
    "unknown",
    "teamsForBusiness",
    "skypeForBusiness",
    "skypeForConsumer",
];
/// Server-set properties: accepted and ignored in write bodies.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "iCalUId",
    "uid",
    "type",
    "seriesMasterId",
    "originalStart",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "organizer",
    "webLink",
    "isOrganizer",
    "isCancelled",
    "responseStatus",
    "bodyPreview",
    "hasAttachments",
    "onlineMeeting",
    "onlineMeetingUrl",
    "cancelledOccurrences",
    "isDraft",
    "occurrenceId",
];
/// The single event or series master created with `transaction_id` (exceptions copy their
/// master's properties and are not creates).
pub fn by_transaction_id<'a>(store: &'a CalendarStore, transaction_id: &str) -> Option<&'a Event> {
    store.events.values().find(|e| {
        e.kind != Kind::Exception
            && e.props.get("transactionId").and_then(Value::as_str) == Some(transaction_id)
    })
}

/// Every property an event has, for `$select`.
pub const PROPERTIES: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "transactionId",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "iCalUId",
    "reminderMinutesBeforeStart",
    "isReminderOn",
    "hasAttachments",
    "subject",
    "bodyPreview",
    "importance",
    "sensitivity",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "responseRequested",
    "seriesMasterId",
    "showAs",
    "type",
    "webLink",
    "onlineMeetingUrl",
    "isOnlineMeeting",
    "onlineMeetingProvider",
    "allowNewTimeProposals",
    "isDraft",
    "hideAttendees",
    "responseStatus",
    "body",
    "start",
    "end",
    "location",
    "locations",
    "recurrence",
    "attendees",
    "organizer",
    "onlineMeeting",
    "originalStart",
    // Rendered only when selected on a GET of a series master by id (see
    // [`cancelled_occurrences`]).
    "cancelledOccurrences",
];

fn expected(name: &str, type_name: &str, value: &Value) -> GraphError {
    GraphError::body_read(format!(
        "Cannot convert the literal '{value}' to the expected type '{type_name}' of property \
         '{name}'."
    ))
}

fn no_such_property(name: &str, type_name: &str) -> GraphError {
    GraphError::body_read(format!(
        "The property '{name}' does not exist on type '{type_name}'. Make sure to only use \
         property names that are defined by the type or mark the type as open type."
    ))
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "ErrorInvalidRequest",
        message,
    )
}

fn enum_value(name: &str, value: &Value, allowed: &[&str]) -> Result<Value, GraphError> {
    let raw = value
        .as_str()
        .ok_or_else(|| expected(name, "Edm.String", value))?;
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(raw))
        .map(|a| json!(a))
        .ok_or_else(|| GraphError::body_read(format!("Requested value '{raw}' was not found.")))
}

fn moment(name: &str, value: &Value) -> Result<Moment, GraphError> {
    let Value::Object(parts) = value else {
        return Err(expected(name, "microsoft.graph.dateTimeTimeZone", value));
    };
    for key in parts.keys() {
        if !matches!(key.as_str(), "dateTime" | "timeZone") && !key.starts_with('@') {
            return Err(no_such_property(key, "microsoft.graph.dateTimeTimeZone"));
        }
    }
    let raw = parts
        .get("dateTime")
        .and_then(Value::as_str)
        .ok_or_else(|| expected(name, "microsoft.graph.dateTimeTimeZone", value))?;
    let zone_name = parts
        .get("timeZone")
        .and_then(Value::as_str)
        .unwrap_or("UTC")
        .trim()
        .to_owned();
    let zone = tz::zone(&zone_name).ok_or_else(|| time_zone_not_supported(&zone_name))?;
    let (local, absolute) = tz::parse_local(raw).ok_or_else(|| {
        GraphError::body_read(format!(
            "Cannot convert the literal '{raw}' to the expected type 'Edm.String' of property \
             'dateTime'."
        ))
    })?;
    // A value with an offset is that instant, shown in the zone given.
    let local = if absolute {
        tz::to_local(local.and_utc(), zone)
    } else {
        local
    };
    Ok(Moment {
        local,
        zone: zone_name,
    })
}

fn string(name: &str, value: &Value) -> Result<Value, GraphError> {
    match value {
        Value::String(_) => Ok(value.clone()),
        other => Err(expected(name, "Edm.String", other)),
    }
}

fn email_address(value: &Value) -> Result<Value, GraphError> {
    let Value::Object(parts) = value else {
        return Err(expected(
            "emailAddress",
            "microsoft.graph.emailAddress",
            value,
        ));
    };
    let mut address = Value::Null;
    let mut name = Value::Null;
    for (key, part) in parts {
        match key.as_str() {
            "address" => address = string(key, part)?,
            "name" => name = string(key, part)?,
            k if k.starts_with('@') => {}
            other => return Err(no_such_property(other, "microsoft.graph.emailAddress")),
        }
    }
    if name.is_null() {
        name = address.clone();
    }
    Ok(json!({"name": name, "address": address}))
}

fn attendees(value: &Value) -> Result<Value, GraphError> {
    let Value::Array(items) = value else {
        return Err(expected(
            "attendees",
            "Collection(microsoft.graph.attendee)",
            value,
        ));
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Object(parts) = item else {
            return Err(expected("attendees", "microsoft.graph.attendee", item));
        };
        let mut kind = json!("required");
        let mut status = json!({"response": "none", "time": "0001-01-01T00:00:00Z"});
        let mut address = Value::Null;
        for (key, part) in parts {
            match key.as_str() {
                "type" => kind = enum_value(key, part, ATTENDEE_TYPES)?,
                "status" => {
                    if let Some(response) = part.get("response") {
                        status["response"] = enum_value("response", response, RESPONSES)?;
                    }
                    if let Some(time) = part.get("time").and_then(Value::as_str) {
                        status["time"] = json!(time);
                    }
                }
                "emailAddress" => address = email_address(part)?,
                k if k.starts_with('@') => {}
                other => return Err(no_such_property(other, "microsoft.graph.attendee")),
            }
        }
        if address.is_null() {
            return Err(invalid("An attendee requires an emailAddress."));
        }
        out.push(json!({"type": kind, "status": status, "emailAddress": address}));
    }
    Ok(Value::Array(out))
}

fn location(name: &str, value: &Value) -> Result<Value, GraphError> {
    let Value::Object(parts) = value else {
        return Err(expected(name, "microsoft.graph.location", value));
    };
    let mut out = Map::new();
    for (key, part) in parts {
        match key.as_str() {
            "displayName" | "locationEmailAddress" | "locationUri" | "uniqueId" => {
                out.insert(key.clone(), string(key, part)?);
            }
            "locationType" => {
                out.insert(
                    key.clone(),
                    enum_value(
                        key,
                        part,
                        &[
                            "default",
                            "conferenceRoom",
                            "homeAddress",
                            "businessAddress",
                            "geoCoordinates",
                            "streetAddress",
                            "hotel",
                            "restaurant",
                            "localBusiness",
                            "postalAddress",
                        ],
                    )?,
                );
            }
            "uniqueIdType" => {
                out.insert(
                    key.clone(),
                    enum_value(
                        key,
                        part,
                        &["unknown", "locationStore", "directory", "private", "bing"],
                    )?,
                );
            }
            "address" | "coordinates" if part.is_object() => {
                out.insert(key.clone(), part.clone());
            }
            k if k.starts_with('@') => {}
            other => return Err(no_such_property(other, "microsoft.graph.location")),
        }
    }
    out.entry("locationType").or_insert(json!("default"));
    out.entry("uniqueIdType").or_insert(json!("unknown"));
    Ok(Value::Object(out))
}

/// A checked event write body.
#[derive(Debug, Default)]
pub struct Changes {
    pub props: Map<String, Value>,
    pub start: Option<Moment>,
    pub end: Option<Moment>,
    pub all_day: Option<bool>,
    /// `Some(None)`: `"recurrence": null` (the series becomes a single event).
    pub recurrence: Option<Option<Value>>,
}

impl Changes {
    /// Whether the change moves the event in time or changes its pattern.
    pub fn reschedules(&self) -> bool {
        self.start.is_some()
            || self.end.is_some()
            || self.all_day.is_some()
            || self.recurrence.is_some()
    }
}

pub fn parse(body: &Value) -> Result<Changes, GraphError> {
    let Value::Object(fields) = body else {
        return Err(GraphError::body_read(
            "A node of type 'PrimitiveValue' was read from the JSON reader when trying to read \
             the start of an entry. A 'StartObject' node was expected.",
        ));
    };
    let mut changes = Changes::default();
    for (name, value) in fields {
        if name.starts_with('@') || READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        let normalised = match name.as_str() {
            "start" => {
                changes.start = Some(moment(name, value)?);
                continue;
            }
            "end" => {
                changes.end = Some(moment(name, value)?);
                continue;
            }
            "isAllDay" => {
                changes.all_day = Some(
                    value
                        .as_bool()
                        .ok_or_else(|| expected(name, "Edm.Boolean", value))?,
                );
                continue;
            }
            "recurrence" => {
                changes.recurrence = Some(match value {
                    Value::Null => None,
                    other => Some(recurrence::parse(other)?),
                });
                continue;
            }
            _ if value.is_null() => Value::Null,
            "subject" | "transactionId" => string(name, value)?,
            "body" => {
                let Value::Object(parts) = value else {
                    return Err(expected(name, "microsoft.graph.itemBody", value));
                };
                let mut content = json!("");
                let mut content_type = json!("html");
                for (key, part) in parts {
                    match key.as_str() {
                        "content" => content = string(key, part)?,
                        "contentType" => content_type = enum_value(key, part, &["text", "html"])?,
                        k if k.starts_with('@') => {}
                        other => return Err(no_such_property(other, "microsoft.graph.itemBody")),
                    }
                }
                json!({"contentType": content_type, "content": content})
            }
            "categories" => match value {
                Value::Array(items) if items.iter().all(Value::is_string) => value.clone(),
                _ => return Err(expected(name, "Collection(Edm.String)", value)),
            },
            "attendees" => attendees(value)?,
            "location" => location(name, value)?,
            "locations" => match value {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|l| location(name, l))
                        .collect::<Result<_, _>>()?,
                ),
                _ => {
                    return Err(expected(
                        name,
                        "Collection(microsoft.graph.location)",
                        value,
                    ));
                }
            },
            "showAs" => enum_value(name, value, SHOW_AS)?,
            "importance" => enum_value(name, value, IMPORTANCE)?,
            "sensitivity" => enum_value(name, value, SENSITIVITY)?,
            "onlineMeetingProvider" => enum_value(name, value, PROVIDERS)?,
            "reminderMinutesBeforeStart" => json!(value.as_i64().ok_or_else(|| expected(
                name,
                "Edm.Int32",
                value
            ))?),
            "isReminderOn"
            | "responseRequested"
            | "allowNewTimeProposals"
            | "hideAttendees"
            | "isOnlineMeeting" => json!(value.as_bool().ok_or_else(|| expected(
                name,
                "Edm.Boolean",
                value
            ))?),
            other => return Err(no_such_property(other, "microsoft.graph.event")),
        };
        changes.props.insert(name.clone(), normalised);
    }
    Ok(changes)
}

fn midnight(moment: &Moment) -> bool {
    moment.local.time() == NaiveTime::MIN
}

/// Checks the time fields of an event as they will be after a write.
pub fn check_times(start: &Moment, end: &Moment, all_day: bool) -> Result<(), GraphError> {
    if all_day {
        if !midnight(start) || !midnight(end) || end.local <= start.local {
            return Err(invalid(
                "For an all-day event, start and end must be at midnight and the end must be \
                 after the start.",
            ));
        }
    } else if end.instant(false) < start.instant(false) {
        return Err(invalid("The end of the event is before its start."));
    }
    Ok(())
}

/// A new event from a create body.
pub fn create(
    calendar_id: &str,
    changes: Changes,
    now: DateTime<Utc>,
) -> Result<Event, GraphError> {
    let (Some(start), Some(end)) = (changes.start, changes.end) else {
        return Err(invalid("An event requires start and end."));
    };
    let all_day = changes.all_day.unwrap_or(false);
    check_times(&start, &end, all_day)?;
    let recurrence = changes
        .recurrence
        .flatten()
        .map(|r| with_zone(r, &start.zone));
    let mut props = Map::new();
    for (name, value) in changes.props {
        if !value.is_null() {
            props.insert(name, value);
        }
    }
    Ok(Event {
        id: ids::graph_id(),
        calendar_id: calendar_id.to_owned(),
        created: now,
        modified: now,
        change_key: ids::change_key(),
        ical_uid: format!(
            "040000008200E00074C5B7101A82E00800000000{}",
            ids::hex(36).to_uppercase()
        ),
        kind: if recurrence.is_some() {
            Kind::Master
        } else {
            Kind::Single
        },
        master_id: None,
        original_date: None,
        start,
        end,
        all_day,
        recurrence,
        cancelled: BTreeSet::new(),
        exceptions: BTreeMap::new(),
        props,
    })
}

/// Fills an empty `recurrenceTimeZone` with the event's start zone.
fn with_zone(mut recurrence: Value, zone: &str) -> Value {
    if recurrence["range"]["recurrenceTimeZone"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        recurrence["range"]["recurrenceTimeZone"] = json!(zone);
    }
    recurrence
}

/// Applies a checked update to an event (master, single or exception). A master whose times or
/// pattern change loses its exceptions and cancellations, as Outlook resets them; their ids are
/// returned so the caller can drop the exception events.
pub fn apply(
    event: &mut Event,
    changes: Changes,
    now: DateTime<Utc>,
) -> Result<Vec<String>, GraphError> {
    let start = changes.start.clone().unwrap_or_else(|| event.start.clone());
    let end = changes.end.clone().unwrap_or_else(|| event.end.clone());
    let all_day = changes.all_day.unwrap_or(event.all_day);
    check_times(&start, &end, all_day)?;
    if event.kind == Kind::Exception && matches!(changes.recurrence, Some(Some(_))) {
        return Err(invalid(
            "An occurrence of a series cannot have its own recurrence.",
        ));
    }
    let mut dropped = Vec::new();
    if event.kind != Kind::Exception && changes.reschedules() {
        dropped.extend(event.exceptions.values().cloned());
        event.exceptions.clear();
        event.cancelled.clear();
    }
    if let Some(recurrence) = changes.recurrence {
        event.recurrence = recurrence.map(|r| with_zone(r, &start.zone));
        event.kind = match (&event.kind, &event.recurrence) {
            (Kind::Exception, _) => Kind::Exception,
            (_, Some(_)) => Kind::Master,
            (_, None) => Kind::Single,
        };
    }
    event.start = start;
    event.end = end;
    event.all_day = all_day;
    for (name, value) in changes.props {
        if value.is_null() {
            event.props.remove(&name);
        } else {
            event.props.insert(name, value);
        }
    }
    event.modified = now;
    event.change_key = ids::change_key();
    Ok(dropped)
}

/// The exception that replaces the occurrence of `master` on `date`: a copy of the master at
/// that time, under the occurrence's id.
pub fn exception_from(master: &Event, date: NaiveDate, now: DateTime<Utc>) -> Event {
    let (start, end) = master.occurrence_times(date);
    let zone = master.start.tz();
    let local = |at: DateTime<Utc>| {
        if master.all_day {
            at.naive_utc()
        } else {
            tz::to_local(at, zone)
        }
    };
    let mut props = master.props.clone();
    props.insert(
        "@original_time".into(),
        json!(master.start.local.time().format("%H:%M:%S").to_string()),
    );
    Event {
        id: occurrence_id(&master.id, date),
        calendar_id: master.calendar_id.clone(),
        created: now,
        modified: now,
        change_key: ids::change_key(),
        ical_uid: master.ical_uid.clone(),
        kind: Kind::Exception,
        master_id: Some(master.id.clone()),
        original_date: Some(date),
        start: Moment {
            local: local(start),
            zone: master.start.zone.clone(),
        },
        end: Moment {
            local: local(end),
            zone: master.end.zone.clone(),
        },
        all_day: master.all_day,
        recurrence: None,
        cancelled: BTreeSet::new(),
        exceptions: BTreeMap::new(),
        props,
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// Who organises every event of a mailbox (its owner).
pub struct Owner<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

fn render_time(at: DateTime<Utc>, all_day: bool, zone: Option<&(Tz, String)>) -> Value {
    let (local, name) = match zone {
        // All-day dates float: the same midnight whatever the zone.
        _ if all_day => (at.naive_utc(), zone.map_or("UTC", |(_, n)| n.as_str())),
        Some((tz, name)) => (tz::to_local(at, *tz), name.as_str()),
        None => (at.naive_utc(), "UTC"),
    };
    json!({"dateTime": tz::graph_local(local), "timeZone": name})
}

fn body_preview(body: &Value) -> String {
    let content = body["content"].as_str().unwrap_or_default();
    let text = if body["contentType"] == "html" {
        let mut out = String::new();
        let mut in_tag = false;
        let mut in_head = false;
        let lower = content.to_ascii_lowercase();
        for (i, c) in content.char_indices() {
            if c == '<' {
                in_tag = true;
                if lower[i..].starts_with("<head") || lower[i..].starts_with("<style") {
                    in_head = true;
                }
                if lower[i..].starts_with("</head") || lower[i..].starts_with("</style") {
                    in_head = false;
                }
            } else if c == '>' {
                in_tag = false;
                out.push(' ');
            } else if !in_tag && !in_head {
                out.push(c);
            }
        }
        out
    } else {
        content.to_owned()
    };
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(255)
        .collect()
}

/// An event or instance as Graph answers it, with `start`/`end` in `zone` (UTC when `None`).
pub fn render(
    instance: &Instance<'_>,
    owner: &Owner<'_>,
    zone: Option<&(Tz, String)>,
    select: Option<&[String]>,
) -> Map<String, Value> {
    let event = instance.event;
    let props = &event.props;
    let prop = |name: &str, default: Value| props.get(name).cloned().unwrap_or(default);
    let is_master_itself = event.kind == Kind::Master && instance.kind != InstanceKind::Occurrence;
    let kind = match (instance.kind, is_master_itself) {
        (_, true) => "seriesMaster",
        (InstanceKind::Occurrence, _) => "occurrence",
        (InstanceKind::Exception, _) => "exception",
        (InstanceKind::Single, _) => "singleInstance",
    };
    let series_master = match instance.kind {
        InstanceKind::Occurrence => Some(event.id.clone()),
        InstanceKind::Exception => event.master_id.clone(),
        InstanceKind::Single => None,
    };
    let body = prop("body", json!({"contentType": "html", "content": ""}));
    let mut out = Map::new();
    out.insert(
        "@odata.etag".into(),
        json!(format!("W/\"{}\"", event.change_key)),
    );
    out.insert("id".into(), json!(instance.id));
    out.insert(
        "createdDateTime".into(),
        json!(time::graph_precise(event.created)),
    );
    out.insert(
        "lastModifiedDateTime".into(),
        json!(time::graph_precise(event.modified)),
    );
    out.insert("changeKey".into(), json!(event.change_key));
    out.insert("categories".into(), prop("categories", json!([])));
    out.insert("transactionId".into(), prop("transactionId", Value::Null));
    out.insert("originalStartTimeZone".into(), json!(event.start.zone));
    out.insert("originalEndTimeZone".into(), json!(event.end.zone));
    out.insert("iCalUId".into(), json!(event.ical_uid));
    out.insert(
        "reminderMinutesBeforeStart".into(),
        prop("reminderMinutesBeforeStart", json!(15)),
    );
    out.insert("isReminderOn".into(), prop("isReminderOn", json!(true)));
    out.insert("hasAttachments".into(), json!(false));
    out.insert("subject".into(), prop("subject", json!("")));
    out.insert("bodyPreview".into(), json!(body_preview(&body)));
    out.insert("importance".into(), prop("importance", json!("normal")));
    out.insert("sensitivity".into(), prop("sensitivity", json!("normal")));
    out.insert("isAllDay".into(), json!(event.all_day));
    out.insert("isCancelled".into(), json!(false));
    out.insert("isOrganizer".into(), json!(true));
    out.insert(
        "responseRequested".into(),
        prop("responseRequested", json!(true)),
    );
    out.insert("seriesMasterId".into(), json!(series_master));
    out.insert(
        "showAs".into(),
        prop("showAs", json!(if event.all_day { "free" } else { "busy" })),
    );
    out.insert("type".into(), json!(kind));
    out.insert(
        "webLink".into(),
        json!(format!(
            "https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item",
            url::form_urlencoded::byte_serialize(instance.id.as_bytes()).collect::<String>()
        )),
    );
    out.insert("onlineMeetingUrl".into(), Value::Null);
    out.insert(
        "isOnlineMeeting".into(),
        prop("isOnlineMeeting", json!(false)),
    );
    out.insert(
        "onlineMeetingProvider".into(),
        prop("onlineMeetingProvider", json!("unknown")),
    );
    out.insert(
        "allowNewTimeProposals".into(),
        prop("allowNewTimeProposals", json!(true)),
    );
    out.insert("isDraft".into(), json!(false));
    out.insert("hideAttendees".into(), prop("hideAttendees", json!(false)));
    out.insert(
        "responseStatus".into(),
        json!({"response": "organizer", "time": "0001-01-01T00:00:00Z"}),
    );
    out.insert("body".into(), body);
    out.insert(
        "start".into(),
        render_time(instance.start, event.all_day, zone),
    );
    out.insert("end".into(), render_time(instance.end, event.all_day, zone));
    out.insert(
        "location".into(),
        prop(
            "location",
            json!({"displayName": "", "locationType": "default", "uniqueIdType": "unknown",
                   "address": {}, "coordinates": {}}),
        ),
    );
    out.insert("locations".into(), prop("locations", json!([])));
    out.insert(
        "recurrence".into(),
        if is_master_itself {
            event.recurrence.clone().unwrap_or(Value::Null)
        } else {
            Value::Null
        },
    );
    out.insert("attendees".into(), prop("attendees", json!([])));
    out.insert(
        "organizer".into(),
        json!({"emailAddress": {"name": owner.name, "address": owner.address}}),
    );
    out.insert("onlineMeeting".into(), Value::Null);
    if let Some(original) = instance.original_start {
        out.insert("originalStart".into(), json!(time::graph(original)));
    }
    if let Some(selected) = select {
        out.retain(|name, _| name.starts_with('@') || name == "id" || selected.contains(name));
    }
    out
}

/// `cancelledOccurrences` of a series master: `OID.<masterId>.<yyyy-MM-dd>` for each cancelled
/// date of its pattern, in the series' zone. Graph returns the property "only on `$select` in a
/// Get operation which specifies the ID of a series master event", so only that handler adds it.
pub fn cancelled_occurrences(master: &Event) -> Value {
    master
        .cancelled
        .iter()
        .map(|date| json!(format!("OID.{}.{}", master.id, date.format("%Y-%m-%d"))))
        .collect()
}

/// `$select` over event properties (case-insensitive).
pub fn parse_select(raw: &str) -> Result<Vec<String>, GraphError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|wanted| {
            PROPERTIES
                .iter()
                .find(|n| n.eq_ignore_ascii_case(wanted))
                .map(|n| (*n).to_owned())
                .ok_or_else(|| {
                    GraphError::parse_uri(format!(
                        "Could not find a property named '{wanted}' on type \
                         'microsoft.graph.event'."
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: Value) -> Event {
        create("cal", parse(&body).expect("valid"), time::now_precise()).expect("event")
    }

    #[test]
    fn occurrence_ids_round_trip() {
        let date = NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
        let id = occurrence_id("AAMkAbc=", date);
        assert_eq!(
            parse_occurrence_id(&id),
            Some(("AAMkAbc=".to_owned(), date))
        );
        assert!(parse_occurrence_id("AAMkAnything").is_none());
    }

    #[test]
    fn weekly_series_expand_in_their_zone_across_dst() {
        let series = event(json!({
            "subject": "Let's go for lunch",
            "start": {"dateTime": "2017-09-04T12:00:00", "timeZone": "Pacific Standard Time"},
            "end": {"dateTime": "2017-09-04T14:00:00", "timeZone": "Pacific Standard Time"},
            "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                           "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"}},
        }));
        assert_eq!(series.kind, Kind::Master);
        assert_eq!(
            series
                .recurrence
                .as_ref()
                .map(|r| r["range"]["recurrenceTimeZone"].clone()),
            Some(json!("Pacific Standard Time"))
        );
        let from = "2017-10-30T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let to = "2017-11-14T00:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("time");
        let starts: Vec<String> = series
            .occurrences(from, to)
            .iter()
            .map(|i| time::graph(i.start))
            .collect();
        // 12:00 PDT is 19:00Z; after the 2017-11-05 change 12:00 PST is 20:00Z.
        assert_eq!(
            starts,
            [
                "2017-10-30T19:00:00Z",
                "2017-11-06T20:00:00Z",
                "2017-11-13T20:00:00Z"
            ]
        );
    }

    #[test]
    fn all_day_events_must_be_midnight_to_midnight() {
        let body = |start: &str, end: &str| {
            json!({"isAllDay": true,
                   "start": {"dateTime": start, "timeZone": "Tokyo Standard Time"},
                   "end": {"dateTime": end, "timeZone": "Tokyo Standard Time"}})
        };
        let parse_create = |b: Value| create("c", parse(&b).expect("parse"), time::now());
        assert!(parse_create(body("2024-01-01T00:00:00", "2024-01-02T00:00:00")).is_ok());
        assert!(parse_create(body("2024-01-01T09:00:00", "2024-01-02T00:00:00")).is_err());
        assert!(parse_create(body("2024-01-02T00:00:00", "2024-01-02T00:00:00")).is_err());
        let all_day = parse_create(body("2024-01-01T00:00:00", "2024-01-02T00:00:00")).expect("ok");
        let rendered = render(
            &all_day.as_instance(),
            &Owner {
                name: "A",
                address: "a@b.c",
            },
            None,
            None,
        );
        assert_eq!(
            rendered["start"],
            json!({"dateTime": "2024-01-01T00:00:00.0000000", "timeZone": "UTC"})
        );
        assert_eq!(rendered["showAs"], "free");
    }

    #[test]
    fn body_previews_strip_html() {
        let preview = body_preview(&json!({"contentType": "html",
            "content": "<html><head><meta x><style>p{}</style></head><body>\r\nDoes late morning work for you?\r\n</body></html>"}));
        assert_eq!(preview, "Does late morning work for you?");
    }
}

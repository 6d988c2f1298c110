//! The module table: which modules exist (Contacts, Tasks, Events) and, per module, its fields,
//! their types, which are mandatory, and the default duplicate-check fields of upsert. Every read
//! and write goes through this table.
//!
//! Field names not in the table are ignored on writes (Zoho documents no error for them; the
//! sandbox treats them as fields this org does not have) and on reads.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::error::ItemError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Single line text with a maximum length.
    Text(usize),
    /// Multi-line text.
    TextArea(usize),
    Email,
    Phone,
    /// A picklist whose values are not checked (Contacts' `Salutation`, `Lead_Source`).
    Picklist,
    /// A picklist with these values only (exact spelling), else `INVALID_DATA`.
    PicklistOf(&'static [&'static str]),
    /// An ISO-8601 date-time with an offset; stored as an instant, answered in the org's zone.
    DateTime,
    /// `What_Id` with the record's `$se_module` (`Accounts` or `Contacts`).
    WhatLookup,
    /// Events' `Participants`: at most 50 of `{type, participant}`.
    Participants,
    /// `Recurring_Activity`: `{"RRULE": "FREQ=...;..."}` (and `EXDATE`).
    Recurrence,
    /// `Remind_At`: `{"ALARM": "..."}` (Tasks) or a date-time with an offset (Events).
    RemindAt,
    /// `yyyy-MM-dd`.
    Date,
    Boolean,
    /// Lookup to Accounts: `{"id"}` or `{"name"}` (see `Org::resolve`).
    AccountLookup,
    /// Lookup to Contacts by `{"id"}`.
    ContactLookup,
    /// The record owner: the org's one user.
    Owner,
    /// `[{"name"}]`.
    Tags,
    /// Set by the server; ignored on writes.
    System(System),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    Id,
    FullName,
    CreatedTime,
    ModifiedTime,
    CreatedBy,
    ModifiedBy,
    LastActivityTime,
    RecordStatus,
    Locked,
    /// Tasks: set when `Status` becomes `Completed`, cleared when it leaves it.
    ClosedTime,
}

#[derive(Debug)]
pub struct Field {
    pub api_name: &'static str,
    pub kind: Kind,
    pub mandatory: bool,
}

#[derive(Debug)]
pub struct Module {
    pub api_name: &'static str,
    pub fields: &'static [Field],
    /// Upsert's `duplicate_check_fields` when the request names none.
    pub duplicate_check: &'static [&'static str],
    /// Fields joined into `Full_Name` and the deleted-records `display_name`.
    pub name_fields: &'static [&'static str],
}

const fn field(api_name: &'static str, kind: Kind) -> Field {
    Field {
        api_name,
        kind,
        mandatory: false,
    }
}

const fn mandatory(api_name: &'static str, kind: Kind) -> Field {
    Field {
        api_name,
        kind,
        mandatory: true,
    }
}

const fn system(api_name: &'static str, system: System) -> Field {
    field(api_name, Kind::System(system))
}

/// Contacts (api-reference 2.3).
pub static CONTACTS: Module = Module {
    api_name: "Contacts",
    fields: &[
        system("id", System::Id),
        field("Owner", Kind::Owner),
        field("Salutation", Kind::Picklist),
        field("First_Name", Kind::Text(40)),
        mandatory("Last_Name", Kind::Text(80)),
        system("Full_Name", System::FullName),
        field("Email", Kind::Email),
        field("Secondary_Email", Kind::Email),
        field("Phone", Kind::Phone),
        field("Mobile", Kind::Phone),
        field("Home_Phone", Kind::Phone),
        field("Other_Phone", Kind::Phone),
        field("Asst_Phone", Kind::Phone),
        field("Fax", Kind::Phone),
        field("Assistant", Kind::Text(100)),
        field("Title", Kind::Text(100)),
        field("Department", Kind::Text(100)),
        field("Account_Name", Kind::AccountLookup),
        field("Reporting_To", Kind::ContactLookup),
        field("Mailing_Street", Kind::Text(250)),
        field("Mailing_City", Kind::Text(100)),
        field("Mailing_State", Kind::Text(100)),
        field("Mailing_Zip", Kind::Text(30)),
        field("Mailing_Country", Kind::Text(100)),
        field("Other_Street", Kind::Text(250)),
        field("Other_City", Kind::Text(100)),
        field("Other_State", Kind::Text(100)),
        field("Other_Zip", Kind::Text(30)),
        field("Other_Country", Kind::Text(100)),
        field("Description", Kind::TextArea(32000)),
        field("Date_of_Birth", Kind::Date),
        field("Lead_Source", Kind::Picklist),
        field("Email_Opt_Out", Kind::Boolean),
        field("Tag", Kind::Tags),
        system("Created_Time", System::CreatedTime),
        system("Modified_Time", System::ModifiedTime),
        system("Created_By", System::CreatedBy),
        system("Modified_By", System::ModifiedBy),
        system("Last_Activity_Time", System::LastActivityTime),
        system("Record_Status__s", System::RecordStatus),
        system("Locked__s", System::Locked),
    ],
    duplicate_check: &["Email"],
    name_fields: &["First_Name", "Last_Name"],
};

/// Task statuses (api-reference 2.3).
pub const TASK_STATUSES: &[&str] = &[
    "Not Started",
    "Deferred",
    "In Progress",
    "Completed",
    "Waiting on someone else",
];
/// Task priorities (api-reference 2.3; UNCONFIRMED beyond `High`).
pub const TASK_PRIORITIES: &[&str] = &["Highest", "High", "Normal", "Low", "Lowest"];
/// Most participants of one event.
pub const MAX_PARTICIPANTS: usize = 50;

/// Tasks (api-reference 2.3).
pub static TASKS: Module = Module {
    api_name: "Tasks",
    fields: &[
        system("id", System::Id),
        field("Owner", Kind::Owner),
        mandatory("Subject", Kind::Text(255)),
        field("Due_Date", Kind::Date),
        field("Status", Kind::PicklistOf(TASK_STATUSES)),
        field("Priority", Kind::PicklistOf(TASK_PRIORITIES)),
        field("Description", Kind::TextArea(32000)),
        field("What_Id", Kind::WhatLookup),
        field("Who_Id", Kind::ContactLookup),
        system("Closed_Time", System::ClosedTime),
        field("Remind_At", Kind::RemindAt),
        field("Recurring_Activity", Kind::Recurrence),
        field("Send_Notification_Email", Kind::Boolean),
        field("Tag", Kind::Tags),
        system("Created_Time", System::CreatedTime),
        system("Modified_Time", System::ModifiedTime),
        system("Created_By", System::CreatedBy),
        system("Modified_By", System::ModifiedBy),
        system("Record_Status__s", System::RecordStatus),
        system("Locked__s", System::Locked),
    ],
    duplicate_check: &[],
    name_fields: &["Subject"],
};

/// Events, "Meetings" in the UI (api-reference 2.3).
pub static EVENTS: Module = Module {
    api_name: "Events",
    fields: &[
        system("id", System::Id),
        field("Owner", Kind::Owner),
        mandatory("Event_Title", Kind::Text(255)),
        mandatory("Start_DateTime", Kind::DateTime),
        mandatory("End_DateTime", Kind::DateTime),
        field("All_day", Kind::Boolean),
        field("Venue", Kind::Text(255)),
        field("Description", Kind::TextArea(32000)),
        field("Participants", Kind::Participants),
        field("Recurring_Activity", Kind::Recurrence),
        field("Remind_At", Kind::RemindAt),
        field("What_Id", Kind::WhatLookup),
        field("Who_Id", Kind::ContactLookup),
        field("Tag", Kind::Tags),
        system("Created_Time", System::CreatedTime),
        system("Modified_Time", System::ModifiedTime),
        system("Created_By", System::CreatedBy),
        system("Modified_By", System::ModifiedBy),
        system("Record_Status__s", System::RecordStatus),
        system("Locked__s", System::Locked),
    ],
    duplicate_check: &[],
    name_fields: &["Event_Title"],
};

/// Every emulated module.
pub static MODULES: &[&Module] = &[&CONTACTS, &TASKS, &EVENTS];

/// A module by API name (case-insensitive, as Zoho's routing is).
pub fn find(name: &str) -> Option<&'static Module> {
    MODULES
        .iter()
        .copied()
        .find(|m| m.api_name.eq_ignore_ascii_case(name))
}

impl Module {
    pub fn field(&'static self, api_name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.api_name == api_name)
    }

    /// A field of the module or one of `extra` (an org's custom fields).
    pub fn field_or(
        &'static self,
        extra: &[&'static Field],
        api_name: &str,
    ) -> Option<&'static Field> {
        self.field(api_name)
            .or_else(|| extra.iter().copied().find(|f| f.api_name == api_name))
    }
}

/// An org's custom field as a [`Field`] like the module's own, so every read and write handles
/// it the same way. Fields are interned by name and kind: each distinct one is allocated once
/// for the life of the process (orgs come and go; the names they use are few).
pub fn custom_field(api_name: &str, kind: Kind) -> &'static Field {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static INTERNED: OnceLock<Mutex<HashMap<(String, Kind), &'static Field>>> = OnceLock::new();
    let mut interned = INTERNED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    interned
        .entry((api_name.to_owned(), kind))
        .or_insert_with(|| {
            Box::leak(Box::new(Field {
                api_name: Box::leak(api_name.to_owned().into_boxed_str()),
                kind,
                mandatory: false,
            }))
        })
}

/// A checked write value; lookups are resolved against the org afterwards.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Clear,
    Value(Value),
    AccountById(u64),
    AccountByName(String),
    ContactById(u64),
    OwnerById(u64),
    Tags(Vec<String>),
    /// `What_Id` in `$se_module` (`Accounts` or `Contacts`).
    What(&'static str, u64),
    /// `(type, participant)` pairs.
    Participants(Vec<(String, String)>),
}

/// A record id: Zoho accepts it as a string or a number.
pub fn parse_id(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Good enough to reject what Zoho rejects in practice: one `@`, no spaces, a dotted domain.
pub fn valid_email(address: &str) -> bool {
    let Some((local, domain)) = address.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !address.chars().any(char::is_whitespace)
        && address.len() <= 100
}

fn text(value: &Value, api_name: &str, index: usize, max: usize) -> Result<Input, ItemError> {
    match value {
        Value::Null => Ok(Input::Clear),
        Value::String(s) if s.trim().is_empty() => Ok(Input::Clear),
        Value::String(s) if s.chars().count() > max => Err(ItemError::invalid_field(
            api_name,
            index,
            json!({"maximum_length": max}),
        )),
        Value::String(_) => Ok(Input::Value(value.clone())),
        _ => Err(ItemError::invalid_field(
            api_name,
            index,
            json!({"expected_data_type": "text"}),
        )),
    }
}

fn lookup_id(value: &Map<String, Value>) -> Option<Option<u64>> {
    value.get("id").filter(|v| !v.is_null()).map(parse_id)
}

fn check_value(field: &Field, value: &Value, index: usize) -> Result<Option<Input>, ItemError> {
    let name = field.api_name;
    let bad = |expected: &str| {
        ItemError::invalid_field(name, index, json!({"expected_data_type": expected}))
    };
    let input = match field.kind {
        Kind::System(_) => return Ok(None),
        Kind::Text(max) | Kind::TextArea(max) => text(value, name, index, max)?,
        Kind::Phone => text(value, name, index, 30)?,
        Kind::Picklist => text(value, name, index, 120)?,
        Kind::Email => match text(value, name, index, 100)? {
            Input::Value(Value::String(address)) if !valid_email(address.trim()) => {
                return Err(ItemError::invalid_field(name, index, json!({})));
            }
            Input::Value(Value::String(address)) => {
                Input::Value(Value::String(address.trim().to_owned()))
            }
            other => other,
        },
        Kind::PicklistOf(allowed) => match text(value, name, index, 120)? {
            Input::Value(Value::String(choice)) if !allowed.contains(&choice.as_str()) => {
                return Err(ItemError::invalid_field(
                    name,
                    index,
                    json!({"expected_data_type": "picklist"}),
                ));
            }
            other => other,
        },
        Kind::DateTime => match value {
            Value::Null => Input::Clear,
            Value::String(s) => match crate::time::parse_offset(s) {
                Some(at) if s.contains('T') => Input::Value(json!(at.to_rfc3339())),
                _ => return Err(bad("datetime")),
            },
            _ => return Err(bad("datetime")),
        },
        Kind::Recurrence => match value {
            Value::Null => Input::Clear,
            Value::Object(rule) => {
                let valid = rule.get("RRULE").and_then(Value::as_str).is_some_and(|r| {
                    r.split(';').any(|part| {
                        matches!(
                            part.trim(),
                            "FREQ=DAILY" | "FREQ=WEEKLY" | "FREQ=MONTHLY" | "FREQ=YEARLY"
                        )
                    })
                }) && rule.keys().all(|k| k == "RRULE" || k == "EXDATE");
                if !valid {
                    return Err(ItemError::invalid_field(name, index, json!({})));
                }
                Input::Value(value.clone())
            }
            _ => return Err(bad("jsonobject")),
        },
        Kind::RemindAt => match value {
            Value::Null => Input::Clear,
            Value::Object(alarm) if alarm.get("ALARM").is_some_and(Value::is_string) => {
                Input::Value(value.clone())
            }
            Value::String(s) => match crate::time::parse_offset(s) {
                Some(at) => Input::Value(json!(at.to_rfc3339())),
                None => return Err(bad("datetime")),
            },
            _ => return Err(ItemError::invalid_field(name, index, json!({}))),
        },
        Kind::Participants => match value {
            Value::Null => Input::Participants(Vec::new()),
            Value::Array(items) if items.len() > MAX_PARTICIPANTS => {
                // Zoho's shape of a limit on one field (record.yaml, `LimitExceededError`).
                return Err(ItemError::new(
                    "LIMIT_EXCEEDED",
                    "limit exceeded",
                    json!({"maximum_length": MAX_PARTICIPANTS, "api_name": name}),
                ));
            }
            Value::Array(items) => {
                let mut pairs = Vec::new();
                for (position, item) in items.iter().enumerate() {
                    let invalid = || {
                        ItemError::new(
                            "INVALID_DATA",
                            "invalid data",
                            json!({"api_name": name,
                                   "json_path": format!("$.data[{index}].{name}[{position}]")}),
                        )
                    };
                    let kind = item
                        .get("type")
                        .and_then(Value::as_str)
                        .filter(|t| ["contact", "lead", "user", "email"].contains(t))
                        .ok_or_else(invalid)?;
                    let who = match item.get("participant") {
                        Some(Value::String(s)) => s.trim().to_owned(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => return Err(invalid()),
                    };
                    let ok = if kind == "email" {
                        valid_email(&who)
                    } else {
                        who.parse::<u64>().is_ok()
                    };
                    if !ok {
                        return Err(invalid());
                    }
                    pairs.push((kind.to_owned(), who));
                }
                Input::Participants(pairs)
            }
            _ => return Err(bad("jsonarray")),
        },
        // Checked by `check_record`, which has the record's `$se_module`.
        Kind::WhatLookup => return Ok(None),
        Kind::Date => match value {
            Value::Null => Input::Clear,
            Value::String(s) if NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
                Input::Value(value.clone())
            }
            _ => return Err(bad("date")),
        },
        Kind::Boolean => match value {
            Value::Null => Input::Value(Value::Bool(false)),
            Value::Bool(_) => Input::Value(value.clone()),
            _ => return Err(bad("boolean")),
        },
        Kind::AccountLookup => match value {
            Value::Null => Input::Clear,
            Value::String(name) if name.trim().is_empty() => Input::Clear,
            Value::String(name) => Input::AccountByName(name.trim().to_owned()),
            Value::Object(lookup) => match lookup_id(lookup) {
                Some(Some(id)) => Input::AccountById(id),
                Some(None) => return Err(bad("jsonobject")),
                None => match lookup.get("name").and_then(Value::as_str).map(str::trim) {
                    Some(name) if !name.is_empty() => Input::AccountByName(name.to_owned()),
                    _ => Input::Clear,
                },
            },
            _ => return Err(bad("jsonobject")),
        },
        Kind::ContactLookup | Kind::Owner => match value {
            Value::Null if field.kind == Kind::ContactLookup => Input::Clear,
            Value::Object(lookup) => match lookup_id(lookup) {
                Some(Some(id)) if field.kind == Kind::Owner => Input::OwnerById(id),
                Some(Some(id)) => Input::ContactById(id),
                _ => return Err(ItemError::invalid_field(name, index, json!({}))),
            },
            _ => return Err(bad("jsonobject")),
        },
        Kind::Tags => match value {
            Value::Null => Input::Tags(Vec::new()),
            Value::Array(items) => {
                let mut names = Vec::new();
                for item in items {
                    let tag = match item {
                        Value::String(s) => Some(s.as_str()),
                        Value::Object(o) => o.get("name").and_then(Value::as_str),
                        _ => None,
                    };
                    match tag.map(str::trim) {
                        Some(t) if !t.is_empty() => names.push(t.to_owned()),
                        _ => return Err(bad("jsonarray")),
                    }
                }
                Input::Tags(names)
            }
            _ => return Err(bad("jsonarray")),
        },
    };
    Ok(Some(input))
}

/// `What_Id` (`{"id"}` or an id) with `$se_module`: `Accounts` or `Contacts` (the modules the
/// sandbox has records of).
fn what(record: &Map<String, Value>, value: &Value, index: usize) -> Result<Input, ItemError> {
    let id = match value {
        Value::Null => return Ok(Input::Clear),
        Value::Object(lookup) => match lookup_id(lookup) {
            Some(Some(id)) => id,
            None => return Ok(Input::Clear),
            Some(None) => return Err(ItemError::invalid_field("What_Id", index, json!({}))),
        },
        other => {
            parse_id(other).ok_or_else(|| ItemError::invalid_field("What_Id", index, json!({})))?
        }
    };
    match record.get("$se_module").and_then(Value::as_str) {
        None => Err(ItemError::mandatory("$se_module", index)),
        Some("Accounts") => Ok(Input::What("Accounts", id)),
        Some("Contacts") => Ok(Input::What("Contacts", id)),
        Some(_) => Err(ItemError::new(
            "INVALID_DATA",
            "invalid data",
            json!({"api_name": "$se_module", "json_path": format!("$.data[{index}].$se_module"),
                   "supported_values": ["Accounts", "Contacts"]}),
        )),
    }
}

/// Checks one record of a write body. `creating` enforces the mandatory fields; an update only
/// refuses clearing them. The first problem found is the record's error, as in Zoho.
pub fn check_record(
    module: &'static Module,
    record: &Map<String, Value>,
    index: usize,
    creating: bool,
) -> Result<Vec<(&'static Field, Input)>, ItemError> {
    check_record_with(module, &[], record, index, creating)
}

/// [`check_record`] for an org that added `extra` fields to the module.
pub fn check_record_with(
    module: &'static Module,
    extra: &[&'static Field],
    record: &Map<String, Value>,
    index: usize,
    creating: bool,
) -> Result<Vec<(&'static Field, Input)>, ItemError> {
    let mut inputs = Vec::new();
    for (name, value) in record {
        let Some(field) = module.field_or(extra, name) else {
            continue;
        };
        let input = if field.kind == Kind::WhatLookup {
            Some(what(record, value, index)?)
        } else {
            check_value(field, value, index)?
        };
        if let Some(input) = input {
            inputs.push((field, input));
        }
    }
    // An event ends no earlier than it starts.
    let instant = |name: &str| {
        inputs
            .iter()
            .find(|(f, _)| f.api_name == name)
            .and_then(|(_, i)| match i {
                Input::Value(Value::String(s)) => crate::time::parse_offset(s),
                _ => None,
            })
    };
    if let (Some(start), Some(end)) = (instant("Start_DateTime"), instant("End_DateTime"))
        && end < start
    {
        return Err(ItemError::invalid_field(
            "End_DateTime",
            index,
            json!({"expected_data_type": "datetime"}),
        ));
    }
    for field in module.fields.iter().filter(|f| f.mandatory) {
        let given = inputs.iter().find(|(f, _)| f.api_name == field.api_name);
        let missing = match given {
            None => creating,
            Some((_, input)) => *input == Input::Clear,
        };
        if missing {
            return Err(ItemError::mandatory(field.api_name, index));
        }
    }
    Ok(inputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn last_name_is_mandatory_on_create_only() {
        let record = object(json!({"First_Name": "Ana"}));
        let error = check_record(&CONTACTS, &record, 1, true).expect_err("mandatory");
        assert_eq!(error.code, "MANDATORY_NOT_FOUND");
        assert_eq!(error.details["json_path"], "$.data[1].Last_Name");
        assert!(check_record(&CONTACTS, &record, 0, false).is_ok());
        let cleared = object(json!({"Last_Name": ""}));
        assert!(check_record(&CONTACTS, &cleared, 0, false).is_err());
    }

    #[test]
    fn emails_and_types_are_checked() {
        let record = object(json!({"Last_Name": "X", "Secondary_Email": "not-an-email"}));
        let error = check_record(&CONTACTS, &record, 0, true).expect_err("invalid");
        assert_eq!(error.code, "INVALID_DATA");
        assert_eq!(error.details["api_name"], "Secondary_Email");
        let record = object(json!({"Last_Name": "X", "Email_Opt_Out": "yes"}));
        assert!(check_record(&CONTACTS, &record, 0, true).is_err());
        let record = object(json!({"Last_Name": "X", "Unknown_Field": 1, "Full_Name": "ignored"}));
        let inputs = check_record(&CONTACTS, &record, 0, true).expect("valid");
        assert_eq!(inputs.len(), 1);
    }

    #[test]
    fn account_lookup_takes_a_name_or_an_id() {
        let by_name = object(json!({"Last_Name": "X", "Account_Name": {"name": "Zylker"}}));
        let inputs = check_record(&CONTACTS, &by_name, 0, true).expect("valid");
        assert!(
            inputs
                .iter()
                .any(|(_, i)| *i == Input::AccountByName("Zylker".into()))
        );
        let by_id =
            object(json!({"Last_Name": "X", "Account_Name": {"id": "4150868000000224005"}}));
        let inputs = check_record(&CONTACTS, &by_id, 0, true).expect("valid");
        assert!(
            inputs
                .iter()
                .any(|(_, i)| *i == Input::AccountById(4150868000000224005))
        );
    }
}

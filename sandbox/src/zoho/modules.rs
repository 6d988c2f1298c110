//! The module table: which modules exist and, per module, its fields, their types, which are
//! mandatory, and the default duplicate-check fields of upsert. Every read and write goes through
//! this table, so adding Tasks or Events is adding a table entry (and any new field kinds).
//!
//! Field names not in the table are ignored on writes (Zoho documents no error for them; the
//! sandbox treats them as fields this org does not have) and on reads.

use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::error::ItemError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Single line text with a maximum length.
    Text(usize),
    /// Multi-line text.
    TextArea(usize),
    Email,
    Phone,
    /// Picklist values are not restricted: the sandbox keeps what it is given.
    Picklist,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Every emulated module.
pub static MODULES: &[&Module] = &[&CONTACTS];

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

/// Checks one record of a write body. `creating` enforces the mandatory fields; an update only
/// refuses clearing them. The first problem found is the record's error, as in Zoho.
pub fn check_record(
    module: &'static Module,
    record: &Map<String, Value>,
    index: usize,
    creating: bool,
) -> Result<Vec<(&'static Field, Input)>, ItemError> {
    let mut inputs = Vec::new();
    for (name, value) in record {
        let Some(field) = module.field(name) else {
            continue;
        };
        if let Some(input) = check_value(field, value, index)? {
            inputs.push((field, input));
        }
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

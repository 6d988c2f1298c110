//! The contact entity (api-reference 1.2): which properties exist, how a write body is checked,
//! and how a contact is rendered. One table drives all three, so a property added to the table is
//! writable, selectable and rendered with its documented empty value.

use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::store::Contact;
use crate::time;

/// How a property is typed, and what it reads as when unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Edm.String`, `null` when unset.
    Str,
    /// `Edm.String` that Outlook reports as `""` when unset (`fileAs`, `personalNotes`).
    Text,
    /// `Edm.DateTimeOffset` (`birthday`).
    DateTime,
    /// `Collection(Edm.String)`, `[]` when unset.
    Strings,
    /// `Collection(microsoft.graph.emailAddress)`.
    Emails,
    /// `microsoft.graph.physicalAddress`, `{}` when unset.
    Address,
}

/// Writable properties in the order Graph's examples list them.
pub const PROPERTIES: &[(&str, Kind)] = &[
    ("categories", Kind::Strings),
    ("birthday", Kind::DateTime),
    ("fileAs", Kind::Text),
    ("displayName", Kind::Str),
    ("givenName", Kind::Str),
    ("initials", Kind::Str),
    ("middleName", Kind::Str),
    ("nickName", Kind::Str),
    ("surname", Kind::Str),
    ("title", Kind::Str),
    ("yomiGivenName", Kind::Str),
    ("yomiSurname", Kind::Str),
    ("yomiCompanyName", Kind::Str),
    ("generation", Kind::Str),
    ("imAddresses", Kind::Strings),
    ("jobTitle", Kind::Str),
    ("companyName", Kind::Str),
    ("department", Kind::Str),
    ("officeLocation", Kind::Str),
    ("profession", Kind::Str),
    ("businessHomePage", Kind::Str),
    ("assistantName", Kind::Str),
    ("manager", Kind::Str),
    ("homePhones", Kind::Strings),
    ("mobilePhone", Kind::Str),
    ("businessPhones", Kind::Strings),
    ("spouseName", Kind::Str),
    ("personalNotes", Kind::Text),
    ("children", Kind::Strings),
    ("emailAddresses", Kind::Emails),
    ("homeAddress", Kind::Address),
    ("businessAddress", Kind::Address),
    ("otherAddress", Kind::Address),
];

/// Server-set properties: accepted (and ignored) in a write body, selectable on reads.
pub const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "parentFolderId",
];

const ADDRESS_KEYS: &[&str] = &["street", "city", "state", "countryOrRegion", "postalCode"];
const NAME_PARTS: &[&str] = &["givenName", "middleName", "surname"];

/// Collections Outlook caps, with Graph's spelling of the property in its error: "The multi value
/// property EmailAddresses has 4 entries, that exceeds the max allowed value of 3"
/// (microsoftgraph/microsoft-graph-docs issue 15276 quotes it for `emailAddresses` and
/// `businessPhones`; `homePhones` is Outlook's "Home phone" and "Home phone 2").
const MULTI_VALUE_LIMITS: &[(&str, &str, usize)] = &[
    ("emailAddresses", "EmailAddresses", 3),
    ("businessPhones", "BusinessPhones", 2),
    ("homePhones", "HomePhones", 2),
];

/// A capped collection with too many entries: 400. The quoted message is Graph's; its error
/// code is not quoted anywhere we know, `ErrorInvalidArgument` is Exchange's usual one.
fn check_multi_value(name: &str, value: &Value) -> Result<(), GraphError> {
    let Some((_, spelled, max)) = MULTI_VALUE_LIMITS.iter().find(|(n, _, _)| *n == name) else {
        return Ok(());
    };
    let count = value.as_array().map_or(0, Vec::len);
    if count > *max {
        return Err(GraphError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "ErrorInvalidArgument",
            format!(
                "The multi value property {spelled} has {count} entries, that exceeds the max \
                 allowed value of {max}"
            ),
        ));
    }
    Ok(())
}

fn kind_of(name: &str) -> Option<Kind> {
    PROPERTIES.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Checks a POST/PATCH body and returns the properties it sets, normalised (`null` clears).
/// Anything Graph would refuse becomes a 400, never a panic.
pub fn parse_write(body: &Value) -> Result<Map<String, Value>, GraphError> {
    let Value::Object(fields) = body else {
        return Err(GraphError::body_read(
            "A node of type 'PrimitiveValue' was read from the JSON reader when trying to read the \
             start of an entry. A 'StartObject' node was expected.",
        ));
    };
    let mut changes = Map::new();
    for (name, value) in fields {
        if name.starts_with('@') || READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        let Some(kind) = kind_of(name) else {
            return Err(GraphError::body_read(format!(
                "The property '{name}' does not exist on type 'Microsoft.OutlookServices.Contact'. \
                 Make sure to only use property names that are defined by the type or mark the \
                 type as open type."
            )));
        };
        let value = normalise(name, kind, value)?;
        check_multi_value(name, &value)?;
        changes.insert(name.clone(), value);
    }
    Ok(changes)
}

fn expected(name: &str, type_name: &str, value: &Value) -> GraphError {
    GraphError::body_read(format!(
        "Cannot convert the literal '{value}' to the expected type '{type_name}' of property \
         '{name}'."
    ))
}

fn optional_string(name: &str, value: &Value) -> Result<Value, GraphError> {
    match value {
        Value::Null | Value::String(_) => Ok(value.clone()),
        other => Err(expected(name, "Edm.String", other)),
    }
}

fn normalise(name: &str, kind: Kind, value: &Value) -> Result<Value, GraphError> {
    match kind {
        Kind::Str | Kind::Text => optional_string(name, value),
        Kind::DateTime => match value {
            Value::Null => Ok(Value::Null),
            Value::String(raw) => time::parse_graph(raw)
                .map(|t| Value::String(time::graph(t)))
                .ok_or_else(|| expected(name, "Edm.DateTimeOffset", value)),
            other => Err(expected(name, "Edm.DateTimeOffset", other)),
        },
        Kind::Strings => match value {
            Value::Null => Ok(json!([])),
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(value.clone()),
            other => Err(expected(name, "Collection(Edm.String)", other)),
        },
        Kind::Emails => match value {
            Value::Null => Ok(json!([])),
            Value::Array(items) => items
                .iter()
                .map(|item| email_address(name, item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Err(expected(
                name,
                "Collection(microsoft.graph.emailAddress)",
                other,
            )),
        },
        Kind::Address => match value {
            Value::Null => Ok(json!({})),
            Value::Object(parts) => {
                let mut address = Map::new();
                for (key, part) in parts {
                    if key.starts_with('@') {
                        continue;
                    }
                    if !ADDRESS_KEYS.contains(&key.as_str()) {
                        return Err(GraphError::body_read(format!(
                            "The property '{key}' does not exist on type \
                             'Microsoft.OutlookServices.PhysicalAddress'."
                        )));
                    }
                    if let Value::String(_) = optional_string(key, part)? {
                        address.insert(key.clone(), part.clone());
                    }
                }
                Ok(Value::Object(address))
            }
            other => Err(expected(name, "microsoft.graph.physicalAddress", other)),
        },
    }
}

/// `{name, address}`; Outlook fills a missing name with the address.
fn email_address(name: &str, item: &Value) -> Result<Value, GraphError> {
    let Value::Object(parts) = item else {
        return Err(expected(name, "microsoft.graph.emailAddress", item));
    };
    let mut address = Value::Null;
    let mut display = Value::Null;
    for (key, part) in parts {
        match key.as_str() {
            "address" => address = optional_string(key, part)?,
            "name" => display = optional_string(key, part)?,
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::body_read(format!(
                    "The property '{other}' does not exist on type \
                     'Microsoft.OutlookServices.EmailAddress'."
                )));
            }
        }
    }
    if display.is_null() {
        display = address.clone();
    }
    Ok(json!({"name": display, "address": address}))
}

/// Applies validated changes. Like Outlook, a change to the name parts without a `displayName`
/// regenerates the display name (api-reference 1.2: clients must resend it to keep their own).
pub fn apply(props: &mut Map<String, Value>, changes: Map<String, Value>) {
    let names_changed = NAME_PARTS.iter().any(|n| changes.contains_key(*n));
    let display_given = changes.contains_key("displayName");
    for (name, value) in changes {
        let empty = match &value {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            Value::Object(parts) => parts.is_empty(),
            _ => false,
        };
        if empty {
            props.remove(&name);
        } else {
            props.insert(name, value);
        }
    }
    if names_changed && !display_given {
        regenerate_display_name(props);
    }
}

/// A new contact without a `displayName` gets one made from its name parts.
pub fn fill_display_name(props: &mut Map<String, Value>) {
    if !props.contains_key("displayName") {
        regenerate_display_name(props);
    }
}

fn regenerate_display_name(props: &mut Map<String, Value>) {
    let name = NAME_PARTS
        .iter()
        .filter_map(|n| props.get(*n).and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        props.remove("displayName");
    } else {
        props.insert("displayName".to_owned(), Value::String(name));
    }
}

/// Parses `$select`; unknown names are a 400 as in Graph. Names match case-insensitively and come
/// back in their canonical spelling.
pub fn parse_select(raw: &str) -> Result<Vec<String>, GraphError> {
    let mut names = Vec::new();
    for wanted in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let canonical = PROPERTIES
            .iter()
            .map(|(n, _)| *n)
            .chain(READ_ONLY.iter().copied())
            .find(|n| n.eq_ignore_ascii_case(wanted));
        match canonical {
            Some(name) => names.push(name.to_owned()),
            None => {
                return Err(GraphError::parse_uri(format!(
                    "Could not find a property named '{wanted}' on type 'microsoft.graph.contact'."
                )));
            }
        }
    }
    Ok(names)
}

/// The etag of a contact: `W/"<changeKey>"`.
pub fn etag(contact: &Contact) -> String {
    format!("W/\"{}\"", contact.change_key)
}

/// A contact as Graph returns it: every property, unset ones with their documented empty value;
/// with `$select`, only `@odata.etag`, `id` and the selected ones.
pub fn render(contact: &Contact, select: Option<&[String]>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("@odata.etag".into(), Value::String(etag(contact)));
    out.insert("id".into(), Value::String(contact.id.clone()));
    out.insert(
        "createdDateTime".into(),
        Value::String(time::graph(contact.created)),
    );
    out.insert(
        "lastModifiedDateTime".into(),
        Value::String(time::graph(contact.modified)),
    );
    out.insert(
        "changeKey".into(),
        Value::String(contact.change_key.clone()),
    );
    out.insert(
        "parentFolderId".into(),
        Value::String(contact.folder_id.clone()),
    );
    for (name, kind) in PROPERTIES {
        let value = contact
            .props
            .get(*name)
            .cloned()
            .unwrap_or_else(|| empty_value(*kind));
        out.insert((*name).to_owned(), value);
    }
    if let Some(selected) = select {
        out.retain(|name, _| name == "@odata.etag" || name == "id" || selected.contains(name));
    }
    out
}

fn empty_value(kind: Kind) -> Value {
    match kind {
        Kind::Str | Kind::DateTime => Value::Null,
        Kind::Text => Value::String(String::new()),
        Kind::Strings | Kind::Emails => json!([]),
        Kind::Address => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_mistyped_properties_are_refused() {
        assert!(parse_write(&json!({"nope": 1})).is_err());
        assert!(parse_write(&json!({"givenName": 5})).is_err());
        assert!(parse_write(&json!({"homeAddress": {"zip": "1"}})).is_err());
        assert!(parse_write(&json!({"emailAddresses": [{"address": "a@b.c", "x": 1}]})).is_err());
        assert!(parse_write(&json!([1, 2])).is_err());
        assert!(parse_write(&json!({"birthday": "not a date"})).is_err());
    }

    #[test]
    fn outlooks_multi_value_limits_are_enforced() {
        let emails = |n: usize| json!({"emailAddresses": (0..n).map(|i| json!({"address": format!("a{i}@b.c")})).collect::<Vec<_>>()});
        assert!(parse_write(&emails(3)).is_ok());
        let refused = parse_write(&emails(4)).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(
            refused.message,
            "The multi value property EmailAddresses has 4 entries, that exceeds the max allowed \
             value of 3"
        );
        assert!(parse_write(&json!({"businessPhones": ["1", "2"]})).is_ok());
        assert!(parse_write(&json!({"businessPhones": ["1", "2", "3"]})).is_err());
        assert!(parse_write(&json!({"homePhones": ["1", "2", "3"]})).is_err());
    }

    #[test]
    fn writes_are_normalised() {
        let changes = parse_write(&json!({
            "id": "ignored",
            "birthday": "1974-07-22",
            "emailAddresses": [{"address": "a@b.c"}],
            "homeAddress": {"city": "Seattle", "state": null},
        }))
        .expect("valid");
        assert_eq!(changes["birthday"], "1974-07-22T00:00:00Z");
        assert_eq!(changes["emailAddresses"][0]["name"], "a@b.c");
        assert_eq!(changes["homeAddress"], json!({"city": "Seattle"}));
        assert!(!changes.contains_key("id"));
    }

    #[test]
    fn name_changes_regenerate_the_display_name() {
        let mut props = Map::new();
        apply(
            &mut props,
            parse_write(&json!({"givenName": "Zoë", "surname": "Ødegaard"})).expect("valid"),
        );
        assert_eq!(props["displayName"], "Zoë Ødegaard");
        apply(
            &mut props,
            parse_write(&json!({"displayName": "Z. Ø."})).expect("valid"),
        );
        assert_eq!(props["displayName"], "Z. Ø.");
        apply(
            &mut props,
            parse_write(&json!({"surname": "Berg"})).expect("valid"),
        );
        assert_eq!(props["displayName"], "Zoë Berg");
    }
}

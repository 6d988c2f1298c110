//! Zoho CRM records ⇄ the canonical model. The field map is in `docs/field-map.md`.

pub mod contact;
pub mod event;
pub mod task;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

/// A string field: missing, `null` and `""` are absent; any other type is refused.
pub(crate) fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// A date-time field (`2019-07-25T15:26:49+05:30`).
pub(crate) fn date_time(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<DateTime<FixedOffset>>, String> {
    string(obj, key)?
        .map(|s| DateTime::parse_from_rfc3339(&s).map_err(|e| format!("{key} `{s}`: {e}")))
        .transpose()
}

/// Zoho's date-time spelling: seconds, an offset (`+00:00`, never `Z`).
pub(crate) fn format_date_time<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// The trigger time of a Zoho `Remind_At`: `{"ALARM": "...;TRIGGER=DATE-TIME:<iso>"}` (Tasks) or
/// a bare date-time string (Events).
pub(crate) fn reminder(value: Option<&Value>) -> Result<Option<DateTime<FixedOffset>>, String> {
    let raw = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => match o.get("ALARM").and_then(Value::as_str) {
            Some(alarm) => {
                let Some((_, rest)) = alarm.split_once("TRIGGER=DATE-TIME:") else {
                    return Ok(None);
                };
                rest.split(';').next().unwrap_or_default().trim().to_owned()
            }
            None => return Ok(None),
        },
        Some(_) => return Err("Remind_At must be a string or an object".into()),
    };
    DateTime::parse_from_rfc3339(&raw)
        .map(Some)
        .map_err(|e| format!("Remind_At `{raw}`: {e}"))
}

/// The fields of `new` whose canonical value differs from `base`'s, compared in normalised form
/// so a formatting difference is never written back.
pub(crate) fn changed_fields<T>(
    new: &T,
    base: Option<&T>,
    normalised: impl Fn(&T) -> T,
    render: impl Fn(&T) -> Map<String, Value>,
) -> Map<String, Value> {
    let full = render(new);
    let Some(base) = base else { return full };
    let (a, b) = (render(&normalised(new)), render(&normalised(base)));
    full.into_iter()
        .filter(|(k, _)| a.get(k) != b.get(k))
        .collect()
}

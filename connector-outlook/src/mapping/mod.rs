//! Graph resources ⇄ the canonical model. The field map is in `docs/field-map.md`.

pub mod contact;
pub mod event;
pub mod recurrence;
pub mod task;

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

/// An object field: missing or `null` is absent.
pub(crate) fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(format!("{key} must be an object")),
    }
}

/// `body.content` of an item (HTML or text; the canonical comparison reduces HTML to its text).
pub(crate) fn body(obj: &Map<String, Value>) -> Result<Option<String>, String> {
    match object(obj, "body")? {
        Some(b) => string(b, "content"),
        None => Ok(None),
    }
}

/// The fields of `new` whose canonical value differs from `base`'s: `render` maps a canonical
/// item to Graph JSON; both items are compared in their normalised form, so a formatting
/// difference (an HTML body, a time zone) is never written back.
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

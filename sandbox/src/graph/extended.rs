//! Single-value extended properties (`singleValueExtendedProperties`) on contacts, To Do tasks
//! and events: how a write body carries them, how they are stored, and the two documented ways to
//! read them (Graph's "Get singleValueLegacyExtendedProperty" page):
//!
//! - `$expand=singleValueExtendedProperties($filter=id eq '{id}')` returns the item with the
//!   matching properties (the only way to read one);
//! - `$filter=singleValueExtendedProperties/any(ep: ep/id eq '{id}' and ep/value eq '{value}')`
//!   returns the items that have it, without the property.
//!
//! Only string properties named by a GUID and a name (`String {GUID} Name {name}`) are emulated.
//! The type keyword and the GUID compare case-insensitively; the name is case-sensitive and the
//! value is compared case-insensitively in a filter, as the page states. Properties are kept in the
//! item's property map under a key no write body can reach (`@` keys are skipped by every parser),
//! so snapshots and event exceptions carry them like any other property.

use serde_json::{Map, Value, json};

use super::error::GraphError;
use axum::http::StatusCode;

/// The navigation property's name in bodies, `$expand` and `$filter`.
pub const PROPERTY: &str = "singleValueExtendedProperties";
/// Where an item keeps them: `[{"id": canonical id, "value": "..."}]`.
const STORED: &str = "@singleValueExtendedProperties";

/// `String {GUID} Name {name}`, kept canonical: `String`, the GUID in lower case, the name as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyId {
    guid: String,
    name: String,
}

impl PropertyId {
    pub fn parse(raw: &str) -> Option<PropertyId> {
        let raw = raw.trim();
        let (kind, rest) = raw.split_once(char::is_whitespace)?;
        if !kind.eq_ignore_ascii_case("String") {
            return None;
        }
        let rest = rest.trim_start();
        let (guid, rest) = rest.split_once(char::is_whitespace)?;
        let guid = guid.strip_prefix('{')?.strip_suffix('}')?;
        uuid::Uuid::parse_str(guid).ok()?;
        let rest = rest.trim_start();
        let (keyword, name) = rest.split_once(char::is_whitespace)?;
        if !keyword.eq_ignore_ascii_case("Name") || name.trim().is_empty() {
            return None;
        }
        Some(PropertyId {
            guid: guid.to_ascii_lowercase(),
            name: name.trim().to_owned(),
        })
    }

    pub fn canonical(&self) -> String {
        format!("String {{{}}} Name {}", self.guid, self.name)
    }
}

fn invalid_id(raw: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "ErrorInvalidProperty",
        format!(
            "The extended property id '{raw}' is not valid (the sandbox emulates \
             'String {{GUID}} Name <name>')."
        ),
    )
}

fn invalid_query(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "ErrorInvalidUrlQuery", message)
}

/// Takes `singleValueExtendedProperties` out of a write body (so the entity's own checks never
/// see it) and checks it: an array of `{id, value}` with a string value.
pub fn take(body: &mut Value) -> Result<Vec<(PropertyId, String)>, GraphError> {
    let Some(raw) = body.as_object_mut().and_then(|o| o.remove(PROPERTY)) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = raw else {
        return Err(GraphError::body_read(format!(
            "Cannot convert the literal '{raw}' to the expected type \
             'Collection(microsoft.graph.singleValueLegacyExtendedProperty)' of property \
             '{PROPERTY}'."
        )));
    };
    let mut found = Vec::new();
    for item in items {
        let Value::Object(fields) = &item else {
            return Err(GraphError::body_read(format!(
                "Cannot convert the literal '{item}' to the expected type \
                 'microsoft.graph.singleValueLegacyExtendedProperty'."
            )));
        };
        let mut id = None;
        let mut value = None;
        for (key, field) in fields {
            match key.as_str() {
                "id" => id = Some(field),
                "value" => value = Some(field),
                k if k.starts_with('@') => {}
                other => {
                    return Err(GraphError::body_read(format!(
                        "The property '{other}' does not exist on type \
                         'microsoft.graph.singleValueLegacyExtendedProperty'."
                    )));
                }
            }
        }
        let Some(Value::String(id)) = id else {
            return Err(invalid_id(&id.map(Value::to_string).unwrap_or_default()));
        };
        let parsed = PropertyId::parse(id).ok_or_else(|| invalid_id(id))?;
        let Some(Value::String(value)) = value else {
            return Err(GraphError::body_read(format!(
                "Cannot convert the literal '{}' to the expected type 'Edm.String' of property \
                 'value'.",
                value.cloned().unwrap_or(Value::Null)
            )));
        };
        found.push((parsed, value.clone()));
    }
    Ok(found)
}

/// The properties an item holds.
pub fn stored(props: &Map<String, Value>) -> Vec<(PropertyId, String)> {
    props
        .get(STORED)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let id = PropertyId::parse(p["id"].as_str()?)?;
            Some((id, p["value"].as_str()?.to_owned()))
        })
        .collect()
}

/// Adds or replaces properties (a PATCH leaves the others alone, as Graph's does).
pub fn merge(props: &mut Map<String, Value>, changes: Vec<(PropertyId, String)>) {
    if changes.is_empty() {
        return;
    }
    let mut all = stored(props);
    for (id, value) in changes {
        match all.iter_mut().find(|(known, _)| *known == id) {
            Some(slot) => slot.1 = value,
            None => all.push((id, value)),
        }
    }
    props.insert(STORED.to_owned(), to_json(&all));
}

fn to_json(all: &[(PropertyId, String)]) -> Value {
    Value::Array(
        all.iter()
            .map(|(id, value)| json!({"id": id.canonical(), "value": value}))
            .collect(),
    )
}

/// Every stored property as Graph would list them, or `None` when there are none (for the
/// control API's oracle reads).
pub fn all(props: &Map<String, Value>) -> Option<Value> {
    let all = stored(props);
    (!all.is_empty()).then(|| to_json(&all))
}

// --- query options ---------------------------------------------------------------------------

/// What `$expand=singleValueExtendedProperties($filter=id eq '...')` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expand {
    ids: Vec<PropertyId>,
}

impl Expand {
    /// The matching properties, or `None` when the item has none of them: Graph then leaves the
    /// navigation property out.
    pub fn render(&self, props: &Map<String, Value>) -> Option<Value> {
        let found: Vec<(PropertyId, String)> = stored(props)
            .into_iter()
            .filter(|(id, _)| self.ids.contains(id))
            .collect();
        (!found.is_empty()).then(|| to_json(&found))
    }

    /// Adds the expansion to a rendered item.
    pub fn apply(
        expand: Option<&Expand>,
        props: &Map<String, Value>,
        out: &mut Map<String, Value>,
    ) {
        if let Some(value) = expand.and_then(|e| e.render(props)) {
            out.insert(PROPERTY.to_owned(), value);
        }
    }
}

/// Splits `$expand` at top-level commas; returns the extended-property expansion, if asked for,
/// and the other items untouched (for the callers that expand something else).
pub fn parse_expand(raw: Option<&str>) -> Result<(Option<Expand>, Vec<String>), GraphError> {
    let Some(raw) = raw else {
        return Ok((None, Vec::new()));
    };
    let mut expand = None;
    let mut others = Vec::new();
    for item in split_top_level(raw, ',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, options) = match item.find('(') {
            Some(open) => (item[..open].trim(), Some(&item[open..])),
            None => (item, None),
        };
        if !name.eq_ignore_ascii_case(PROPERTY) {
            others.push(item.to_owned());
            continue;
        }
        let options = options
            .and_then(|o| o.strip_prefix('('))
            .and_then(|o| o.strip_suffix(')'))
            .ok_or_else(|| {
                invalid_query(format!(
                    "{PROPERTY} can only be expanded with a $filter on the id, as in \
                     {PROPERTY}($filter=id eq 'String {{GUID}} Name <name>')."
                ))
            })?;
        let mut ids = Vec::new();
        for option in split_top_level(options, ';') {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| invalid_query(format!("Bad expand option '{option}'.")))?;
            if !key.trim().eq_ignore_ascii_case("$filter") {
                return Err(invalid_query(format!(
                    "The query option '{}' is not supported inside $expand of {PROPERTY}.",
                    key.trim()
                )));
            }
            ids.extend(parse_id_filter(value)?);
        }
        if ids.is_empty() {
            return Err(invalid_query(format!(
                "{PROPERTY} can only be expanded with a $filter on the id."
            )));
        }
        expand = Some(Expand { ids });
    }
    Ok((expand, others))
}

/// `id eq '...'` joined by `or`.
fn parse_id_filter(raw: &str) -> Result<Vec<PropertyId>, GraphError> {
    let tokens = tokenize(raw)?;
    let bad = || {
        invalid_query(format!(
            "The $filter '{raw}' of {PROPERTY} is not supported."
        ))
    };
    let mut ids = Vec::new();
    let mut rest = tokens.as_slice();
    loop {
        match rest {
            [
                Token::Word(path),
                Token::Word(op),
                Token::Text(id),
                tail @ ..,
            ] if path.eq_ignore_ascii_case("id") && op.eq_ignore_ascii_case("eq") => {
                ids.push(PropertyId::parse(id).ok_or_else(|| invalid_id(id))?);
                rest = tail;
            }
            _ => return Err(bad()),
        }
        match rest {
            [] => return Ok(ids),
            [Token::Word(or), tail @ ..] if or.eq_ignore_ascii_case("or") => rest = tail,
            _ => return Err(bad()),
        }
    }
}

/// `$filter=singleValueExtendedProperties/any(ep: ep/id eq '{id}' and ep/value eq '{value}')`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    id: PropertyId,
    /// `None`: any value (only the id was given).
    value: Option<String>,
}

impl Filter {
    pub fn matches(&self, props: &Map<String, Value>) -> bool {
        stored(props).iter().any(|(id, value)| {
            *id == self.id
                && self
                    .value
                    .as_ref()
                    .is_none_or(|wanted| wanted.to_lowercase() == value.to_lowercase())
        })
    }

    pub fn keep(filter: Option<&Filter>, props: &Map<String, Value>) -> bool {
        filter.is_none_or(|f| f.matches(props))
    }
}

/// The extended-property filter of `$filter`, if that is what it is. A `$filter` about anything
/// else is `None` (left unsupported, as before); one about extended properties that does not
/// have the emulated shape is a 400, never silently ignored (that would answer every item).
pub fn parse_filter(raw: Option<&str>) -> Result<Option<Filter>, GraphError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let trimmed = raw.trim_start();
    let about_extended = trimmed
        .get(..PROPERTY.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(PROPERTY));
    if !about_extended {
        return Ok(None);
    }
    let bad = || {
        invalid_query(format!(
            "The $filter '{raw}' is not supported: use {PROPERTY}/any(ep: ep/id eq '<id>' and \
             ep/value eq '<value>')."
        ))
    };
    let tokens = tokenize(raw)?;
    let [
        Token::Word(head),
        Token::Open,
        Token::Word(var),
        Token::Colon,
        body @ ..,
        Token::Close,
    ] = tokens.as_slice()
    else {
        return Err(bad());
    };
    let any = format!("{PROPERTY}/any");
    if !head.eq_ignore_ascii_case(&any) {
        return Err(bad());
    }
    let mut id = None;
    let mut value = None;
    let mut rest = body;
    loop {
        let [
            Token::Word(path),
            Token::Word(op),
            Token::Text(literal),
            tail @ ..,
        ] = rest
        else {
            return Err(bad());
        };
        if !op.eq_ignore_ascii_case("eq") {
            return Err(bad());
        }
        let (prefix, field) = path.split_once('/').ok_or_else(bad)?;
        if prefix != var {
            return Err(bad());
        }
        if field.eq_ignore_ascii_case("id") && id.is_none() {
            id = Some(PropertyId::parse(literal).ok_or_else(|| invalid_id(literal))?);
        } else if field.eq_ignore_ascii_case("value") && value.is_none() {
            value = Some(literal.clone());
        } else {
            return Err(bad());
        }
        match tail {
            [] => break,
            [Token::Word(and), more @ ..] if and.eq_ignore_ascii_case("and") => rest = more,
            _ => return Err(bad()),
        }
    }
    let id = id.ok_or_else(bad)?;
    Ok(Some(Filter { id, value }))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// A quoted literal, `''` read as one quote.
    Text(String),
    Open,
    Close,
    Colon,
}

fn tokenize(raw: &str) -> Result<Vec<Token>, GraphError> {
    let mut tokens = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ':' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Colon,
                });
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(invalid_query(format!(
                                "Unterminated string literal in '{raw}'."
                            )));
                        }
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => text.push(other),
                    }
                }
                tokens.push(Token::Text(text));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "():'".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Splits at `separator` outside parentheses and quotes.
fn split_top_level(raw: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut start = 0;
    for (at, c) in raw.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth = depth.saturating_sub(1),
            c if c == separator && !quoted && depth == 0 => {
                parts.push(&raw[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&raw[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name LinkId";

    #[test]
    fn ids_compare_type_and_guid_without_case_and_the_name_with_it() {
        let a = PropertyId::parse(ID).expect("valid");
        let b = PropertyId::parse("string  {66F5A359-4659-4830-9070-00047EC6AC6E} name LinkId")
            .expect("valid");
        assert_eq!(a, b);
        assert_eq!(b.canonical(), ID);
        let c = PropertyId::parse("String {66f5a359-4659-4830-9070-00047ec6ac6e} Name linkid")
            .expect("valid");
        assert_ne!(a, c);
        assert!(
            PropertyId::parse("Integer {66f5a359-4659-4830-9070-00047ec6ac6e} Name X").is_none()
        );
        assert!(PropertyId::parse("String {not-a-guid} Name X").is_none());
        assert!(PropertyId::parse("String 0x0037").is_none());
    }

    #[test]
    fn bodies_carry_them_out_of_the_entity() {
        let mut body = json!({"givenName": "A", PROPERTY: [{"id": ID, "value": "v1"}]});
        let found = take(&mut body).expect("valid");
        assert_eq!(found.len(), 1);
        assert_eq!(body, json!({"givenName": "A"}));
        assert!(take(&mut json!({PROPERTY: [{"id": ID, "value": 5}]})).is_err());
        assert!(take(&mut json!({PROPERTY: [{"id": "nope", "value": "x"}]})).is_err());
        assert!(take(&mut json!({PROPERTY: {"id": ID}})).is_err());
    }

    #[test]
    fn a_patch_adds_and_replaces() {
        let mut props = Map::new();
        let other = "String {00020329-0000-0000-c000-000000000046} Name Other";
        merge(
            &mut props,
            take(&mut json!({PROPERTY: [{"id": ID, "value": "1"}]})).unwrap(),
        );
        merge(
            &mut props,
            take(&mut json!({PROPERTY: [{"id": other, "value": "2"}]})).unwrap(),
        );
        merge(
            &mut props,
            take(&mut json!({PROPERTY: [{"id": ID, "value": "3"}]})).unwrap(),
        );
        assert_eq!(
            all(&props).expect("some"),
            json!([{"id": ID, "value": "3"}, {"id": other, "value": "2"}])
        );
    }

    #[test]
    fn expand_and_filter_parse_graphs_forms() {
        let (expand, others) = parse_expand(Some(&format!(
            "linkedResources,singleValueExtendedProperties($filter=id eq '{ID}')"
        )))
        .expect("valid");
        assert_eq!(others, vec!["linkedResources".to_owned()]);
        let mut props = Map::new();
        assert_eq!(expand.as_ref().expect("some").render(&props), None);
        merge(
            &mut props,
            vec![(PropertyId::parse(ID).unwrap(), "x'y".into())],
        );
        assert!(expand.expect("some").render(&props).is_some());
        assert!(parse_expand(Some("singleValueExtendedProperties")).is_err());

        for form in [
            format!(
                "singleValueExtendedProperties/any(ep: ep/id eq '{ID}' and ep/value eq 'X''Y')"
            ),
            format!("singleValueExtendedProperties/Any(e:e/Value eq 'x''y' and e/Id eq '{ID}')"),
        ] {
            let filter = parse_filter(Some(&form)).expect("valid").expect("some");
            assert!(filter.matches(&props), "{form}");
        }
        let other = parse_filter(Some(&format!(
            "singleValueExtendedProperties/any(ep: ep/id eq '{ID}' and ep/value eq 'z')"
        )))
        .unwrap()
        .unwrap();
        assert!(!other.matches(&props));
        assert_eq!(parse_filter(Some("displayName eq 'x'")).unwrap(), None);
        assert!(
            parse_filter(Some(
                "singleValueExtendedProperties/any(ep: ep/value ne 'x')"
            ))
            .is_err()
        );
        assert!(parse_filter(Some(&format!(
            "singleValueExtendedProperties/any(ep: startswith(ep/value, 'x') and ep/id eq '{ID}')"
        )))
        .is_err());
    }
}

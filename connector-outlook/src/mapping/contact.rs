//! Graph `contact` ⇄ canonical [`Contact`].

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sync_model::capacity::{OUTLOOK_EMAILS, OUTLOOK_PHONES_PER_KIND};
use sync_model::{Address, Contact, EmailAddress};

/// Reads the fields we sync from a Graph contact. Missing or `null` fields are absent values;
/// a field of the wrong type is refused rather than guessed.
pub fn from_graph(value: &Value) -> Result<Contact, String> {
    let obj = value.as_object().ok_or("a contact must be a JSON object")?;
    let mut emails = Vec::new();
    let mut email_names = BTreeMap::new();
    match obj.get("emailAddresses") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let Some(address) = item.get("address").and_then(Value::as_str) else {
                    continue;
                };
                if address.trim().is_empty() {
                    continue;
                }
                let email = EmailAddress(address.to_owned());
                // A display name other than the address itself is Outlook's alone: kept.
                if let Some(name) = item.get("name").and_then(Value::as_str)
                    && !name.trim().is_empty()
                    && !name.trim().eq_ignore_ascii_case(address.trim())
                {
                    email_names.insert(email.key(), name.to_owned());
                }
                emails.push(email);
            }
        }
        Some(_) => return Err("emailAddresses must be an array".into()),
    }
    let (business_phone, more_business_phones) = phones(obj, "businessPhones")?;
    let (home_phone, more_home_phones) = phones(obj, "homePhones")?;
    Ok(Contact {
        given_name: string(obj, "givenName")?,
        surname: string(obj, "surname")?,
        emails,
        email_names,
        business_phone,
        mobile_phone: string(obj, "mobilePhone")?,
        home_phone,
        more_business_phones,
        more_home_phones,
        company: string(obj, "companyName")?,
        job_title: string(obj, "jobTitle")?,
        department: string(obj, "department")?,
        work_address: address(obj, "businessAddress")?,
        home_address: address(obj, "homeAddress")?,
        notes: string(obj, "personalNotes")?,
    })
}

/// The Graph fields of a canonical contact, as written on create.
pub fn to_graph(contact: &Contact) -> Map<String, Value> {
    let mut map = Map::new();
    let display_name = contact.display_name();
    // Graph may regenerate displayName after later updates unless it is sent (api-reference 1.2).
    map.insert("displayName".into(), json!(display_name));
    map.insert("givenName".into(), json!(contact.given_name));
    map.insert("surname".into(), json!(contact.surname));
    let emails: Vec<Value> = contact
        .emails
        .iter()
        .take(OUTLOOK_EMAILS)
        .map(|e| {
            let name = contact.email_names.get(&e.key()).unwrap_or(&e.0);
            json!({"name": name, "address": e.0})
        })
        .collect();
    map.insert("emailAddresses".into(), Value::Array(emails));
    map.insert(
        "businessPhones".into(),
        phones_json(&contact.business_phone, &contact.more_business_phones),
    );
    map.insert("mobilePhone".into(), json!(contact.mobile_phone));
    map.insert(
        "homePhones".into(),
        phones_json(&contact.home_phone, &contact.more_home_phones),
    );
    map.insert("companyName".into(), json!(contact.company));
    map.insert("jobTitle".into(), json!(contact.job_title));
    map.insert("department".into(), json!(contact.department));
    map.insert(
        "businessAddress".into(),
        address_json(contact.work_address.as_ref()),
    );
    map.insert(
        "homeAddress".into(),
        address_json(contact.home_address.as_ref()),
    );
    map.insert(
        "personalNotes".into(),
        json!(contact.notes.clone().unwrap_or_default()),
    );
    map
}

/// Only the fields that differ from `base`: what Graph holds beyond our model (a nickname, an
/// e-mail address's display name, ...) is left alone unless the user changed our part of it.
pub fn patch(contact: &Contact, base: Option<&Contact>) -> Map<String, Value> {
    let new = to_graph(contact);
    let Some(base) = base else { return new };
    let old = to_graph(base);
    new.into_iter()
        .filter(|(k, v)| old.get(k) != Some(v))
        .collect()
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// A phone collection: the first number and the rest (Graph holds two of each kind).
fn phones(obj: &Map<String, Value>, key: &str) -> Result<(Option<String>, Vec<String>), String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok((None, Vec::new())),
        Some(Value::Array(items)) => {
            let mut numbers = items
                .iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned);
            Ok((numbers.next(), numbers.collect()))
        }
        Some(_) => Err(format!("{key} must be an array")),
    }
}

/// Writes the first number and the rest, at most Graph's two (it refuses a third).
fn phones_json(first: &Option<String>, more: &[String]) -> Value {
    json!(
        first
            .iter()
            .chain(more)
            .take(OUTLOOK_PHONES_PER_KIND)
            .collect::<Vec<_>>()
    )
}

fn address(obj: &Map<String, Value>, key: &str) -> Result<Option<Address>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(a)) => {
            let address = Address {
                street: string(a, "street")?,
                city: string(a, "city")?,
                state: string(a, "state")?,
                postal_code: string(a, "postalCode")?,
                country: string(a, "countryOrRegion")?,
            };
            Ok((address != Address::default()).then_some(address))
        }
        Some(_) => Err(format!("{key} must be an object")),
    }
}

fn address_json(address: Option<&Address>) -> Value {
    match address {
        None => json!({}),
        Some(a) => json!({
            "street": a.street, "city": a.city, "state": a.state,
            "postalCode": a.postal_code, "countryOrRegion": a.country,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    #[test]
    fn parses_the_published_contact() {
        let contact = from_graph(&payload("graph_contact_get.json")).expect("parses");
        assert_eq!(contact.given_name.as_deref(), Some("Alex"));
        assert_eq!(contact.surname.as_deref(), Some("Wilber"));
        assert_eq!(
            contact.emails,
            vec![EmailAddress("Alex@FineArtSchool.net".into())]
        );
        assert_eq!(contact.notes, None, "an empty personalNotes is no note");
        assert_eq!(
            contact.work_address, None,
            "an empty address object is no address"
        );
    }

    #[test]
    fn parses_every_contact_of_the_published_delta_page() {
        let page = payload("graph_contacts_delta_page.json");
        for item in page["value"].as_array().unwrap() {
            let contact = from_graph(item).expect("parses");
            assert_eq!(contact.given_name.as_deref(), Some("givenName-value"));
        }
    }

    #[test]
    fn round_trip_through_graph_json_is_identity() {
        let contact = Contact {
            given_name: Some("太郎".into()),
            surname: Some("山田".into()),
            emails: vec![
                EmailAddress("taro@example.jp".into()),
                EmailAddress("t.yamada@example.com".into()),
            ],
            business_phone: Some("+81 3-1234-5678".into()),
            mobile_phone: Some("+81 90-1234-5678".into()),
            home_phone: None,
            email_names: BTreeMap::from([("taro@example.jp".into(), "山田 太郎".into())]),
            more_business_phones: vec!["+81 3-8765-4321".into()],
            more_home_phones: vec![],
            company: Some("株式会社サンプル".into()),
            job_title: Some("部長".into()),
            department: Some("営業部".into()),
            work_address: Some(Address {
                city: Some("東京".into()),
                country: Some("Japan".into()),
                ..Address::default()
            }),
            home_address: None,
            notes: Some("Met at the Osaka fair".into()),
        };
        let back = from_graph(&Value::Object(to_graph(&contact))).unwrap();
        assert_eq!(back, contact);
    }

    #[test]
    fn patch_holds_only_changed_fields() {
        let base = Contact {
            given_name: Some("Taro".into()),
            job_title: Some("Sales".into()),
            ..Contact::default()
        };
        let new = Contact {
            job_title: Some("Head of Sales".into()),
            ..base.clone()
        };
        let patch = patch(&new, Some(&base));
        assert_eq!(patch.keys().collect::<Vec<_>>(), vec!["jobTitle"]);
    }

    #[test]
    fn a_second_phone_is_read_and_kept_when_the_first_changes() {
        let read = from_graph(&json!({"businessPhones": ["+1 555 0100", "+1 555 0101"],
            "homePhones": ["", "+1 555 0200"]}))
        .unwrap();
        assert_eq!(read.business_phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(read.more_business_phones, ["+1 555 0101"]);
        assert_eq!(read.home_phone.as_deref(), Some("+1 555 0200"));
        assert!(read.more_home_phones.is_empty());
        let edited = Contact {
            business_phone: Some("+1 555 0199".into()),
            ..read.clone()
        };
        assert_eq!(
            patch(&edited, Some(&read))["businessPhones"],
            json!(["+1 555 0199", "+1 555 0101"])
        );
    }

    #[test]
    fn display_names_stay_when_the_addresses_change() {
        let read = from_graph(&json!({"emailAddresses": [
            {"name": "Taro Yamada", "address": "taro@example.jp"},
            {"name": "t2@example.jp", "address": "t2@example.jp"},
        ]}))
        .unwrap();
        assert_eq!(
            read.email_names.len(),
            1,
            "a name equal to the address is no name"
        );
        let edited = Contact {
            emails: vec![
                EmailAddress("new@example.jp".into()),
                EmailAddress("taro@example.jp".into()),
            ],
            ..read.clone()
        };
        assert_eq!(
            patch(&edited, Some(&read))["emailAddresses"],
            json!([{"name": "new@example.jp", "address": "new@example.jp"},
                {"name": "Taro Yamada", "address": "taro@example.jp"}])
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        assert!(from_graph(&json!({"givenName": 42})).is_err());
        assert!(from_graph(&json!({"emailAddresses": "a@b.c"})).is_err());
        assert!(from_graph(&json!("nope")).is_err());
    }
}

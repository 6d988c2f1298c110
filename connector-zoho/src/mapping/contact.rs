//! Zoho `Contacts` record ⇄ canonical [`Contact`].

use serde_json::{Map, Value, json};
use sync_model::{Address, Contact, EmailAddress};

/// The fields a Contacts read asks for (v8 requires `fields`).
pub const FIELDS: &[&str] = &[
    "First_Name",
    "Last_Name",
    "Email",
    "Secondary_Email",
    "Phone",
    "Mobile",
    "Home_Phone",
    "Account_Name",
    "Title",
    "Department",
    "Mailing_Street",
    "Mailing_City",
    "Mailing_State",
    "Mailing_Zip",
    "Mailing_Country",
    "Other_Street",
    "Other_City",
    "Other_State",
    "Other_Zip",
    "Other_Country",
    "Description",
    "Modified_Time",
];

pub fn from_zoho(value: &Value) -> Result<Contact, String> {
    let obj = value.as_object().ok_or("a record must be a JSON object")?;
    let emails = [string(obj, "Email")?, string(obj, "Secondary_Email")?]
        .into_iter()
        .flatten()
        .map(EmailAddress)
        .collect();
    let company = match obj.get("Account_Name") {
        None | Some(Value::Null) => None,
        Some(Value::Object(lookup)) => string(lookup, "name")?,
        Some(_) => return Err("Account_Name must be a lookup object".into()),
    };
    Ok(Contact {
        given_name: string(obj, "First_Name")?,
        surname: string(obj, "Last_Name")?,
        emails,
        business_phone: string(obj, "Phone")?,
        mobile_phone: string(obj, "Mobile")?,
        home_phone: string(obj, "Home_Phone")?,
        // Outlook's second phones and address names have no Zoho field (`Other_Phone` and the
        // like stay Zoho's).
        email_names: Default::default(),
        more_business_phones: Vec::new(),
        more_home_phones: Vec::new(),
        company,
        job_title: string(obj, "Title")?,
        department: string(obj, "Department")?,
        work_address: address(obj, "Mailing")?,
        home_address: address(obj, "Other")?,
        notes: string(obj, "Description")?,
    })
}

pub fn to_zoho(contact: &Contact) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("First_Name".into(), json!(contact.given_name));
    map.insert("Last_Name".into(), json!(contact.surname));
    map.insert("Email".into(), json!(contact.emails.first().map(|e| &e.0)));
    map.insert(
        "Secondary_Email".into(),
        json!(contact.emails.get(1).map(|e| &e.0)),
    );
    map.insert("Phone".into(), json!(contact.business_phone));
    map.insert("Mobile".into(), json!(contact.mobile_phone));
    map.insert("Home_Phone".into(), json!(contact.home_phone));
    // The company is an Account lookup; Zoho links (or creates) the Account by name.
    map.insert(
        "Account_Name".into(),
        contact
            .company
            .as_ref()
            .map_or(Value::Null, |c| json!({"name": c})),
    );
    map.insert("Title".into(), json!(contact.job_title));
    map.insert("Department".into(), json!(contact.department));
    insert_address(&mut map, "Mailing", contact.work_address.as_ref());
    insert_address(&mut map, "Other", contact.home_address.as_ref());
    map.insert("Description".into(), json!(contact.notes));
    map
}

/// Only the fields that differ from `base`, so Zoho fields outside our model stay untouched;
/// compared in normalised form, so a formatting difference (an address's case, a phone's
/// spacing) never overwrites what the Zoho user typed.
pub fn patch(contact: &Contact, base: Option<&Contact>) -> Map<String, Value> {
    super::changed_fields(contact, base, Contact::normalised, to_zoho)
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn address(obj: &Map<String, Value>, prefix: &str) -> Result<Option<Address>, String> {
    let address = Address {
        street: string(obj, &format!("{prefix}_Street"))?,
        city: string(obj, &format!("{prefix}_City"))?,
        state: string(obj, &format!("{prefix}_State"))?,
        postal_code: string(obj, &format!("{prefix}_Zip"))?,
        country: string(obj, &format!("{prefix}_Country"))?,
    };
    Ok((address != Address::default()).then_some(address))
}

fn insert_address(map: &mut Map<String, Value>, prefix: &str, address: Option<&Address>) {
    let a = address.cloned().unwrap_or_default();
    map.insert(format!("{prefix}_Street"), json!(a.street));
    map.insert(format!("{prefix}_City"), json!(a.city));
    map.insert(format!("{prefix}_State"), json!(a.state));
    map.insert(format!("{prefix}_Zip"), json!(a.postal_code));
    map.insert(format!("{prefix}_Country"), json!(a.country));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(name: &str) -> Value {
        test_support::fixtures::api_payload(name.trim_end_matches(".json"))
    }

    #[test]
    fn parses_the_published_records_pages() {
        for file in [
            "zoho_records_get_first_page.json",
            "zoho_records_get_page_token.json",
        ] {
            let page = payload(file);
            for record in page["data"].as_array().unwrap() {
                let contact = from_zoho(record).expect("parses");
                assert!(
                    contact
                        .surname
                        .as_deref()
                        .is_some_and(|s| s.starts_with("test"))
                );
                assert!(contact.emails.is_empty(), "a null Email is no address");
            }
        }
    }

    #[test]
    fn round_trip_through_zoho_json_is_identity() {
        let contact = Contact {
            given_name: Some("José".into()),
            surname: Some("Müller".into()),
            emails: vec![
                EmailAddress("jose@example.de".into()),
                EmailAddress("jm@example.com".into()),
            ],
            business_phone: Some("+49 30 1234567".into()),
            mobile_phone: None,
            home_phone: Some("+49 30 7654321".into()),
            email_names: Default::default(),
            more_business_phones: vec![],
            more_home_phones: vec![],
            company: Some("Zylker GmbH".into()),
            job_title: Some("CTO".into()),
            department: None,
            work_address: Some(Address {
                street: Some("Hauptstr. 1".into()),
                city: Some("Berlin".into()),
                ..Address::default()
            }),
            home_address: None,
            notes: Some("Prefers e-mail".into()),
        };
        let back = from_zoho(&Value::Object(to_zoho(&contact))).unwrap();
        assert_eq!(back, contact);
    }

    #[test]
    fn account_lookup_gives_the_company() {
        let record = json!({"Last_Name": "Boyle", "Account_Name": {"name": "Zylker", "id": "5725767000000524157"}});
        assert_eq!(
            from_zoho(&record).unwrap().company.as_deref(),
            Some("Zylker")
        );
        assert!(from_zoho(&json!({"Account_Name": "Zylker"})).is_err());
    }

    #[test]
    fn a_formatting_difference_is_no_change() {
        let base = Contact {
            surname: Some("Boyle".into()),
            emails: vec![EmailAddress("Boyle@Zylker.com".into())],
            ..Contact::default()
        };
        let new = Contact {
            emails: vec![EmailAddress("boyle@zylker.com".into())],
            ..base.clone()
        };
        assert!(patch(&new, Some(&base)).is_empty());
    }

    #[test]
    fn patch_holds_only_changed_fields() {
        let base = Contact {
            surname: Some("Boyle".into()),
            ..Contact::default()
        };
        let new = Contact {
            department: Some("Sales".into()),
            ..base.clone()
        };
        assert_eq!(
            patch(&new, Some(&base)).keys().collect::<Vec<_>>(),
            vec!["Department"]
        );
    }
}

//! `POST /_sandbox/seed`: N generated contacts, tasks and events on each side, a share of them
//! present on both sides with the same name and e-mail (contacts), title and due date (tasks) or
//! title and times (events): the first sync must match them, not duplicate them. Generation
//! depends only on the seed (and, for tasks and events, the anchor day), so a test can rely on
//! what it gets; contacts come out the same as before tasks and events existed.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::activities;
use super::people::{self, COMPANIES, CULTURES, NOTES, PERSONAL_DOMAINS, ROLES};
use super::{ControlError, body};
use crate::graph::calendar::event as graph_event;
use crate::graph::{schema, todo};
use crate::state::AppState;
use crate::time::now_precise;
use crate::zoho::modules;

/// Guard against a typo seeding millions of contacts into memory.
const MAX_CONTACTS: usize = 50_000;

#[derive(Debug, Deserialize)]
struct SeedRequest {
    mailbox_id: Option<String>,
    org_id: Option<String>,
    #[serde(default)]
    contacts: usize,
    #[serde(default)]
    tasks: usize,
    #[serde(default)]
    events: usize,
    #[serde(default = "default_share")]
    shared_share: f64,
    seed: Option<u64>,
    /// The day task and event dates are relative to (`yyyy-MM-dd`); today (UTC) by default.
    anchor: Option<NaiveDate>,
}

impl Default for SeedRequest {
    fn default() -> Self {
        SeedRequest {
            mailbox_id: None,
            org_id: None,
            contacts: 0,
            tasks: 0,
            events: 0,
            shared_share: default_share(),
            seed: None,
            anchor: None,
        }
    }
}

fn default_share() -> f64 {
    0.2
}

/// One generated person, rendered for either side.
#[derive(Debug, Clone)]
pub struct Person {
    given: String,
    family: String,
    given_reading: String,
    family_reading: String,
    family_first: bool,
    company: String,
    job_title: String,
    department: String,
    emails: Vec<String>,
    business_phone: String,
    mobile: String,
    home_phone: Option<String>,
    street: String,
    city: String,
    state: String,
    postal_code: String,
    country: String,
    birthday: Option<NaiveDate>,
    notes: String,
}

fn digits(rng: &mut StdRng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| {
            if c == '#' {
                char::from(b'0' + rng.random_range(0..10u8))
            } else {
                c
            }
        })
        .collect()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    // The pools are static and non-empty.
    items.choose(rng).unwrap_or(&items[0])
}

fn person(rng: &mut StdRng, used_emails: &mut HashSet<String>) -> Person {
    let culture = pick(rng, CULTURES);
    let given: &people::Name = pick(rng, culture.given);
    let family: &people::Name = pick(rng, culture.family);
    let (company, domain) = *pick(rng, COMPANIES);
    let (job_title, department) = *pick(rng, ROLES);
    let (street, city, state, postal_code, country) = *pick(rng, culture.places);

    let mut unique = |candidate: String| {
        let mut address = candidate.clone();
        let mut n = 2;
        while !used_emails.insert(address.clone()) {
            let (local, host) = candidate
                .split_once('@')
                .unwrap_or((&candidate, "x.example"));
            address = format!("{local}{n}@{host}");
            n += 1;
        }
        address
    };
    let mut emails = vec![unique(format!("{}.{}@{domain}", given.1, family.1))];
    let extra = rng.random_range(0..3);
    for _ in 0..extra {
        let personal = pick(rng, PERSONAL_DOMAINS);
        let number = rng.random_range(1..100);
        emails.push(unique(format!(
            "{}{}{number}@{personal}",
            given.1, family.1
        )));
    }
    let birthday = rng.random_bool(0.5).then(|| {
        NaiveDate::from_ymd_opt(
            rng.random_range(1955..2002),
            rng.random_range(1..13),
            rng.random_range(1..29),
        )
    });
    let business_phone = digits(rng, culture.phone);
    let mobile = digits(rng, culture.mobile);
    let home_phone = rng.random_bool(0.3).then(|| digits(rng, culture.phone));
    let street = street.replace("{n}", &rng.random_range(1..200).to_string());
    Person {
        given: given.0.to_owned(),
        family: family.0.to_owned(),
        given_reading: given.2.to_owned(),
        family_reading: family.2.to_owned(),
        family_first: culture.family_first,
        company: company.to_owned(),
        job_title: job_title.to_owned(),
        department: department.to_owned(),
        emails,
        business_phone,
        mobile,
        home_phone,
        street,
        city: city.to_owned(),
        state: state.to_owned(),
        postal_code: postal_code.to_owned(),
        country: country.to_owned(),
        birthday: birthday.flatten(),
        notes: pick(rng, NOTES).to_string(),
    }
}

impl Person {
    fn display_name(&self) -> String {
        if self.family_first {
            format!("{} {}", self.family, self.given)
        } else {
            format!("{} {}", self.given, self.family)
        }
    }

    /// The Graph contact body.
    pub fn outlook(&self) -> Value {
        let display = self.display_name();
        let mut contact = json!({
            "givenName": self.given,
            "surname": self.family,
            "displayName": display,
            "companyName": self.company,
            "jobTitle": self.job_title,
            "department": self.department,
            "emailAddresses": self.emails.iter().map(|a| json!({"name": display, "address": a})).collect::<Vec<_>>(),
            "businessPhones": [self.business_phone],
            "mobilePhone": self.mobile,
            "businessAddress": {
                "street": self.street,
                "city": self.city,
                "state": self.state,
                "postalCode": self.postal_code,
                "countryOrRegion": self.country,
            },
            "personalNotes": self.notes,
        });
        if !self.given_reading.is_empty() {
            contact["yomiGivenName"] = json!(self.given_reading);
            contact["yomiSurname"] = json!(self.family_reading);
        }
        if let Some(phone) = &self.home_phone {
            contact["homePhones"] = json!([phone]);
        }
        if let Some(birthday) = self.birthday {
            contact["birthday"] = json!(format!("{birthday}T00:00:00Z"));
        }
        contact
    }

    /// The Zoho Contacts record body.
    pub fn zoho(&self) -> Value {
        let mut record = json!({
            "First_Name": self.given,
            "Last_Name": self.family,
            "Email": self.emails[0],
            "Phone": self.business_phone,
            "Mobile": self.mobile,
            "Title": self.job_title,
            "Department": self.department,
            "Account_Name": {"name": self.company},
            "Mailing_Street": self.street,
            "Mailing_City": self.city,
            "Mailing_State": self.state,
            "Mailing_Zip": self.postal_code,
            "Mailing_Country": self.country,
            "Description": self.notes,
        });
        if let Some(secondary) = self.emails.get(1) {
            record["Secondary_Email"] = json!(secondary);
        }
        if let Some(phone) = &self.home_phone {
            record["Home_Phone"] = json!(phone);
        }
        if let Some(birthday) = self.birthday {
            record["Date_of_Birth"] = json!(birthday.to_string());
        }
        record
    }
}

/// The people of one seed run: `shared` on both sides, then the rest of each side.
pub fn generate(seed: u64, contacts: usize, shared: usize) -> (Vec<Person>, Vec<Person>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut used = HashSet::new();
    let both: Vec<Person> = (0..shared).map(|_| person(&mut rng, &mut used)).collect();
    let mut outlook = both.clone();
    outlook.extend((shared..contacts).map(|_| person(&mut rng, &mut used)));
    let mut zoho = both;
    zoho.extend((shared..contacts).map(|_| person(&mut rng, &mut used)));
    (outlook, zoho)
}

pub async fn seed(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<Value>, ControlError> {
    let request: SeedRequest = body(&bytes)?;
    if request.contacts > MAX_CONTACTS
        || request.tasks > MAX_CONTACTS
        || request.events > MAX_CONTACTS
    {
        return Err(ControlError::bad_request(format!(
            "at most {MAX_CONTACTS} contacts, tasks and events per side"
        )));
    }
    if !(0.0..=1.0).contains(&request.shared_share) {
        return Err(ControlError::bad_request(
            "shared_share must be within 0..=1",
        ));
    }
    let seed = request.seed.unwrap_or_else(rand::random);
    let shared = ((request.contacts as f64) * request.shared_share).round() as usize;
    let (outlook, zoho) = generate(seed, request.contacts, shared);
    let anchor = request
        .anchor
        .unwrap_or_else(|| crate::time::now().date_naive());
    let share = |n: usize| ((n as f64) * request.shared_share).round() as usize;
    let (shared_tasks, shared_events) = (share(request.tasks), share(request.events));
    let (outlook_tasks, zoho_tasks) = activities::tasks(seed, anchor, request.tasks, shared_tasks);
    let (outlook_events, zoho_events) =
        activities::events(seed, anchor, request.events, shared_events);

    let mut world = state.world();
    if let Some(id) = &request.mailbox_id
        && !world.graph.mailboxes.contains_key(id)
    {
        return Err(ControlError::not_found("unknown mailbox"));
    }
    if let Some(id) = &request.org_id
        && !world.zoho.orgs.contains_key(id)
    {
        return Err(ControlError::not_found("unknown org"));
    }
    let mut outlook_count = 0;
    if let Some(mailbox) = request
        .mailbox_id
        .as_ref()
        .and_then(|id| world.graph.mailboxes.get_mut(id))
    {
        let folder = mailbox.default_folder_id.clone();
        for person in &outlook {
            let changes = schema::parse_write(&person.outlook())
                .map_err(|e| ControlError::bad_request(e.message))?;
            let mut props = Map::new();
            schema::apply(&mut props, changes);
            mailbox.insert_contact(&folder, props);
            outlook_count += 1;
        }
        let list = mailbox.default_list_id.clone();
        for task in &outlook_tasks {
            todo::seed_task(mailbox, &list, &task.outlook())
                .map_err(|e| ControlError::bad_request(e.message))?;
        }
        let calendar = mailbox.calendar.default_id.clone();
        for seeded in &outlook_events {
            let created = graph_event::parse(&seeded.outlook())
                .and_then(|changes| graph_event::create(&calendar, changes, now_precise()))
                .map_err(|e| ControlError::bad_request(e.message))?;
            mailbox.calendar.events.insert(created.id.clone(), created);
        }
    }
    let mut zoho_count = 0;
    if let Some(org) = request
        .org_id
        .as_ref()
        .and_then(|id| world.zoho.orgs.get_mut(id))
    {
        for (index, person) in zoho.iter().enumerate() {
            let record = person.zoho();
            let fields = record.as_object().cloned().unwrap_or_default();
            let inputs = modules::check_record(&modules::CONTACTS, &fields, index, true)
                .and_then(|inputs| org.insert(&modules::CONTACTS, inputs, index))
                .map_err(|e| ControlError::bad_request(e.message))?;
            let _ = inputs;
            zoho_count += 1;
        }
        let user_zone = org.zone();
        let records = zoho_tasks
            .iter()
            .map(|t| (&modules::TASKS, t.zoho()))
            .chain(
                zoho_events
                    .iter()
                    .map(|e| (&modules::EVENTS, e.zoho(user_zone))),
            );
        for (index, (module, record)) in records.enumerate() {
            let fields = record.as_object().cloned().unwrap_or_default();
            modules::check_record(module, &fields, index, true)
                .and_then(|inputs| org.insert(module, inputs, index))
                .map_err(|e| ControlError::bad_request(e.message))?;
        }
    }
    let both_sides = request.mailbox_id.is_some() && request.org_id.is_some();
    let mut answer = json!({
        "seed": seed,
        "shared": if outlook_count > 0 && zoho_count > 0 { shared } else { 0 },
        "outlook_contacts": outlook_count,
        "zoho_contacts": zoho_count,
    });
    // Only callers that ask for tasks or events see their counts (older callers compare the
    // answer as a whole).
    if request.tasks > 0 || request.events > 0 {
        let side = |present: bool, n: usize| if present { n } else { 0 };
        let outlook_side = request.mailbox_id.is_some();
        let zoho_side = request.org_id.is_some();
        answer["anchor"] = json!(anchor.to_string());
        answer["outlook_tasks"] = json!(side(outlook_side, request.tasks));
        answer["zoho_tasks"] = json!(side(zoho_side, request.tasks));
        answer["shared_tasks"] = json!(side(both_sides, shared_tasks));
        answer["outlook_events"] = json!(side(outlook_side, request.events));
        answer["zoho_events"] = json!(side(zoho_side, request.events));
        answer["shared_events"] = json!(side(both_sides, shared_events));
    }
    Ok(Json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_shares_people() {
        let (a_outlook, a_zoho) = generate(7, 20, 4);
        let (b_outlook, b_zoho) = generate(7, 20, 4);
        let names = |people: &[Person]| people.iter().map(Person::display_name).collect::<Vec<_>>();
        assert_eq!(names(&a_outlook), names(&b_outlook));
        assert_eq!(names(&a_zoho), names(&b_zoho));
        assert_eq!(a_outlook.len(), 20);
        assert_eq!(a_zoho.len(), 20);
        for i in 0..4 {
            assert_eq!(a_outlook[i].emails[0], a_zoho[i].emails[0]);
        }
        let all: HashSet<&String> = a_outlook
            .iter()
            .chain(&a_zoho[4..])
            .map(|p| &p.emails[0])
            .collect();
        assert_eq!(all.len(), 36, "primary e-mails are unique");
    }

    #[test]
    fn generated_people_pass_both_apis_validation() {
        let (outlook, zoho) = generate(11, 200, 40);
        for person in &outlook {
            schema::parse_write(&person.outlook()).expect("valid Graph contact");
        }
        for (index, person) in zoho.iter().enumerate() {
            let record = person.zoho();
            let fields = record.as_object().cloned().unwrap_or_default();
            modules::check_record(&modules::CONTACTS, &fields, index, true).expect("valid record");
        }
    }
}

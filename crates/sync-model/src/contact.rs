//! The canonical contact: the fields both Outlook and Zoho CRM can hold.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capacity::{self, OUTLOOK_EMAILS, OUTLOOK_PHONES_PER_KIND, ZOHO_EMAILS, zoho_length};
use crate::normalise;

/// An e-mail address as the user typed it. Compared case-insensitively (see [`Contact::normalised`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(pub String);

impl EmailAddress {
    /// The address as compared (see [`Contact::normalised`]): what [`Contact::email_names`] is
    /// keyed by.
    pub fn key(&self) -> String {
        normalise::email(&self.0)
    }

    /// A plausible address: one `@`, something on each side, no whitespace. Used to refuse bad
    /// input early; the providers have the last word.
    pub fn is_plausible(&self) -> bool {
        let s = self.0.trim();
        match s.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !s.chars().any(char::is_whitespace)
            }
            None => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// Per-part maximum lengths: street, city, state, postal code, country.
type AddressLengths = [usize; 5];

impl Address {
    fn zoho_lengths() -> AddressLengths {
        [
            zoho_length::STREET,
            zoho_length::CITY,
            zoho_length::STATE,
            zoho_length::ZIP,
            zoho_length::COUNTRY,
        ]
    }

    fn parts_mut(&mut self) -> [&mut Option<String>; 5] {
        [
            &mut self.street,
            &mut self.city,
            &mut self.state,
            &mut self.postal_code,
            &mut self.country,
        ]
    }

    fn parts(&self) -> [&Option<String>; 5] {
        [
            &self.street,
            &self.city,
            &self.state,
            &self.postal_code,
            &self.country,
        ]
    }

    fn fit(&mut self, lengths: AddressLengths) {
        for (part, max) in self.parts_mut().into_iter().zip(lengths) {
            capacity::fit_in(part, max);
        }
    }

    fn keep_long(&mut self, base: &Address, lengths: AddressLengths) {
        for ((part, b), max) in self.parts_mut().into_iter().zip(base.parts()).zip(lengths) {
            capacity::keep_long(part, b, max);
        }
    }

    fn normalised(&self) -> Option<Address> {
        let a = Address {
            street: normalise::body(&self.street),
            city: normalise::text(&self.city),
            state: normalise::text(&self.state),
            postal_code: normalise::text(&self.postal_code),
            country: normalise::text(&self.country),
        };
        (a != Address::default()).then_some(a)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// In the user's order; the first is the primary address.
    pub emails: Vec<EmailAddress>,
    /// Outlook's display names of addresses (`emailAddresses[].name`), by [`EmailAddress::key`],
    /// where one differs from its address. Zoho has none: they stay in Outlook.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub email_names: BTreeMap<String, String>,
    pub business_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub home_phone: Option<String>,
    /// Outlook's business phones after the first (`businessPhones` holds two). Zoho has no field
    /// for them: they stay in Outlook (see `docs/field-map.md`, capacity).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_business_phones: Vec<String>,
    /// Outlook's home phones after the first (`homePhones` holds two); Outlook's alone too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_home_phones: Vec<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub work_address: Option<Address>,
    pub home_address: Option<Address>,
    pub notes: Option<String>,
}

impl Contact {
    /// The comparable form: what a round trip through either side must leave unchanged.
    pub fn normalised(&self) -> Contact {
        let mut emails: Vec<EmailAddress> = Vec::with_capacity(self.emails.len());
        for e in &self.emails {
            let e = EmailAddress(normalise::email(&e.0));
            if !e.0.is_empty() && !emails.contains(&e) {
                emails.push(e);
            }
        }
        Contact {
            given_name: normalise::text(&self.given_name),
            surname: normalise::text(&self.surname),
            email_names: self
                .email_names
                .iter()
                .filter(|(k, _)| emails.iter().any(|e| &e.0 == *k))
                .filter_map(|(k, v)| Some((k.clone(), normalise::text(&Some(v.clone()))?)))
                .collect(),
            emails,
            business_phone: normalise::phone(&self.business_phone),
            mobile_phone: normalise::phone(&self.mobile_phone),
            home_phone: normalise::phone(&self.home_phone),
            more_business_phones: phones(&self.more_business_phones),
            more_home_phones: phones(&self.more_home_phones),
            company: normalise::text(&self.company),
            job_title: normalise::text(&self.job_title),
            department: normalise::text(&self.department),
            work_address: self.work_address.as_ref().and_then(Address::normalised),
            home_address: self.home_address.as_ref().and_then(Address::normalised),
            notes: normalise::body(&self.notes),
        }
    }

    /// What Zoho CRM holds of this contact: two e-mail addresses, one phone of each kind, and
    /// texts within its field lengths.
    pub fn project_for_zoho(&self) -> Contact {
        let mut c = self.clone();
        // An address repeated (in another case) is one address: Zoho's two slots go to two
        // different ones.
        let mut seen = Vec::new();
        c.emails.retain(|e| {
            !seen.contains(&normalise::email(&e.0)) && {
                seen.push(normalise::email(&e.0));
                true
            }
        });
        c.emails.truncate(ZOHO_EMAILS);
        c.email_names.clear();
        c.more_business_phones.clear();
        c.more_home_phones.clear();
        capacity::fit_in(&mut c.given_name, zoho_length::FIRST_NAME);
        capacity::fit_in(&mut c.surname, zoho_length::LAST_NAME);
        for phone in [
            &mut c.business_phone,
            &mut c.mobile_phone,
            &mut c.home_phone,
        ] {
            capacity::fit_in(phone, zoho_length::PHONE);
        }
        capacity::fit_in(&mut c.job_title, zoho_length::TITLE);
        capacity::fit_in(&mut c.department, zoho_length::DEPARTMENT);
        for address in [&mut c.work_address, &mut c.home_address]
            .into_iter()
            .flatten()
        {
            address.fit(Address::zoho_lengths());
        }
        capacity::fit_in(&mut c.notes, zoho_length::DESCRIPTION);
        c
    }

    /// What Outlook holds of this contact: three e-mail addresses, two phones of each kind.
    pub fn project_for_outlook(&self) -> Contact {
        let mut c = self.clone();
        c.emails.truncate(OUTLOOK_EMAILS);
        let kept: Vec<String> = c.emails.iter().map(EmailAddress::key).collect();
        c.email_names.retain(|k, _| kept.contains(k));
        c.more_business_phones.truncate(OUTLOOK_PHONES_PER_KIND - 1);
        c.more_home_phones.truncate(OUTLOOK_PHONES_PER_KIND - 1);
        c
    }

    /// `self` was read from Zoho: keep from `base` what Zoho cannot hold (the third e-mail
    /// address, the second phones, the full text of a field longer than Zoho's) unless the Zoho
    /// user changed that field.
    pub fn refill_from_zoho(&mut self, base: &Contact) {
        self.refill_emails(base, ZOHO_EMAILS);
        // Outlook's display names stay with the addresses still there.
        let kept: Vec<String> = self.emails.iter().map(EmailAddress::key).collect();
        self.email_names = base
            .email_names
            .iter()
            .filter(|(k, _)| kept.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.more_business_phones
            .clone_from(&base.more_business_phones);
        self.more_home_phones.clone_from(&base.more_home_phones);
        capacity::keep_long(
            &mut self.given_name,
            &base.given_name,
            zoho_length::FIRST_NAME,
        );
        capacity::keep_long(&mut self.surname, &base.surname, zoho_length::LAST_NAME);
        for (phone, b) in [
            (&mut self.business_phone, &base.business_phone),
            (&mut self.mobile_phone, &base.mobile_phone),
            (&mut self.home_phone, &base.home_phone),
        ] {
            capacity::keep_long(phone, b, zoho_length::PHONE);
        }
        capacity::keep_long(&mut self.job_title, &base.job_title, zoho_length::TITLE);
        capacity::keep_long(
            &mut self.department,
            &base.department,
            zoho_length::DEPARTMENT,
        );
        for (address, b) in [
            (&mut self.work_address, &base.work_address),
            (&mut self.home_address, &base.home_address),
        ] {
            if let (Some(a), Some(b)) = (address.as_mut(), b) {
                a.keep_long(b, Address::zoho_lengths());
            }
        }
        capacity::keep_long(&mut self.notes, &base.notes, zoho_length::DESCRIPTION);
    }

    /// `self` was read from a side holding `capacity` addresses: the addresses `base` has beyond
    /// that capacity are kept after them (unless one of them is already there).
    pub(crate) fn refill_emails(&mut self, base: &Contact, capacity: usize) {
        if self.emails.len() > capacity {
            return;
        }
        for extra in base.emails.iter().skip(capacity) {
            let dup = self
                .emails
                .iter()
                .any(|e| e.0.eq_ignore_ascii_case(&extra.0));
            if !dup {
                self.emails.push(extra.clone());
            }
        }
    }

    /// A name for logs and the conflict log: never secret, but short.
    pub fn display_name(&self) -> String {
        let name = [self.given_name.as_deref(), self.surname.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.emails.first().map(|e| e.0.clone()).unwrap_or_default()
        } else {
            name
        }
    }
}

fn phones(values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter_map(|p| normalise::phone(&Some(p.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_emails_are_lowercase_and_unique() {
        let c = Contact {
            emails: vec![
                EmailAddress("Taro@Example.JP".into()),
                EmailAddress("taro@example.jp ".into()),
                EmailAddress("t2@example.jp".into()),
            ],
            ..Contact::default()
        };
        assert_eq!(
            c.normalised().emails,
            vec![
                EmailAddress("taro@example.jp".into()),
                EmailAddress("t2@example.jp".into())
            ]
        );
    }

    #[test]
    fn empty_address_is_absent() {
        let c = Contact {
            work_address: Some(Address {
                city: Some(" ".into()),
                ..Address::default()
            }),
            ..Contact::default()
        };
        assert_eq!(c.normalised().work_address, None);
    }

    #[test]
    fn plausible_emails() {
        assert!(EmailAddress("a@b.co".into()).is_plausible());
        assert!(!EmailAddress("a@b".into()).is_plausible());
        assert!(!EmailAddress("a b@c.de".into()).is_plausible());
        assert!(!EmailAddress("@c.de".into()).is_plausible());
    }
}

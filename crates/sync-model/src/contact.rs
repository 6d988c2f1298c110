//! The canonical contact: the fields both Outlook and Zoho CRM can hold.

use serde::{Deserialize, Serialize};

use crate::normalise;

/// An e-mail address as the user typed it. Compared case-insensitively (see [`Contact::normalised`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(pub String);

impl EmailAddress {
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

impl Address {
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
    pub business_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub home_phone: Option<String>,
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
            emails,
            business_phone: normalise::phone(&self.business_phone),
            mobile_phone: normalise::phone(&self.mobile_phone),
            home_phone: normalise::phone(&self.home_phone),
            company: normalise::text(&self.company),
            job_title: normalise::text(&self.job_title),
            department: normalise::text(&self.department),
            work_address: self.work_address.as_ref().and_then(Address::normalised),
            home_address: self.home_address.as_ref().and_then(Address::normalised),
            notes: normalise::body(&self.notes),
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
